"""Decoding attention over a key/value cache (issue 18): a Transpose of the last two axes folded into the MatMul that
reads it (sdk/transform/fold_transpose.py: transA/transB, read through strides), the few-row products over a
run-time operand (sdk_gemm_smallm_f32, runtime_c/src/sdk_gemv.c: the "dots" form for q K^T, the "rows" form for
probabilities V), and a Concat along an outer axis printed as one copy loop per input (sdk/codegen/c.py
split_loops) -- against onnxruntime on random inputs: the C bundle (native vectors, -Werror), the 4-lane vector
build under AddressSanitizer + UndefinedBehaviorSanitizer, the portable C build (-DSDK_GEMV_SCALAR) and the
in-process engine. The kernel alone, every stride form (generic strides included), against numpy through ctypes."""
import ctypes
import subprocess

import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_outputs_close, float_model, ort_run
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 2e-5
B, H, D, DV = 2, 3, 37, 21  # head sizes off the vector widths (16, 8, 4): every kernel's tail runs


def _model():
    """One decoding step of attention: q [B, H, m, D] (m new rows), the cache past_k/past_v [B, H, past, D|DV] and
    the new rows k/v, presents Concat(past, new) along axis 2 (outputs), scores q K^T / sqrt(D) (K transposed by a
    Transpose), softmax, probabilities V; plus the transposed-A and both-transposed forms."""
    nodes = [
        h.make_node("Concat", ["past_k", "k"], ["present_k"], axis=2),
        h.make_node("Concat", ["past_v", "v"], ["present_v"], axis=2),
        h.make_node("Transpose", ["present_k"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("MatMul", ["q", "kt"], ["s"]),
        h.make_node("Mul", ["s", "scale"], ["ss"]),
        h.make_node("Softmax", ["ss"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "present_v"], ["y"]),
        # transA: x stored [B, K, M] (K = 5 rows of 3 columns): Y = x^T w, w computed at run time
        h.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
        h.make_node("Relu", ["w"], ["wr"]),
        h.make_node("MatMul", ["xt", "wr"], ["y2"]),
        # both transposed: a_cs != 1 and b_rs == 1, b_cs != 1 (left to the GEMM schedule)
        h.make_node("Transpose", ["x"], ["xt2"], perm=[0, 2, 1]),
        h.make_node("Transpose", ["u"], ["ut"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["xt2", "ut"], ["y3"]),
    ]
    inits = [nh.from_array(np.array(1 / np.sqrt(D), np.float32), "scale")]
    ins = {"q": [B, H, "m", D], "past_k": [B, H, "past", D], "past_v": [B, H, "past", DV], "k": [B, H, 1, D],
           "v": [B, H, 1, DV], "x": [B, 5, 3], "w": [B, 5, 70], "u": [B, 19, 5]}
    outs = {"present_k": [B, H, "total", D], "present_v": [B, H, "total", DV], "y": [B, H, "m", DV],
            "y2": [B, 3, 70], "y3": [B, 3, 19]}
    return float_model(nodes, "attn_decode", ins, outs, inits), ins


def _feeds(ins, m, past, seed):
    rng = np.random.default_rng(seed)
    dims = {"m": m, "past": past}
    return {k: rng.standard_normal([dims.get(d, d) for d in s]).astype(np.float32) for k, s in ins.items()}


def test_decode_attention_matches_onnxruntime(tmp_path):
    m, ins = _model()
    b = sdk.compile(m, dims={"m": 3, "past": 40}, empty_dims=("past",))
    fns = [s.fn for s in b.program.steps if hasattr(s, "fn")]
    # q K^T, p V, x^T w; x^T u^T scheduled; the softmax one library call (host [lower] softmax_kernel)
    assert fns.count("sdk_gemm_smallm_f32") == 3 and fns.count("sdk_softmax_f32") == 1 and len(fns) == 5, fns
    assert not any("Transpose" in getattr(s, "name", "") for s in b.program.steps)  # all three folded
    assert "kt" not in str(b.program) and "_end0" in (b.save(tmp_path / "attn") / "model.c").read_text()
    out = tmp_path / "attn"
    # m = 1 and 3 rows, an empty cache, a full one, one in between
    cases = [(1, 0, 1), (1, 40, 2), (3, 17, 3), (2, 1, 4)]
    for mm, past, seed in cases:
        feeds = _feeds(ins, mm, past, seed)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        got, _ = HostRunner(extra_cflags=["-Werror"]).run(out, feeds, rebuild=(seed == 1))
        assert_outputs_close(got, ref, RTOL, ATOL)


@pytest.mark.slow
def test_decode_attention_portable_builds(tmp_path):
    """The 4-lane vectors (as NEON / SSE / wasm SIMD get) under the sanitizers, and the portable C."""
    m, ins = _model()
    out = sdk.compile(m, dims={"m": 3, "past": 40}, empty_dims=("past",)).save(tmp_path / "attn")
    for k, flags in enumerate((SANITIZE_FLAGS + ["-std=c99", "-Wall", "-Wextra", "-Werror"],
                               ["-O2", "-std=c99", "-DSDK_GEMV_SCALAR", "-Wall", "-Wextra", "-Werror"])):
        feeds = _feeds(ins, 1 + 2 * k, 23 + k, 10 + k)
        got, _ = HostRunner(cflags=" ".join(flags)).run(out, feeds, rebuild=True)
        assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


@pytest.mark.parametrize("flags", [["-O2", "-march=native"], ["-O2", "-DSDK_GEMV_SCALAR"]])
def test_smallm_kernel_every_stride_form(tmp_path, flags):
    """sdk_gemm_smallm_f32 itself: B's rows contiguous (a's columns strided or not), B's columns contiguous with a
    contiguous, and generic strides (neither), rows 1-4, N and K off the vector widths, batch strides 0 and not."""
    from sdk.resources import RUNTIME
    lib = tmp_path / "smallm.so"
    subprocess.run(["gcc", *flags, "-std=c99", "-ffp-contract=fast", "-fPIC", "-shared", "-I", str(RUNTIME / "include"),
                    str(RUNTIME / "src" / "sdk_gemv.c"), "-o", str(lib), "-lm"], check=True)
    fn = ctypes.CDLL(str(lib)).sdk_gemm_smallm_f32
    i64, fp = ctypes.c_int64, ctypes.POINTER(ctypes.c_float)
    fn.argtypes = [i64, i64, i64, i64, ctypes.c_float, fp, i64, i64, i64, fp, i64, i64, i64, fp]
    rng = np.random.default_rng(5)
    for batch, M, N, K, a_t, b_t, a_shared, b_shared in [
            (3, 1, 70, 37, False, False, False, False), (2, 4, 67, 19, True, False, False, True),
            (4, 1, 41, 64, False, True, False, False), (2, 3, 5, 33, False, True, True, False),
            (2, 2, 9, 7, True, True, False, False), (1, 1, 1, 1, False, False, False, False)]:
        A = rng.standard_normal((1 if a_shared else batch, M, K)).astype(np.float32)
        Bm = rng.standard_normal((1 if b_shared else batch, K, N)).astype(np.float32)
        As = np.ascontiguousarray(A.transpose(0, 2, 1)) if a_t else A  # stored [K, M]: a_rs = 1, a_cs = M
        Bs = np.ascontiguousarray(Bm.transpose(0, 2, 1)) if b_t else Bm  # stored [N, K]: b_rs = 1, b_cs = K
        a_rs, a_cs = (1, M) if a_t else (K, 1)
        b_rs, b_cs = (1, K) if b_t else (N, 1)
        Y = np.full((batch, M, N), np.nan, np.float32)
        fn(batch, M, N, K, 0.75, As.ctypes.data_as(fp), 0 if a_shared else M * K, a_rs, a_cs,
           Bs.ctypes.data_as(fp), 0 if b_shared else K * N, b_rs, b_cs, Y.ctypes.data_as(fp))
        ref = 0.75 * np.matmul(A.astype(np.float64), Bm.astype(np.float64))
        np.testing.assert_allclose(Y, np.broadcast_to(ref, Y.shape), rtol=1e-5, atol=1e-5)
