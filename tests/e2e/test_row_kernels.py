"""The portable C row kernels (sdk_softmax_f32, sdk_layernorm_f32: what the CUDA profiles' [lower] row_kernels
lowers Softmax / LayerNormalization to; the host's [lower] softmax_kernel lowers Softmax alone to the first) against
float64 numpy, through a shared library built with the host gcc (plain C99, and with OpenMP's simd reductions and
AVX-512 or whatever this machine has, as the host profile builds it), and a host bundle against onnxruntime."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import sdk
from conftest import SANITIZE_FLAGS, assert_c_threads_agree, ort_run
from sdk.resources import RUNTIME

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


@pytest.fixture(scope="module", params=["c99", "host"])
def lib(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rows")
    so, obj = tmp / f"libk_{request.param}.so", tmp / f"sdk_kernels_{request.param}.o"
    flags = ["-O2"] if request.param == "c99" else ["-O3", "-march=native", "-ffp-contract=fast", "-fopenmp"]
    # compile, then link: ccache (`make test`) caches a -c compile, not a command that also links
    subprocess.run(["gcc", "-std=c99", *flags, "-fPIC", "-Wall", "-Wextra", "-Werror", "-Iinclude", "-c",
                    "src/sdk_kernels.c", "-o", str(obj)], cwd=RUNTIME, check=True)
    subprocess.run(["gcc", *flags, "-shared", str(obj), "-o", str(so), "-lm"], check=True)
    return ctypes.CDLL(str(so))


EXPS_C = r"""#include <stdint.h>
#include "sdk_math.h"
void exp_all(int64_t n, const float *x, float *y) {
  SDK_SIMD for (int64_t i = 0; i < n; ++i) y[i] = sdk_expf(x[i]);
}
void exp_nonpos(int64_t n, const float *x, float *y) {
  SDK_SIMD for (int64_t i = 0; i < n; ++i) y[i] = sdk_expf_nonpos(x[i]);
}
"""


@pytest.fixture(scope="module", params=["c99", "host"])
def exps(request, tmp_path_factory):
    """sdk_math.h's sdk_expf and sdk_expf_nonpos over arrays, in vectorised loops as the kernels call them."""
    tmp = tmp_path_factory.mktemp("exps")
    (tmp / "e.c").write_text(EXPS_C)
    so, obj = tmp / f"libe_{request.param}.so", tmp / f"e_{request.param}.o"
    flags = ["-O2", "-DSDK_SIMD="] if request.param == "c99" else [
        "-O3", "-march=native", "-ffp-contract=fast", "-fopenmp", "-DSDK_SIMD=_Pragma(\"omp simd\")"]
    subprocess.run(["gcc", "-std=c99", *flags, "-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME / 'include'}",
                    "-c", str(tmp / "e.c"), "-o", str(obj)], check=True)
    subprocess.run(["gcc", *flags, "-shared", str(obj), "-o", str(so), "-lm"], check=True)
    return ctypes.CDLL(str(so))


def _p(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


@pytest.mark.parametrize("in_place", [False, True], ids=["", "in-place"])
@pytest.mark.parametrize("rows,cols", [(7, 1), (5, 33), (3, 768), (4, 16), (9, 197), (2, 15), (6, 17)])
def test_softmax_rows(lib, rows, cols, in_place):
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((rows, cols)) * 5).astype(np.float32)
    x[0, 0] = 80.0  # exp would overflow without the max subtracted
    x[-1, -1] = 85.0  # the maximum in a row's last columns (past the last whole 16 when cols % 16 != 0)
    x64 = x.astype(np.float64)
    y = x if in_place else np.full_like(x, np.nan)  # the header allows Y == X
    lib.sdk_softmax_f32(ctypes.c_int64(rows), ctypes.c_int64(cols), _p(x), _p(y))
    ref = np.exp(x64 - x64.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-7)


def _exp(lib, fn, x):
    y = np.full_like(x, np.nan)
    getattr(lib, fn)(ctypes.c_int64(x.size), _p(x), _p(y))
    return y


def test_expf_nonpos_against_sdk_expf(exps):
    """Softmax's exp (x <= 0): every float of [-88, -80], every 997th of (-80, 0) and the special values, against
    sdk_expf and float64 exp. Bit-equal to sdk_expf from -86.64 up; from -87 up within one ulp of exp (sdk_expf gave 0
    where n = round(x / ln 2) = -126, x in [-87, -86.64]: its 2^(n-1) scale had a zero exponent field); 0 below -87
    as sdk_expf."""
    lo, hi = (int(np.float32(v).view(np.uint32)) for v in (-80.0, -88.0))
    x = np.concatenate([np.arange(lo, hi + 1, dtype=np.uint32), np.arange(0x80000000, lo, 997, dtype=np.uint32)])
    x = np.concatenate([x.view(np.float32), np.float32([0.0, -0.0, -np.inf, -87.0, -1e-45, -86.64])])
    old, new = _exp(exps, "exp_all", x), _exp(exps, "exp_nonpos", x)
    ref = np.exp(x.astype(np.float64))
    same = x >= np.float32(-86.64)
    np.testing.assert_array_equal(new[same], old[same])
    normal = x >= -87.0
    ulp = np.abs(new[normal] - ref[normal]) / np.spacing(ref[normal].astype(np.float32))
    assert ulp.max() <= 1.01, ulp.max()  # (sdk_expf: 1.0097 ulp at most here)
    assert np.all(new[~normal] == 0)
    nan = np.float32([np.nan])
    assert np.isnan(_exp(exps, "exp_nonpos", nan)).all()


