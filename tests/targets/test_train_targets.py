"""The training step on the targets: the firmware of a bundle built with --train trains on Cortex-M4/M7 (emulated
MPS2 boards) over the serial protocol (SET_INPUT of the batch and labels, TRAIN, GET_STATE), giving the host's
in-process losses and trained parameters step by step."""
import os

import numpy as np
import pytest

from sdk.backends.mcu.runner import CortexMRunner
from sdk.train import compile_train
from test_cortex_m import require_toolchain

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MODELS = os.path.join(ROOT, "tests", "models", "train")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7"])
def test_train_on_cortex_m(tmp_path, target):
    require_toolchain()
    ref = dict(np.load(os.path.join(MODELS, "small_cnn_sgd.npz")))
    tb = compile_train(os.path.join(MODELS, "small_cnn.onnx"), target=target, trainable="last:2", momentum=0.9,
                       name="cnn")
    out = tb.save(tmp_path / "b")
    steps = 4
    losses, params, info = CortexMRunner().train(out, [ref["x"]], ref["labels"], 0.05, steps)
    host_tb = compile_train(os.path.join(MODELS, "small_cnn.onnx"), trainable="last:2", momentum=0.9)
    state = host_tb.init_state()
    host = [host_tb.step(state, {"x": ref["x"][s % 3]}, ref["labels"][s % 3], 0.05)[0] for s in range(steps)]
    np.testing.assert_allclose(losses, host, rtol=1e-4)
    assert losses[-1] < losses[0]
    for p in tb.params:
        np.testing.assert_allclose(params[p], state[p], rtol=1e-4, atol=1e-6, err_msg=p)
    assert info["cycles"][0] > 0 and info["ram_bytes"] > info["state_bytes"]


@pytest.mark.slow
def test_train_in_node_wasm(tmp_path):
    """The step compiled to wasm32 and driven by train_node.mjs in node: the host's losses and parameters."""
    import shutil
    import subprocess
    from sdk.tensorfile import read_tensor, write_tensor
    if shutil.which("emcc") is None or shutil.which("node") is None:
        pytest.skip("needs emcc and node")
    ref = dict(np.load(os.path.join(MODELS, "small_cnn_sgd.npz")))
    tb = compile_train(os.path.join(MODELS, "small_cnn.onnx"), target="wasm32-browser", trainable="last:2", momentum=0.9,
                       name="cnn")
    out = tb.save(tmp_path / "b")
    write_tensor(out / "x.sdkt", ref["x"])
    write_tensor(out / "labels.sdkt", ref["labels"])
    steps = 4
    r = subprocess.run(["node", "train_node.mjs", str(steps), "0.05", "x.sdkt", "labels.sdkt", "params"], cwd=out,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    losses = [float(line.split()[-1]) for line in r.stdout.splitlines()]
    host_tb = compile_train(os.path.join(MODELS, "small_cnn.onnx"), trainable="last:2", momentum=0.9)
    state = host_tb.init_state()
    host = [host_tb.step(state, {"x": ref["x"][s % 3]}, ref["labels"][s % 3], 0.05)[0] for s in range(steps)]
    np.testing.assert_allclose(losses, host, rtol=1e-4)
    for k, p in enumerate(host_tb.params):
        np.testing.assert_allclose(read_tensor(out / "params" / f"{k}.sdkt"), state[p], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_int8_backbone_finetune_on_cortex_m7(tmp_path):
    """examples/finetune --backbone int8 --target cortex-m7: the KWS classifier (float32, in the firmware's RAM
    state) learns keyword 4 on the int8 backbone over the serial protocol, step for step the host's int8-backbone
    steps; the firmware takes less flash and RAM than the fp32-backbone build's."""
    import sys
    require_toolchain()
    sys.path.insert(0, os.path.join(ROOT, "examples", "finetune"))
    from finetune import main
    before, after, losses, info = main(["--target", "cortex-m7", "--backbone", "int8", "--out", str(tmp_path)])
    assert before[4] == 0.0 and after[4] >= 0.8 and min(after[c] for c in range(4)) >= 0.8, (before, after)
    host = main(["--backbone", "int8"])[2]
    np.testing.assert_allclose(losses, host, rtol=1e-4, atol=1e-5)
    assert info["backbone"] == "int8" and min(info["cycles"]) > 0
    fp32 = compile_train(os.path.join(ROOT, "examples", "finetune", "kws_backbone.onnx"), target="cortex-m7",
                         trainable="last:1", momentum=0.9, name="kws")
    CortexMRunner().build(fp32.save(tmp_path / "fp32"))
    ref = CortexMRunner._firmware_size(tmp_path / "fp32")
    assert info["flash_bytes"] < 0.5 * ref["flash_bytes"] and info["ram_bytes"] < 0.5 * ref["ram_bytes"], (info, ref)
    assert info["ram_bytes"] <= 256 * 1024


@pytest.mark.slow
def test_int8_backbone_train_in_node_wasm(tmp_path):
    """The int8-backbone KWS step compiled to wasm32 (the int8 kernels in C) and driven by train_node.mjs: the
    host's in-process losses and trained head."""
    import shutil
    import subprocess
    import sys
    from sdk.tensorfile import read_tensor, write_tensor
    if shutil.which("emcc") is None or shutil.which("node") is None:
        pytest.skip("needs emcc and node")
    sys.path.insert(0, os.path.join(ROOT, "examples", "finetune"))
    from keywords import dataset
    x, y = dataset(range(5), 8, seed=7)
    cal = [{"mfcc": x[i:i + 8]} for i in range(0, 40, 8)]
    model = os.path.join(ROOT, "examples", "finetune", "kws_backbone.onnx")
    opts = dict(trainable="last:1", momentum=0.9, backbone="int8", calibration=cal)
    out = compile_train(model, target="wasm32-browser", name="kws", **opts).save(tmp_path / "b")
    xb, yb = x[:16].reshape(2, 8, 1, 49, 10), y[:16].reshape(2, 8).astype(np.int64)
    write_tensor(out / "x.sdkt", xb)
    write_tensor(out / "labels.sdkt", yb)
    steps = 4
    r = subprocess.run(["node", "train_node.mjs", str(steps), "0.01", "x.sdkt", "labels.sdkt", "params"], cwd=out,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    losses = [float(line.split()[-1]) for line in r.stdout.splitlines()]
    host_tb = compile_train(model, **opts)
    state = host_tb.init_state()
    host = [host_tb.step(state, {"mfcc": xb[s % 2]}, yb[s % 2], 0.01)[0] for s in range(steps)]
    np.testing.assert_allclose(losses, host, rtol=1e-4)
    for k, p in enumerate(host_tb.params):
        np.testing.assert_allclose(read_tensor(out / "params" / f"{k}.sdkt"), state[p], rtol=1e-4, atol=1e-6)
