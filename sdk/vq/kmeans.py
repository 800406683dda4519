"""k-means with k-means++ seeding, vectorised over points (loops only over centers/iterations)."""
import numpy as np


# Rows per block when computing point-to-center distances; bounds temporary memory.
_BLOCK = 8192


def sq_norms(x):
    """Row-wise squared norms, in the dtype of x."""
    return np.einsum("ij,ij->i", x, x)


def assign(x, centers, x_norms=None):
    """Nearest center of each row of x: returns (labels int64, squared distances)."""
    c_norms = sq_norms(centers)
    if x_norms is None:
        x_norms = sq_norms(x)
    neg2t = np.ascontiguousarray(-2.0 * centers.T, dtype=x.dtype)  # -2 folded in: one pass less
    labels = np.empty(len(x), np.int64)
    dists = np.empty(len(x), x.dtype)
    for s in range(0, len(x), _BLOCK):
        d = x[s:s + _BLOCK] @ neg2t
        d += c_norms
        lab = np.argmin(d, axis=1)
        labels[s:s + _BLOCK] = lab
        dists[s:s + _BLOCK] = np.maximum(np.take_along_axis(d, lab[:, None], 1)[:, 0] + x_norms[s:s + _BLOCK], 0)
    return labels, dists


def kmeanspp_init(x, k, rng, sample=20000):
    """k-means++ seeding (Arthur & Vassilvitskii) on a random subsample of at most `sample` rows."""
    if len(x) > sample:
        x = x[rng.choice(len(x), sample, replace=False)]
    n = len(x)
    centers = np.empty((k, x.shape[1]), x.dtype)
    centers[0] = x[rng.integers(n)]
    d2 = sq_norms(x - centers[0])
    for j in range(1, k):
        total = float(d2.sum())
        if total <= 0:  # fewer distinct points than k: pick any
            idx = rng.integers(n)
        else:
            idx = int(np.searchsorted(np.cumsum(d2, dtype=np.float64), rng.random() * total))
            idx = min(idx, n - 1)
        centers[j] = x[idx]
        d2 = np.minimum(d2, sq_norms(x - centers[j]))
    return centers


def update_centers(x, labels, k, old_centers, dists, rng, empty_rule="far"):
    """Means of the assigned points; an empty cluster takes a far point (avoids dead codewords), or with
    empty_rule="split" half of a large cluster (faiss's rule): the centre of a cluster drawn with odds
    size - 1, the two copies nudged apart by a factor 1 +- 1/1024 in alternate coordinates. The far point
    gives an extreme row a codeword of its own; the split leaves it in a cluster (progressive_init)."""
    d = x.shape[1]
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, d), np.float64)
    _scatter_add(sums, labels, x)
    centers = old_centers.copy()
    nz = counts > 0
    centers[nz] = (sums[nz] / counts[nz, None]).astype(x.dtype)
    empty = np.flatnonzero(~nz)
    if len(empty) and empty_rule == "split":
        sizes = counts.astype(np.float64)
        nudge = np.where(np.arange(d) % 2 == 0, 1.0, -1.0) / 1024
        for e in empty:
            odds = np.maximum(sizes - 1, 0)
            if odds.sum() <= 0:
                break
            j = int(rng.choice(k, p=odds / odds.sum()))
            centers[e] = centers[j] * (1 + nudge)
            centers[j] = centers[j] * (1 - nudge)
            sizes[e] = sizes[j] / 2
            sizes[j] -= sizes[e]
    elif len(empty):
        far = np.argsort(-dists)[: len(empty)]
        centers[empty[: len(far)]] = x[far] + 1e-6 * rng.standard_normal((len(far), d)).astype(x.dtype)
    return centers


def _scatter_add(out, labels, x):
    """out[labels[i]] += x[i] for every row i (out: (k, d) float64)."""
    sparse = _scipy_sparse()
    if sparse is not None:  # a one-hot (k, n) sparse matrix times x: ~10x the sort below at d = 384
        n = len(labels)
        onehot = sparse.csr_matrix((np.ones(n, x.dtype), (labels, np.arange(n))), shape=(len(out), n))
        out += onehot @ x
        return
    # Sort once then reduce contiguous runs: much faster than np.add.at for large inputs.
    order = np.argsort(labels, kind="stable")
    sl = labels[order]
    starts = np.flatnonzero(np.r_[True, sl[1:] != sl[:-1]])
    out[sl[starts]] += np.add.reduceat(x[order].astype(np.float64), starts, axis=0)


def _scipy_sparse():
    """scipy.sparse (it comes with lightgbm, a dependency), or None: then a slower numpy path."""
    try:
        import scipy.sparse
        return scipy.sparse
    except ImportError:  # pragma: no cover
        return None


def kmeans(x, k, iters=20, seed=0, init=None, tol=1e-6, empty_rule="far"):
    """Lloyd's k-means. `init` warm-starts from given centers, otherwise k-means++. empty_rule: what an
    empty cluster takes (update_centers).

    Returns (centers, labels, mse) with mse the mean squared distance to the assigned center.
    """
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    centers = kmeanspp_init(x, k, rng) if init is None else np.array(init, np.float32)
    x_norms = sq_norms(x)
    labels, dists = assign(x, centers, x_norms)
    prev = np.inf
    for _ in range(iters):
        centers = update_centers(x, labels, k, centers, dists, rng, empty_rule)
        labels, dists = assign(x, centers, x_norms)
        mse = float(dists.mean())
        if prev - mse <= tol * mse:  # relative gain below tol (prev = inf the first time: never)
            break
        prev = mse
    return centers, labels, float(dists.mean())
