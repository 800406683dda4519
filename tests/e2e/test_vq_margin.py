"""Adaptive stop of the tree search (sdk_vq_params.margin / Index.search(margin=...)): the Python reference against
a brute-force definition, the C runtime against the Python reference, exact equality with exhaustive ADC where the
rule cannot stop early, and the tune choosing it on held-out rows."""
import numpy as np
import pytest

from sdk import vq
from sdk.errors import BuildError, SdkError
from sdk.vq.native import NativeIndex
from sdk.vq.tune import leave_one_out, recall_at, tune_search
from vq_data import gaussian_mixture


def _index(tree, depth=None, forest=1, dim=16, stages=4, bits=6, n=2000, norm_bits=32, seed=0):
    x = gaussian_mixture(n + 800, d=dim, seed=seed)
    q = vq.train(x[:800], method="rvq", stages=stages, bits=bits, beam=1, seed=0, progress=False, iters=4)
    idx = vq.Index(q, tree=tree, depth=depth, forest=forest, norm_bits=norm_bits, cells=40 if tree == "ivf" else None,
                   table_bits=32)  # float tables: compared with exact distances
    idx.add(x[800:])
    return idx, x[800:]


def brute_force_ivf(idx, query, k, margin):
    """The adaptive stop on an IVF index by its definition, float64 from decoded vectors: cells in order of the
    squared distance to their decoded centroid (ties by cell), stop before the first cell whose distance exceeds
    the k-th best item distance so far plus the margin; the top k of the items seen."""
    t = idx.trees[0]
    lv = t.levels[0]
    cen = idx.quantizer.decode(t.cell_codes).astype(np.float64)
    rec = idx.quantizer.decode(idx.codes).astype(np.float64)
    q = query.astype(np.float64)
    cell_d = ((cen[lv.code] - q) ** 2).sum(1)
    best = np.zeros(0)
    cand = []
    for j in np.lexsort((np.arange(len(cell_d)), cell_d)):
        if len(best) >= k and cell_d[j] > best[k - 1] + margin:
            break
        cand += t.ids[lv.start[j]:lv.start[j] + lv.count[j]].tolist()
        best = np.sort(((rec[cand] - q) ** 2).sum(1))
    return np.array(cand), best[:k]


def test_python_reference_equals_brute_force_on_ivf():
    idx, x = _index("ivf")
    queries = gaussian_mixture(20, d=16, seed=7)
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    for f in (0.02, 0.2, 1.0):
        margin = float(np.float32(f * scale))
        d, ids = idx.search(queries, 10, margin=margin)
        for qi, q in enumerate(queries):
            _, ref_d = brute_force_ivf(idx, q, 10, margin)
            # the same ADC distances (to float rounding: ADC adds the float32 norms of the decoded vectors); a
            # rounding flip of the stop test would change the set and fail this
            rec = idx.quantizer.decode(idx.codes[ids[qi]]).astype(np.float64)
            np.testing.assert_allclose(np.sort(((rec - q.astype(np.float64)) ** 2).sum(1)), ref_d, rtol=1e-5, atol=1e-6)


CASES = [("ivf", None, 1, 6, 32), ("atree", 1, 1, 6, 32), ("atree", 2, 1, 6, 8), ("etree", 2, 2, 6, 32),
         ("ivf", None, 1, 9, 32), ("atree", 1, 1, 9, 8)]  # bits 9: 2-byte codes (the general scoring path)


@pytest.mark.parametrize("tree,depth,forest,bits,norm_bits", CASES)
def test_c_equals_python_reference(tree, depth, forest, bits, norm_bits):
    idx, x = _index(tree, depth, forest, bits=bits, norm_bits=norm_bits)
    queries = gaussian_mixture(40, d=16, seed=3)
    blob = idx.to_bytes()
    nat_d, nat_f = NativeIndex(blob, double=True), NativeIndex(blob)
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    sizes = []
    for f, budget, k in ((0.01, None, 10), (0.1, None, 10), (0.5, None, 5), (0.3, 150, 10), (0.2, None, 1)):
        margin = float(np.float32(f * scale))
        d_py, i_py = idx.search(queries, k, budget=budget, margin=margin)
        for group in (1, 32):
            d_c, i_c = nat_d.search(queries, k, use_tree=True, budget=budget or 0, margin=margin, group=group)
            np.testing.assert_array_equal(i_c, i_py)  # the double build ranks as the reference does
            np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)
        d_f, i_f = nat_f.search(queries, k, use_tree=True, budget=budget or 0, margin=margin)
        np.testing.assert_allclose(d_f[i_f == i_py], d_py[i_f == i_py], rtol=1e-4, atol=1e-4)
        assert (i_f == i_py).mean() > 0.9  # float32 sums may flip near-ties and, rarely, a stop decision
        sizes.append((i_py >= 0).sum())
    assert sizes[0] > 0


