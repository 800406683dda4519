"""Residual quantizers: RVQ, IRVQ (Liu et al. 2015) and dictionary annealing (Liu et al. 2016).

All three share one code model: a vector is approximated by the sum of one codeword from
each of `stages` codebooks of 2**bits codewords. They differ only in how codebooks are learned
(and IRVQ/DA encode with a beam: multi-path encoding).
"""
import time

import numpy as np

from ..errors import SdkError, ShapeError
from .kmeans import _scatter_add, assign, kmeans, sq_norms, update_centers
from .progress import ProgressBar

METHODS = ("rvq", "irvq", "da")
# Vectors per block in beam encoding: residuals take block * beam * dim * 4 bytes.
_ENCODE_BLOCK = 2048


def beam_encode(x, codebooks, beam=1):
    """Multi-path (beam) encoding: keep the `beam` best partial encodings per vector.

    Returns (codes int64 (n, stages), squared errors (n,)). beam=1 is greedy RVQ encoding.
    """
    codes, _ = beam_search(x, codebooks, beam, keep_last=1)
    codes = codes[:, 0, :]
    x = np.ascontiguousarray(x, np.float32)
    errs = np.empty(len(x), np.float32)
    for s in range(0, len(x), _ENCODE_BLOCK):  # exact errors of the chosen codes
        blk = slice(s, s + _ENCODE_BLOCK)
        errs[blk] = sq_norms(x[blk] - decode_codes(codes[blk], codebooks))
    return codes, errs


