"""vq.train's held-out choices: the encoding beam, the refit on all data, the replay of choices."""
import numpy as np
import pytest

from sdk import vq
from sdk.errors import SdkError
from sdk.vq.progress import ProgressBar
from sdk.vq.quantizer import (Validation, anneal, beam_encode, choose_encode_beam, refine_rounds_ls,
                              split_validation, train_irvq)


def _data(n, seed, d=12):
    """Decaying-spectrum Gaussian clusters (fixed mixture, `seed` draws the points)."""
    mr = np.random.default_rng(99)
    means, scale = mr.standard_normal((5, d)) * 2, np.geomspace(1.0, 0.1, d)
    rng = np.random.default_rng(seed)
    return (means[rng.integers(5, size=n)] + rng.standard_normal((n, d)) * scale).astype(np.float32)


X, XT = _data(2000, 0), _data(800, 1)  # 2000 rows: 200 held out, the least that splits
KW = dict(stages=3, bits=4, beam=2, iters=3, progress=False, refine_rounds=3)


def _err(books, x, beam):
    return float(beam_encode(x, books, beam)[1].mean())


def test_choose_encode_beam_takes_a_wider_beam_only_for_a_real_gain():
    books = vq.train(X, refit=False, encode_beam=2, **KW).codebooks
    val = Validation(XT, 2)
    errs = {b: val.error(books, b) for b in (2, 4, 8)}
    chosen = choose_encode_beam(val, books, 2)
    expect = 2
    for b in (4, 8):  # the rule written out: each doubling must gain 0.5%
        if errs[b] > 0.995 * errs[expect]:
            break
        expect = b
    assert chosen == expect
    assert errs[chosen] <= errs[2]
    # a greedy codebook set where no wider beam can help: one stage (the beam is exact there)
    one = books[:1]
    assert choose_encode_beam(val, one, 2) == 2


def test_per_stage_paths_list_replays_the_uniform_settings():
    bar = ProgressBar(1, enabled=False)
    for uniform in (True, False):
        a = train_irvq(X, 3, 16, 4, 2, 0, bar, paths=uniform)
        b = train_irvq(X, 3, 16, 4, 2, 0, bar, paths=[uniform] * 3)
        np.testing.assert_array_equal(a, b)
    info = {}
    fit, val = split_validation(X, 0.2, 16, 0, 2)
    train_irvq(fit, 3, 16, 4, 2, 0, bar, paths="stage", val=val, refine_rounds=2, info=info)
    assert len(info["stage_paths"]) == 3 and 0 <= info["refine_round"] <= 2


def test_rounds_and_sweeps_report_which_state_they_kept():
    bar = ProgressBar(1, enabled=False)
    books = train_irvq(X, 3, 16, 4, 2, 0, bar, paths=True)
    kept, r = refine_rounds_ls(X, books, 2, 3)
    assert 0 <= r <= 3
    if r == 0:
        np.testing.assert_array_equal(kept, books)
    assert _err(kept, X, 2) <= _err(books, X, 2) * (1 + 1e-6)  # judged by the training error
    kept, s = anneal(X, books, 2, 2, 2, 0, bar)
    assert 0 <= s <= 2 and _err(kept, X, 2) <= _err(books, X, 2) * (1 + 1e-6)


def test_refit_trains_the_chosen_recipe_on_all_vectors():
    q = vq.train(X, **KW)
    no = vq.train(X, refit=False, **KW)
    assert "refit" not in no.choices
    assert q.choices["refit"] == q.choices["stage_pass"] >= 1  # as many passes as won on held-out data
    for key in ("stage_paths", "refine_round", "encode_beam"):
        assert q.choices[key] == no.choices[key]  # the same choices, made before the refit
    assert q.beam == q.choices["encode_beam"] and q.beam in (2, 4, 8)
    # the held-out rows are training rows of the refit: their error drops (measured 15% here)
    _, val = split_validation(X, 0.1, 16, 0, 2)
    assert _err(q.codebooks, val.x, 2) < 0.99 * _err(no.codebooks, val.x, 2)
    # and on unseen data the refit is no worse than 3% (measured: 5% lower)
    assert _err(q.codebooks, XT, 2) < 1.03 * _err(no.codebooks, XT, 2)
    d = vq.train(X, method="da", da_sweeps=2, init="irvq", **KW)
    assert 0 <= d.choices["da_sweep"] <= 2 and d.choices["refit"] == d.choices["stage_pass"]
    np.testing.assert_array_equal(vq.train(X, method="da", da_sweeps=2, init=q, **KW).codebooks, d.codebooks)


