"""Data sets for bench/vq_bench.py: real MiniLM embeddings, real MiniLM token vectors, SIFT-like
descriptors of generated images, and synthetic sets of different spectra, cluster counts and dims.

Each maker returns float32 (n, dim). Every set is split the same way by split(): queries, base,
and a training subset of the base.
"""
import json
import re
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DOCS = Path("/usr/share/doc/python3.11/html/_sources")
DATA = HERE / "data"


# ---- real: MiniLM sentence embeddings of the Python docs ----------------------------------------
def doc_sentences(root=DOCS):
    """Prose sentences of the reStructuredText doc sources (code blocks and markup dropped)."""
    sents = [s for _, file_sents in doc_file_sentences(root) for s in file_sents]
    return list(dict.fromkeys(sents))  # unique, in file order


def doc_file_sentences(root=DOCS):
    """(path relative to root, its prose sentences in order) for every doc source file, sorted by path."""
    if not root.exists():
        sys.exit(f"{root} not found: apt-get install python3.11-doc")
    return [(str(p.relative_to(root)), file_sentences(p.read_text(errors="ignore"))) for p in sorted(root.rglob("*.txt"))]


def file_sentences(text):
    """The prose sentences of one reStructuredText source, in order."""
    sents = []
    for para in re.split(r"\n\s*\n", text):
        if para.strip().startswith(("..", ">>>", "$", "%", "#")):
            continue
        lines = [ln.strip() for ln in para.split("\n")]
        if len(lines) <= 3 and any(re.fullmatch(r"[=\-~^*#+]{3,}", ln) for ln in lines):
            continue  # a heading
        t = " ".join(ln for ln in lines if ln and not ln.startswith((">>>", "...", "..", "|", "+-", "=")))
        t = re.sub(r":[a-z:]+:`~?([^`<]*)(<[^>]*>)?`", r"\1", t)
        t = re.sub(r"[`*]+", "", t)
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", t):
            s = s.strip()
            if 30 <= len(s) <= 400 and s.count(" ") >= 4 and not re.search(r"[{}();=]\s*$", s):
                sents.append(s)
    return sents


def minilm_sentences(wait_s=0):
    """(n, 384) float32 MiniLM embeddings of the doc sentences, cached in bench/data/. wait_s:
    wait up to that long for another process that is writing the cache (`--wait-cache`)."""
    DATA.mkdir(exist_ok=True)
    cache = DATA / "pydocs_minilm.npy"
    t_end, size = time.monotonic() + wait_s, -1
    while not cache.exists() or cache.stat().st_size != size:  # until the file stops growing
        if cache.exists():
            size = cache.stat().st_size
        elif time.monotonic() > t_end:
            break
        time.sleep(5)
    if cache.exists():
        return np.load(cache)
    from minilm_numpy import MiniLM
    sents = doc_sentences()
    (DATA / "pydocs_sentences.txt").write_text("\n".join(sents))
    print(f"embedding {len(sents)} sentences with all-MiniLM-L6-v2 (numpy; slow, cached once)", file=sys.stderr)
    t0 = time.perf_counter()

    def show(done, total):
        if done % 2048 < 64 or done == total:
            print(f"\r  {done}/{total} {time.perf_counter() - t0:.0f}s", end="", file=sys.stderr, flush=True)

    emb = MiniLM().encode(sents, progress=show)
    print(file=sys.stderr)
    np.save(cache, emb)
    return emb


PASSAGES_N, ALL_SEED, ALL_CHUNK = 59126, 21, 2000


def all_order():
    """The passages of minilm-passages in the order `bench/vq_web_embed.py all` embeds them on a CPU (chunks of
    2,000 in a fixed random order, so that any first chunks are a random subset of the set)."""
    return np.random.default_rng(ALL_SEED).permutation(PASSAGES_N)


def _first_chunks(folder):
    files = sorted(folder.glob("emb16_*.npy"), key=lambda p: int(p.stem.split("_")[1]))
    return [f for k, f in enumerate(files) if f.stem == f"emb16_{k}"]  # the first consecutive chunks


