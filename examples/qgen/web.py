"""Build the question generator's browser demo: the encoder (with the tokenizer) and the decoder (with generation)
as wasm32-browser bundles, and the page (examples/qgen/web/: index.html + worker.mjs) next to them.

    python examples/qgen/web.py -o out/qgen_web && sdk serve out/qgen_web      # then open index.html

Needs emcc (docs/wasm.md). The page loads ``enc/qenc.mjs`` and ``dec/qdec.mjs``.
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
import sdk  # noqa: E402

MAX_SRC, MAX_LEN, BEAMS = 80, 32, 4


def build(out) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sdk.compile(os.path.join(HERE, "qgen_encoder.onnx"), target="wasm32-browser", dims={"batch": 1, "src": MAX_SRC},
                name="qenc", vocab=os.path.join(HERE, "vocab.txt")).save(out / "enc", force=True)
    sdk.compile(os.path.join(HERE, "qgen_decoder_step.onnx"), target="wasm32-browser",
                dims={"batch": BEAMS, "src": MAX_SRC, "max_len": MAX_LEN}, generate=True,
                name="qdec").save(out / "dec", force=True)
    for f in ("index.html", "worker.mjs"):
        shutil.copy(os.path.join(HERE, "web", f), out / f)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True)
    print("wrote", build(ap.parse_args().output))