def test_no_winning_pass_means_no_refit():
    q = vq.train(X, stage_passes=0, **KW)  # no pass to win: the held-out rows only judge
    assert q.choices["refit"] == 0 and q.held_out_codebooks is None
    np.testing.assert_array_equal(q.codebooks, vq.train(X, stage_passes=0, refit=False, **KW).codebooks)


def test_no_validation_means_no_refit_and_the_given_beam():
    q = vq.train(X, validation=0, **KW)
    assert q.beam == 2 and "refit" not in q.choices
    assert vq.train(X, encode_beam=3, **KW).beam == 3
    with pytest.raises(SdkError, match="encode_beam"):
        vq.train(X, encode_beam=0, **KW)


def test_kmeans_runs_more_than_one_iteration():
    from sdk.vq.kmeans import kmeans
    _, _, one = kmeans(X, 16, iters=1, seed=0)
    _, _, ten = kmeans(X, 16, iters=10, seed=0)
    assert ten < 0.999 * one  # (the bug of 2026-12-04: the tolerance test stopped it after one)
    # and it stops at convergence: a fixed point of Lloyd's iteration stays put
    c, lab, conv = kmeans(X, 16, iters=500, seed=0)
    c2, lab2, again = kmeans(X, 16, iters=500, seed=0, init=c)
    np.testing.assert_array_equal(lab, lab2)
    assert again <= conv * (1 + 1e-6)


class _Steps:
    """A progress bar that records its step messages."""

    def __init__(self):
        self.msgs = []

    def step(self, msg):
        self.msgs.append(msg)


def test_annealing_stops_on_a_held_out_plateau():
    bar = ProgressBar(1, enabled=False)
    fit, val = split_validation(X, 0.2, 16, 0, 2)
    books = train_irvq(fit, 3, 16, 4, 2, 0, bar, paths=True)
    steps = _Steps()
    kept, s = anneal(fit, books, 2, 6, 2, 0, steps, val=val, patience=1)
    ran = sum(m.startswith("annealing sweep") for m in steps.msgs)
    assert ran == s + 1 or (ran == 6 and s >= 5)  # stopped at the first sweep after the best
    assert len(steps.msgs) == 6  # the bar still reaches its total
    # the same as annealing for exactly the sweeps that ran (same random draws)
    again, s2 = anneal(fit, books, 2, ran, 2, 0, bar, val=val)
    np.testing.assert_array_equal(kept, again)
    assert s2 == s



def test_shrinkage_pulls_noisy_codewords_toward_the_stage_mean():
    from sdk.vq.quantizer import shrink_codebooks
    from sdk.vq.kmeans import kmeans
    rng = np.random.default_rng(3)
    # pure noise around a common mean: 16 codewords fitted to 64 points are mostly noise, so
    # pulling them toward the mean must lower the error of fresh points from the same law
    mean = np.full(8, 2.0, np.float32)
    fit = (mean + rng.standard_normal((64, 8))).astype(np.float32)
    fresh = (mean + rng.standard_normal((4000, 8))).astype(np.float32)
    c, lab, _ = kmeans(fit, 16, iters=10, seed=0)
    books, codes = c[None], lab[:, None]
    np.testing.assert_array_equal(shrink_codebooks(fit, books, codes, 0), books)
    shrunk = shrink_codebooks(fit, books, codes, 1.0)
    mu = fit.mean(0)
    lams = []
    for j in range(16):  # each codeword moves along the segment to mu: c' = mu + lam (c - mu), 0 <= lam <= 1
        lam = float((shrunk[0, j] - mu) @ (books[0, j] - mu) / ((books[0, j] - mu) @ (books[0, j] - mu)))
        np.testing.assert_allclose(shrunk[0, j], mu + lam * (books[0, j] - mu), atol=1e-5)
        assert 0 <= lam <= 1 + 1e-6
        lams.append(lam)
    assert sum(lam < 0.99 for lam in lams) >= 12  # (an unused codeword stays: lam 1)
    assert _err(shrunk, fresh, 1) < 0.99 * _err(books, fresh, 1)  # measured: 2.9% lower