def minilm_passages():
    """(59126, 384) float32 MiniLM embeddings of the Python-doc passages of the browser search demo
    (docs/vq.md: 3-sentence windows), widened from the float16 files that `bench/vq_web.py prepare` +
    `bench/vq_web_embed.py` (torch, on the GPU machine) write to bench/data/vqweb/dev/emb16_*.npy, or, without
    them, from all the chunks `bench/vq_web_embed.py all` wrote on a CPU, put back in passage order."""
    files = _first_chunks(DATA / "vqweb" / "dev")
    if files:
        return np.ascontiguousarray(np.concatenate([np.load(f) for f in files]), np.float32)
    x = minilm_passages_cpu()
    if len(x) < PASSAGES_N:
        sys.exit(f"{DATA / 'vqweb/dev'}/emb16_*.npy not found and {DATA / 'vqweb/all'} has {len(x)} of "
                 f"{PASSAGES_N} passages: see bench/vq_web.py (prepare, then the device job) or "
                 "bench/vq_web_embed.py all")
    out = np.empty_like(x)
    out[all_order()] = x
    return out


def minilm_passages_cpu():
    """(n, 384) float32: the first chunks that `bench/vq_web_embed.py all` embedded on this machine's CPU (torch,
    one thread; ~32 CPU ms a passage), a random subset of minilm-passages (all of it, in another row order, once
    the 30 chunks are there)."""
    files = _first_chunks(DATA / "vqweb" / "all")
    if not files:
        sys.exit(f"{DATA / 'vqweb/all'}/emb16_*.npy not found: run bench/vq_web.py prepare, then "
                 "bench/vq_web_embed.py all")
    return np.ascontiguousarray(np.concatenate([np.load(f) for f in files]), np.float32)


def minilm_passages_half():
    """(n, 384) float32: a random subset of the minilm-passages set's even-numbered passages (of the first
    59,126), embedded on this machine's CPU (torch, one thread: ~36 CPU ms a passage, so the whole set would
    take over half an hour of a shared core) in chunks of 2,000 into bench/data/vqweb/half/emb16_<k>.npy by
    `bench/vq_web_embed.py half --chunks N` after `bench/vq_web.py prepare`; the first N chunks are used."""
    files = sorted((DATA / "vqweb" / "half").glob("emb16_*.npy"), key=lambda p: int(p.stem.split("_")[1]))
    files = [f for k, f in enumerate(files) if f.stem == f"emb16_{k}"]  # the first consecutive chunks
    if not files:
        sys.exit(f"{DATA / 'vqweb/half'}/emb16_*.npy not found: run bench/vq_web.py prepare, then "
                 "bench/vq_web_embed.py half")
    return np.ascontiguousarray(np.concatenate([np.load(f) for f in files]), np.float32)


# ---- real: MiniLM's learned token vectors (word vectors that ship in the model wheel) ------------
def minilm_tokens():
    """The 30522 x 384 word-piece embedding table of all-MiniLM-L6-v2 (learned word vectors),
    without the [unused*] rows that were never trained."""
    import all_minilm_l6_v2
    from minilm_numpy import _read_safetensors
    with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as z:
        w = _read_safetensors(z.read("model.safetensors"))["embeddings.word_embeddings.weight"]
        vocab = json.loads(z.read("tokenizer.json"))["model"]["vocab"]  # token -> row
    unused = [row for tok, row in vocab.items() if tok.startswith("[unused")]
    return np.ascontiguousarray(np.delete(w, unused, axis=0), np.float32)


