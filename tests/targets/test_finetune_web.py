"""The browser fine-tuning demo (examples/finetune/web.py: the shape classifier's training step as a wasm32-browser
bundle, index.html + demo.mjs) in headless Chromium: the page draws shapes on canvases, fine-tunes the classifier
in WebAssembly and classifies held-out drawn shapes. The new class (cross, never seen by the backbone) goes from
never predicted to mostly right, the loss falls, and the page's losses are the host's in-process steps on the
pixels the page drew."""
import os
import shutil

import numpy as np
import pytest

from conftest import load_example

FINETUNE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "finetune")


@pytest.mark.slow
def test_finetune_page_in_chromium(tmp_path):
    if shutil.which("emcc") is None:
        pytest.fail("emcc missing: run 'make setup' (apt: emscripten)")
    web = load_example("finetune/web.py")
    BATCH, LR, STEPS = web.BATCH, web.LR, web.STEPS
    from sdk.train import compile_train
    demo = web.run_page(web.build(tmp_path / "web"), tmp_path / "finetune_demo.png")
    assert not demo["errors"] and demo.get("error") is None, (demo["errors"], demo.get("error"))
    assert demo["status"].startswith("done"), demo["status"]
    before, after, losses = demo["before"], demo["after"], demo["losses"]
    assert before["perClass"][3] == 0.0  # the backbone never predicts the new class
    assert after["perClass"][3] >= 0.75, after
    assert after["overall"] >= 0.8 and after["overall"] >= before["overall"] + 0.15, (before, after)
    assert len(losses) == STEPS and np.mean(losses[-8:]) < 0.25 * np.mean(losses[:8]), losses
    # the same steps on the host, on the pixels the page drew
    tb = compile_train(os.path.join(FINETUNE, "shapes_backbone.onnx"), trainable="last:1", momentum=0.9)
    state, x, y = tb.init_state(), demo["train_images"], demo["train_labels"]
    nb = len(y) // BATCH
    host = [tb.step(state, {"image": x[s % nb * BATCH:(s % nb + 1) * BATCH]}, y[s % nb * BATCH:(s % nb + 1) * BATCH],
                    LR)[0] for s in range(STEPS)]
    np.testing.assert_allclose(losses, host, rtol=1e-4, atol=1e-6)