VEXP_C = r"""#include "sdk_kernels.c"
#if !SDK_DW_VEC
#error "no vectors"
#endif
void vexp_nonpos(int64_t n, const float *x, float *y) { /* n: whole vectors */
  for (int64_t i = 0; i < n; i += SDK_DW_VL) dw_vstore(y + i, sdk_v_expf_nonpos(dw_vload(x + i)));
}
void exp_nonpos(int64_t n, const float *x, float *y) {
  for (int64_t i = 0; i < n; ++i) y[i] = sdk_expf_nonpos(x[i]);
}
"""


@pytest.mark.parametrize("flags", [["-O2"], ["-O3", "-march=native", "-ffp-contract=fast"]], ids=["sse2", "host"])
def test_softmax_vector_exp_equals_the_scalar_form(flags, tmp_path):
    """Softmax's vector exp (sdk_kernels.c sdk_v_expf_nonpos; with AVX-512 a vector of lanes all in [-87, 0] takes
    2^n by vscalefps, others the clamps and selects) gives sdk_expf_nonpos's floats lane by lane: every float of
    [-88, -80], every 997th of (-80, 0] and the special values, in order (vectors of one path) and shuffled (lanes
    of both paths in one vector)."""
    (tmp_path / "v.c").write_text(VEXP_C)
    so, obj = tmp_path / "libv.so", tmp_path / "v.o"
    subprocess.run(["gcc", "-std=c99", *flags, "-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME / 'include'}",
                    f"-I{RUNTIME / 'src'}", "-c", str(tmp_path / "v.c"), "-o", str(obj)], check=True)
    subprocess.run(["gcc", *flags, "-shared", str(obj), "-o", str(so), "-lm"], check=True)
    v = ctypes.CDLL(str(so))
    lo, hi = (int(np.float32(t).view(np.uint32)) for t in (-80.0, -88.0))
    x = np.concatenate([np.arange(lo, hi + 1, dtype=np.uint32), np.arange(0x80000000, lo, 997, dtype=np.uint32)])
    x = np.concatenate([x.view(np.float32), np.float32([0.0, -0.0, -np.inf, np.nan, -87.0, -1e-45, -86.64, -1e30])])
    x = np.concatenate([x, np.random.default_rng(5).permutation(x)])
    x = np.concatenate([x, np.zeros((-len(x)) % 16, np.float32)])
    want, got = _exp(v, "exp_nonpos", x), _exp(v, "vexp_nonpos", x)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[np.isnan(x)]).all() and not np.isnan(got[~np.isnan(x)]).any()


def test_softmax_near_underflow_against_onnxruntime(lib):
    """Scores down to the row's maximum - 88 (sdk_softmax_f32 takes exp(x - max) from sdk_expf_nonpos): where the
    probability is a normal float (x - max >= -87) within 1e-5 relative of onnxruntime's, with no zeros; below,
    0 where onnxruntime keeps values under 1.7e-38."""
    import onnxruntime as ort
    rows, cols = 6, 197
    rng = np.random.default_rng(8)
    x = rng.uniform(-88.0, -86.0, (rows, cols)).astype(np.float32)
    x[:, 7] = 0.0
    x[1] += 30.0
    x[2, :50] = rng.standard_normal(50)
    x[3, -1] = 0.5  # the maximum in the last columns' step
    y = np.full_like(x, np.nan)
    lib.sdk_softmax_f32(ctypes.c_int64(rows), ctypes.c_int64(cols), _p(x), _p(y))
    g = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], "sm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, cols])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, cols])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    normal = x - x.max(1, keepdims=True) >= -87.0
    assert normal.sum() > 200 and (~normal).sum() > 200
    np.testing.assert_allclose(y[normal], want[normal], rtol=1e-5, atol=0)
    assert np.all(y[~normal] >= 0) and np.all(want[~normal] < 1.7e-38) and np.all(y[~normal] <= want[~normal])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cols", [3, 16, 17, 100, 197, 389])
@pytest.mark.parametrize("in_place", [False, True])
def test_layernorm_rows(lib, bias, cols, in_place):
    """Rows shorter than a vector (scalar form), whole vectors, ragged rows (vector body + scalar tail), in and out
    of place, against float64 numpy; an offset mean (x ~ 2 + 3 N(0, 1)) so a one-pass variance would lose digits."""
    rng = np.random.default_rng(cols)
    rows, eps = 7, 1e-5
    x = (rng.standard_normal((rows, cols)) * 3 + 2).astype(np.float32)
    g = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    y = x.copy() if in_place else np.full_like(x, np.nan)
    lib.sdk_layernorm_f32(ctypes.c_int64(rows), ctypes.c_int64(cols), _p(y if in_place else x), _p(g),
                          _p(b) if bias else None, ctypes.c_float(eps), _p(y))
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + eps) * g + (b if bias else 0)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=2e-6)


