"""The IVF tree (k-means cells whose centroids are stored as codes): Python reference against a brute-force
definition, the C runtime against the Python reference, the file format's checks."""
import zlib

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError, SdkError
from sdk.vq.native import NativeIndex
from sdk.vq.tree import ivf_cells
from vq_data import gaussian_mixture


def _index(dim, stages, bits, n, cells, seed=0):
    x = gaussian_mixture(n + 800, d=dim, seed=seed)
    q = vq.train(x[:800], method="rvq", stages=stages, bits=bits, beam=1, seed=0, progress=False, iters=4)
    idx = vq.Index(q, tree="ivf", cells=cells, table_bits=32)  # float tables: compared with exact distances
    idx.add(x[800:])
    return idx


def brute_force(idx, queries, k, budget):
    """The IVF search by its definition, float64, from decoded vectors: cells in order of the exact squared
    distance to their decoded centroid, visited until `budget` positions were seen (a spilled item holds two), the
    distinct items seen ranked by their exact squared distance to their decoded vector. Returns the ids and their
    distances, per query."""
    t = idx.trees[0]
    lv = t.levels[0]
    cen = idx.quantizer.decode(t.cell_codes).astype(np.float64)
    rec = idx.quantizer.decode(idx.codes).astype(np.float64)
    out = []
    for q in queries.astype(np.float64):
        cell_d = ((cen[lv.code] - q) ** 2).sum(1)
        seen, cand = 0, []
        for j in np.argsort(cell_d, kind="stable"):
            if budget and seen >= budget:
                break
            cand += t.ids[lv.start[j]:lv.start[j] + lv.count[j]].tolist()
            seen += int(lv.count[j])
        cand = np.unique(np.array(cand, np.int64))
        d = ((rec[cand] - q) ** 2).sum(1)
        order = np.lexsort((cand, d))[:k]
        out.append((cand[order], d[order]))
    return out


def assert_same_top(idx, query, ids, ref):
    """ids (one query's result) is the reference's top-k, then -1: the same exact distances (to 1e-5: ADC adds the
    float32 norm of each decoded vector, so near-ties may come in another order)."""
    ref_ids, ref_d = ref
    got = ids[:len(ref_ids)]
    assert (got >= 0).all() and (ids[len(ref_ids):] == -1).all()
    rec = idx.quantizer.decode(idx.codes[got]).astype(np.float64)
    np.testing.assert_allclose(np.sort(((rec - query.astype(np.float64)) ** 2).sum(1)), ref_d, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim,stages,bits", [(13, 4, 5), (37, 8, 8), (16, 3, 9)])
def test_python_reference_equals_brute_force(dim, stages, bits):
    idx = _index(dim, stages, bits, 1500, 48)
    queries = gaussian_mixture(25, d=dim, seed=11)
    for budget in (0, 1, 120, 600):
        _, ids = idx.search(queries, 10, budget=budget or None)
        for query, row, ref in zip(queries, ids, brute_force(idx, queries, 10, budget)):
            assert_same_top(idx, query, row, ref)


@pytest.mark.parametrize("dim,stages,bits", [(5, 4, 5), (13, 8, 8), (37, 6, 8), (64, 3, 9), (24, 9, 6)])
@pytest.mark.parametrize("nq", [1, 33])
def test_c_returns_python_ids(dim, stages, bits, nq):
    """Dims that are and are not multiples of the vector width, 8- and 16-bit codes, the written-out 5-8 stage
    loops and the generic one; the double build gives the Python ids, the float build the same up to rounding (all
    cells visited: with a budget, rounding may swap two near-tied cells at its edge)."""
    idx = _index(dim, stages, bits, 1200, 40, seed=dim)
    queries = gaussian_mixture(nq, d=dim, seed=3)
    blob = idx.to_bytes()
    nat_d, nat_f = NativeIndex(blob, double=True), NativeIndex(blob)
    for k, budget in ((10, 0), (10, 1), (10, 90), (1, 400), (25, 700)):
        d_py, i_py = idx.search(queries, k, budget=budget or None)
        for group in (1, 8):
            d_c, i_c = nat_d.search(queries, k, use_tree=True, budget=budget, group=group)
            np.testing.assert_array_equal(i_c, i_py)
            np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)
        if budget:  # float rounding may reorder two near-tied cells at the budget's edge: other candidates
            continue
        d_f, i_f = nat_f.search(queries, k, use_tree=True, budget=budget)
        np.testing.assert_allclose(d_f, d_py, rtol=1e-4, atol=1e-3)
        diff = i_f != i_py  # only where two distances are equal within float32 rounding
        assert np.all(np.abs(d_py[diff] - d_f[diff]) < 1e-3 * np.maximum(1, np.abs(d_py[diff])))


