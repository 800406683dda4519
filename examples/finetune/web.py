"""Build the browser fine-tuning demo: the shape classifier's training step (examples/finetune/shapes_backbone.onnx,
``--trainable last:1``, SGD with momentum, batch 16) as a wasm32-browser bundle, and the page (web/: index.html +
demo.mjs) next to it. The page draws shapes on canvases, fine-tunes the classifier on them in WebAssembly and shows
the accuracy on other drawn shapes before and after.

    python examples/finetune/web.py -o out/shapes_web && sdk serve out/shapes_web      # then open index.html
    python examples/finetune/web.py -o out/shapes_web --run [--screenshot docs/finetune_demo.png]   # headless

Needs emcc (docs/wasm.md); ``--run`` needs Chromium and playwright (docs/wasm.md)."""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from sdk.train import compile_train  # noqa: E402

BATCH = 16
STEPS, LR = 120, 0.01       # SGD steps (momentum 0.9) over the training shapes' batches in turn
N_TRAIN, N_TEST = 128, 128  # shapes the page draws to train on and to test on (classes in turn)


def build(out) -> Path:
    """The page's folder: index.html, demo.mjs, config.json (steps, learning rate, numbers of shapes) and shapes/
    (the bundle, its .wasm built)."""
    from sdk.backends.wasm.bundle import build_wasm
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tb = compile_train(os.path.join(HERE, "shapes_backbone.onnx"), target="wasm32-browser", trainable="last:1",
                       momentum=0.9, name="shapes")
    build_wasm(tb.save(out / "shapes", force=True))
    for f in ("index.html", "demo.mjs"):
        shutil.copy(os.path.join(HERE, "web", f), out / f)
    (out / "config.json").write_text(json.dumps({"steps": STEPS, "lr": LR, "train": N_TRAIN, "test": N_TEST}))
    return out


def run_page(out, screenshot=None, timeout_ms=120000) -> dict:
    """Open the page in headless Chromium, press Fine-tune, wait for the end; returns ``window.demo`` (accuracies
    before/after, the losses) and the pixels the page drew to train on (``train_images``: [N_TRAIN, 1, 28, 28],
    ``train_labels``)."""
    import numpy as np
    from sdk.backends.wasm.runner import chromium_page, serve_folder
    with serve_folder(out) as url, chromium_page() as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_viewport_size({"width": 900, "height": 900})
        page.goto(url + "index.html")
        # window.demo exists only once the page's module has fetched its config: until then the predicate is false
        # (reading window.demo.error threw, which ends the wait with an error: a race seen under the suite's load)
        page.wait_for_function("document.body.dataset.ready === '1' || (window.demo !== undefined && "
                               "window.demo.error !== null)", timeout=timeout_ms)
        page.click("#train")
        page.wait_for_function("window.demo.after !== null || window.demo.error !== null", timeout=timeout_ms)
        demo = page.evaluate("window.demo")
        drawn = page.evaluate("""async (n) => {
            const d = await import('./demo.mjs');
            const s = d.drawSet(d.randomShapes(d.rng(1), n));
            return { images: Array.from(s.images), labels: Array.from(s.labels, Number) };
        }""", N_TRAIN)
        demo["status"] = page.inner_text("#status")
        if screenshot:
            page.screenshot(path=str(screenshot), full_page=True)
    demo["errors"] = errors
    demo["train_images"] = np.array(drawn["images"], np.float32).reshape(-1, 1, 28, 28)
    demo["train_labels"] = np.array(drawn["labels"], np.int64)
    return demo


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--run", action="store_true", help="fine-tune in headless Chromium and print the result")
    ap.add_argument("--screenshot", help="with --run: save the page after fine-tuning (PNG)")
    a = ap.parse_args()
    out = build(a.output)
    print("wrote", out)
    if a.run:
        d = run_page(out, a.screenshot)
        print(json.dumps({k: d[k] for k in ("before", "after", "status", "errors")}, default=str))