def test_host_layernorm_kernel_matches_onnxruntime(tmp_path):
    """The host profile lowers a last-axis LayerNormalization ([2, 197, 389]: ragged rows, enough to split across
    threads) to sdk_layernorm_f32, in place over its dead input (x * x), and keeps the generated loops for axis 1; against
    onnxruntime on 1 and 2 threads (bit-equal), under ASan/UBSan, and in the in-process engine."""
    from sdk.backends.host.runner import HostRunner
    from conftest import assert_outputs_close
    shape, c = [2, 197, 389], 389
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "g"),
             numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal(197 * c).astype(np.float32).reshape(197, c), "g1")]
    nodes = [helper.make_node("Mul", ["x", "x"], ["t"]),
             helper.make_node("LayerNormalization", ["t", "g", "b"], ["n"], axis=-1, epsilon=1e-5),
             helper.make_node("Add", ["n", "x"], ["y"]),
             helper.make_node("LayerNormalization", ["x", "g1"], ["z"], axis=1, epsilon=1e-6)]
    graph = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(v, TensorProto.FLOAT, shape) for v in "yz"], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    b = sdk.compile(model, target="host")
    (call,) = [s for s in b.program.steps if getattr(s, "fn", "") == "sdk_layernorm_f32"]
    X, Y = call.args[call.decl.index("X")], call.args[call.decl.index("Y")]
    assert b.plan.slot_of(b.program.root(X)) is b.plan.slot_of(b.program.root(Y))  # t dies here: in place
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    ref = ort_run(model, {"x": x})
    assert_outputs_close(b.run({"x": x}, engine="llvm"), ref, 1e-4, 1e-5)
    got = b.run({"x": x}, runner=HostRunner(threads=2, extra_cflags=SANITIZE_FLAGS), engine="c")
    assert_outputs_close(got, ref, 1e-4, 1e-5)
    assert_c_threads_agree(b.save(tmp_path / "ln"), {"x": x}, ref, 1e-4, 1e-5)


def test_host_softmax_kernel_matches_onnxruntime(tmp_path):
    """The host profile lowers a last-axis Softmax (attention's [1, 6, 197, 197]: enough rows to split across
    threads) to sdk_softmax_f32 and keeps the generated loops for another axis; 1 and 2 threads against onnxruntime."""
    nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=-1), helper.make_node("Softmax", ["x"], ["z"], axis=2)]
    shape = [1, 6, 197, 197]
    graph = helper.make_graph(nodes, "sm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(v, TensorProto.FLOAT, shape) for v in "yz"])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    b = sdk.compile(model, target="host")
    assert [s.fn for s in b.program.steps if hasattr(s, "fn")] == ["sdk_softmax_f32"]
    x = (np.random.default_rng(5).standard_normal(shape) * 4).astype(np.float32)
    x[0, 1, 2, 3] = 85.0  # exp(x) would overflow without the maximum subtracted
    assert_c_threads_agree(b.save(tmp_path / "sm"), {"x": x}, ort_run(model, {"x": x}), 1e-5, 1e-7)


def test_softmax_call_runs_in_place_where_its_input_dies(tmp_path):
    """The planner places the softmax call's output over its input when nothing reads the input later (the C
    kernel allows Y == X), as it does for element-wise loops; not when a later step still reads it. ASan/UBSan,
    1 and 2 threads, against onnxruntime."""
    from sdk.backends.host.runner import HostRunner
    from conftest import assert_outputs_close
    shape = [2, 5, 97, 97]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)

    def model(keep):
        nodes = [helper.make_node("Mul", ["x", "x"], ["t"]), helper.make_node("Softmax", ["t"], ["s"], axis=-1),
                 helper.make_node("Add", ["s", "t" if keep else "x"], ["y"])]
        g = helper.make_graph(nodes, "sm", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    for keep in (False, True):
        b = sdk.compile(model(keep), target="host")
        (call,) = [s for s in b.program.steps if getattr(s, "fn", "") == "sdk_softmax_f32"]
        X, Y = call.args[call.decl.index("X")], call.args[call.decl.index("Y")]
        sx, sy = b.plan.slot_of(b.program.root(X)), b.plan.slot_of(b.program.root(Y))
        assert sx is not None and sy is not None and (sx is sy) is not keep, keep
    m = model(False)
    b = sdk.compile(m, target="host")
    xv = np.random.default_rng(6).standard_normal(shape).astype(np.float32) * 2
    ref = ort_run(m, {"x": xv})
    for threads in (1, 2):  # the suite's sanitizer flags (conftest.SANITIZE_FLAGS: -O1, no variable tracking)
        got = b.run({"x": xv}, runner=HostRunner(threads=threads, extra_cflags=SANITIZE_FLAGS), engine="c")
        assert_outputs_close(got, ref, 1e-5, 1e-6)
    assert_c_threads_agree(b.save(tmp_path / "sm"), {"x": xv}, ref, 1e-5, 1e-6)
