"""8-bit lookup tables (index format version 3, sdk/vq/lut8.py): int8 codebooks and queries with power-of-two
scales, so every entry is exact and the same in Python and in every C build (float / double, AVX-512 VNNI kernel or
the portable one); its error against the float table stays within the rounding bound."""
import zlib

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError
from sdk.vq import lut8
from sdk.vq.native import NativeIndex
from vq_data import gaussian_mixture

X = gaussian_mixture(2600, d=37, seed=2)  # 37: a dim that is not a multiple of 4 (padded in the 8-bit codebooks)
Q = gaussian_mixture(45, d=37, seed=9)
HOST = "-O3 -march=native -ffp-contract=fast"


@pytest.fixture(scope="module")
def quantizer():  # 128 codewords a stage: two 64-codeword blocks of the VNNI kernel
    return vq.train(X[:1200], method="rvq", stages=4, bits=7, beam=1, seed=0, progress=False, iters=4)


def _refresh_crc(blob):
    b = bytearray(blob)
    b[12:16] = np.array([zlib.crc32(bytes(b[16:]))], "<u4").tobytes()
    return bytes(b)


def _index(q, tree=None, **kw):
    idx = vq.Index(q, tree=tree, **({"cells": 40} if tree == "ivf" else {}), **kw)
    idx.add(X[1200:])
    return idx


def test_rows_quantized_within_half_a_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 29)).astype(np.float32) * np.float32([[1e-30], [1e-3], [1], [3], [1e3], [1e30], [0]])
    x[2, :4] = [127, -127, 0.5, -0.5]
    ints, e = lut8.quantize_rows(x)
    assert ints.dtype == np.int64 and np.abs(ints).max() <= 127
    assert (np.abs(ints[1:6]).max(axis=1) >= 64).all() and (ints[6] == 0).all()  # a power of two: >= 7 bits used
    assert e[0] == lut8.E_MIN and np.abs(ints[0]).max() < 64  # below 127 * 2^-100: the clamped exponent
    err = np.abs(ints * np.ldexp(1.0, e)[:, None] - x.astype(np.float64))
    assert (err <= np.ldexp(1.0, e - 1)[:, None]).all()
    half = lut8.quantize_rows(np.float32([[64, 0.5, -0.5, 1.5, -1.5, 2.5]]))[0]  # 2^0: halves away from zero
    np.testing.assert_array_equal(half, [[64, 1, -1, 2, -2, 3]])


def test_tables_within_the_rounding_bound(quantizer):
    books = quantizer.codebooks
    got = lut8.tables(Q, books)
    exact = np.einsum("qd,mkd->qmk", Q.astype(np.float64), books.astype(np.float64))
    _, eq = lut8.quantize_rows(Q)
    _, eb = lut8.quantize_rows(books)
    sq, sb = np.ldexp(1.0, eq)[:, None, None], np.ldexp(1.0, eb)[None]
    bound = (np.abs(Q).sum(1)[:, None, None] * sb / 2 + np.abs(books).sum(2)[None] * sq / 2 + books.shape[2] * sq * sb / 4)
    assert (np.abs(got - exact) <= bound * (1 + 1e-9)).all()
    assert np.abs(got - exact).max() > 0  # rounded, not the float table


def test_default_and_file_round_trip(quantizer):
    idx = _index(quantizer, "ivf")
    assert idx.table_bits == 8 and vq.Index(quantizer, table_bits=32).table_bits == 32
    blob = idx.to_bytes()
    assert blob[4] == 3
    back = vq.from_bytes(blob)
    assert back.table_bits == 8
    np.testing.assert_array_equal(back.search(Q, 10)[1], idx.search(Q, 10)[1])
    for bits in (32, 8):
        two = _index(quantizer, norm_bits=8, table_bits=bits)
        assert two.to_bytes()[4] == (2 if bits == 32 else 3) and vq.from_bytes(two.to_bytes()).norm_bits == 8


@pytest.mark.parametrize("tree,kw", [(None, {}), ("ivf", {"budget": 500}), ("ivf", {"margin": 0.5}),
                                     ("atree", {"nprobe": 6, "budget": 400})])
