"""The question generator's browser demo (examples/qgen/web.py: encoder + tokenizer and decoder as wasm32 bundles,
index.html + worker.mjs) in headless Chromium: a click streams the greedy question token by token, then the beams;
the tokens equal the Python reference loop over onnxruntime."""
import os
import shutil

import numpy as np
import onnx
import pytest

from conftest import load_example, ort_run
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate
from sdk.text import WordPiece

QGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "qgen")
SENTENCE = "The event loop is the core of every asyncio application."


@pytest.mark.slow
def test_question_generator_page_in_chromium(tmp_path):
    if shutil.which("emcc") is None:
        pytest.fail("emcc missing: run 'make setup' (apt: emscripten)")
    from sdk.backends.wasm.runner import chromium_page, serve_folder
    out = load_example("qgen/web.py").build(tmp_path / "web")
    with serve_folder(out) as url, chromium_page() as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("crash", lambda *_: errors.append("renderer crashed"))
        page.goto(url + "index.html")
        page.wait_for_selector("body[data-ready='1']", timeout=60000)
        assert not errors, errors
        page.fill("#sentence", SENTENCE, timeout=90000)
        page.click("#ask", timeout=90000)
        page.wait_for_function("window.demo.last !== null || document.getElementById('status').textContent"
                               ".startsWith('error')", timeout=60000)
        status, last, updates = page.inner_text("#status"), page.evaluate("window.demo.last"), \
            page.evaluate("window.demo.updates")
        shown, beams = page.inner_text("#question"), page.inner_text("#beam-list")
        page.screenshot(path=str(tmp_path / "qgen_demo.png"), full_page=True)
    assert status.startswith("done") and not errors, (status, errors)
    tok = WordPiece.from_file(os.path.join(QGEN, "vocab.txt"))
    src = np.array([tok.encode(SENTENCE)])
    states = ort_run(onnx.load(os.path.join(QGEN, "qgen_encoder.onnx")), {"src": src})["enc"]
    dec = onnx.load(os.path.join(QGEN, "qgen_decoder_step.onnx"))
    stop = dict(stop_tokens=(tok.sep_id,), max_new_tokens=31)
    ref = reference_generate(dec, np.array([[tok.cls_id]]), 32, GenerateParams(**stop), context={"enc": states})[0]
    ref_beams = reference_generate(dec, np.array([[tok.cls_id]]), 32, GenerateParams(num_beams=4, **stop),
                                   context={"enc": np.repeat(states, 4, 0)})
    assert last["ids"] == ref and shown == tok.decode(ref) == "what is the event loop ?"
    assert updates == [tok.decode(ref[:k + 1]) for k in range(1, len(ref))]  # one update per generated token
    assert last["beams"] == [tok.decode(b) for b in ref_beams] and beams.splitlines()[0] == tok.decode(ref_beams[0])