# ---- real-ish: SIFT-like descriptors of generated images ----------------------------------------
def _scene(rng, size):
    """A grey-level image: smooth background, random ellipses, boxes and lines, a grating, noise."""
    from scipy.ndimage import gaussian_filter
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), 8) * 4
    for _ in range(rng.integers(6, 16)):
        cx, cy = rng.uniform(0, size, 2)
        v = rng.uniform(-1, 1)
        kind = rng.integers(3)
        if kind == 0:
            a, b, th = rng.uniform(3, 30), rng.uniform(3, 30), rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
            w = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
            img[(u / a) ** 2 + (w / b) ** 2 < 1] += v
        elif kind == 1:
            hw, hh = rng.uniform(4, 40, 2)
            img[(abs(xx - cx) < hw) & (abs(yy - cy) < hh)] += v
        else:
            th = rng.uniform(0, np.pi)
            img[abs((xx - cx) * np.sin(th) - (yy - cy) * np.cos(th)) < rng.uniform(0.5, 2.5)] += v
    f, th = rng.uniform(0.1, 0.6), rng.uniform(0, np.pi)
    img += 0.3 * rng.uniform() * np.sin(f * (xx * np.cos(th) + yy * np.sin(th)))
    return gaussian_filter(img + 0.03 * rng.standard_normal(img.shape).astype(np.float32), 0.8)


