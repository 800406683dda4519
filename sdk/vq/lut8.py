"""8-bit lookup tables: the codebooks and each query as int8 with power-of-two scales (index format version 3).

A table entry <q, c_j> is computed as an integer dot product of the query's and the codeword's int8 values, times
2^(e_q + e_j): every step is exact (the integer sum, and a scale by powers of two), so the entry is the same number
in the Python reference, the C runtime's float and double builds and on every target, whatever its SIMD (an int8
multiply-add: AVX-512 VNNI `vpdpbusd` does 64 a cycle against 32 float FMAs). A row x (a query, or a codeword over
its dims) gets the smallest exponent e with max|x| <= 127 * 2^e (clamped to [-100, 100]) and the integers
round(x / 2^e), halves away from zero, computed in float32 as the C runtime does (x * 2^-e is exact).
"""
import numpy as np

E_MIN, E_MAX = -100, 100
MAX_DIM = 65536  # 4 * ceil(dim / 4) * 255 * 127 stays below 2^31 (the C kernel's unsigned-by-signed sums)


def exponents(amax):
    """The smallest e (clamped) with amax <= 127 * 2^e, for float32 maxima of |x|."""
    f, e = np.frexp(np.asarray(amax, np.float32))
    e = np.where(f <= np.float32(127 / 128), e - 7, e - 6)
    return np.clip(np.where(amax > 0, e, E_MIN), E_MIN, E_MAX).astype(np.int64)


def quantize_rows(x):
    """(ints (..., D) int64 in [-127, 127], exponents (...,)) of float rows, as the C runtime rounds them."""
    x = np.asarray(x, np.float32)
    e = exponents(np.abs(x).max(axis=-1))
    t = x * np.ldexp(np.float32(1), -e).astype(np.float32)[..., None]
    half = np.float32(0.5)
    r = np.where(t >= 0, np.trunc(t + half), -np.trunc(half - t))
    r = np.where(np.abs(t) <= 127, r, 0)  # only non-finite rows (NaN, inf) or beyond 127 * 2^100 reach this
    return r.astype(np.int64), e


def pack_codebooks(books):
    """The file's 8-bit codebooks: u8 [stages][ceil(dim/4)][ksub][4] (int8 + 128; padded dims 0) and int8
    exponents [stages][ksub], from float codebooks (stages, ksub, dim)."""
    m, k, d = books.shape
    ints, e = quantize_rows(books)
    d4 = (d + 3) // 4
    pad = np.zeros((m, k, d4 * 4), np.int64)
    pad[:, :, :d] = ints
    u8 = (pad + 128).astype(np.uint8).reshape(m, k, d4, 4).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(u8), e.astype(np.int8)


def tables(q, books):
    """(nq, stages, ksub) float64 entries <q, c> of the 8-bit tables (exact values, as every C build computes)."""
    qi, qe = quantize_rows(q)
    bi, be = quantize_rows(books)
    # integer products summed in float64: every partial sum is an integer below 2^53 (dim <= MAX_DIM), so BLAS's
    # order does not matter and the sums are exact
    acc = np.einsum("qd,mkd->qmk", qi.astype(np.float64), bi.astype(np.float64), optimize=True)
    return acc.astype(np.float64) * np.ldexp(1.0, qe)[:, None, None] * np.ldexp(1.0, be)[None]
