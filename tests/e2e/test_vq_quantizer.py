"""Training and encoding: k-means, RVQ, IRVQ, dictionary annealing."""
from pathlib import Path

import numpy as np
import pytest

from sdk import vq
from sdk.errors import SdkError, ShapeError
from sdk.vq.kmeans import kmeans
from vq_data import gaussian_mixture

X = gaussian_mixture(4000)
XT = gaussian_mixture(1000, seed=1)


def _rmse(q, x, beam=None):
    codes = q.encode(x, beam=beam)
    return float(((x - q.decode(codes)) ** 2).sum() / (x ** 2).sum())


@pytest.fixture(scope="module")
def trained():
    kw = dict(stages=4, bits=6, beam=4, progress=False, iters=10)
    out = {m: vq.train(X, method=m, **kw) for m in ("rvq", "irvq", "da")}
    out["da-irvq"] = vq.train(X, method="da", init=out["irvq"], **kw)
    return out


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((5, 8)) * 20
    x = (centers[rng.integers(5, size=2000)] + rng.standard_normal((2000, 8)) * 0.1).astype(np.float32)
    c, lab, mse = kmeans(x, 5, iters=20, seed=0)
    # every true center has a learned center within the noise scale
    d = ((centers[:, None, :] - c[None]) ** 2).sum(-1).min(1)
    assert d.max() < 0.1
    # mse comes from the ||x||^2 - 2<x,c> + ||c||^2 expansion in float32: small cancellation error
    assert mse == pytest.approx(((x - c[lab]) ** 2).sum(1).mean(), rel=1e-2)
    assert mse < 0.1 * 8 * 1.5


@pytest.mark.parametrize("method", ["rvq", "irvq"])
def test_mse_decreases_with_stages(method):
    q = vq.train(X, method=method, stages=4, bits=5, beam=4, progress=False, iters=8)
    errs = []
    for m in range(1, 5):
        sub = vq.Quantizer(q.codebooks[:m], method)
        errs.append(_rmse(sub, XT, beam=1))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 0.5 * errs[0]


def test_irvq_and_da_beat_rvq(trained):
    rvq, irvq, da = (trained[m] for m in ("rvq", "irvq", "da"))
    train_err = {m: trained[m].relative_mse(X) for m in trained}
    test_err = {m: trained[m].relative_mse(XT) for m in trained}
    assert train_err["irvq"] < train_err["rvq"], train_err
    assert test_err["irvq"] < test_err["rvq"], test_err
    # DA from IRVQ's codebooks keeps its best held-out state: the IRVQ codebooks when no sweep helps
    assert test_err["da-irvq"] <= test_err["irvq"] * 1.02, test_err
    # the default DA anneals greedy RVQ stages and encodes with the beam: below RVQ on unseen data
    assert test_err["da"] < test_err["rvq"], test_err


def test_beam_encoding_lowers_error(trained):
    q = trained["irvq"]
    e1, e8 = _rmse(q, XT, beam=1), _rmse(q, XT, beam=8)
    assert e8 < e1


def test_encode_decode_consistency(trained):
    q = trained["irvq"]
    codes = q.encode(XT)
    assert codes.dtype == np.uint8 and codes.shape == (len(XT), 4)
    rec = q.decode(codes)
    manual = sum(q.codebooks[m][codes[:, m]] for m in range(4))
    np.testing.assert_allclose(rec, manual, rtol=1e-5, atol=1e-5)
    # the reported squared errors of beam_encode match decode()
    c2, errs = vq.beam_encode(XT, q.codebooks, beam=q.beam)  # the encoding beam train() chose
    np.testing.assert_array_equal(c2, codes)
    np.testing.assert_allclose(errs, ((XT - rec) ** 2).sum(1), rtol=1e-4, atol=1e-4)
    # a vector that is exactly a sum of codewords is encoded (near) losslessly
    exact = q.decode(codes[:5])
    assert ((exact - q.decode(q.encode(exact))) ** 2).sum(1).max() <= ((exact - rec[:5]) ** 2).sum(1).max() + 1e-3


def test_sixteen_bit_codes_use_uint16():
    q = vq.train(gaussian_mixture(600, d=4), method="rvq", stages=1, bits=9, progress=False, iters=2)
    codes = q.encode(gaussian_mixture(50, d=4))
    assert codes.dtype == np.uint16 and codes.max() < 512