def beam_search(x, codebooks, beam=1, keep_last=1):
    """Beam search over the stages; returns the `keep_last` best paths of every vector:
    codes int64 (n, keep_last, stages) and their squared errors (n, keep_last), best first.

    Errors are tracked in expanded form, ||x - sum_m c_m||^2 = ||x||^2 + sum_m (||c_m||^2 -
    2 <x, c_m>) + 2 sum_{a<b} <c_a, c_b>: the inner products <x, c> of all stages come from one
    matrix product per block and the cross terms from a table of codebook inner products, so a
    stage costs beam * ksub additions per vector instead of beam * ksub * dim (faiss's RQ has
    the same as its use_beam_LUT option). Large codebooks (no room for the cross table) use
    explicit residuals.
    """
    x = np.ascontiguousarray(x, np.float32)
    m_count, k, d = codebooks.shape
    if m_count * (m_count - 1) // 2 * k * k * 4 > _CROSS_BYTES:
        return _beam_search_residual(x, codebooks, beam, keep_last)
    flat = np.ascontiguousarray(codebooks.reshape(m_count * k, d))
    cnorm = sq_norms(flat).reshape(m_count, k)
    # cross[m][a][i, j] = 2 <c_a,i, c_m,j> for a < m
    cross = [[2.0 * (codebooks[a] @ codebooks[m].T) for a in range(m)] for m in range(m_count)]
    # at stage m the m cross-term lookups cost about as much as one product of the paths' partial
    # reconstructions with the codebook at dim 48 * m: past that the product is cheaper
    by_product = [d <= _PRODUCT_DIM * m for m in range(m_count)]
    n = len(x)
    keep_last = _last_width(keep_last, beam, m_count, k)
    codes = np.empty((n, keep_last, m_count), np.int64)
    errs = np.empty((n, keep_last), np.float32)
    block = max(64, _ENCODE_BLOCK // 2)
    for s in range(0, n, block):
        xb = x[s:s + block]
        nb = len(xb)
        lut = (xb @ flat.T).reshape(nb, m_count, k)
        lut *= -2.0
        lut += cnorm                             # ||c||^2 - 2 <x, c>
        err = sq_norms(xb)[:, None]               # (nb, b) error of each path
        hist = np.zeros((nb, 1, 0), np.int64)     # (nb, b, m) codes of each path
        part = np.zeros((nb, 1, d), np.float32) if any(by_product) else None  # each path's partial sum
        for m in range(m_count):
            b = err.shape[1]
            cand = err[:, :, None] + lut[:, None, m, :]
            if by_product[m]:  # 2 <sum of the path's codewords, c_m,j>
                cand += (part.reshape(nb * b, d) @ (2.0 * codebooks[m]).T).reshape(nb, b, k)
            else:
                for a in range(m):
                    cand += np.take(cross[m][a], hist[:, :, a], axis=0)  # 2 <c_a(path), c_m,j>
            keep = keep_last if m == m_count - 1 else beam
            idx, err = _smallest(cand.reshape(nb, b * k), keep)
            parent, code = idx // k, idx % k
            hist = np.concatenate([np.take_along_axis(hist, parent[:, :, None], 1), code[:, :, None]], 2)
            if part is not None and m + 1 < m_count:
                part = np.take_along_axis(part, parent[:, :, None], 1) + codebooks[m][code]
        codes[s:s + nb] = hist
        errs[s:s + nb] = np.maximum(err, 0)
    return codes, errs


def _last_width(keep_last, beam, m_count, k):
    """Paths kept at the last stage: at most the candidates there (paths kept before x ksub)."""
    before = 1 if m_count == 1 else min(beam, k ** (m_count - 1))
    return max(1, min(keep_last, before * k))


# beam_search: at stage m, the cross terms come from a matrix product when dim <= this * m (else lookups).
_PRODUCT_DIM = 48

# Most bytes for the codebook cross-product table of beam_search (else residual encoding).
_CROSS_BYTES = 256 << 20


def _smallest(cand, keep):
    """Column indices and values of the `keep` smallest entries of each row, ascending (ties by
    column). Vectorised: a threshold from group minima leaves a few candidates per row to sort."""
    nb, w = cand.shape
    keep = min(keep, w)
    groups = 64
    if w < 2 * groups or keep == w:
        idx = np.argsort(cand, axis=1, kind="stable")[:, :keep]  # small rows: a full sort
        return idx, np.take_along_axis(cand, idx, 1)
    if w % groups or keep >= 16:  # wide beams: the group filter lets too many through
        thr = np.partition(cand, keep - 1, axis=1)[:, keep - 1]   # keep entries are <= thr
        r, col = np.nonzero(cand <= thr[:, None])
        v = cand[r, col]
    else:
        g3 = cand.reshape(nb, w // groups, groups)    # group j = columns j, j + 64, j + 128, ...
        gmin = g3.min(1)
        # the keep smallest group minima are keep entries <= thr: at least keep entries pass
        thr = np.partition(gmin, keep - 1, axis=1)[:, keep - 1]
        row, grp = np.nonzero(gmin <= thr[:, None])
        vals = g3[row, :, grp]                        # (hits, w // groups)
        hit, pos = np.nonzero(vals <= thr[row, None])
        r, col, v = row[hit], pos * groups + grp[hit], vals[hit, pos]
    order = np.lexsort((col, v, r))
    r, col, v = r[order], col[order], v[order]
    sel = np.searchsorted(r, np.arange(nb))[:, None] + np.arange(keep)
    return col[sel], v[sel]


def _beam_search_residual(x, codebooks, beam, keep_last):
    """beam_search on explicit residuals (for codebooks too large for the cross table)."""
    n, d = x.shape
    m_count, k, _ = codebooks.shape
    cnorm = np.einsum("mkd,mkd->mk", codebooks, codebooks)
    keep_last = _last_width(keep_last, beam, m_count, k)
    codes = np.empty((n, keep_last, m_count), np.int64)
    errs = np.empty((n, keep_last), np.float32)
    for s in range(0, n, _ENCODE_BLOCK):
        xb = x[s:s + _ENCODE_BLOCK]
        nb = len(xb)
        res = xb[:, None, :].copy()           # (nb, b, d) residual of each path
        err = sq_norms(xb)[:, None]           # (nb, b) its squared norm
        hist = np.zeros((nb, 1, 0), np.int64)  # (nb, b, m) codes of each path
        for m in range(m_count):
            b = res.shape[1]
            dots = (res.reshape(-1, d) @ codebooks[m].T).reshape(nb, b * k)
            cand = (err[:, :, None] - 2.0 * dots.reshape(nb, b, k) + cnorm[m]).reshape(nb, b * k)
            idx, err = _smallest(cand, keep_last if m == m_count - 1 else beam)
            parent, code = idx // k, idx % k
            res = np.take_along_axis(res, parent[:, :, None], 1) - codebooks[m][code]
            hist = np.concatenate([np.take_along_axis(hist, parent[:, :, None], 1), code[:, :, None]], 2)
        codes[s:s + nb] = hist
        errs[s:s + nb] = sq_norms(res.reshape(-1, d)).reshape(nb, -1)
    return codes, errs


def decode_codes(codes, codebooks):
    """Sum of the selected codeword of every stage: (n, stages) codes -> (n, dim) float32."""
    out = np.zeros((len(codes), codebooks.shape[2]), np.float32)
    for m in range(codebooks.shape[0]):
        out += codebooks[m][codes[:, m]]
    return out


class Quantizer:
    """A trained residual quantizer: codebooks (stages, 2**bits, dim) float32."""

    def __init__(self, codebooks, method="rvq", beam=8):
        self.codebooks = np.ascontiguousarray(codebooks, np.float32)
        if self.codebooks.ndim != 3:
            raise ShapeError(f"codebooks must be (stages, ksub, dim), got {self.codebooks.shape}")
        if method not in METHODS:
            raise SdkError(f"unknown vq method '{method}' (expected one of {', '.join(METHODS)})")
        self.method, self.beam = method, int(beam)
        self.choices = {}  # what train() chose on held-out data (see train)
        self.held_out_codebooks = None  # train(refit=True): the codebooks before the refit

    stages = property(lambda self: self.codebooks.shape[0])
    ksub = property(lambda self: self.codebooks.shape[1])
    dim = property(lambda self: self.codebooks.shape[2])
    bits = property(lambda self: int(np.ceil(np.log2(self.ksub))))
    code_dtype = property(lambda self: np.uint8 if self.ksub <= 256 else np.uint16)

    def encode(self, x, beam=None):
        """Codes of x, shape (n, stages), uint8 (<= 256 codewords) or uint16."""
        x = _check_data(x, self.dim)
        codes, _ = beam_encode(x, self.codebooks, self.beam if beam is None else beam)
        return codes.astype(self.code_dtype)

    def decode(self, codes):
        """Reconstructed vectors (n, dim) float32."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.stages:
            raise ShapeError(f"codes must be (n, {self.stages}), got {codes.shape}")
        if codes.size and int(codes.max()) >= self.ksub:
            raise ShapeError(f"code {int(codes.max())} out of range (ksub={self.ksub})")
        return decode_codes(codes.astype(np.int64), self.codebooks)

    def relative_mse(self, x, codes=None):
        """Quantization error over mean squared norm: sum ||x - x_hat||^2 / sum ||x||^2."""
        x = _check_data(x, self.dim)
        codes = self.encode(x) if codes is None else codes
        return float(sq_norms(x - self.decode(codes)).sum() / sq_norms(x).sum())


def _check_data(x, dim=None):
    x = np.asarray(x)
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ShapeError(f"expected a 2-D array (n, {dim or 'dim'}), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ShapeError(f"expected numeric data, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, np.float32)
    if not np.isfinite(x).all():
        raise ShapeError("data contains NaN or infinite values")
    return x


def subspace_init(r, k, iters, seed, start_dim=2):
    """IRVQ codebook initialisation: k-means in the top-d PCA subspace of the residual,
    doubling d and warm-starting from the previous assignment, then lifted to the full space."""
    n, d = r.shape
    mean = r.mean(0)
    rc = r - mean
    _, vecs = np.linalg.eigh((rc.T.astype(np.float64) @ rc) / n)
    proj = np.ascontiguousarray(rc @ vecs[:, ::-1].astype(np.float32))  # descending variance
    rng = np.random.default_rng(seed)
    labels, dists, sub = None, None, start_dim
    while True:
        p = np.ascontiguousarray(proj[:, :min(sub, d)])
        init = None
        if labels is not None:
            init = update_centers(p, labels, k, np.zeros((k, p.shape[1]), np.float32), dists, rng)
        c, labels, _ = kmeans(p, k, iters=iters, seed=seed, init=init)
        dists = sq_norms(p - c[labels])
        if sub >= d:
            break
        sub *= 2
    return update_centers(r, labels, k, np.zeros((k, d), np.float32), dists, rng)


def progressive_init(r, k, iters, seed, steps=10):
    """Codebook start by progressive-dim clustering (as faiss's RQ trains its stages): k-means in the
    top-d_i PCA dims of the residual for d_i = dim^(i / steps), i = 1..steps (1 dim up to all, a repeated
    d_i once), the first from k random rows, each next warm-started from the previous centroids (the new
    dims 0); the centroids are then rotated back and the mean added. In one dim first, the centroids
    spread along the direction of largest variance out to its far rows (heavy tails). An empty cluster
    (common in the first dims) takes half of a large one, as in faiss, not the farthest row: with the
    far-point rule the extreme training rows got codewords of their own at the first stages, and the
    later stages, trained on small residuals only, reached less far on unseen extreme rows (aniso-48:
    bench/RESULTS_vq.md, 2026-12-07 irvq44)."""
    n, d = r.shape
    mean = r.mean(0, dtype=np.float64)
    rc = (r - mean.astype(np.float32)).astype(np.float32)
    _, vecs = np.linalg.eigh((rc.T.astype(np.float64) @ rc) / n)
    rot = np.ascontiguousarray(vecs[:, ::-1].astype(np.float32))  # descending variance
    proj = rc @ rot
    rng = np.random.default_rng(seed)
    c, prev = None, 0
    for i in range(1, steps + 1):
        di = max(1, min(d, int(d ** (i / steps))))
        if di == prev:
            continue
        p = np.ascontiguousarray(proj[:, :di])
        if c is None:
            init = p[rng.choice(n, k, replace=n < k)]
        else:
            init = np.zeros((k, di), np.float32)
            init[:, :prev] = c
        c = kmeans(p, k, iters=iters, seed=seed, init=init, empty_rule="split")[0]
        prev = di
    c = np.pad(c, ((0, 0), (0, d - prev)))
    return (c @ rot.T + mean).astype(np.float32)


def train_rvq(x, stages, k, iters, seed, bar, seeding="kmeans++", val=None, info=None):
    """Classic RVQ: k-means on the greedy residual, stage after stage. seeding="kmeans++": each stage's
    k-means from k-means++ (the classic); "subspace": from the subspace initialisation (subspace_init, as
    IRVQ and faiss's progressive-dim RQ do); "best": both, and the one with the lower error kept: the
    held-out rows' greedy residual error when `val` (a Validation) is given, else the k-means error
    (subspace on ties). On residuals with heavy-tailed norms (sparse bag-of-words rows) k-means++ seeds
    the outliers and Lloyd's iterations stay near them (bench/RESULTS_vq.md, 2026-12-06 13:00-14:50).
    seeding may also be a list of one seeding per stage (an earlier run's picks, replayed by a full refit);
    info (a dict), when given, receives "rvq_seeding": the seeding each stage kept."""
    res, books, picked = x.copy(), [], []
    per_stage = list(seeding) if isinstance(seeding, (list, tuple)) else None
    vres = None if val is None or seeding != "best" else val.x.copy()
    for m in range(stages):
        kinds = [per_stage[m]] if per_stage else [s for s in ("subspace", "kmeans++") if seeding in (s, "best")]
        found = []
        if "subspace" in kinds:
            found.append(kmeans(res, k, iters=iters, seed=seed + m, init=subspace_init(res, k, 5, seed + m)))
        if "kmeans++" in kinds:
            found.append(kmeans(res, k, iters=iters, seed=seed + m))
        if vres is not None:  # each candidate's greedy assignment of the held-out residuals
            held = [assign(vres, f[0]) for f in found]
            pick = int(np.argmin([float(d.mean()) for _, d in held]))
            vres -= found[pick][0][held[pick][0]]
        else:
            pick = int(np.argmin([f[2] for f in found]))
        c, lab, _ = found[pick]
        picked.append(kinds[pick])
        res -= c[lab]
        books.append(c)
        bar.step(f"rvq stage {m + 1}")
    if info is not None:
        info["rvq_seeding"] = picked
    return np.stack(books)


def refine_codebooks(x, codes, k, ridge=1e-4):
    """All codebooks at once by least squares for fixed codes: min ||x - B C||^2, where B is the
    (n, stages*k) one-hot code matrix. B^T B is a co-occurrence count matrix; the ridge term
    (relative to its mean diagonal) fixes the shift ambiguity between stages."""
    codes = np.asarray(codes)
    m_count = codes.shape[1]
    size = m_count * k
    flat = codes.astype(np.int64) + np.arange(m_count) * k
    gram = np.zeros(size * size)
    for a in range(m_count):
        for b in range(m_count):
            gram += np.bincount(flat[:, a] * size + flat[:, b], minlength=size * size)
    gram = gram.reshape(size, size)
    btx = np.zeros((size, x.shape[1]))
    for a in range(m_count):
        _scatter_add(btx[a * k:(a + 1) * k], codes[:, a].astype(np.int64), x)
    gram[np.diag_indices(size)] += ridge * max(gram.trace() / size, 1.0)
    return np.linalg.solve(gram, btx).astype(np.float32).reshape(m_count, k, x.shape[1])


def train_irvq(x, stages, k, iters, beam, seed, bar, sub_iters=5, refine=False, paths=True,
               refine_rounds=0, max_points=256, val=None, deadline=None, info=None, seeding="best"):
    """IRVQ: subspace-clustering init + warm k-means per stage; residuals from beam encoding.

    paths=True trains each stage on the residuals of all `beam` paths of every vector (at most
    max_points per codeword, sampled), as faiss's RQ does, instead of the best path alone: more
    and more varied training residuals, so later stages fit less to the training sample.
    paths="stage" (needs `val`, a Validation) trains every stage both ways and keeps the codebook
    with the lower held-out error. refine=True (not in the IRVQ paper) re-solves all codebooks so
    far by least squares after each stage and re-encodes, keeping the result if it lowers the
    error. refine_rounds > 0 runs up to that many rounds of (least-squares update of all
    codebooks, beam re-encoding) at the end and keeps the best codebooks (refine_rounds_ls).
    paths may also be a list of one bool per stage (all-path residuals or not): the per-stage
    choices of an earlier paths="stage" run, replayed by the refit on all data.
    seeding: each stage's k-means start: "subspace" (subspace_init), "best" (also k-means++, the lower
    k-means error kept), "held-out" (both, the lower held-out error of `val` for the stages so far kept;
    without `val` as "best"), "progressive" (progressive_init alone: faiss's RQ start), "progressive-first"
    (progressive_init for stage 1, "best" for the later stages), or a list of
    "subspace"/"kmeans++"/"progressive", one per stage (an earlier run's picks).
    info (a dict), when given, receives "stage_paths" (the kind of residual each stage was
    trained on), "refine_round" (the refinement round kept, 0 = none) and "seeding" (each stage's start).
    With all-path residuals only (paths=True) and more paths than max_points per codeword, the
    beam search that makes the next stage's residuals runs on a random subset of the vectors
    whose paths give max_points per codeword, not on all of x.
    """
    rng = np.random.default_rng(seed)
    books, picked = [], []
    per_stage = list(paths) if isinstance(paths, (list, tuple)) else None
    wide = bool(paths) if per_stage is None else any(per_stage)  # keep all beam paths
    per_seed = list(seeding) if isinstance(seeding, (list, tuple)) else None
    seeds_picked = []
    res_sets = {False: x}
    for m in range(stages):
        cands, kinds, starts = [], [], []
        want_seed = per_seed[m] if per_seed else seeding
        if want_seed == "progressive-first":  # faiss's start for stage 1 (coarse), the shipped start after it
            want_seed = "progressive" if m == 0 else "best"
        for kind, res in res_sets.items():
            found = []  # (codebook, k-means error, start)
            if want_seed in ("best", "held-out", "subspace"):
                init = subspace_init(res, k, sub_iters, seed + m)
                c, _, mse = kmeans(res, k, iters=iters, seed=seed + m, init=init)
                found.append((c, mse, "subspace"))
            if want_seed in ("best", "held-out", "kmeans++"):  # k-means++ too
                c2, _, mse2 = kmeans(res, k, iters=iters, seed=seed + m)
                found.append((c2, mse2, "kmeans++"))
            if want_seed == "progressive":  # faiss's start alone (opt-in)
                c3, _, mse3 = kmeans(res, k, iters=iters, seed=seed + m, init=progressive_init(res, k, 10, seed + m))
                found.append((c3, mse3, "progressive"))
            if len(found) > 1 and val is not None and want_seed == "held-out":  # the lower held-out error of the stages so far
                pick = int(np.argmin([val.error(np.stack(books + [f[0]])) for f in found]))
            else:  # the lower k-means error wins (subspace on ties)
                pick = int(np.argmin([f[1] for f in found]))
            cands.append(found[pick][0])
            starts.append(found[pick][2])
            kinds.append(kind if m else (per_stage[0] if per_stage else paths is True))
        if len(cands) > 1:  # paths="stage": the codebook with the lower held-out error
            errs = [val.error(np.stack(books + [c])) for c in cands]
            best = int(np.argmin(errs))
            cands, kinds, starts = [cands[best]], [kinds[best]], [starts[best]]
        books.append(cands[0])
        picked.append(bool(kinds[0]))
        seeds_picked.append(starts[0])
        if m + 1 == stages and not refine:
            bar.step(f"irvq stage {m + 1}")
            break
        xs = x
        if paths is True and not refine and len(x) * beam > k * max_points:  # the vectors whose paths are used
            xs = x[np.sort(rng.choice(len(x), -(-k * max_points // beam), replace=False))]
        codes, errs = beam_search(xs, np.stack(books), beam, keep_last=beam if wide else 1)
        if refine:
            joint = refine_codebooks(x, codes[:, 0], k)
            codes2, errs2 = beam_search(x, joint, beam, keep_last=beam if wide else 1)
            if errs2[:, 0].mean() < errs[:, 0].mean():
                books, codes = list(joint), codes2
        stacked = np.stack(books)
        res_sets = {}
        if m + 1 == stages:
            want = ()
        else:
            want = (per_stage[m + 1],) if per_stage else (False, True) if paths == "stage" else (bool(paths),)
        if False in want:
            res_sets[False] = x - decode_codes(codes[:, 0], stacked)
        if True in want:
            res_sets[True] = _path_residuals(xs, codes, stacked, k * max_points, rng)
        bar.step(f"irvq stage {m + 1}")
    books = np.stack(books)
    best_round = 0
    if refine_rounds:
        books, best_round = refine_rounds_ls(x, books, beam, refine_rounds, bar=bar, val=val, deadline=deadline)
    if info is not None:
        info.update(stage_paths=picked, refine_round=best_round, seeding=seeds_picked)
    return books


def _path_residuals(x, codes, books, limit, rng):
    """Residuals x - decode(path) of every kept path (n, paths, stages), a random `limit` of them."""
    n, paths, _ = codes.shape
    flat = codes.reshape(n * paths, -1)
    sel = np.arange(n * paths) if n * paths <= limit else np.sort(rng.choice(n * paths, limit, replace=False))
    return x[sel // paths] - decode_codes(flat[sel], books)


def refine_rounds_ls(x, books, beam, rounds, bar=None, val=None, deadline=None, patience=2):
    """Alternate a joint least-squares update of all codebooks for the current codes and beam
    re-encoding with the new codebooks; return the best codebooks seen, the input included.

    Best = lowest error on the held-out `val` (a Validation) when given, else lowest training
    error. A round may raise the error (the beam search can find worse codes than the previous
    ones for the new codebooks) and later rounds still lower it, so rounds stop early only when
    one changes the training error by less than 0.01%, when `patience` rounds in a row did not
    improve the held-out error, or at `deadline` (time.monotonic() seconds).
    Returns (codebooks, the round they come from: 0 = the input)."""
    codes, errs = beam_encode(x, books, beam)
    prev = float(errs.mean())
    score = val.error if val is not None else None
    best = (books, score(books) if score else prev, 0)
    since = 0
    for r in range(rounds):
        books = refine_codebooks(x, codes, books.shape[1])
        codes, errs = beam_encode(x, books, beam)
        err = float(errs.mean())
        judged = score(books) if score else err
        since += 1
        if judged < best[1]:
            best, since = (books, judged, r + 1), 0
        if bar is not None:
            bar.step(f"refine round {r + 1}")
        if abs(err - prev) < 1e-4 * prev or (score and since >= patience) or _past(deadline):
            _skip(bar, rounds - r - 1, "refine stopped")
            break
        prev = err
    return best[0], best[2]


def _past(deadline):
    return deadline is not None and time.monotonic() > deadline


def _skip(bar, count, note):
    if bar is not None:
        for _ in range(count):
            bar.step(note)


def refit_stagewise(x, books, beam, passes=1, codes=None):
    """Warm refit on x: each codebook in turn becomes the per-codeword mean of the residual that
    excludes it (x minus the other stages' codewords) for the current codes, which is the exact
    minimiser of the error over that codebook with everything else fixed (a codeword no vector
    uses stays); then x is re-encoded with the beam. `passes` times; returns (codebooks, mean
    squared error of x with them). The training error never rises within a pass (each update is
    exact; the re-encoding's codes are kept only when they lower it). Cheap next to training the
    stages again: one scatter-add per stage and one beam encoding per pass. codes: x's current
    codes for `books` when the caller has them (saves the first beam encoding)."""
    books = np.array(books, np.float32)
    if codes is None:
        codes = beam_encode(x, books, beam)[0]
    err = None
    for _ in range(passes):
        books, err, codes = _stagewise_pass(x, books, beam, codes)
    if err is None:
        err = float(sq_norms(x - decode_codes(codes, books)).mean())
    return books, err


def _stagewise_pass(x, books, beam, codes):
    """One pass of refit_stagewise from x's codes for `books` (updated in place): returns
    (codebooks, training error, the codes that give it)."""
    m_count, k, _ = books.shape
    recon = decode_codes(codes, books)
    for m in range(m_count):
        part = books[m][codes[:, m]]
        sums = np.zeros(books[m].shape, np.float64)
        _scatter_add(sums, codes[:, m], x - recon + part)
        counts = np.bincount(codes[:, m], minlength=k)
        used = counts > 0
        books[m][used] = (sums[used] / counts[used, None]).astype(np.float32)
        recon += books[m][codes[:, m]] - part
    err = float(sq_norms(x - recon).mean())
    codes2, errs2 = beam_encode(x, books, beam)
    if float(errs2.mean()) < err:
        codes, err = codes2, float(errs2.mean())
    return books, err, codes


def shrink_codebooks(x, books, codes, alpha):
    """James-Stein shrinkage of every codeword toward its stage's mean residual, for x's codes:
    c' = mu + lam (c - mu), lam = max(0, 1 - alpha s2 / (n ||c - mu||^2)), where mu is the mean of the
    stage's excluded residual (x minus the other stages' codewords) over all of x, n the vectors whose
    code uses the codeword and s2 their mean squared distance to it (s2 / n estimates the squared
    error of the codeword as a mean of n noisy residuals). A codeword fitted to few, scattered
    residuals moves toward mu; one well supported barely moves. alpha = 0 returns the codebooks."""
    books = np.array(books, np.float32)
    if not alpha:
        return books
    m_count, k, _ = books.shape
    recon = decode_codes(codes, books)
    out = books.copy()
    for m in range(m_count):  # every stage from the same codes and codebooks
        lab = codes[:, m]
        r = x - recon + books[m][lab]
        mu = r.mean(0)
        n = np.bincount(lab, minlength=k).astype(np.float64)
        s2 = np.bincount(lab, weights=sq_norms(r - books[m][lab]).astype(np.float64), minlength=k) / np.maximum(n, 1)
        dist = sq_norms(books[m] - mu).astype(np.float64)
        lam = np.where(n > 0, np.maximum(0.0, 1.0 - alpha * s2 / np.maximum(n * dist, 1e-30)), 1.0)
        out[m] = mu + lam[:, None].astype(np.float32) * (books[m] - mu)
    return out


def damped_pass(x, books, beam, codes, weight, full=None):
    """A stage-wise pass taken `weight` of the way: books + weight * (pass(books) - books), where pass is
    one pass of refit_stagewise from x's codes for `books`. Returns (codebooks, x's beam codes for them).
    weight 0 returns the codebooks and codes as they are; 1 is a full pass (without its keep-the-old-codes
    test). Between 0 and 1 each codeword moves part of the way toward the mean of the residuals it encodes:
    fewer vectors per codeword than dims make a full pass fit the training rows' noise. full: the full
    pass's codebooks when the caller has them."""
    books = np.array(books, np.float32)
    if not weight:
        return books, codes
    if full is None:
        full = _stagewise_pass(x, books.copy(), beam, codes.copy())[0]
    out = (books + np.float32(weight) * (full - books)).astype(np.float32)
    return out, beam_encode(x, out, beam)[0]


def choose_step_and_shrink(x, books, codes, val, beam, steps=None, alphas=None):
    """The damped pass (`damped_pass` weight, 0 = none) and the shrinkage (`shrink_codebooks` alpha,
    0 = none) after it, chosen together on the held-out rows of `val`: of the (step, alpha) pairs whose
    held-out error is within _STEP_TOLERANCE of the lowest, the largest step (then its best alpha).
    The largest step within the tolerance, not the lowest error: the refit takes the same step on all
    rows, held-out ones included, which fits rows the split cannot judge (the held-out rows become
    training rows), and held-out errors closer than the tolerance are within the split's noise.
    steps=(0,) chooses the shrinkage alone. Returns (codebooks, x's codes for the unshrunk step, step, alpha)."""
    steps = _STEPS if steps is None else steps
    alphas = _SHRINK_ALPHAS if alphas is None else alphas
    tried = []
    full = _stagewise_pass(x, np.array(books, np.float32), beam, codes.copy())[0] if any(steps) else None
    for w in steps:
        b, c = damped_pass(x, books, beam, codes, w, full)
        shrunk, a = choose_shrink(x, b, c, val, alphas)
        tried.append((val.error(shrunk), w, a, shrunk, c))
    best = min(t[0] for t in tried)
    e, w, a, shrunk, c = max((t for t in tried if t[0] <= (1 + _STEP_TOLERANCE) * best), key=lambda t: t[1])
    return shrunk, c, w, a


# Damped-pass weights that vq.train tries on held-out data (besides 0), and how close to the lowest
# held-out error a larger one may be and still be chosen (the encoding beam's 0.5% rule).
_STEPS = (0.0, 0.125, 0.25, 0.5)
_STEP_TOLERANCE = 0.005


def choose_shrink(x, books, codes, val, alphas=None):
    """The shrinkage strength of shrink_codebooks with the lowest held-out error of `val`, 0 (none)
    included and kept on ties: returns (codebooks, alpha)."""
    alphas = _SHRINK_ALPHAS if alphas is None else alphas
    best = (books, val.error(books), 0.0)
    for a in alphas:
        b = shrink_codebooks(x, books, codes, a)
        e = val.error(b)
        if e < best[1]:
            best = (b, e, a)
    return best[0], best[2]


# Shrinkage strengths that vq.train tries on held-out data (besides 0).
_SHRINK_ALPHAS = (0.5, 1.0)


def stagewise_passes(x, books, beam, passes, val=None, bar=None, deadline=None):
    """Up to `passes` passes of refit_stagewise on x; returns (the best codebooks seen, the pass they
    come from: 0 = the input, x's codes for them). Best = lowest held-out error of `val` when given
    (passes stop at the first one that does not lower it), else lowest training error (all passes
    run). Stops at `deadline` too. Each pass starts from the codes the previous one ended with
    (one beam encoding of x per pass)."""
    score = val.error if val is not None else None
    codes, errs = beam_encode(x, books, beam)
    best = (books, score(books) if score else float(errs.mean()), 0, codes)
    books = np.array(books, np.float32)
    for p in range(passes):
        books, err, codes = _stagewise_pass(x, books.copy(), beam, codes)
        judged = score(books) if score else err
        if bar is not None:
            bar.step(f"stage-wise pass {p + 1}")
        if judged < best[1]:
            best = (books, judged, p + 1, codes)
        elif score:
            _skip(bar, passes - p - 1, "stage-wise passes stopped")
            break
        if _past(deadline):
            _skip(bar, passes - p - 1, "stage-wise passes stopped")
            break
    return best[0], best[2], best[3]


class Validation:
    """Held-out vectors that decide training options: their beam-encoding error."""

    def __init__(self, x, beam):
        self.x, self.beam = x, beam
        self._seen = {}  # (beam, codebook bytes' hash) -> error: the same codebooks are judged again

    def error(self, books, beam=None):
        beam = self.beam if beam is None else beam
        books = np.ascontiguousarray(books, np.float32)
        key = (beam, books.shape, hash(books.tobytes()))
        if key not in self._seen:
            self._seen[key] = float(beam_encode(self.x, books, beam)[1].mean())
        return self._seen[key]


def anneal(x, books, beam, sweeps, iters, seed, bar, t0=0.05, cooling=0.5, val=None, deadline=None, patience=None,
           codes=None, with_codes=False):
    """Dictionary annealing: re-learn each codebook on the residual that excludes it.

    A candidate codebook starts from the current one plus noise of scale T (relative to the
    codebook's spread) and is refined by k-means on the excluded residual; it is accepted if
    the distortion drops, or with probability exp(-relative increase / T). T cools each sweep.
    The best state seen is returned (by the held-out error of `val` when given, else the
    training error), so the result is never worse than the input, with the sweep it comes from
    (0 = the input): (codebooks, sweep). Sweeps stop at `deadline`, and with `val` and
    `patience` after that many sweeps in a row without a held-out gain (one sweep without a gain
    does not stop the next: the temperature falls each sweep, and a later sweep may gain).
    codes: x's beam codes for `books` when the caller has them (saves one beam encoding).
    with_codes=True also returns x's codes for the returned codebooks: (codebooks, sweep, codes).
    """
    rng = np.random.default_rng(seed)
    books = books.copy()
    codes = beam_encode(x, books, beam)[0] if codes is None else codes.copy()
    recon = decode_codes(codes, books)
    err = float(sq_norms(x - recon).mean())
    best = (books.copy(), val.error(books) if val is not None else err, 0, codes.copy())
    temp = t0
    for sweep in range(sweeps):
        for m in range(books.shape[0]):
            old_part = books[m][codes[:, m]]
            r_m = x - recon + old_part
            spread = float(np.sqrt(books[m].var(0).sum() / books.shape[2]))
            init = books[m] + temp * spread * rng.standard_normal(books[m].shape).astype(np.float32)
            c_new, lab, _ = kmeans(r_m, books.shape[1], iters=iters, seed=seed + m, init=init)
            new_recon = recon - old_part + c_new[lab]
            new_err = float(sq_norms(x - new_recon).mean())
            delta = (new_err - err) / max(err, 1e-30)
            if delta < 0 or rng.random() < np.exp(-delta / max(temp, 1e-12)):
                books[m], codes[:, m], recon, err = c_new, lab, new_recon, new_err
        codes2, e2 = beam_encode(x, books, beam)  # re-encode with all updated codebooks
        if float(e2.mean()) < err:
            codes, err = codes2, float(e2.mean())
            recon = decode_codes(codes, books)
        judged = val.error(books) if val is not None else err
        if judged < best[1]:
            best = (books.copy(), judged, sweep + 1, codes.copy())
        temp *= cooling
        bar.step(f"annealing sweep {sweep + 1}")
        if _past(deadline) or (val is not None and patience and sweep + 1 - best[2] >= patience):
            _skip(bar, sweeps - sweep - 1, "annealing stopped")
            break
    return (best[0], best[2], best[3]) if with_codes else (best[0], best[2])


def train(x, method="irvq", stages=8, bits=8, beam=8, seed=0, progress=True, iters=20,
          da_sweeps=4, da_iters=4, refine=False, paths=True, refine_rounds=0, validation=0.1,
          time_budget=None, init=None, refit=True, encode_beam="auto", stage_passes=8, shrink=True,
          seeding="progressive", rvq_seeding="kmeans++"):
    """Train a residual quantizer on x (n, dim).

    method: "rvq" (greedy k-means per stage), "irvq" (subspace init + beam encoding),
    "da" (IRVQ followed by dictionary annealing). Returns a Quantizer whose encode() uses `beam`
    (RVQ encodes greedily, beam 1, unless a beam is passed to encode()).
    IRVQ/DA options beyond the paper (see docs/vq.md): paths=True (default) trains each stage on the
    residuals of all beam paths, paths="stage" trains each stage both ways (best-path and
    all-path residuals) and keeps the codebook that is better on held-out data, paths="auto"
    trains with True and with "stage" and keeps the quantizer that is better on held-out data
    (3x the k-means work of True); refine_rounds (default 0: on none of the benchmark sets did a round
    win on held-out data) rounds of joint least-squares codebook update + beam re-encoding after the
    last stage; refine=True also does one such
    update after every stage; stage_passes (default: up to 8) stage-wise passes after them
    (refit_stagewise: each codebook re-estimated for the current codes, then beam re-encoding).
    seeding="progressive" (default since 2026-12-07) starts each IRVQ stage's k-means as faiss's RQ does
    (progressive_init: progressive-dim k-means, an empty cluster takes half of a large one), so the first
    stage stays coarse and extreme training rows get no codewords of their own; "best" (the default before)
    runs each stage's k-means from the subspace initialisation and from k-means++ and keeps the lower
    k-means error ("subspace": the paper's initialisation alone; "held-out": the lower held-out beam error
    of the stages so far, picks in choices["seeding"]; "progressive-first": progressive_init for stage 1,
    "best" after it; "auto": the whole training from "progressive" and from "best", the lower held-out
    error kept).
    shrink=True (default; needs held-out vectors) pulls every codeword toward its stage's mean
    residual as strongly as the held-out error favours (shrink_codebooks, choose_shrink: none, 0.5 or 1;
    applied again after a refit).
    paths=False, refine_rounds=0, stage_passes=0, seeding="subspace", shrink=False is the paper's IRVQ.
    rvq_seeding (DA's default start, greedy RVQ stages): "kmeans++" (default), "subspace", or "best": each
    stage's k-means from both, the one with the lower held-out greedy error kept (train_rvq; better on
    sparse, binary and tiny-cluster data, worse on gmm-64 and slower: bench/RESULTS_vq.md 2026-12-06 vq24).

    Data-driven choices: when an option needs one (paths="auto"/"stage", refine rounds, DA sweeps), a
    random `validation` fraction of x (at most 5000 vectors) is held out and the training uses
    the rest; the held-out beam-encoding error picks the per-stage training residuals, the
    refinement round, the stage-wise pass and the annealing sweep whose codebooks are kept (the
    input codebooks when none helps), and stops rounds/passes/sweeps that stopped helping. validation=0 (or too little data:
    fewer than 200 held-out vectors) trains on all of x and judges by the training error, with
    paths="auto"/"stage" meaning True. time_budget (seconds) stops refinement rounds and annealing
    sweeps once training has run that long (the stages always complete).
    init (method="da"): what the annealing starts from. "rvq" (default): greedy RVQ stages (k-means
    on the best residual, no beam), trained on the same training rows: fast, and the annealing
    sweeps and the wide encoding beam make up part of the gap to IRVQ. "irvq": the IRVQ stages and
    stage-wise passes (as method="irvq"; several times the training time). A trained IRVQ
    Quantizer (same x, seed and options): anneal its codebooks instead of training them again
    (when no sweep wins, the result has init's codebooks).
    refit=True (when vectors were held out): once the choices are made, the codebooks are refit
    on all of x (held-out vectors included) by stage-wise passes from the chosen codebooks (as
    many as won on held-out data: none when none won, so the held-out rows then only judged);
    refit="full" trains the chosen recipe again on
    all of x instead (the per-stage training residuals, refinement rounds, stage-wise passes and
    annealing sweeps that the held-out error picked: about the whole training time again).
    encode_beam="auto" (when vectors were held out): the encoding beam of the returned
    quantizer is the smallest of beam, 2*beam, 4*beam after which doubling it lowers the
    held-out error by less than 0.5% (choose_encode_beam); an int fixes it. The choices are in
    the quantizer's `choices` dict.
    """
    call = dict(locals())  # (seeding="auto": the same call with each start)
    if method not in METHODS:
        raise SdkError(f"unknown vq method '{method}' (expected one of {', '.join(METHODS)})")
    if rvq_seeding not in ("kmeans++", "best", "subspace"):
        raise SdkError(f"rvq_seeding must be 'kmeans++', 'best' or 'subspace' (got {rvq_seeding!r})")
    if seeding not in ("best", "held-out", "subspace", "progressive", "progressive-first", "auto"):
        raise SdkError(f"seeding must be 'best', 'held-out', 'subspace', 'progressive', 'progressive-first' or 'auto' "
                       f"(got {seeding!r})")
    if not 1 <= bits <= 16 or stages < 1 or beam < 1 or refine_rounds < 0:
        raise SdkError(f"need 1 <= bits <= 16, stages >= 1, beam >= 1, refine_rounds >= 0 "
                       f"(got {bits}, {stages}, {beam}, {refine_rounds})")
    if encode_beam != "auto" and (not isinstance(encode_beam, (int, np.integer)) or encode_beam < 1):
        raise SdkError(f"encode_beam must be 'auto' or a positive int (got {encode_beam!r})")
    if refit not in (True, False, "full") or stage_passes < 0:
        raise SdkError(f"refit must be True, False or 'full' and stage_passes >= 0 (got {refit!r}, {stage_passes})")
    if paths not in (True, False, "auto", "stage") or not 0 <= validation < 1:
        raise SdkError(f"paths must be True, False, 'stage' or 'auto' and 0 <= validation < 1 (got {paths!r}, {validation})")
    deadline = None if time_budget is None else time.monotonic() + time_budget
    x = _check_data(x)
    k = 1 << bits
    if len(x) < k:
        raise ShapeError(f"need at least {k} training vectors for {bits}-bit codebooks, got {len(x)}")
    val, full = None, x
    held = method != "rvq" and (paths in ("auto", "stage") or refine_rounds or stage_passes or shrink
                                or (method == "da" and da_sweeps))
    if seeding == "auto":
        if method == "irvq" and init is None and held and _validation_rows(len(x), validation, k):
            return _train_auto_seeding(call)
        seeding = "progressive"  # the default start (no held-out rows to choose by, or no IRVQ stages to start)
    if held:
        x, val = split_validation(x, validation, k, seed, beam)
    if val is None and paths in ("auto", "stage"):
        paths = True
    variants = [True, "stage"] if paths == "auto" else [paths]
    if isinstance(init, str) and (init not in ("rvq", "irvq") or method != "da"):
        raise SdkError(f"init must be a trained Quantizer, or 'rvq' or 'irvq' with method='da' (got {init!r})")
    if method == "da" and init in (None, "irvq"):
        init = "rvq" if init is None else None  # None from here on: train the IRVQ stages first
    from_rvq = init == "rvq"
    if init is not None and not from_rvq and (method != "da" or init.codebooks.shape != (stages, k, x.shape[1])):
        raise SdkError(f"init needs method='da' and codebooks of shape {(stages, k, x.shape[1])}")
    total = (len(variants) * (stages + (refine_rounds if method != "rvq" else 0)) + stage_passes if init is None else
             stages if from_rvq else 0) + (da_sweeps if method == "da" else 0)
    with ProgressBar(total, f"vq {method}", enabled=progress) as bar:
        if method == "rvq":
            return Quantizer(train_rvq(x, stages, k, iters, seed, bar), "rvq", beam=1)
        choices = dict(init.choices) if init is not None and not from_rvq else {}
        codes = None  # x's beam codes for books, when known
        if from_rvq:  # greedy RVQ stages on the training rows: annealing does the rest
            books = train_rvq(x, stages, k, iters, seed, bar, seeding=rvq_seeding, val=val, info=choices)
            choices["init"] = "rvq"
        elif init is not None:  # the codebooks trained without the held-out rows, when refit
            books = init.held_out_codebooks if init.held_out_codebooks is not None else init.codebooks
        else:  # each variant, and the one with the lower held-out error
            infos = [{} for _ in variants]
            cands = [train_irvq(x, stages, k, iters, beam, seed, bar, refine=refine, paths=v,
                                refine_rounds=refine_rounds, val=val, deadline=deadline, info=i, seeding=seeding)
                     for v, i in zip(variants, infos)]
            pick = int(np.argmin([val.error(c) for c in cands])) if len(cands) > 1 else 0
            books, choices = cands[pick], infos[pick]
            books, choices["stage_pass"], codes = stagewise_passes(x, books, beam, stage_passes, val=val, bar=bar,
                                                                   deadline=deadline)
        if method == "da":
            books, choices["da_sweep"], codes = anneal(x, books, beam, da_sweeps, da_iters, seed, bar, val=val,
                                                       deadline=deadline, patience=_DA_PATIENCE, codes=codes,
                                                       with_codes=True)
            if init is not None and not from_rvq and not choices["da_sweep"]:  # no sweep helped: init as it is
                q = Quantizer(init.codebooks, method, init.beam)
                q.choices, q.held_out_codebooks = choices, init.held_out_codebooks
                return q
        chosen_books = books  # the codebooks the refit starts from (before any step or shrinkage)
        stepping = not from_rvq and stage_passes > 0 and val is not None  # (DA from RVQ has no passes)
        if (shrink or stepping) and val is not None:  # damped pass and shrinkage, as the held-out rows favour
            codes = beam_encode(x, books, beam)[0] if codes is None else codes
            books, _, step, alpha = choose_step_and_shrink(x, books, codes, val, beam,
                                                           steps=None if stepping else (0.0,),
                                                           alphas=None if shrink else ())
            if shrink:
                choices["shrink"] = alpha
            if stepping:
                choices["step"] = step
        enc = beam if encode_beam == "auto" else int(encode_beam)
        if encode_beam == "auto" and val is not None:
            enc = choose_encode_beam(val, books, beam)
        choices["encode_beam"] = enc
        if val is not None:  # the held-out error of the codebooks trained without the held-out rows
            choices["held_out_error"] = float(val.error(books, enc))
        held_out_books = None
        if refit == "full" and val is not None:  # the chosen recipe again, on all of x
            choices["refit"], held_out_books = "full", books
            if from_rvq:
                bar.total += stages
                books = train_rvq(full, stages, k, iters, seed, bar, seeding=choices["rvq_seeding"])
            elif init is None:
                bar.total += stages + choices["refine_round"] + choices["stage_pass"]
                books, _ = _refit_irvq(full, stages, k, iters, beam, seed, bar, refine, choices, seeding)
            else:
                books = init.codebooks
            if method == "da" and choices["da_sweep"]:
                bar.total += choices["da_sweep"]
                books, _ = anneal(full, books, beam, choices["da_sweep"], da_iters, seed, bar)
            fcodes = beam_encode(full, books, beam)[0] if choices.get("step") or choices.get("shrink") else None
            if choices.get("step"):
                books, fcodes = damped_pass(full, books, beam, fcodes, choices["step"])
            if choices.get("shrink"):
                books = shrink_codebooks(full, books, fcodes, choices["shrink"])
        elif refit and val is not None:  # warm: the chosen passes and step on all of x from the chosen codebooks
            passes = choices["refit"] = choices.get("stage_pass", 0)  # as many as won on held-out data (maybe 0)
            step = choices.get("step", 0)
            if passes or step:
                held_out_books = books = chosen_books  # (before the step and shrinkage, which the refit replays)
                bar.total += passes
                if passes:
                    books, _ = refit_stagewise(full, books, beam, passes=passes)
                _skip(bar, passes, "refit on all vectors")
                fcodes = beam_encode(full, books, beam)[0]
                books, fcodes = damped_pass(full, books, beam, fcodes, step)
                if choices.get("shrink"):  # the chosen shrinkage again, for the refit's codes
                    books = shrink_codebooks(full, books, fcodes, choices["shrink"])
    q = Quantizer(books, method, enc)
    q.choices, q.held_out_codebooks = choices, held_out_books
    return q


def _train_auto_seeding(call):
    """seeding="auto": the whole training (vq.train(**call)) from the shipped start ("progressive", faiss's
    progressive-dim start) and from the earlier one ("best"), the one whose codebooks trained without the
    held-out rows have the lower held-out error kept (refit on all rows as usual). About 2.4x the IRVQ
    training time of one start; with a time_budget, the second start gets what the first left (none left:
    the first alone)."""
    t0, budget = time.monotonic(), call["time_budget"]
    runs = [train(**dict(call, seeding="progressive"))]
    left = None if budget is None else budget - (time.monotonic() - t0)
    if left is not None and left <= 0:  # time_budget spent: the shipped start alone
        runs[0].choices["start"] = "progressive"
        return runs[0]
    runs.append(train(**dict(call, seeding="best", time_budget=left)))
    errs = [q.choices["held_out_error"] for q in runs]
    q = runs[int(np.argmin(errs))]  # ties: the shipped start
    q.choices["start"] = "progressive" if q is runs[0] else "best"
    q.choices["start_held_out_errors"] = errs
    return q


def _refit_irvq(x, stages, k, iters, beam, seed, bar, refine, choices, seeding="best"):
    """IRVQ on x with the per-stage residual kinds and the refinement rounds of `choices`."""
    books = train_irvq(x, stages, k, iters, beam, seed, bar, refine=refine, paths=choices["stage_paths"],
                       refine_rounds=0, seeding=choices.get("seeding", seeding))
    if choices["refine_round"]:  # exactly that many rounds, the best of them by the training error
        books, _ = refine_rounds_ls(x, books, beam, choices["refine_round"], bar=bar)
    if choices.get("stage_pass"):
        books, _, _ = stagewise_passes(x, books, beam, choices["stage_pass"], bar=bar)
    return books, 0


# Annealing sweeps in a row without a held-out gain after which the sweeps stop (vq.train).
_DA_PATIENCE = 1

# A wider encoding beam must lower the held-out error by at least this fraction to be chosen.
_BEAM_GAIN = 0.005


def choose_encode_beam(val, books, beam, widths=(2, 4)):
    """Encoding beam: beam, then each wider width (beam * widths) while the held-out error of the
    wider one is at least _BEAM_GAIN lower than that of the width before."""
    best, err = beam, val.error(books, beam)
    for f in widths:
        e = val.error(books, beam * f)
        if e > (1 - _BEAM_GAIN) * err:
            break
        best, err = beam * f, e
    return best


# Held-out vectors for data-driven choices: at most this many, and at least this many to use any.
_VAL_MAX, _VAL_MIN = 5000, 200


def _validation_rows(n, fraction, k):
    """How many of n rows split_validation holds out: 0 when there are too few to hold any out."""
    n_val = min(int(n * fraction), _VAL_MAX)
    return n_val if n_val >= _VAL_MIN and n - n_val >= k else 0


def split_validation(x, fraction, k, seed, beam):
    """(training rows, Validation of held-out rows), or (x, None) when there are too few rows.

    The held-out rows are random, but a row that alone would hold about half of a held-out split's
    energy (squared distance to the mean over n_val times the rows' mean) is never held out: it always
    trains. On heavy-tailed data one row can hold half of all rows' energy; held out, it alone decides
    every choice (its error is nearly all of the held-out error) while no codebook is trained on it
    (bench/RESULTS_vq.md, 2026-12-06 irvq42: aniso-48). Without such rows the split is the
    plain random one."""
    n_val = _validation_rows(len(x), fraction, k)
    if not n_val:
        return x, None
    perm = np.random.default_rng(seed + 7919).permutation(len(x))
    far = sq_norms(x - x.mean(0, dtype=np.float64).astype(np.float32)).astype(np.float64)
    dominant = far > n_val * far.mean()
    if dominant.any():
        perm = np.concatenate([perm[~dominant[perm]], perm[dominant[perm]]])  # dominant rows last: trained
    return np.ascontiguousarray(x[np.sort(perm[n_val:])]), Validation(x[np.sort(perm[:n_val])], beam)
