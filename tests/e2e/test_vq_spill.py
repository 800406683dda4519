"""The spilled IVF tree (Index(tree="ivf", spill=w): every item also in a second cell, tree.soar_cells): the second
cells against their definition, the Python reference against a brute-force search, the C runtime against the Python
reference (an item reached through both of its cells counts once), the file format's positions word."""
import zlib

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError, SdkError
from sdk.vq.index import SPILL, index_for
from sdk.vq.native import NativeIndex
from sdk.vq.tree import soar_cells
from vq_data import gaussian_mixture
from test_vq_ivf import assert_same_top, brute_force


def _index(dim, stages, bits, n, cells, seed=0, table_bits=32, spill=SPILL):
    x = gaussian_mixture(n + 800, d=dim, seed=seed)
    q = vq.train(x[:800], method="rvq", stages=stages, bits=bits, beam=1, seed=0, progress=False, iters=4)
    idx = vq.Index(q, tree="ivf", cells=cells, table_bits=table_bits, spill=spill)
    idx.add(x[800:])
    return idx


def test_second_cells_follow_their_definition():
    rng = np.random.default_rng(0)
    rec = rng.standard_normal((300, 7)).astype(np.float32)
    chat = rng.standard_normal((12, 7)).astype(np.float32)
    first = ((rec[:, None] - chat[None]) ** 2).sum(2).argmin(1)
    for w in (0.5, 4.0):
        got = soar_cells(rec, chat, first, w, block=64)
        r = (rec - chat[first]).astype(np.float64)
        rn = r / np.linalg.norm(r, axis=1, keepdims=True)
        diff = rec[:, None].astype(np.float64) - chat[None]
        loss = (diff ** 2).sum(2) + w * np.einsum("ijd,id->ij", diff, rn) ** 2
        loss[np.arange(len(rec)), first] = np.inf
        np.testing.assert_array_equal(got, loss.argmin(1))
        assert (got != first).all()
    assert (soar_cells(rec, chat[:1], np.zeros(300, np.int64), 4.0) == -1).all()


def test_every_item_in_two_cells_and_the_python_reference_equals_brute_force():
    idx = _index(13, 4, 5, 1500, 48)
    t = idx.trees[0]
    assert len(t.ids) == 2 * idx.ntotal and (np.bincount(t.ids, minlength=idx.ntotal) == 2).all()
    cell = np.repeat(np.arange(len(t.levels[0].code)), t.levels[0].count)
    assert (cell[np.argsort(t.ids, kind="stable")].reshape(-1, 2)[:, 0] !=
            cell[np.argsort(t.ids, kind="stable")].reshape(-1, 2)[:, 1]).all()  # two different cells
    np.testing.assert_array_equal(t.rest, idx.codes[t.ids])
    queries = gaussian_mixture(25, d=13, seed=11)
    for budget in (0, 1, 120, 600):
        _, ids = idx.search(queries, 10, budget=budget or None)
        for query, row, ref in zip(queries, ids, brute_force(idx, queries, 10, budget)):
            assert_same_top(idx, query, row, ref)


@pytest.mark.parametrize("dim,stages,bits,table_bits", [(13, 8, 8, 32), (37, 6, 8, 8), (16, 3, 9, 32),
                                                        (24, 8, 8, 8)])
def test_c_returns_python_ids_and_counts_an_item_once(dim, stages, bits, table_bits):
    """Budget and adaptive stop, groups of 1 and 8, the written-out 5-8 stage loops and the generic one: the
    double build gives the Python ids (no id twice in a result), the float build the same with every cell."""
    idx = _index(dim, stages, bits, 1200, 40, seed=dim, table_bits=table_bits)
    queries = gaussian_mixture(33, d=dim, seed=3)
    blob = idx.to_bytes()
    nat_d, nat_f = NativeIndex(blob, double=True), NativeIndex(blob)
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    for k, budget, margin in ((10, 0, None), (10, 1, None), (10, 90, None), (1, 400, None), (25, 700, None),
                              (10, 0, 0.3 * scale), (10, 500, 0.05 * scale)):
        d_py, i_py = idx.search(queries, k, budget=budget or None, margin=margin)
        for group in (1, 8):
            d_c, i_c = nat_d.search(queries, k, use_tree=True, budget=budget, group=group, margin=margin or 0.0)
            np.testing.assert_array_equal(i_c, i_py)
            np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)
            for row in i_c:
                assert len(set(row[row >= 0].tolist())) == (row >= 0).sum()
    d_ex, i_ex = idx.search(queries, 10, exhaustive=True)
    np.testing.assert_array_equal(idx.search(queries, 10)[1], i_ex)  # every cell: exhaustive ADC's result
    np.testing.assert_array_equal(nat_f.search(queries, 10, use_tree=True)[1], nat_f.search(queries, 10)[1])


def test_round_trip_and_positions_word_checked_by_both_readers(tmp_path):
    idx = _index(13, 8, 8, 600, 20, table_bits=8)
    path = tmp_path / "s.svq"
    idx.save(path)
    back = vq.load(path)
    t, u = idx.trees[0], back.trees[0]
    np.testing.assert_array_equal(u.ids, t.ids)
    np.testing.assert_array_equal(u.rest, t.rest)
    queries = gaussian_mixture(9, d=13, seed=5)
    np.testing.assert_array_equal(back.search(queries, 10, budget=200)[1], idx.search(queries, 10, budget=200)[1])
    blob = bytearray(idx.to_bytes())
    head = np.frombuffer(bytes(blob[:96]), "<u4")
    word4 = int(head[15]) + 16  # the tree header's word 4: positions
    assert int(np.frombuffer(bytes(blob[word4:word4 + 4]), "<u4")[0]) == 1200
    NativeIndex(bytes(blob))
    for bad in (599, 1199, 1201, 0):  # fewer than n, or not what the cells tile (0: n, not the 1,200 stored)
        b = bytearray(blob)
        b[word4:word4 + 4] = np.array([bad], "<u4").tobytes()
        b[12:16] = np.array([zlib.crc32(bytes(b[16:]))], "<u4").tobytes()
        with pytest.raises(FormatError):
            vq.index.from_bytes(bytes(b))
        with pytest.raises(FormatError):
            NativeIndex(bytes(b))


def test_spill_arguments_and_the_tune_kind():
    idx = _index(5, 4, 5, 300, 8, spill=0.0)
    assert len(idx.trees[0].ids) == idx.ntotal
    with pytest.raises(SdkError, match="spill"):
        vq.Index(idx.quantizer, tree="atree", spill=1.0)
    with pytest.raises(SdkError, match="spill"):
        vq.Index(idx.quantizer, tree="ivf", spill=-1.0)
    s = index_for(idx.quantizer, "ivf-spill", 1)
    assert s.tree_kind == "ivf" and s.spill == SPILL
    assert index_for(idx.quantizer, "atree", 1).spill == 0.0