def test_progress_bar_writes_to_stderr(capsys):
    vq.train(X[:500], method="irvq", stages=2, bits=4, beam=2, progress=True, iters=2, refine_rounds=3, stage_passes=2)
    err = capsys.readouterr().err
    assert "vq irvq [" in err and "7/7" in err  # 2 stages + 3 refinement rounds + 2 stage-wise passes


def test_bad_arguments():
    with pytest.raises(SdkError, match="unknown vq method"):
        vq.train(X, method="pq")
    with pytest.raises(ShapeError, match="at least 256"):
        vq.train(X[:100], bits=8, progress=False)
    with pytest.raises(ShapeError):
        vq.train(X[:, :, None], progress=False)
    bad = X[:300].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ShapeError, match="NaN"):
        vq.train(bad, bits=4, progress=False)


def test_joint_least_squares_refinement(trained):
    from sdk.vq.quantizer import decode_codes, refine_codebooks
    q = trained["rvq"]
    codes = q.encode(X).astype(np.int64)
    before = ((X - decode_codes(codes, q.codebooks)) ** 2).sum()
    joint = refine_codebooks(X, codes, q.ksub)
    after = ((X - decode_codes(codes, joint)) ** 2).sum()
    assert after < before  # least squares over all codebooks beats the greedy stage-wise ones
    # optimality: moving any single codeword from the solution raises the error
    bumped = joint.copy()
    bumped[1, int(np.bincount(codes[:, 1]).argmax())] += 0.05
    assert ((X - decode_codes(codes, bumped)) ** 2).sum() > after
    r = vq.train(X, method="irvq", stages=4, bits=6, beam=4, progress=False, iters=10, refine=True)
    assert r.relative_mse(XT) < trained["rvq"].relative_mse(XT)