@pytest.mark.parametrize("tree,depth,forest,bits,norm_bits", CASES[:4])
def test_c_builds_agree_on_the_adaptive_stop(tree, depth, forest, bits, norm_bits):
    """The best-first visit has two forms: the leaves scored inside one written-out loop per query (builds with
    SDK_VQ_UNROLL_ADC, the default) and one leaf at a time (-Os builds keep only the plain loop): the -Os double
    build ranks as the reference does too, and the float builds at -O2 and with the host profile's flags (-O3
    -march=native: the vectorised score range and bins) return the same ids and distances as each other."""
    idx, x = _index(tree, depth, forest, bits=bits, norm_bits=norm_bits)
    queries = gaussian_mixture(40, d=16, seed=4)
    blob = idx.to_bytes()
    small = NativeIndex(blob, double=True, opt="-Os")
    f_o2, f_host = NativeIndex(blob), NativeIndex(blob, opt="-O3 -march=native")
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    for f, budget in ((0.02, None), (0.3, 150), (1e6, None)):
        margin = float(np.float32(f * scale))
        d_py, i_py = idx.search(queries, 10, budget=budget, margin=margin)
        d_c, i_c = small.search(queries, 10, use_tree=True, budget=budget or 0, margin=margin)
        np.testing.assert_array_equal(i_c, i_py)
        np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)
        d2, i2 = f_o2.search(queries, 10, use_tree=True, budget=budget or 0, margin=margin)
        d3, i3 = f_host.search(queries, 10, use_tree=True, budget=budget or 0, margin=margin)
        np.testing.assert_array_equal(i3, i2)
        np.testing.assert_allclose(d3, d2, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tree,depth,forest,bits,norm_bits", CASES)
def test_unbounded_margin_equals_exhaustive_adc(tree, depth, forest, bits, norm_bits):
    """A margin no distance gap can exceed never stops the search: exactly exhaustive ADC (ids and distances),
    in Python and C."""
    idx, x = _index(tree, depth, forest, bits=bits, norm_bits=norm_bits)
    queries = gaussian_mixture(25, d=16, seed=4)
    d_ex, i_ex = idx.search(queries, 10, exhaustive=True)
    d_py, i_py = idx.search(queries, 10, margin=1e30)
    np.testing.assert_array_equal(i_py, i_ex)
    np.testing.assert_array_equal(d_py, d_ex)
    nat = NativeIndex(idx.to_bytes(), double=True)
    d_c, i_c = nat.search(queries, 10, use_tree=True, margin=1e30)
    d_cx, i_cx = nat.search(queries, 10)
    np.testing.assert_array_equal(i_c, i_cx)
    np.testing.assert_array_equal(d_c, d_cx)
    np.testing.assert_array_equal(i_c, i_ex)


def test_larger_margin_never_finds_worse():
    """A larger margin visits a superset of the leaves (same order, later stop): the k-th distance can only fall,
    and it reaches exhaustive ADC's."""
    idx, x = _index("ivf")
    queries = gaussian_mixture(30, d=16, seed=9)
    nat = NativeIndex(idx.to_bytes(), double=True)
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    kth = [nat.search(queries, 10, use_tree=True, margin=f * scale)[0][:, -1] for f in (0.01, 0.05, 0.2, 1.0, 1e6)]
    for a, b in zip(kth, kth[1:]):
        assert np.all(b <= a)
    assert np.any(kth[-1] < kth[0])  # the smallest margin stops early on some query
    np.testing.assert_array_equal(kth[-1], nat.search(queries, 10)[0][:, -1])


def test_bad_margins_are_refused():
    idx, x = _index("ivf", n=300)
    with pytest.raises(SdkError):
        idx.search(x[:2], 3, margin=0.0)
    with pytest.raises(SdkError):
        idx.search(x[:2], 3, margin=-1.0)
    with pytest.raises(BuildError, match="status 9"):  # SDK_ERR_BAD_ARG: a NaN margin is neither on nor off
        NativeIndex(idx.to_bytes()).search(x[:2], 3, use_tree=True, margin=float("nan"))


def test_tune_tries_the_adaptive_stop_and_reports_a_reproducible_choice():
    idx, x = _index("ivf", n=3000, bits=6)
    rows, truth = leave_one_out(x, 200, seed=1)
    got = tune_search(idx.quantizer, idx.codes, x[rows], truth, self_ids=rows, probes=(4, 16),
                      budgets=(100, 200, 400, 800, 0), trees=(("atree", 1), ("ivf", 1)))
    adaptive = [c for c in got["candidates"] if c[6] > 0]
    assert {c[:2] for c in adaptive} == {("atree", 1), ("ivf", 1)}  # the grid's margins reach the target here
    budgets = {c[:2]: c[3] for c in got["candidates"] if c[6] == 0}
    assert {c[3] for c in adaptive} <= {0} | set(budgets.values())  # capped at the one-budget setting, or not
    assert any(c[3] == budgets[c[:2]] for c in adaptive)
    assert all(c[4] >= got["target"] for c in got["candidates"])
    # the chosen setting, searched again in Python with each query's own id dropped, has the recall reported
    out = vq.Index(idx.quantizer, tree=got["tree"], depth=got["depth"])
    out.add_codes(idx.codes)
    _, ids = out.search(x[rows], 11, nprobe=got["nprobe"] or None, budget=got["budget"] or None,
                        margin=got["margin"] or None)
    ids = np.array([[i for i in row if i != r][:10] for row, r in zip(ids, rows)])
    assert recall_at(ids, truth, 10) == got["recall"]
