"""The GPU-machine half of bench/vq_web.py: embed the passages and the queries (bench/vq_web_embed.py: the numpy
MiniLM's arithmetic in torch), train IRVQ 8 x 8 bits (beam 8, all-path residuals, up to 4 refinement rounds) on
20,000 random vectors of the first N passages, encode all, write web<N>.svq and web100000.svq (8-bit norms) and
the exact top-10 (inner product) of each query, plus float16 embeddings of the first N passages for the exact peer.

    python bench/vq_web_device.py DATA OUT N     # DATA: `bench/vq_web.py prepare`'s files; N = 59126

The device tool carries 64 MiB a call, so word_emb.npy and rest.npz were carried in two earlier calls and copied to
/tmp/keep/ there (KEEP below); ids.npz and query_ids.json come from DATA. Outputs fit its 16 MiB-a-file limit.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import vq_web_embed  # noqa: E402
from minilm_numpy import MiniLM, erf  # noqa: E402
from sdk import vq  # noqa: E402

KEEP = Path("/tmp/keep")


def main():
    src, out, n1 = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    w = dict(np.load(KEEP / "rest.npz"))
    w["embeddings.word_embeddings.weight"] = np.load(KEEP / "word_emb.npy")
    z = np.load(src / "ids.npz")
    lens, flat = z["lens"], z["ids"]  # read each array once (an NpzFile re-reads on every access)
    offs = np.concatenate([[0], np.cumsum(lens)])
    ids = [flat[offs[i]:offs[i + 1]].astype(np.int64) for i in range(len(lens))]
    qids = [np.array(q, np.int64) for q in json.loads((src / "query_ids.json").read_text())]
    log = {}
    t = time.perf_counter()
    emb = vq_web_embed.encode(w, ids)
    log["embed_s"] = time.perf_counter() - t
    qemb = vq_web_embed.encode(w, qids)
    ref = MiniLM(w, 12).encode_ids(ids[:32] + qids[:8])
    log["numpy_maxdiff"] = float(np.abs(np.concatenate([emb[:32], qemb[:8]]) - ref).max())
    log["numpy_erf"] = erf is not None
    print(log, flush=True)
    np.save(out / "qemb.npy", qemb)
    for k, part in enumerate(np.array_split(emb[:n1].astype(np.float16), 3)):
        np.save(out / f"emb16_{k}.npy", part)
    train = emb[:n1][np.random.default_rng(0).choice(n1, 20000, replace=False)]
    t = time.perf_counter()
    q = vq.train(train, method="irvq", stages=8, bits=8, beam=8, seed=0, paths=True, refine_rounds=4, time_budget=60,
                 progress=True)
    log["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    codes = q.encode(emb)
    log["encode_s"] = time.perf_counter() - t
    log["rel_mse"] = float(q.relative_mse(emb[:n1], codes[:n1]))
    for n in (n1, 100000):
        idx = vq.Index(q, norm_bits=8)
        idx.add_codes(codes[:n])
        idx.save(out / f"web{n}.svq")
        exact = np.argsort(-(qemb @ emb[:n].T), axis=1)[:, :10]
        _, i = idx.search(qemb, 10)
        log[f"n{n}"] = {"bytes": len(idx.to_bytes()), "exact": exact.tolist(), "adc": i.tolist(),
                        "recall10": float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, i)])),
                        "top1_in_exact3": float(np.mean([a[0] in b[:3] for a, b in zip(i, exact)]))}
        print(n, {k: v for k, v in log[f"n{n}"].items() if k not in ("exact", "adc")}, flush=True)
    (out / "log.json").write_text(json.dumps(log))


if __name__ == "__main__":
    main()