def test_beam_search_matches_residual_search_and_brute_force():
    from sdk.vq.quantizer import _beam_search_residual, beam_search, decode_codes
    rng = np.random.default_rng(3)
    books = rng.standard_normal((4, 16, 6)).astype(np.float32)
    x = rng.standard_normal((500, 6)).astype(np.float32)
    # the lookup-table search (expanded errors) against the explicit-residual one
    c1, e1 = beam_search(x, books, beam=5, keep_last=4)
    c2, e2 = _beam_search_residual(x, books, beam=5, keep_last=4)
    assert c1.shape == (500, 4, 4)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_allclose(e1, e2, rtol=1e-4, atol=1e-4)
    true = ((x[:, None, :] - decode_codes(c1.reshape(-1, 4), books).reshape(500, 4, 6)) ** 2).sum(-1)
    np.testing.assert_allclose(e1, true, rtol=1e-4, atol=1e-4)
    assert (np.diff(e1, axis=1) >= 0).all()  # best path first
    # a beam as wide as all partial paths is exhaustive: the optimum over all 16^2 codes
    b2 = books[:2]
    codes, errs = vq.beam_encode(x, b2, beam=16)
    allc = np.stack(np.meshgrid(np.arange(16), np.arange(16), indexing="ij"), -1).reshape(-1, 2)
    brute = ((x[:, None, :] - decode_codes(allc, b2)[None]) ** 2).sum(-1)
    np.testing.assert_allclose(errs, brute.min(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("w,keep", [(2048, 8), (256, 8), (2048, 1), (100, 7), (64, 64), (4096, 40)])
def test_smallest_entries_match_a_full_sort(w, keep):
    from sdk.vq.quantizer import _smallest
    rng = np.random.default_rng(w + keep)
    cand = rng.integers(0, 50, size=(300, w)).astype(np.float32)  # many ties
    idx, val = _smallest(cand, keep)
    order = np.lexsort((np.broadcast_to(np.arange(w), cand.shape), cand), axis=1)[:, :keep]  # by value, then column
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(val, np.take_along_axis(cand, order, 1))


def test_all_path_training_and_refinement_rounds():
    paper = vq.train(X, method="irvq", stages=4, bits=6, beam=4, progress=False, iters=10,
                     paths=False, refine_rounds=0, stage_passes=0, seeding="subspace", shrink=False)
    # validation=0: train on all of X and keep the rounds' codebooks by training error. What is checked is
    # what all-path residuals, the rounds and the passes do from one k-means start, so the start is pinned
    # to "best" (the default until 2026-12-07), whose numbers the thresholds below were measured with. With
    # the progressive start (the default since) the same holds with smaller margins: all paths 0.01619 /
    # 0.01945, + 6 rounds 0.01551 / 0.02104 (4.2% under all paths, 4.3% over the paper), + 4 passes
    # 0.01457 / 0.01929 (2.1% / 1.1% under the paper); its coarser first stage costs ~2% on this mixture
    seed = dict(seeding="best")
    paths = vq.train(X, method="irvq", stages=4, bits=6, beam=4, progress=False, iters=10, refine_rounds=0,
                     paths=True, validation=0, stage_passes=0, **seed)
    full = vq.train(X, method="irvq", stages=4, bits=6, beam=4, progress=False, iters=10, refine_rounds=6,
                    paths=True, validation=0, stage_passes=0, **seed)
    passes = vq.train(X, method="irvq", stages=4, bits=6, beam=4, progress=False, iters=10, refine_rounds=0,
                      paths=True, validation=0, stage_passes=4, **seed)
    # the rounds keep the codebooks of the lowest training error, starting from the trained ones
    assert full.relative_mse(X) <= paths.relative_mse(X) + 1e-7
    errs = {name: (q.relative_mse(X), q.relative_mse(XT)) for name, q in
            (("paper", paper), ("paths", paths), ("full", full), ("passes", passes))}
    # measured with converged k-means (training / held-out): paper 0.01488 / 0.01950, all paths
    # 0.01591 / 0.01908, all paths + rounds 0.01471 / 0.02035, all paths + 4 stage-wise passes
    # 0.01404 / 0.01899. The rounds gain 8% on the training data over the codebooks they start from ...
    assert errs["full"][0] < 0.95 * errs["paths"][0], errs
    # ... but only 1% over the paper's IRVQ here, and lose 4% held-out (with 4000 vectors for 4 x 64
    # codewords of 16-d they overfit). Until 2026-12-04 k-means stopped after one iteration and this
    # test asserted full < paper by a wide margin, true only with that bug
    assert errs["full"][0] < 1.02 * errs["paper"][0], errs
    assert errs["full"][1] < 1.1 * errs["paper"][1], errs
    # stage-wise passes (each codebook re-estimated for the codes, then re-encoding): the lowest
    # error on both, 6% / 3% under the paper's IRVQ
    assert errs["passes"][0] < 0.96 * errs["paper"][0] and errs["passes"][1] < 0.985 * errs["paper"][1], errs
    assert errs["passes"][0] < errs["paths"][0] and errs["passes"][1] < errs["paths"][1], errs
    with pytest.raises(SdkError, match="refine_rounds"):
        vq.train(X, refine_rounds=-1, progress=False)


# ---- data-driven defaults: a validation split inside train() ------------------------------------
def heavy_tailed(n, seed, d=12, comps=6):
    """Student-t (3 degrees of freedom) clusters with anisotropic, correlated scales: a
    distribution used neither by the benchmark nor for choosing the defaults."""
    mr = np.random.default_rng(4242)
    means = mr.standard_normal((comps, d)) * 2.0
    mix = mr.standard_normal((comps, d, d)) * np.geomspace(1.0, 0.05, d)
    rng = np.random.default_rng(seed)
    lab = rng.integers(comps, size=n)
    z = rng.standard_t(3, size=(n, d))
    return (means[lab] + np.einsum("nd,nde->ne", z, mix[lab])).astype(np.float32)


def test_shipped_defaults_hold_on_an_unseen_distribution():
    from sdk.vq.quantizer import split_validation
    x, test = heavy_tailed(6000, 0), heavy_tailed(4000, 1)
    kw = dict(stages=4, bits=6, beam=4, progress=False, iters=10)
    auto = vq.train(x, **kw)                                   # shipped defaults
    old = vq.train(x, validation=0, **kw)                      # no held-out data: judged on training data
    paper = vq.train(x, paths=False, refine_rounds=0, stage_passes=0, seeding="subspace", shrink=False,
                     **kw)  # the paper's IRVQ (no split needed)
    errs = {name: q.relative_mse(test) for name, q in (("auto", auto), ("old", old), ("paper", paper))}
    # measured (2026-12-05 04:20, refit by the passes that won, no least-squares rounds): auto 0.0233,
    # old 0.0269, paper 0.0288 (00:15, converged k-means, warm refit: auto 0.0239, old 0.0270; before: auto 0.0292, old 0.0277, paper 0.0319, when the held-out split
    # picked a per-stage variant 5% worse than the all-path one on this heavy-tailed set)
    assert errs["auto"] <= 0.95 * min(errs["old"], errs["paper"]), errs
    assert errs["auto"] < errs["paper"], errs
    # the kept codebooks are never worse on the validation split than the un-refined ones
    fit, val = split_validation(x, 0.1, 64, 0, 4)
    assert val is not None and len(val.x) == 600 and len(fit) == 5400
    stages_only = vq.train(fit, refine_rounds=0, stage_passes=0, **kw)  # the same stages alone (no split)
    assert val.error(auto.held_out_codebooks) <= val.error(stages_only.codebooks) + 1e-6


def test_validation_split_rules():
    from sdk.vq.quantizer import split_validation
    kw = dict(stages=2, bits=4, beam=2, progress=False, iters=3, refine_rounds=2)
    small = X[:1500]  # 150 held-out vectors < 200: no split, same as validation=0
    np.testing.assert_array_equal(vq.train(small, **kw).codebooks, vq.train(small, validation=0, **kw).codebooks)
    fit, val = split_validation(X, 0.25, 16, 3, 2)
    assert len(val.x) == 1000 and len(fit) == 3000
    rows = {r.tobytes() for r in X}  # the two parts partition X
    assert {r.tobytes() for r in fit} | {r.tobytes() for r in val.x} == rows
    assert not {r.tobytes() for r in fit} & {r.tobytes() for r in val.x}
    assert split_validation(X[:600], 0.5, 512, 0, 2)[1] is None  # too few left to train 512 codewords
    with pytest.raises(SdkError, match="paths"):
        vq.train(X, paths="yes", progress=False)
    with pytest.raises(SdkError, match="validation"):
        vq.train(X, validation=1.0, progress=False)


def test_time_budget_stops_refinement_and_annealing(capsys):
    kw = dict(stages=3, bits=5, beam=2, iters=4)
    q = vq.train(X, refine_rounds=5, time_budget=0, progress=True, **kw)
    err = capsys.readouterr().err
    assert "refine round 1" in err and "refine round 2" not in err and "refine stopped" in err
    # the budget stops the stage-wise passes after their first as well, so the same training with one round
    # and one pass allowed (the reference had no stage_passes=1 until 2026-12-07: with the old default start
    # no second pass won on this mixture; with the progressive start two do when not stopped)
    assert "stage-wise pass 1" in err and "stage-wise pass 2" not in err and "stage-wise passes stopped" in err
    np.testing.assert_array_equal(q.codebooks, vq.train(X, refine_rounds=1, stage_passes=1, progress=False,
                                                        **kw).codebooks)
    d = vq.train(X, method="da", refine_rounds=0, da_sweeps=4, time_budget=0, progress=True, **kw)
    err = capsys.readouterr().err
    assert "annealing sweep 1" in err and "annealing sweep 2" not in err
    assert d.method == "da"


def test_da_from_a_trained_irvq_equals_training_da():
    kw = dict(stages=3, bits=5, beam=2, iters=4, progress=False, refine_rounds=2, da_sweeps=2)
    irvq = vq.train(X, method="irvq", **kw)
    np.testing.assert_array_equal(vq.train(X, method="da", init=irvq, **kw).codebooks,
                                  vq.train(X, method="da", init="irvq", **kw).codebooks)
    with pytest.raises(SdkError, match="init"):
        vq.train(X, method="irvq", init=irvq, **kw)
    with pytest.raises(SdkError, match="init"):
        vq.train(X, method="irvq", init="rvq", **kw)


def test_da_anneals_rvq_stages_by_default():
    kw = dict(stages=3, bits=5, beam=2, iters=4, progress=False, da_sweeps=3)
    d = vq.train(X, method="da", **kw)
    assert d.choices["init"] == "rvq" and 0 <= d.choices["da_sweep"] <= 3
    # the RVQ stages on the same training rows (the 10% split), then the annealing: never worse
    # on the held-out rows than the RVQ stages alone (the sweep kept is the best held-out one)
    from sdk.vq.quantizer import split_validation, train_rvq
    from sdk.vq.progress import ProgressBar
    fit, val = split_validation(X, 0.1, 32, 0, 2)
    info = {}
    rvq = train_rvq(fit, 3, 32, 4, 0, ProgressBar(1, enabled=False), info=info)
    assert info["rvq_seeding"] == d.choices["rvq_seeding"] == ["kmeans++"] * 3
    assert val.error(d.codebooks if d.held_out_codebooks is None else d.held_out_codebooks) <= val.error(rvq) + 1e-6


def test_rvq_seeding_chosen_on_held_out_rows():
    """DA's RVQ stages: each stage's k-means from the subspace initialisation and from k-means++, the one
    with the lower held-out greedy error kept. On sparse tf-idf rows (heavy-tailed residual norms) k-means++
    alone seeds outliers: the held-out choice is clearly better there; the picks replay exactly."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import vq_datasets
    from sdk.vq.quantizer import split_validation, train_rvq
    from sdk.vq.progress import ProgressBar
    x = vq_datasets.sparse_bow(2000, 64, words=20, seed=3)
    fit, val = split_validation(x, 0.1, 16, 0, 2)
    bar = ProgressBar(1, enabled=False)
    classic = train_rvq(fit, 4, 16, 10, 0, bar)
    info = {}
    chosen = train_rvq(fit, 4, 16, 10, 0, bar, seeding="best", val=val, info=info)
    assert set(info["rvq_seeding"]) <= {"subspace", "kmeans++"} and len(info["rvq_seeding"]) == 4
    assert val.error(chosen, 1) < 0.99 * val.error(classic, 1), (val.error(chosen, 1), val.error(classic, 1))
    np.testing.assert_array_equal(train_rvq(fit, 4, 16, 10, 0, bar, seeding=info["rvq_seeding"]), chosen)
    d = vq.train(x, method="da", stages=4, bits=4, beam=2, iters=10, da_sweeps=1, progress=False, rvq_seeding="best")
    assert d.choices["rvq_seeding"] == info["rvq_seeding"]  # vq.train makes the same split (validation 0.1, seed 0)
    sub = train_rvq(fit, 4, 16, 10, 0, bar, seeding="subspace")
    if info["rvq_seeding"] == ["subspace"] * 4:
        np.testing.assert_array_equal(sub, chosen)


def test_irvq_seeding_chosen_on_held_out_rows():
    """IRVQ's seeding="held-out": each stage's k-means runs from the subspace initialisation and from
    k-means++, and the codebook whose stages so far have the lower held-out beam error is kept (the default
    "best" keeps the lower k-means error). The first stage's pick is checked against both candidates, the
    picks replay bit for bit, and vq.train (same split) makes the same picks."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import vq_datasets
    from sdk.vq.quantizer import split_validation, subspace_init, train_irvq
    from sdk.vq.progress import ProgressBar
    x = vq_datasets.sparse_bow(2000, 64, words=20, seed=3)
    fit, val = split_validation(x, 0.1, 16, 0, 2)
    bar = ProgressBar(1, enabled=False)
    info = {}
    chosen = train_irvq(fit, 4, 16, 10, 2, 0, bar, val=val, info=info, seeding="held-out")
    assert len(info["seeding"]) == 4 and set(info["seeding"]) <= {"subspace", "kmeans++"}
    first = {"subspace": kmeans(fit, 16, iters=10, seed=0, init=subspace_init(fit, 16, 5, 0))[0],
             "kmeans++": kmeans(fit, 16, iters=10, seed=0)[0]}
    errs = {s: val.error(c[None]) for s, c in first.items()}
    assert errs[info["seeding"][0]] == min(errs.values()), (errs, info["seeding"])
    np.testing.assert_array_equal(chosen[0], first[info["seeding"][0]])
    np.testing.assert_array_equal(train_irvq(fit, 4, 16, 10, 2, 0, bar, seeding=info["seeding"]), chosen)
    q = vq.train(x, method="irvq", stages=4, bits=4, beam=2, iters=10, progress=False, seeding="held-out",
                 stage_passes=1, shrink=False)  # (a pass to choose: the split is made)
    assert q.choices["seeding"] == info["seeding"]
    best = {}
    train_irvq(fit, 4, 16, 10, 2, 0, bar, val=val, info=best)  # the default: the lower k-means error
    assert len(best["seeding"]) == 4
    with pytest.raises(SdkError, match="seeding"):
        vq.train(x, method="irvq", stages=2, bits=4, progress=False, seeding="kmeans")