def test_shrinkage_is_chosen_on_held_out_rows_and_kept_by_the_refit():
    from sdk.vq.quantizer import choose_shrink
    fit, val = split_validation(X, 0.1, 16, 0, 2)
    bar = ProgressBar(1, enabled=False)
    books = train_irvq(fit, 3, 16, 4, 2, 0, bar, paths=True)
    codes = beam_encode(fit, books, 2)[0]
    kept, alpha = choose_shrink(fit, books, codes, val, alphas=(0.5, 1.0))
    assert alpha in (0.0, 0.5, 1.0)
    assert val.error(kept) <= val.error(books)
    # no strength that lowers the held-out error: the codebooks come back as they were
    same, none = choose_shrink(fit, books, codes, val, alphas=(1e6,))
    assert none == 0.0 and same is books
    q = vq.train(X, **KW)
    assert q.choices["shrink"] in (0.0, 0.5, 1.0)
    off = vq.train(X, shrink=False, **KW)
    assert "shrink" not in off.choices


def test_best_seeding_keeps_the_lower_kmeans_error():
    from sdk.vq.kmeans import sq_norms
    bar = ProgressBar(1, enabled=False)
    errs = {}
    for seeding in ("subspace", "best"):
        books = train_irvq(X, 1, 16, 4, 2, 0, bar, paths=True, seeding=seeding)
        errs[seeding] = float(sq_norms(X - books[0][np.argmin(((X[:, None] - books[0]) ** 2).sum(-1), 1)]).mean())
    assert errs["best"] <= errs["subspace"] * (1 + 1e-6)
    with pytest.raises(SdkError, match="seeding"):
        vq.train(X, seeding="random", **KW)