def test_unlimited_budget_equals_exhaustive_adc():
    idx = _index(20, 4, 6, 1000, 32)
    queries = gaussian_mixture(30, d=20, seed=4)
    d_ex, i_ex = idx.search(queries, 10, exhaustive=True)
    d_t, i_t = idx.search(queries, 10)
    np.testing.assert_array_equal(i_t, i_ex)
    np.testing.assert_array_equal(d_t, d_ex)  # an item's sum is its exhaustive sum: same float64 distances
    d_c, i_c = NativeIndex(idx.to_bytes(), double=True).search(queries, 10, use_tree=True)
    np.testing.assert_array_equal(i_c, i_ex)


def test_budget_limits_the_search_and_recall_grows():
    idx = _index(16, 4, 6, 3000, 64)
    queries = gaussian_mixture(60, d=16, seed=8)
    _, i_ex = idx.search(queries, 10, exhaustive=True)
    rec = [np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx.search(queries, 10, budget=b)[1], i_ex)])
           for b in (30, 300, 1500)]
    assert rec[0] < rec[1] <= rec[2] and rec[2] > 0.9 and rec[0] < 0.9


@pytest.mark.parametrize("n,cells", [(1, 4), (3, 3), (7, 7), (50, 50), (200, 1)])
def test_small_and_single_item_cells(n, cells):
    """Cells of one item each, one cell, fewer items than k: C (double) equals Python equals brute force."""
    idx = _index(11, 4, 5, n, cells)
    t = idx.trees[0]
    assert sorted(t.ids.tolist()) == list(range(n)) and t.levels[0].count.min() >= 1
    assert len(t.levels[0].code) <= min(cells, n) and t.cell_codes.shape == (len(t.levels[0].code), 4)
    queries = gaussian_mixture(9, d=11, seed=2)
    for budget in (0, 1, 2):
        _, i_py = idx.search(queries, 10, budget=budget or None)
        _, i_c = NativeIndex(idx.to_bytes(), double=True).search(queries, 10, use_tree=True, budget=budget)
        np.testing.assert_array_equal(i_c, i_py)
        for query, row, ref in zip(queries, i_py, brute_force(idx, queries, 10, budget)):
            assert_same_top(idx, query, row, ref)
        assert (i_py[:, min(n, 10):] == -1).all()


def test_empty_index():
    idx = _index(11, 4, 5, 0, 8)
    blob = idx.to_bytes()
    queries = gaussian_mixture(3, d=11, seed=2)
    assert (idx.search(queries, 4)[1] == -1).all()
    assert (vq.from_bytes(blob).search(queries, 4)[1] == -1).all()
    assert (NativeIndex(blob, double=True).search(queries, 4, use_tree=True)[1] == -1).all()


def test_save_load_roundtrip(tmp_path):
    idx = _index(16, 4, 5, 900, 30)
    idx.save(tmp_path / "i.svq")
    back = vq.load(tmp_path / "i.svq")
    assert back.tree_kind == "ivf" and back.trees[0].is_ivf
    np.testing.assert_array_equal(back.trees[0].cell_codes, idx.trees[0].cell_codes)
    queries = gaussian_mixture(20, d=16, seed=6)
    np.testing.assert_array_equal(back.search(queries, 10, budget=150)[1], idx.search(queries, 10, budget=150)[1])
    assert back.to_bytes() == idx.to_bytes()