def _descriptors(img, sigma, per_image, rng):
    """Upright SIFT descriptors (4 x 4 cells x 8 orientations, Gaussian window, soft orientation
    bins, L2 normalise, clip at 0.2, renormalise, x512) at Harris corners of the image smoothed
    at scale sigma; the patch side is 8 * sigma."""
    from scipy.ndimage import gaussian_filter, maximum_filter, map_coordinates
    sm = gaussian_filter(img, sigma)
    gy, gx = np.gradient(sm)
    sxx, syy, sxy = (gaussian_filter(a, 1.5 * sigma) for a in (gx * gx, gy * gy, gx * gy))
    harris = sxx * syy - sxy ** 2 - 0.04 * (sxx + syy) ** 2
    half = 4 * sigma + 1
    peaks = (harris == maximum_filter(harris, size=int(2 * sigma) + 3)) & (harris > 0)
    peaks[:int(half) + 1], peaks[-int(half) - 1:], peaks[:, :int(half) + 1], peaks[:, -int(half) - 1:] = 0, 0, 0, 0
    ys, xs = np.nonzero(peaks)
    if not len(ys):
        return np.zeros((0, 128), np.float32)
    top = np.argsort(-harris[ys, xs])[:per_image]
    ys, xs = ys[top], xs[top]
    # a 16 x 16 sample grid over the patch, 4 x 4 samples per cell
    g = (np.arange(16) - 7.5) / 8.0 * (4 * sigma)
    oy, ox = np.meshgrid(g, g, indexing="ij")
    py, px = ys[:, None, None] + oy, xs[:, None, None] + ox
    mag = map_coordinates(np.hypot(gx, gy), [py.ravel(), px.ravel()], order=1).reshape(py.shape)
    ang = map_coordinates(np.arctan2(gy, gx), [py.ravel(), px.ravel()], order=0).reshape(py.shape)
    mag = mag * np.exp(-(oy ** 2 + ox ** 2) / (2 * (2 * sigma) ** 2))
    o = (ang % (2 * np.pi)) / (2 * np.pi) * 8
    o0 = np.floor(o).astype(int) % 8
    frac = o - np.floor(o)
    cell = (np.arange(16) // 4)[:, None] * 4 + (np.arange(16) // 4)[None, :]   # (16, 16) cell index
    desc = np.zeros((len(ys), 16, 8), np.float64)
    for b, wgt in ((o0, 1 - frac), ((o0 + 1) % 8, frac)):
        np.add.at(desc, (np.arange(len(ys))[:, None, None], cell[None], b), mag * wgt)
    desc = desc.reshape(len(ys), 128)
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    desc = np.minimum(desc, 0.2)
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    return np.round(desc * 512).astype(np.float32)


def sift_like(n, seed=0, size=160):
    """n SIFT-like descriptors (128-d, integer-valued like SIFT's bytes) of generated images,
    three scales per image; cached in bench/data/."""
    DATA.mkdir(exist_ok=True)
    cache = DATA / f"sift_like_{n}_{seed}.npy"
    if cache.exists():
        return np.load(cache)
    rng = np.random.default_rng(seed)
    out, have = [], 0
    while have < n:
        img = _scene(rng, size)
        for sigma in (1.0, 2.0, 3.0):
            d = _descriptors(img, sigma, 40, rng)
            d = d[np.linalg.norm(d, axis=1) > 0]
            out.append(d)
            have += len(d)
    x = np.concatenate(out)[:n]
    x = x[np.random.default_rng(seed + 1).permutation(len(x))]
    np.save(cache, x)
    return x


# ---- synthetic ----------------------------------------------------------------------------------
def gaussian_mixture(n, d, comps, seed, mix_seed=1234, rank=8, block=65536, out=None):
    """Mixture of `comps` Gaussians in R^d, each of rank `rank` (random orientation) plus a
    little isotropic noise: clustered data with a low intrinsic dimension, like embeddings.

    Built `block` rows at a time (float64 temporaries of about block x rank x d, not n x rank x d:
    10^7 x 64 fits in memory), with the same random draws in the same order as one block, so
    every block size gives the same array. out: a float32 (n, d) array to fill (e.g. a .npy
    opened with np.lib.format.open_memmap) instead of a new one."""
    mr = np.random.default_rng(mix_seed)
    means = mr.standard_normal((comps, d)) * 2.0
    bases = mr.standard_normal((comps, rank, d)) / np.sqrt(rank)
    rng = np.random.default_rng(seed)
    lab = rng.integers(comps, size=n)
    z = rng.standard_normal((n, rank))
    x = np.empty((n, d), np.float32) if out is None else out
    for a in range(0, n, block):  # the noise is the generator's last draw: drawn block by block
        b = min(n, a + block)
        la = lab[a:b]
        x[a:b] = means[la] + np.einsum("nr,nrd->nd", z[a:b], bases[la]) + 0.05 * rng.standard_normal((b - a, d))
    return x


def clustered_decay(n, d, comps, seed, alpha=1.0, sep=1.0, mix_seed=77):
    """`comps` clusters, each full-rank with a randomly rotated covariance whose eigenvalues
    decay as i^-alpha (the kind of set where tuned-on-embeddings defaults fell behind)."""
    mr = np.random.default_rng(mix_seed)
    means = mr.standard_normal((comps, d)) * sep
    rots = np.stack([np.linalg.qr(mr.standard_normal((d, d)))[0] for _ in range(comps)])
    scale = np.arange(1, d + 1) ** (-alpha / 2.0)
    rng = np.random.default_rng(seed)
    lab = rng.integers(comps, size=n)
    z = rng.standard_normal((n, d)) * scale
    x = means[lab]
    for c in range(comps):  # rotate each cluster's rows (no n x d x d temporary)
        x[lab == c] += z[lab == c] @ rots[c].T
    return x.astype(np.float32)


# ---- robustness: distributions the defaults were not tuned on (bench/vq_bench.py --sets robust) ---------
def _rot(rng, d):
    return np.linalg.qr(rng.standard_normal((d, d)))[0]


def student_t(n, d=64, df=3.0, seed=0):
    """Heavy tails: rows of a Student-t with `df` degrees of freedom (a Gaussian scaled by one chi-square draw
    per row, so whole rows are outliers), spectrum i^-0.5, randomly rotated."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)) * np.arange(1, d + 1) ** -0.25
    z /= np.sqrt(rng.chisquare(df, (n, 1)) / df)
    return (z @ _rot(np.random.default_rng(seed + 100), d).T).astype(np.float32)


def low_rank_noise(n, d=128, rank=12, noise=0.05, seed=0):
    """A rank-`rank` linear subspace (unequal factor scales) plus isotropic noise of std `noise`."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(seed + 100).standard_normal((rank, d)) / np.sqrt(rank)
    z = rng.standard_normal((n, rank)) * np.linspace(2.0, 0.5, rank)
    return (z @ basis + noise * rng.standard_normal((n, d))).astype(np.float32)


def aniso_features(n, d=48, seed=0):
    """Unnormalised tabular features: per-column scales from 1e-3 to 1e3 (log-uniform), offsets, a few
    correlated groups, a third of the columns log-normal (skewed)."""
    mr = np.random.default_rng(seed + 100)
    scale = 10.0 ** mr.uniform(-3, 3, d)
    offset = mr.standard_normal(d) * scale * 2
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)) @ (np.eye(d) + 0.4 * mr.standard_normal((d, d)) * (mr.random((d, d)) < 0.1))
    skew = mr.random(d) < 0.33
    z[:, skew] = np.exp(z[:, skew])
    return (z * scale + offset).astype(np.float32)