def test_damped_pass_moves_part_of_the_way_of_a_full_pass():
    from sdk.vq.quantizer import _stagewise_pass, damped_pass
    bar = ProgressBar(1, enabled=False)
    books = train_irvq(X, 3, 16, 4, 2, 0, bar, paths=True)
    codes = beam_encode(X, books, 2)[0]
    same, c0 = damped_pass(X, books, 2, codes, 0)
    np.testing.assert_array_equal(same, books)
    np.testing.assert_array_equal(c0, codes)
    full = _stagewise_pass(X, np.array(books), 2, codes.copy())[0]
    np.testing.assert_allclose(damped_pass(X, books, 2, codes, 1.0)[0], full, rtol=1e-6, atol=1e-6)
    half, chalf = damped_pass(X, books, 2, codes, 0.5)
    np.testing.assert_allclose(half, (books + full) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(chalf, beam_encode(X, half, 2)[0])  # the codes for the new codebooks
    assert not np.allclose(full, books)  # (the pass does move the codebooks here)


def test_step_and_shrinkage_are_chosen_together_by_the_written_rule():
    from sdk.vq.quantizer import _STEP_TOLERANCE, choose_step_and_shrink, damped_pass, shrink_codebooks
    fit, val = split_validation(X, 0.1, 16, 0, 2)
    bar = ProgressBar(1, enabled=False)
    books = train_irvq(fit, 3, 16, 4, 2, 0, bar, paths=True)
    codes = beam_encode(fit, books, 2)[0]
    steps, alphas = (0.0, 0.25, 0.5, 1.0), (0.5, 1.0)
    kept, kept_codes, step, alpha = choose_step_and_shrink(fit, books, codes, val, 2, steps=steps, alphas=alphas)
    errs = {}  # the rule written out: every (step, alpha), then the largest step within the tolerance
    for w in steps:
        b, c = damped_pass(fit, books, 2, codes, w)
        for a in (0.0,) + alphas:
            errs[w, a] = val.error(shrink_codebooks(fit, b, c, a))
    low = min(errs.values())
    best_w = max(w for (w, a), e in errs.items() if e <= (1 + _STEP_TOLERANCE) * low)
    assert step == best_w
    assert val.error(kept) == min(e for (w, a), e in errs.items() if w == best_w)
    b, c = damped_pass(fit, books, 2, codes, step)
    np.testing.assert_array_equal(kept_codes, c)
    np.testing.assert_array_equal(kept, shrink_codebooks(fit, b, c, alpha))
    # steps=(0,): the shrinkage alone, as choose_shrink
    from sdk.vq.quantizer import choose_shrink
    alone, _, none, a0 = choose_step_and_shrink(fit, books, codes, val, 2, steps=(0.0,), alphas=alphas)
    ref, a_ref = choose_shrink(fit, books, codes, val, alphas)
    assert none == 0.0 and a0 == a_ref
    np.testing.assert_array_equal(alone, ref)


def test_refit_replays_the_chosen_passes_step_and_shrinkage_on_all_rows():
    from sdk.vq.quantizer import damped_pass, refit_stagewise, shrink_codebooks
    q = vq.train(X, **KW)
    assert q.choices["step"] in (0.0, 0.125, 0.25, 0.5)
    assert q.choices["stage_pass"] or q.choices["step"]  # there is a refit on this data (measured: 1 pass, step 0.5)
    books = q.held_out_codebooks  # trained without the held-out rows, before the step and the shrinkage
    if q.choices["stage_pass"]:
        books, _ = refit_stagewise(X, books, 2, passes=q.choices["stage_pass"])
    books, codes = damped_pass(X, books, 2, beam_encode(X, books, 2)[0], q.choices["step"])
    np.testing.assert_array_equal(q.codebooks, shrink_codebooks(X, books, codes, q.choices["shrink"]))
    assert "step" not in vq.train(X, stage_passes=0, **KW).choices  # no passes: no damped pass either


def test_a_dominant_row_is_never_held_out():
    """split_validation: a row that alone would hold about half of a held-out split's energy always trains
    (irvq42: aniso-48's one training row with 53% of the energy decided every held-out choice); without such
    rows the split is the plain random one."""
    x = X.copy()
    far = ((x - x.mean(0)) ** 2).sum(1)
    n_val = 200
    assert far.max() < n_val * far.mean()  # no dominant row: the plain random split
    fit, val = split_validation(x, 0.1, 16, 0, 2)
    perm = np.random.default_rng(7919).permutation(len(x))
    np.testing.assert_array_equal(val.x, x[np.sort(perm[:n_val])])
    np.testing.assert_array_equal(fit, x[np.sort(perm[n_val:])])
    big = perm[0]  # the first row of the random split, made dominant
    x[big] = x.mean(0) + 1e4
    fit, val = split_validation(x, 0.1, 16, 0, 2)
    assert len(val.x) == n_val and len(fit) == len(x) - n_val
    assert not (val.x == x[big]).all(1).any() and (fit == x[big]).all(1).sum() == 1
    assert {r.tobytes() for r in fit} | {r.tobytes() for r in val.x} == {r.tobytes() for r in x}



def test_progressive_seeding_is_rotation_equivariant_and_replays():
    """seeding="progressive" (faiss's RQ start, opt-in): progressive_init clusters in the top PCA dims of the
    residual, so rotating and shifting the data rotates and shifts its centroids (the PCA, the rotation back
    and the mean are checked; the same rows start it); every stage records the pick and the picks replay
    bit for bit; vq.train accepts it."""
    from sdk.vq.quantizer import progressive_init
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((16, 8)) * 4)[rng.integers(16, size=600)] + 0.1 * rng.standard_normal((600, 8))
    x *= np.geomspace(3.0, 0.3, 8)  # distinct variances: the PCA axes are well defined
    x = x.astype(np.float32)
    rot = np.linalg.qr(rng.standard_normal((8, 8)))[0].astype(np.float32)
    shift = (rng.standard_normal(8) * 5).astype(np.float32)
    c = progressive_init(x, 16, 10, 0)
    c2 = progressive_init(x @ rot + shift, 16, 10, 0)
    assert c.shape == (16, 8) and c.dtype == np.float32
    np.testing.assert_allclose(c2, c @ rot + shift, atol=2e-3 * float(np.abs(x).max()))
    bar = ProgressBar(1, enabled=False)
    info = {}
    books = train_irvq(X, 3, 16, 3, 2, 0, bar, info=info, seeding="progressive")
    assert info["seeding"] == ["progressive"] * 3
    np.testing.assert_array_equal(train_irvq(X, 3, 16, 3, 2, 0, bar, seeding=info["seeding"]), books)
    q = vq.train(X, method="irvq", seeding="progressive", **KW)
    assert q.choices["seeding"] == ["progressive"] * 3


