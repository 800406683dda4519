"""k-means building blocks and the warm stage-wise refit (tiny data, fast)."""
import importlib

import numpy as np

from sdk.vq.quantizer import beam_encode, decode_codes, refit_stagewise, train_irvq
from sdk.vq.progress import ProgressBar

km = importlib.import_module("sdk.vq.kmeans")  # sdk.vq.kmeans the name is the function


def _x(n=3000, d=10, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * np.geomspace(1, 0.1, d)).astype(np.float32)


def test_assign_matches_brute_force():
    x, rng = _x(), np.random.default_rng(1)
    c = rng.standard_normal((37, x.shape[1])).astype(np.float32)
    lab, dist = km.assign(x, c)
    full = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    # labels equal up to float32 near-ties: the chosen center is within rounding of the best
    np.testing.assert_allclose(full[np.arange(len(x)), lab], full.min(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dist, full.min(1), rtol=1e-4, atol=1e-4)


def test_cluster_sums_sparse_and_numpy_paths_agree(monkeypatch):
    x = _x()
    lab = np.random.default_rng(2).integers(0, 50, len(x))
    ref = np.zeros((50, x.shape[1]))
    np.add.at(ref, lab, x.astype(np.float64))
    fast = np.zeros_like(ref)
    km._scatter_add(fast, lab, x)
    monkeypatch.setattr(km, "_scipy_sparse", lambda: None)
    slow = np.zeros_like(ref)
    km._scatter_add(slow, lab, x)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-4)  # float32 sums in the sparse product
    np.testing.assert_allclose(slow, ref, rtol=1e-12, atol=1e-9)


def test_stagewise_refit_updates_are_exact_and_never_raise_the_error():
    x = _x()
    bar = ProgressBar(1, enabled=False)
    books = train_irvq(x[:1000], 3, 16, 3, 2, 0, bar, paths=True)  # trained on a third of x
    before = float(beam_encode(x, books, 2)[1].mean())
    new, err = refit_stagewise(x, books, 2, passes=1)
    assert err <= before * (1 + 1e-6)
    assert err <= float(beam_encode(x, new, 2)[1].mean()) * (1 + 1e-6)  # the better of the codes seen
    # a pass of one stage is one Lloyd step on that stage's residual from the same codes
    one = books[:1]
    codes, _ = beam_encode(x, one, 2)
    lone, _ = refit_stagewise(x, one, 2, passes=1)
    used = np.bincount(codes[:, 0], minlength=16) > 0
    means = np.stack([x[codes[:, 0] == j].mean(0) if used[j] else one[0, j] for j in range(16)])
    np.testing.assert_allclose(lone[0], means, rtol=1e-4, atol=1e-5)
    # a second pass from the refit codebooks is no worse
    again, err2 = refit_stagewise(x, new, 2, passes=1)
    assert err2 <= err * (1 + 1e-6)
    assert np.isfinite(decode_codes(codes, lone)).all()


def test_stagewise_passes_keep_the_best_held_out_pass_and_stop_after_it():
    from sdk.vq.quantizer import Validation, _stagewise_pass, stagewise_passes
    x, held = _x(), _x(600, seed=5)
    bar = ProgressBar(1, enabled=False)
    books = train_irvq(x[:1000], 3, 16, 3, 2, 0, bar, paths=True)
    val = Validation(held, 2)
    kept, p, codes = stagewise_passes(x, books, 2, 5, val=val)
    errs, b = [val.error(books)], books
    c = beam_encode(x, books, 2)[0]
    for _ in range(5):  # the passes written out: each from the codes the one before ended with
        b, _, c = _stagewise_pass(x, b.copy(), 2, c)
        errs.append(val.error(b))
    first_miss = next((i for i in range(1, 6) if errs[i] >= errs[i - 1]), 6)
    assert p == first_miss - 1  # kept: the last pass before the first one without a held-out gain
    assert val.error(kept) == errs[p] <= errs[0]
    # the codes returned are x's codes for the kept codebooks, no worse than a fresh beam encoding
    assert float(((x - decode_codes(codes, kept)) ** 2).sum(1).mean()) <= \
        float(beam_encode(x, kept, 2)[1].mean()) * (1 + 1e-5)
    # without a judge all passes run and the lowest training error is kept
    kept, p, _ = stagewise_passes(x, books, 2, 3)
    assert 0 <= p <= 3 and float(beam_encode(x, kept, 2)[1].mean()) <= float(beam_encode(x, books, 2)[1].mean())


def test_an_empty_cluster_splits_a_large_one_or_takes_the_far_point():
    """update_centers: an empty cluster takes the farthest row (empty_rule="far", the default) or, as in faiss
    (empty_rule="split", progressive_init), half of a cluster of two or more rows: that cluster's centre, the two
    copies nudged apart by 1 +- 1/1024 in alternate coordinates; a singleton cluster is never split."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal((40, 4)) + 5, [[1000.0, 0, 0, 0]], rng.standard_normal((30, 4)) - 5])
    x = x.astype(np.float32)
    labels = np.r_[np.zeros(40, np.int64), [1], np.full(30, 3)]  # cluster 2 empty, 1 a singleton
    dists = ((x - x.mean(0)) ** 2).sum(1).astype(np.float32)
    old = np.zeros((4, 4), np.float32)
    far = km.update_centers(x, labels, 4, old, dists, np.random.default_rng(0))
    np.testing.assert_allclose(far[2], x[40], atol=1e-3)  # the extreme row, twice
    for seed in range(5):
        c = km.update_centers(x, labels, 4, old, dists, np.random.default_rng(seed), empty_rule="split")
        means = [x[labels == j].mean(0) for j in (0, 1, 3)]
        np.testing.assert_allclose(c[1], means[1], rtol=1e-6)  # the singleton keeps its row
        nudge = np.array([1, -1, 1, -1]) / 1024
        j = 0 if np.allclose(c[0] * (1 + nudge) / (1 - nudge), c[2], rtol=1e-5) else 3
        np.testing.assert_allclose(c[2], means[0 if j == 0 else 2] * (1 + nudge), rtol=1e-5)
        np.testing.assert_allclose(c[j], means[0 if j == 0 else 2] * (1 - nudge), rtol=1e-5)
        assert np.abs(c[2] - x[40]).max() > 900  # not the far row
