"""Sparse weights without a C compiler: formats, pruning, the cost model's choices and the graph pass."""
import re

import numpy as np
import pytest

from sdk.errors import SdkError
from sdk.frontend.onnx import import_onnx
from sdk.resources import RUNTIME
from sdk.sparse import cost
from sdk.sparse.formats import SPARSE_PANEL, SPARSE_TILE, encode, index_dtype
from sdk.sparse.pruning import prune, prune_matrix
from sdk.transform.epilogue import ALL_ACT_CODE
from sdk.transform.sparsify import SparseOptions, sparse_options, sparse_reports, sparsify
from sparse_models import layers_model


def _sparse(o, k, density, seed=0):
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((o, k)).astype(np.float32)
    S[rng.random(S.shape) >= density] = 0
    return S


@pytest.mark.parametrize("fmt,block", [("csr", 1), ("bsr", 2), ("bsr", 3), ("bsr", 4), ("bsr", 8), ("ell", 1),
                                       ("ell", 3), ("ell", 8), ("hyb", 2), ("hyb", 4)])
@pytest.mark.parametrize("k,ix", [(256, np.uint8), (257, np.uint16), (65536, np.uint16), (65537, np.int32)])
def test_formats_round_trip_with_the_smallest_index_type(fmt, block, k, ix):
    S = _sparse(9, k, 0.02 if k > 1000 else 0.2)
    e = encode(S, fmt, block)
    ptr = "sliceptr" if fmt == "ell" else "rowptr"
    assert index_dtype(k) == ix and e.arrays["cols"].dtype == ix and e.arrays[ptr].dtype == np.int32
    np.testing.assert_array_equal(e.dense(), S)
    assert e.nbytes == sum(a.nbytes for a in e.arrays.values())
    if fmt == "csr":
        assert e.nnz == np.count_nonzero(S)


