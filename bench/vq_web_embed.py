"""Embed the search corpus's passages (token ids from `bench/vq_web.py prepare`) with all-MiniLM-L6-v2: the
arithmetic of bench/minilm_numpy.py written with torch, so ~10^5 passages take seconds on a GPU (numpy on this
2-core machine would take hours); run where torch is, e.g. the GPU machine. Checks itself against the numpy
model on the first --check passages and prints the largest difference.

    python bench/vq_web_embed.py DATA_DIR OUT.npy [--check 64]
    python bench/vq_web_embed.py half [--chunks N]   # CPU, one thread: a random half of minilm-passages
    python bench/vq_web_embed.py all [--chunks N]    # CPU, one thread: all of minilm-passages, resumable

`half` embeds the even-numbered passages of the first 59,126 (the minilm-passages set), in a fixed random order,
in chunks of 2,000 (bench/data/vqweb/half/emb16_<k>.npy; existing chunks are kept), so that any first N chunks
are a random subset of them: the set `minilm-passages-half` of bench/vq_bench.py on a machine without a GPU.
`all` does the same for all 59,126 passages (bench/data/vqweb/all/emb16_<k>.npy, 30 chunks, ~32 CPU minutes):
once every chunk is there, bench/vq_datasets.py puts them back in passage order as the set `minilm-passages`
(the GPU job's set, embedded on this CPU); until then its first N chunks are a random subset of it.

DATA_DIR holds ids.npz (lens int32 [n], ids uint16 concatenated), word_emb.npy and rest.npz (the other weights
by their safetensors names).
"""
import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def load(data):
    w = dict(np.load(data / "rest.npz"))
    w["embeddings.word_embeddings.weight"] = np.load(data / "word_emb.npy")
    z = np.load(data / "ids.npz")
    lens, flat = z["lens"], z["ids"]  # read each array once (an NpzFile re-reads on every access)
    offs = np.concatenate([[0], np.cumsum(lens)])
    return w, [flat[offs[i]:offs[i + 1]].astype(np.int64) for i in range(len(lens))]


def encode(w, token_ids, heads=12, batch=256, device="cuda"):
    """minilm_numpy.MiniLM.encode_ids in torch float32 (no TF32): same order of operations per layer."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    W = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in w.items()}
    n_layers = sum(1 for k in w if k.endswith("attention.self.query.weight"))
    d = W["embeddings.word_embeddings.weight"].shape[1]
    hd = d // heads

    def ln(x, p):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-12) * W[p + ".weight"] + W[p + ".bias"]

    lengths = np.array([len(t) for t in token_ids])
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(token_ids), d), np.float32)
    with torch.no_grad():
        for s in range(0, len(order), batch):
            sel = order[s:s + batch]
            t = int(lengths[sel].max())
            ids = np.zeros((len(sel), t), np.int64)
            mask = np.zeros((len(sel), t), np.int64)
            for r, j in enumerate(sel):
                ids[r, :lengths[j]], mask[r, :lengths[j]] = token_ids[j], 1
            ids, mask = torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)
            n = len(sel)
            h = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:t] \
                + W["embeddings.token_type_embeddings.weight"][0]
            h = ln(h, "embeddings.LayerNorm")
            bias = torch.where(mask[:, None, None, :] > 0, 0.0, -1e4).float()
            for i in range(n_layers):
                p = f"encoder.layer.{i}."
                lin = lambda x, name: x @ W[p + name + ".weight"].T + W[p + name + ".bias"]
                q, k, v = (lin(h, f"attention.self.{m}").reshape(n, t, heads, hd).permute(0, 2, 1, 3)
                           for m in ("query", "key", "value"))
                att = q @ k.transpose(-1, -2) / math.sqrt(hd) + bias
                att = torch.exp(att - att.amax(-1, keepdim=True))
                att = att / att.sum(-1, keepdim=True)
                ctx = (att @ v).permute(0, 2, 1, 3).reshape(n, t, d)
                h = ln(h + lin(ctx, "attention.output.dense"), p + "attention.output.LayerNorm")
                x = lin(h, "intermediate.dense")
                h = ln(h + lin(0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))), "output.dense"), p + "output.LayerNorm")
            m = mask[:, :, None].float()
            emb = (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
            emb = emb / torch.clamp(torch.linalg.norm(emb, dim=1, keepdim=True), min=1e-12)
            out[sel] = emb.cpu().numpy()
    return out


HALF_SEED, HALF_CHUNK = 20, 2000


def half_order():
    """The passages of the `half` set (indices into the corpus), in chunk order."""
    return np.random.default_rng(HALF_SEED).permutation(np.arange(0, 59126, 2))


def half(chunks, which="half"):
    torch.set_num_threads(1)
    data = HERE / "data" / "vqweb"
    w, ids = load(data)
    if which == "half":
        order = half_order()
    else:
        sys.path.insert(0, str(HERE))
        from vq_datasets import all_order
        order = all_order()
    out = data / which
    out.mkdir(exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(min(chunks, -(-len(order) // HALF_CHUNK))):
        f = out / f"emb16_{k}.npy"
        if not f.exists():
            sel = order[k * HALF_CHUNK:(k + 1) * HALF_CHUNK]
            tmp = out / f".{f.name}.part"  # renamed when whole: a bench may list the folder meanwhile
            with open(tmp, "wb") as fh:
                np.save(fh, encode(w, [ids[i] for i in sel], batch=64, device="cpu").astype(np.float16))
            tmp.replace(f)
        print(f"chunk {k}: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} CPU s", flush=True)


def main():
    if sys.argv[1:2] in (["half"], ["all"]):
        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("--chunks", type=int, default=30)
        a = ap.parse_args()
        return half(a.chunks, a.mode)
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--check", type=int, default=64)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    w, ids = load(a.data)
    t0 = time.perf_counter()
    emb = encode(w, ids, device=a.device)
    print(f"{len(ids)} passages embedded in {time.perf_counter() - t0:.1f} s on {a.device}")
    np.save(a.out, emb)
    if a.check:
        sys.path.insert(0, str(HERE))
        from minilm_numpy import MiniLM, erf
        ref = MiniLM(w, 12).encode_ids(ids[:a.check])
        print(f"numpy check on {a.check} passages: max |torch - numpy| = {np.abs(emb[:a.check] - ref).max():.2e}"
              f" (numpy GELU: {'erf' if erf is not None else 'tanh approximation'})")


if __name__ == "__main__":
    main()