def _refresh_crc(b):
    b[12:16] = np.array([zlib.crc32(bytes(b[16:]))], "<u4").tobytes()
    return bytes(b)


def test_corrupt_cell_fields_are_rejected():
    """A cell code >= ksub, a node's cell row >= the number of cells, a key stage other than `stages`: Python
    and C both refuse the file (valid checksum)."""
    idx = _index(16, 4, 5, 600, 20)  # ksub 32
    blob = idx.to_bytes()
    trees_off = int(np.frombuffer(blob[60:64], "<u4")[0])
    hdr = np.frombuffer(blob[trees_off:trees_off + 64], "<u4")
    big_cell = bytearray(blob)
    big_cell[int(hdr[3])] = 0xFF
    big_row = bytearray(blob)
    big_row[int(hdr[10]):int(hdr[10]) + 4] = np.array([len(idx.trees[0].levels[0].code)], "<u4").tobytes()
    bad_key = bytearray(blob)
    bad_key[trees_off + 8:trees_off + 12] = np.array([2], "<u4").tobytes()
    for data, msg in ((big_cell, "cell code exceeds"), (big_row, "inconsistent tree level"), (bad_key, "bad ivf")):
        data = _refresh_crc(data)
        with pytest.raises(FormatError, match=msg):
            vq.from_bytes(data)
        with pytest.raises(FormatError, match="bad format"):
            NativeIndex(data)


def test_argument_errors_and_default_cells():
    q = vq.train(gaussian_mixture(300, d=8), method="rvq", stages=2, bits=4, beam=1, progress=False, iters=2)
    with pytest.raises(SdkError, match="one level"):
        vq.Index(q, tree="ivf", forest=2)
    with pytest.raises(SdkError, match="cells"):
        vq.Index(q, tree="atree", cells=16)
    assert [ivf_cells(n) for n in (1, 5, 1000, 20000, 29028, 39500, 58626, 230000)] == [1, 5, 128, 512, 512, 1024,
                                                                                     1024, 2048]


def test_cells_out_of_order_give_the_same_results():
    """A file whose node j's centroid is not row j of the cell table (valid, but not what sdk.vq writes: the C
    search then reads each node's row through its code instead of in order): the same ids and distances as the file
    written in order, C double and float builds, budget and adaptive stop, and the Python reference."""
    idx = _index(24, 8, 8, 1500, 40, seed=5)
    queries = gaussian_mixture(20, d=24, seed=8)
    blob = idx.to_bytes()
    t = idx.trees[0]
    perm = np.random.default_rng(0).permutation(len(t.cell_codes))  # node j's centroid moves to row perm[j]
    cells = np.empty_like(t.cell_codes)
    cells[perm] = t.cell_codes
    t.cell_codes, t.levels[0].code = cells, perm.astype(np.uint32)
    moved = idx.to_bytes()
    assert moved != blob
    back = vq.from_bytes(moved)
    for kw in (dict(budget=200), dict(budget=0, margin=0.5), dict(budget=0)):
        ref = vq.from_bytes(blob).search(queries, 10, budget=kw["budget"] or None, margin=kw.get("margin"))
        got = back.search(queries, 10, budget=kw["budget"] or None, margin=kw.get("margin"))
        np.testing.assert_array_equal(got[1], ref[1])
        for double in (True, False):
            a = NativeIndex(blob, double=double).search(queries, 10, use_tree=True, **kw)
            b = NativeIndex(moved, double=double).search(queries, 10, use_tree=True, **kw)
            np.testing.assert_array_equal(b[1], a[1])
            np.testing.assert_array_equal(b[0], a[0])