def tiny_clusters(n, d=64, clusters=3000, spread=0.05, seed=0):
    """Many tiny clusters: `clusters` random centres, each row one of them plus small noise (~n / clusters
    rows a cluster, fewer than the codebooks' 256 codewords can single out)."""
    centres = np.random.default_rng(seed + 100).standard_normal((clusters, d))
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(clusters, size=n)] + spread * rng.standard_normal((n, d))).astype(np.float32)


def duplicated(n, d=32, distinct=0.3, seed=0):
    """Duplicated rows: `distinct` * n distinct rows (a 16-cluster Gaussian mixture), each repeated a
    Zipf-like number of times (a few rows hundreds of times, most once or twice)."""
    rng = np.random.default_rng(seed)
    base = gaussian_mixture(int(n * distinct), d, 16, seed=seed, mix_seed=seed + 100)
    w = 1.0 / np.arange(1, len(base) + 1) ** 0.8
    return base[rng.choice(len(base), n, p=w / w.sum())]


def sparse_bow(n, d=256, words=30, seed=0):
    """Bag-of-words: counts of ~`words` draws from one of 20 topics (Zipf word frequencies), tf-idf weighted,
    L2-normalised: sparse, non-negative."""
    mr = np.random.default_rng(seed + 100)
    zipf = 1.0 / np.arange(1, d + 1) ** 1.1
    topics = np.stack([zipf[mr.permutation(d)] for _ in range(20)])
    topics /= topics.sum(1, keepdims=True)
    rng = np.random.default_rng(seed)
    t = rng.integers(20, size=n)
    counts = np.stack([rng.multinomial(max(1, rng.poisson(words)), topics[k]) for k in t]).astype(np.float64)
    idf = np.log(n / (1.0 + (counts > 0).sum(0)))
    x = counts * np.maximum(idf, 0.0)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def binary_codes(n, d=64, seed=0):
    """Binary-ish: 0/1 features thresholded from a correlated Gaussian (rank-8 + noise), each column with its
    own rate."""
    mr = np.random.default_rng(seed + 100)
    basis, thr = mr.standard_normal((8, d)), mr.uniform(-1.5, 1.0, d)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, 8)) @ basis / np.sqrt(8) + 0.7 * rng.standard_normal((n, d))
    return (g > thr).astype(np.float32)


def int_pixels(n, d=64, seed=0):
    """Int-valued: 8 x 8 'images' with values 0-16 (like the UCI digits), blurred random strokes, rounded:
    many exact zeros and ties."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 8, 8))
    for _ in range(3):
        r0, c0, r1, c1 = rng.integers(0, 8, (4, n))
        for t in np.linspace(0, 1, 8):
            img[np.arange(n), np.round(r0 + t * (r1 - r0)).astype(int), np.round(c0 + t * (c1 - c0)).astype(int)] += 1
    img = gaussian_filter(img, (0, 0.7, 0.7))
    img = img / np.maximum(img.max((1, 2), keepdims=True), 1e-12) * 16
    return np.round(img).reshape(n, d).astype(np.float32)