def test_progressive_first_seeds_stage_one_as_faiss_and_the_rest_as_best():
    """seeding="progressive-first" (opt-in): stage 1 from progressive_init (the codebook of
    seeding="progressive"'s first stage, bit for bit), the later stages as "best" (subspace or k-means++,
    the lower k-means error); the picks replay bit for bit."""
    bar = ProgressBar(1, enabled=False)
    info = {}
    books = train_irvq(X, 3, 16, 3, 2, 0, bar, info=info, seeding="progressive-first")
    assert info["seeding"][0] == "progressive" and set(info["seeding"][1:]) <= {"subspace", "kmeans++"}
    np.testing.assert_array_equal(books[0], train_irvq(X, 1, 16, 3, 2, 0, bar, seeding="progressive")[0])
    np.testing.assert_array_equal(train_irvq(X, 3, 16, 3, 2, 0, bar, seeding=info["seeding"]), books)
    q = vq.train(X, method="irvq", seeding="progressive-first", **KW)
    assert q.choices["seeding"][0] == "progressive"


def test_auto_seeding_keeps_the_start_with_the_lower_held_out_error():
    """seeding="auto": the whole training from the shipped start (progressive, since 2026-12-07) and from the
    earlier one ("best"), the one with the lower held-out error of its codebooks trained without the held-out
    rows kept, bit for bit that training; without a held-out split (too few rows) it is the shipped start."""
    runs = {s: vq.train(X, method="irvq", seeding=s, **KW) for s in ("progressive", "best")}
    np.testing.assert_array_equal(runs["progressive"].codebooks, vq.train(X, method="irvq", **KW).codebooks)
    q = vq.train(X, method="irvq", seeding="auto", **KW)
    errs = [runs[s].choices["held_out_error"] for s in ("progressive", "best")]
    assert q.choices["start_held_out_errors"] == errs
    want = "progressive" if errs[0] <= errs[1] else "best"
    assert q.choices["start"] == want
    np.testing.assert_array_equal(q.codebooks, runs[want].codebooks)
    assert q.beam == runs[want].beam
    # the held-out error is that of the codebooks before the refit, as the split's rows judge them
    val = split_validation(X, 0.1, 16, 0, 2)[1]
    books = runs[want].held_out_codebooks
    if books is None:  # no refit: the returned codebooks were trained without the held-out rows
        assert val.error(runs[want].codebooks, runs[want].beam) == pytest.approx(errs[0 if want == "progressive" else 1])
    small = vq.train(X[:1000], method="irvq", seeding="auto", **KW)  # 100 held out: too few, no split
    np.testing.assert_array_equal(small.codebooks, vq.train(X[:1000], method="irvq", **KW).codebooks)
    assert "start" not in small.choices
    with pytest.raises(SdkError):
        vq.train(X, method="irvq", seeding="random", **KW)
