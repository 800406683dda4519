"""A single tree's item norms stored in leaf order (tree header word 5, 2026-12-06): the C search reads them in the
order it visits items. Files with them and files without them (written before, word 5 = 0) give the same results,
in C (float and double builds, with the budget and with the adaptive stop) and in Python; a leaf-order norm that
differs from the item's norm, a section out of bounds, or the section in a forest is refused by both readers."""
import zlib

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError
from sdk.vq.native import NativeIndex
from vq_data import gaussian_mixture

TREE_WORDS = 16


def _index(tree, depth, norm_bits, n=900, dim=24, stages=6, bits=6, forest=1, seed=0):
    x = gaussian_mixture(n + 600, d=dim, seed=seed)
    q = vq.train(x[:600], method="rvq", stages=stages, bits=bits, beam=1, seed=0, progress=False, iters=4)
    idx = vq.Index(q, tree=tree, depth=depth, norm_bits=norm_bits, forest=forest,
                   **({"cells": 30} if tree == "ivf" else {}))
    idx.add(x[600:])
    return idx


def _refresh_crc(b):
    b[12:16] = np.array([zlib.crc32(bytes(b[16:]))], "<u4").tobytes()
    return bytes(b)


def _tree_header(blob, t=0):
    """(byte offset of tree t's header, its 16 words)."""
    head_words = {1: 16, 2: 20, 3: 24}[int(np.frombuffer(blob[4:8], "<u4")[0])]
    off = head_words * 4 + t * TREE_WORDS * 4
    return off, np.frombuffer(blob[off:off + TREE_WORDS * 4], "<u4").copy()


def _without_leaf_norms(blob):
    """The same index as a file written before leaf-order norms: word 5 = 0 (the section stays, unreferenced)."""
    off, _ = _tree_header(blob)
    b = bytearray(blob)
    b[off + 20:off + 24] = bytes(4)
    return _refresh_crc(b)


@pytest.mark.parametrize("tree,depth", [("ivf", 1), ("atree", 1), ("atree", 2), ("etree", 3)])
@pytest.mark.parametrize("norm_bits", [32, 8])
def test_written_and_same_results_with_and_without(tree, depth, norm_bits):
    idx = _index(tree, depth, norm_bits, seed=depth)
    blob = idx.to_bytes()
    _, hdr = _tree_header(blob)
    assert hdr[5] != 0
    nb = 4 if norm_bits == 32 else 1
    stored = np.frombuffer(blob, "<f4" if nb == 4 else "<u1", idx.ntotal, int(hdr[5]))
    norms_off = int(np.frombuffer(blob[52:56], "<u4")[0])
    by_id = np.frombuffer(blob, "<f4" if nb == 4 else "<u1", idx.ntotal, norms_off)
    np.testing.assert_array_equal(stored, by_id[idx.trees[0].ids])  # leaf order: norms[ids[pos]]
    old = _without_leaf_norms(blob)
    assert vq.from_bytes(old).search(gaussian_mixture(3, d=24, seed=1), 5)[1].shape == (3, 5)
    queries = gaussian_mixture(40, d=24, seed=7)
    d_py, i_py = idx.search(queries, 10, budget=150)
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    dm_py, im_py = idx.search(queries, 10, margin=0.2 * scale, budget=400)
    for double in (True, False):
        new_n, old_n = NativeIndex(blob, double=double), NativeIndex(old, double=double)
        for kw in ({"budget": 150}, {"budget": 400, "margin": float(np.float32(0.2 * scale))}, {}):
            d_new, i_new = new_n.search(queries, 10, use_tree=True, **kw)
            d_old, i_old = old_n.search(queries, 10, use_tree=True, **kw)
            np.testing.assert_array_equal(i_new, i_old)  # the same values in another order: identical results
            np.testing.assert_array_equal(d_new, d_old)
            if double and kw.get("margin"):
                np.testing.assert_array_equal(i_new, im_py)
            elif double and kw:
                np.testing.assert_array_equal(i_new, i_py)
    d_ex, i_ex = NativeIndex(blob, double=True).search(queries, 10)
    np.testing.assert_array_equal(i_ex, idx.search(queries, 10, exhaustive=True)[1])


def test_not_written_for_forests_and_depth_four():
    for idx in (_index("atree", 2, 32, forest=2), _index("etree", 4, 32)):
        blob = idx.to_bytes()
        for t in range(len(idx.trees)):
            assert _tree_header(blob, t)[1][5] == 0 or idx.trees[t].depth == 4  # depth 4: word 5 is a key stage


@pytest.mark.parametrize("norm_bits", [32, 8])
def test_corrupt_leaf_norms_are_rejected(norm_bits):
    """A leaf-order norm that differs from its item's (valid checksum), a section past the end, leaf-order norms in
    a forest: Python and C both refuse the file."""
    idx = _index("ivf", 1, norm_bits)
    blob = idx.to_bytes()
    off, hdr = _tree_header(blob)
    changed = bytearray(blob)
    changed[int(hdr[5]) + 3] ^= 0x01  # one byte of the first leaf's norm
    past = bytearray(blob)
    past[off + 20:off + 24] = np.array([len(blob) - 8], "<u4").tobytes()
    for data, msg, c_msg in ((changed, "leaf-order norms differ", "bad format"),
                             (past, "leaf norms section out of bounds", "truncated")):
        data = _refresh_crc(data)
        with pytest.raises(FormatError, match=msg):
            vq.from_bytes(data)
        with pytest.raises(FormatError, match=c_msg):
            NativeIndex(data)
    forest = _index("atree", 2, norm_bits, forest=2)
    fb = forest.to_bytes()
    off, _ = _tree_header(fb)
    _, hdr0 = _tree_header(fb)
    assert hdr0[5] == 0
    bad = bytearray(fb)
    bad[off + 20:off + 24] = np.array([int(np.frombuffer(fb[52:56], "<u4")[0])], "<u4").tobytes()  # any section
    bad = _refresh_crc(bad)
    with pytest.raises(FormatError, match="leaf-order norms in a forest"):
        vq.from_bytes(bad)
    with pytest.raises(FormatError, match="bad format"):
        NativeIndex(bad)