@pytest.mark.parametrize("N", [1, 2, 3])
@pytest.mark.parametrize("k", [16, 30])  # whole groups, and a last group cut by the edge
def test_nm_round_trip_and_pruning(N, k):
    from sdk.sparse.formats import nm_fits
    from sdk.sparse.pruning import prune_nm
    rng = np.random.default_rng(N)
    S = prune_nm(rng.standard_normal((7, k)).astype(np.float32), N, 4)
    assert nm_fits(S, N, 4) and not nm_fits(S, N - 1, 4) if N > 1 else nm_fits(S, 1, 4)
    S[0, :] = 0  # groups with fewer non-zeros than N pad with zeros
    e = encode(S, "nm", nm=(N, 4))
    np.testing.assert_array_equal(e.dense(), S)
    G = -(-k // 4)
    assert e.arrays["idx"].dtype == np.uint8 and e.arrays["idx"].size == 7 * G and e.nnz == 7 * G * N
    assert e.name == f"nm{N}:4"
    offsets = [(e.arrays["idx"] >> (2 * i) & 3) + np.tile(np.arange(G) * 4, 7) for i in range(N)]
    assert max(o.max() for o in offsets) < k  # padding never points past the last input
    with pytest.raises(ValueError):
        encode(np.ones((2, 8), np.float32), "nm", nm=(2, 4))


def test_sliced_ell_pads_each_slice_to_its_longest_row():
    S = np.zeros((6, 10), np.float32)
    S[0, [1, 4, 7]] = [1, 2, 3]   # slice 0 (rows 0-3): width 3
    S[2, 9] = 4
    S[5, [0, 2]] = [5, 6]         # slice 1 (rows 4-5 and a padding row): width 2
    e = encode(S, "ell", 4)
    sp, cols, vals = e.arrays["sliceptr"], e.arrays["cols"], e.arrays["vals"]
    assert list(sp) == [0, 12, 20] and e.nnz == 20 and e.name == "ell4"
    assert list(cols[0:12:4]) == [1, 4, 7] and list(vals[0:12:4]) == [1, 2, 3]  # row 0, interleaved by 4
    assert cols[2] == 9 and vals[2] == 4 and vals[6] == 0 and cols[6] == 0       # row 2, then padding at k = 0
    assert list(vals[12 + 1:20:4]) == [5, 6] and list(cols[12 + 1:20:4]) == [0, 2]
    np.testing.assert_array_equal(e.dense(), S)


def test_hybrid_keeps_blocks_at_least_half_full_in_bsr():
    S = np.zeros((8, 6), np.float32)
    S[0:4, 1] = 1          # a full 4x1 block
    S[4:6, 3] = 2          # 2 of 4: BSR
    S[7, 5] = 3            # 1 of 4: CSR
    S[2, 0] = 4            # 1 of 4: CSR
    e = encode(S, "hyb", 4)
    a = e.arrays
    assert list(a["rowptr"]) == [0, 1, 2] and list(a["cols"]) == [1, 3]
    assert list(a["crowptr"]) == [0, 0, 0, 1, 1, 1, 1, 1, 2] and list(a["ccols"]) == [0, 5]
    assert e.name == "hyb4x1" and e.nnz == 8 + 2 and cost.stored_indices(e) == (2, 2)
    np.testing.assert_array_equal(e.dense(), S)


def test_all_zero_weight_still_has_arrays():
    e = encode(np.zeros((4, 8), np.float32), "csr")
    assert e.nnz == 0 and all(a.size >= 1 for a in e.arrays.values())
    np.testing.assert_array_equal(e.dense(), 0)


def test_prune_matrix_zeroes_the_smallest_blocks():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((16, 30)).astype(np.float32)
    P = prune_matrix(S, 0.9)
    assert np.count_nonzero(P) == 48  # 10% of 480
    assert np.abs(P[P != 0]).min() >= np.abs(S[P == 0]).max()
    B = prune_matrix(S, 0.75, (4, 1))
    blocks = (B.reshape(4, 4, 30) != 0).any(axis=1)
    assert blocks.sum() == 30 and encode(B, "bsr", 4).nnz == 4 * 30  # BSR stores no zero inside a block


def test_prune_model_writes_pruned_weights(tmp_path):
    from onnx import numpy_helper
    m = layers_model(sparsity=0.0)
    p = prune(m, sparsity=0.8, min_size=500, out=tmp_path / "p.onnx")
    w = {t.name: numpy_helper.to_array(t) for t in p.graph.initializer}
    assert abs((w["W2"] == 0).mean() - 0.8) < 0.01 and abs((w["Wc"] == 0).mean() - 0.8) < 0.01
    assert (w["Wd"] != 0).all()  # 480 values < min_size
    assert (tmp_path / "p.onnx").exists()
    with pytest.raises(SdkError):
        prune(m, sparsity=1.0)


def test_c_constants_agree_with_python():
    defs = (RUNTIME / "include" / "sdk_kernel_defs.h").read_text()  # the one list, shared by every kernel file
    assert {k.lower(): int(v) for k, v in re.findall(r"#define SDK_ACT_(\w+) (\d+)", defs) if k != "NONE"} == ALL_ACT_CODE
    for f in ("src/sdk_sparse.c", "include/sdk_kernels.h"):
        text = (RUNTIME / f).read_text()
        assert '#include "sdk_kernel_defs.h"' in text and "#define SDK_ACT_" not in text and "#define SDK_OMP" not in text
    h = (RUNTIME / "include" / "sdk_sparse.h").read_text()
    assert int(re.search(r"#define SDK_SPARSE_TILE (\d+)", h).group(1)) == SPARSE_TILE
    panel = re.search(r"#define SDK_SPARSE_PANEL \((\d+) \* SDK_SPARSE_TILE\)", h)
    assert int(panel.group(1)) * SPARSE_TILE == SPARSE_PANEL


def test_block_rows_follow_the_vector_width():
    assert cost.bsr_block_rows(8, 16) == 4     # AVX2
    assert cost.bsr_block_rows(16, 32) == 8    # AVX-512
    assert cost.bsr_block_rows(4, 32) == 4     # NEON
    assert cost.bsr_block_rows(4, 16) == 2     # wasm SIMD128
    assert sparse_options(None).block == 2 and sparse_options(None, "csr").mode == "csr"
    assert sparse_options(None, "ell").mode == "ell" and sparse_options(None, "hyb").mode == "hyb"
    from sdk.cli import SPARSE_MODES
    from sdk.transform.sparsify import MODES
    assert SPARSE_MODES == list(MODES)  # the CLI's --sparse choices
    with pytest.raises(SdkError):
        sparse_options(None, "coo")


def test_cost_model_choices():
    from sdk.transform.sparsify import choose
    opts = SparseOptions("auto", lanes=8, registers=16, block=4)
    e, r = choose(_sparse(256, 256, 1.0), 128, True, opts)
    assert e is None and r["format"] == "dense" and "csr" not in r["cycles"]  # dense: not even asked
    e, r = choose(_sparse(256, 256, 0.1), 128, True, opts)
    assert e is not None and r["format"] == "csr" and r["bytes"] < 0.35 * r["dense_bytes"]
    assert r["cycles"]["csr"] < 0.5 * r["cycles"]["dense"]
    B = prune_matrix(np.random.default_rng(2).standard_normal((256, 256)).astype(np.float32), 0.9, (4, 1))
    e, r = choose(B, 128, True, opts)
    assert r["format"] == "bsr4x1" and r["cycles"]["bsr4x1"] < r["cycles"]["csr"]
    small = _sparse(16, 32, 0.1)  # under min_elements: auto keeps it dense, a forced format converts it
    assert choose(small, 128, True, opts)[0] is None
    assert choose(small, 128, True, SparseOptions("bsr", block=4))[1]["format"] == "bsr4x1"
    assert choose(_sparse(256, 256, 0.1), 128, True, SparseOptions("off"))[0] is None
    from sdk.sparse.pruning import prune_nm
    half = prune_nm(np.random.default_rng(3).standard_normal((256, 256)).astype(np.float32), 2, 4)
    e, r = choose(half, 128, True, opts)  # 50% density: only the N:M format is worth it
    assert r["format"] == "nm2:4" and r["bytes"] == 256 * 64 * (2 * 4 + 1)
    assert choose(_sparse(64, 64, 0.9), 128, True, SparseOptions("nm"))[1]["format"] == "nm4:4"


def test_cost_model_picks_ell_for_even_rows_and_the_hybrid_for_partly_blocked_weights():
    from sdk.transform.sparsify import choose
    from sparse_models import partly_blocked
    opts = SparseOptions("auto", lanes=16, registers=32, block=8)  # AVX-512: one vector per tile row
    rng = np.random.default_rng(4)
    even = np.zeros((256, 256), np.float32)  # every row 16 non-zeros: sliced ELL pads nothing
    for o in range(256):
        even[o, rng.choice(256, 16, replace=False)] = rng.standard_normal(16)
    e, r = choose(even, 128, True, opts)
    assert r["format"] == "ell8" and r["cycles"]["ell8"] < r["cycles"]["csr"] and e.nnz == 256 * 16
    mixed = partly_blocked(rng.standard_normal((256, 256)).astype(np.float32), 0.9)
    e, r = choose(mixed, 128, True, opts)
    assert r["format"] == "hyb8x1" and r["cycles"]["hyb8x1"] < min(r["cycles"]["csr"], r["cycles"]["bsr8x1"])
    indices, rest = cost.stored_indices(e)
    assert indices > 0 and rest > 0
    e, r = choose(_sparse(256, 256, 0.1), 128, True, opts)  # unstructured: hardly a block at least half full
    assert r["format"] in ("csr", "ell8")


def _ops(f):
    return [b.op for b in f.bindings]


def test_pass_rewrites_each_layer_kind_and_folds_biases():
    f = import_onnx(layers_model(), {"batch": 4}, "m")
    before = _ops(f)
    g = sparsify(f, SparseOptions("csr"))
    assert _ops(f) == before  # the input function is not edited
    assert _ops(g) == ["SparseMatMul", "Relu", "SparseMatMul", "Add", "Clip", "SparseMatMul", "Sigmoid",
                       "SparseMatMul", "HardSwish"]  # MatMul's bias Add folded; Gemm's C, Conv's B are inputs
    mm, gemm, conv, conv1d = [b for b in g.bindings if b.op == "SparseMatMul"]
    assert [len(b.inputs) for b in (mm, gemm, conv, conv1d)] == [5, 5, 5, 4]
    assert (mm.attrs["layout"], conv.attrs["layout"]) == ("rows", "channels")
    assert gemm.inputs[2].const.dtype == np.uint16 and mm.inputs[2].const.dtype == np.uint8
    W2 = [v for v in f.constants() if v.name == "W2"][0].const
    np.testing.assert_allclose(encode(W2 * 0.5, "csr").arrays["vals"], gemm.inputs[3].const)  # alpha folded
    c2 = [v for v in f.constants() if v.name == "c2"][0].const
    np.testing.assert_allclose(gemm.inputs[4].const, 2.0 * c2.reshape(-1))  # beta * C
    reports = sparse_reports(f, SparseOptions("auto", lanes=8, registers=16, block=4))
    assert [r["weight"] for r in reports] == ["W1", "W2", "Wc", "Wd"]
    wd = reports[3]
    assert wd["format"] == "dense" and list(wd["cycles"]) == ["dense"]  # 480 values: under min_elements
    for r in reports[:3]:  # the cheapest estimate wins, sparse only with fewer bytes
        best = min(r["cycles"], key=r["cycles"].get)
        assert r["format"] == best and (best == "dense" or r["bytes"] < r["dense_bytes"])
    # W1 (70x40 over 20 rows) is too small for a sparse call's fixed cost; W2 multiplies 6 rows: a 16-wide tile
    # wastes 10 of 16 lanes; the dense GEMM wins both
    assert [r["format"] for r in reports] == ["dense", "dense", "csr", "dense"]
    assert all(r["cycles"]["csr"] > cost.COSTS.call for r in reports[:3])  # the fixed cost is counted