def test_c_builds_return_python_results(quantizer, tree, kw):
    """The double build ranks as Python does; the float host build's AVX-512 VNNI kernel (on a CPU with it) and its
    portable kernel give the same distances bit for bit, as do queries of any scale."""
    idx = _index(quantizer, tree)
    blob = idx.to_bytes()
    queries = np.concatenate([Q, Q[:5] * np.float32(1e-20), Q[5:10] * np.float32(1e15), np.zeros((1, 37), np.float32)])
    use_tree = tree is not None
    py_d, py_i = idx.search(queries, 10, exhaustive=not use_tree, **kw)
    for opt in ("-O2", HOST):
        c_d, c_i = NativeIndex(blob, double=True, opt=opt).search(queries, 10, use_tree=use_tree, **kw)
        np.testing.assert_array_equal(c_i, py_i)
        np.testing.assert_allclose(c_d, py_d, rtol=1e-6, atol=1e-30)
    simd = NativeIndex(blob, opt=HOST).search(queries, 10, use_tree=use_tree, **kw)
    plain = NativeIndex(blob, opt=HOST + " -DSDK_VQ_LUT8_VNNI=0").search(queries, 10, use_tree=use_tree, **kw)
    np.testing.assert_array_equal(simd[0], plain[0])
    np.testing.assert_array_equal(simd[1], plain[1])
    for g in (1, 7):  # one query's scratch (sdk_vq_search) and groups that leave a short block of queries
        d, i = NativeIndex(blob, opt=HOST).search(queries, 10, use_tree=use_tree, group=g, **kw)
        np.testing.assert_array_equal(d, simd[0])
        np.testing.assert_array_equal(i, simd[1])


def test_amx_and_vnni_kernels_equal_the_portable_one():
    """dim 64, 128 codewords, 70 queries: blocks of 32 queries take the AMX-INT8 kernel (on a CPU and build with it),
    the 6 left the VNNI one; each equals the portable kernel bit for bit, and the double build ranks as Python."""
    x = gaussian_mixture(2300, d=64, seed=4)
    q = vq.train(x[:1000], method="rvq", stages=3, bits=7, beam=1, seed=0, progress=False, iters=3)
    idx = vq.Index(q, tree="ivf", cells=30)
    idx.add(x[1000:])
    blob, queries = idx.to_bytes(), gaussian_mixture(70, d=64, seed=6)
    py_i = idx.search(queries, 10, budget=400)[1]
    np.testing.assert_array_equal(NativeIndex(blob, double=True, opt=HOST).search(queries, 10, use_tree=True,
                                                                               budget=400)[1], py_i)
    libs = {flags: NativeIndex(blob, opt=HOST + flags) for flags in ("", " -DSDK_VQ_LUT8_AMX=0", " -DSDK_VQ_LUT8_VNNI=0")}
    for use_tree in (False, True):
        d0, i0 = libs[""].search(queries, 10, use_tree=use_tree, budget=400)
        for flags in (" -DSDK_VQ_LUT8_AMX=0", " -DSDK_VQ_LUT8_VNNI=0"):
            d, i = libs[flags].search(queries, 10, use_tree=use_tree, budget=400)
            np.testing.assert_array_equal(d, d0)
            np.testing.assert_array_equal(i, i0)


def test_recall_against_float_tables(quantizer):
    """Recall@10 of the true nearest neighbour, 600 queries: 0.617 with 8-bit tables, 0.630 with float ones
    (2026-12-06; the binomial noise of either is ~0.02)."""
    queries = gaussian_mixture(600, d=37, seed=9)
    nn = ((queries[:, None, :].astype(np.float64) - X[1200:][None]) ** 2).sum(-1).argmin(1)
    r8, r32 = ((_index(quantizer, table_bits=b).search(queries, 10)[1] == nn[:, None]).any(1).mean() for b in (8, 32))
    assert r8 >= r32 - 0.03 and r32 > 0.5


def test_corrupt_8bit_sections_are_rejected(quantizer):
    blob = _index(quantizer, "ivf").to_bytes()
    books_off, exps_off = (int(v) for v in np.frombuffer(blob[80:88], "<u4"))
    flipped = bytearray(blob)
    flipped[books_off + 5] ^= 0x01
    with pytest.raises(FormatError, match="8-bit codebooks differ"):
        vq.from_bytes(_refresh_crc(bytes(flipped)))
    big_exp = bytearray(blob)
    big_exp[exps_off] = 120  # 2^120: out of the exponents' range
    spare = bytearray(blob)
    spare[88] = 1  # header word 22 must be 0
    outside = bytearray(blob)
    outside[80:84] = np.array([len(blob)], "<u4").tobytes()
    for bad, msg in ((big_exp, "differ"), (spare, "8-bit table fields"), (outside, "out of bounds")):
        with pytest.raises(FormatError, match=msg):
            vq.from_bytes(_refresh_crc(bytes(bad)))
        with pytest.raises(FormatError, match="bad format|truncated"):
            NativeIndex(_refresh_crc(bytes(bad)))
