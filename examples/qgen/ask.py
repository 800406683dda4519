"""Ask the question generator about a sentence: the encoder and decoder bundles compiled by sdk, the token loop
in C (greedy and beam search), on the host or an emulated Cortex-M7.

    python examples/qgen/ask.py "The event loop is the core of every asyncio application." [--beams 4]
    python examples/qgen/ask.py --target cortex-m7 "The argument must be a callable."

Prints the greedy question, then every beam's (best first).
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
import sdk  # noqa: E402
from sdk.text import WordPiece  # noqa: E402

MAX_SRC, MAX_LEN = 80, 32


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sentence", nargs="+")
    ap.add_argument("--beams", type=int, default=4, help="beam search width (1..4; 1: greedy only)")
    ap.add_argument("--target", default="host", help="host (default) or cortex-m7 (qemu)")
    a = ap.parse_args()
    tok = WordPiece.from_file(os.path.join(HERE, "vocab.txt"))
    enc = sdk.compile(os.path.join(HERE, "qgen_encoder.onnx"), target=a.target, dims={"batch": 1, "src": MAX_SRC},
                      name="qenc")
    dec = sdk.compile(os.path.join(HERE, "qgen_decoder_step.onnx"), target=a.target,
                      dims={"batch": 4, "src": MAX_SRC, "max_len": MAX_LEN}, generate=True, name="qdec")
    stop = dict(stop_tokens=(tok.sep_id,), max_new_tokens=MAX_LEN - 1)
    for s in a.sentence:
        states = enc.run({"src": np.array([tok.encode(s, max_length=MAX_SRC)])})["enc"]
        print(s)
        print("  greedy:", tok.decode(dec.generate([tok.cls_id], context={"enc": states}, **stop)))
        if a.beams > 1:
            for k, ids in enumerate(dec.generate([tok.cls_id], context={"enc": states}, num_beams=a.beams, **stop)):
                print(f"  beam {k}:", tok.decode(ids))


if __name__ == "__main__":
    main()
