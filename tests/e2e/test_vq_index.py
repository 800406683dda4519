"""ADC search, A-Tree / E-Tree / E-Forest traversal, index file format."""
import zlib

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError, SdkError
from vq_data import gaussian_mixture

X = gaussian_mixture(3000, d=16)
Q = gaussian_mixture(60, d=16, seed=5)
K = 10


@pytest.fixture(scope="module")
def quantizer():
    return vq.train(X, method="irvq", stages=4, bits=5, beam=4, progress=False, iters=8)


def make_index(q, tree=None, forest=1, norm_bits=32, table_bits=32):
    """Float lookup tables unless asked (these tests check ADC against exact distances; 8-bit tables:
    test_vq_lut8.py)."""
    idx = vq.Index(q, tree=tree, forest=forest, norm_bits=norm_bits, table_bits=table_bits)
    idx.add(X)
    return idx


def recall(ids, ref):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, ref)])


def test_adc_distances_equal_brute_force_to_decoded(quantizer):
    idx = make_index(quantizer)
    dist, ids = idx.search(Q, K)
    rec = quantizer.decode(idx.codes).astype(np.float64)
    bf = ((Q[:, None, :].astype(np.float64) - rec[None]) ** 2).sum(-1)
    bf_ids = np.argsort(bf, axis=1, kind="stable")[:, :K]
    np.testing.assert_allclose(dist, np.take_along_axis(bf, ids, 1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dist, np.sort(bf, axis=1)[:, :K], rtol=1e-5, atol=1e-4)
    assert recall(ids, bf_ids) > 0.99  # only float ties may reorder
    assert (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("tree,forest", [("atree", 1), ("etree", 1), ("etree", 3), ("ivf", 1)])
def test_tree_unlimited_equals_exhaustive(quantizer, tree, forest):
    idx = make_index(quantizer, tree, forest)
    d_ex, i_ex = idx.search(Q, K, exhaustive=True)
    d_tr, i_tr = idx.search(Q, K)
    np.testing.assert_array_equal(i_tr, i_ex)
    np.testing.assert_allclose(d_tr, d_ex, rtol=1e-6)


@pytest.mark.parametrize("tree,forest,nprobe,budget", [("atree", 1, 8, 400), ("etree", 1, 8, 400),
                                                        ("etree", 3, 8, 300)])
def test_tree_budget_recall(quantizer, tree, forest, nprobe, budget):
    idx = make_index(quantizer, tree, forest)
    _, i_ex = idx.search(Q, K, exhaustive=True)
    _, i_tr = idx.search(Q, K, nprobe=nprobe, budget=budget)
    # visits at most (budget + one leaf) per tree, i.e. a fraction of the 3000 items
    assert recall(i_tr, i_ex) >= 0.9
    _, i_small = idx.search(Q, K, nprobe=1, budget=20)
    assert recall(i_small, i_ex) < recall(i_tr, i_ex)  # the budget really limits the search


def test_tree_structure_partitions_items(quantizer):
    idx = make_index(quantizer, "etree")
    t = idx.trees[0]
    assert t.key_stages == (0, 1, 2) and t.rest.shape == (3000, 1)
    assert sorted(t.ids.tolist()) == list(range(3000))
    leaf = t.levels[-1]
    for j in range(len(leaf.code)):  # items of a leaf share the leaf's key codes
        ids = t.ids[leaf.start[j]:leaf.start[j] + leaf.count[j]]
        assert (idx.codes[ids, 2] == leaf.code[j]).all()
    np.testing.assert_array_equal(t.rest[:, 0], idx.codes[t.ids, 3])


def test_fewer_items_than_k(quantizer):
    idx = vq.Index(quantizer, tree="atree")
    idx.add(X[:3])
    d, i = idx.search(Q[:2], 5)
    assert (i[:, :3] >= 0).all() and (i[:, 3:] == -1).all() and np.isinf(d[:, 3:]).all()
    empty = vq.Index(quantizer, tree="etree")
    d, i = empty.search(Q[:2], 3)
    assert (i == -1).all()
    assert (vq.from_bytes(empty.to_bytes()).search(Q[:2], 3)[1] == -1).all()


@pytest.mark.parametrize("tree,norm_bits", [(None, 32), ("atree", 32), ("etree", 32), (None, 8), ("etree", 8),
                                             ("ivf", 32), ("ivf", 8)])
def test_save_load_roundtrip(quantizer, tree, norm_bits, tmp_path):
    idx = make_index(quantizer, tree, forest=2 if tree == "etree" else 1, norm_bits=norm_bits)
    path = tmp_path / "i.svq"
    idx.save(path)
    back = vq.load(path)
    assert back.tree_kind == tree and back.ntotal == idx.ntotal and back.quantizer.method == "irvq"
    assert back.norm_bits == norm_bits
    np.testing.assert_array_equal(back.codes, idx.codes)
    for kw in ({}, {"nprobe": 4, "budget": 200}):
        np.testing.assert_array_equal(back.search(Q, K, **kw)[1], idx.search(Q, K, **kw)[1])
    assert back.to_bytes() == idx.to_bytes()


def _refresh_crc(blob):
    b = bytearray(blob)
    b[12:16] = np.array([zlib.crc32(bytes(b[16:]))], "<u4").tobytes()
    return bytes(b)


def corrupt_blobs(blob):
    """(label, bytes, message pattern) for every way a file can be broken."""
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x40
    bad_version = bytearray(blob)
    bad_version[4] = 9
    big_code = bytearray(blob)
    codes_off = int(np.frombuffer(blob[56:60], "<u4")[0])
    big_code[codes_off] = 0xFF  # ksub is 32: out of range, with a valid checksum
    bad_off = bytearray(blob)
    bad_off[48:52] = np.array([len(blob) - 8], "<u4").tobytes()
    nan_norm, nan_book = bytearray(blob), bytearray(blob)  # issue 16: a NaN once came back as the top hit
    norms_off, books_off = int(np.frombuffer(blob[52:56], "<u4")[0]), int(np.frombuffer(blob[48:52], "<u4")[0])
    nan_norm[norms_off:norms_off + 4] = np.array([np.nan], "<f4").tobytes()
    nan_book[books_off + 4:books_off + 8] = np.array([np.inf], "<f4").tobytes()
    return [
        ("nan norm", _refresh_crc(nan_norm), "NaN"),
        ("inf codebook", _refresh_crc(nan_book), "NaN or Inf"),
        ("empty", b"", "truncated"),
        ("short header", blob[:40], "truncated"),
        ("truncated body", blob[:-64], "truncated"),
        ("magic", b"XXXX" + blob[4:], "bad magic"),
        ("version", bytes(bad_version), "version"),
        ("bit flip", bytes(flipped), "checksum"),
        ("code out of range", _refresh_crc(big_code), "code exceeds"),
        ("section offset", _refresh_crc(bad_off), "out of bounds"),
    ]


@pytest.mark.parametrize("tree", [None, "etree"])
def test_corrupt_files_raise_format_error(quantizer, tree, tmp_path):
    blob = make_index(quantizer, tree).to_bytes()
    for label, data, pattern in corrupt_blobs(blob):
        path = tmp_path / f"{label}.svq"
        path.write_bytes(data)
        with pytest.raises(FormatError, match=pattern):
            vq.load(path)
    with pytest.raises(FormatError, match="cannot read"):
        vq.load(tmp_path / "missing.svq")


def test_8bit_norms_close_to_float_norms(quantizer):
    """Format version 2: one byte per norm on a uniform [min, max] grid, half a step of error at most."""
    exact, small = make_index(quantizer), make_index(quantizer, norm_bits=8)
    lo, step, u = small.norm_quant
    assert u.dtype == np.uint8 and u.min() == 0 and u.max() == 255
    assert np.abs(small.search_norms() - exact.norms).max() <= 0.5 * step * (1 + 1e-5)
    assert recall(small.search(Q, K)[1], exact.search(Q, K)[1]) > 0.9
    blob = bytearray(small.to_bytes())
    assert blob[4] == 2
    bad = bytearray(blob)
    bad[68:72] = np.array([np.nan], "<f4").tobytes()  # norm_lo
    with pytest.raises(FormatError, match="norm range"):
        vq.from_bytes(_refresh_crc(bytes(bad)))
    bad = bytearray(blob)
    bad[64] = 4  # norm_bytes other than 1
    with pytest.raises(FormatError, match="norm encoding"):
        vq.from_bytes(_refresh_crc(bytes(bad)))
    with pytest.raises(SdkError, match="norm_bits"):
        vq.Index(quantizer, norm_bits=16)


def test_corrupt_tree_ranges_raise(quantizer):
    blob = bytearray(make_index(quantizer, "atree").to_bytes())
    lvl1_off = int(np.frombuffer(bytes(blob[64 + 44:64 + 48]), "<u4")[0])
    blob[lvl1_off + 8:lvl1_off + 12] = np.array([10 ** 6], "<u4").tobytes()  # leaf count too big
    with pytest.raises(FormatError, match="inconsistent tree level 1"):
        vq.from_bytes(_refresh_crc(bytes(blob)))


def test_index_argument_errors(quantizer):
    with pytest.raises(SdkError):
        vq.Index(quantizer, tree="kd")
    idx = make_index(quantizer)
    with pytest.raises(SdkError):
        idx.search(Q, 0)
    with pytest.raises(SdkError):
        idx.search(Q[:, :5], 3)
