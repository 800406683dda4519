"""The portable C row kernels (sdk_softmax_f32, sdk_layernorm_f32: what the CUDA profiles' [lower] row_kernels
lowers Softmax / LayerNormalization to; the host's [lower] softmax_kernel lowers Softmax alone to the first) against
float64 numpy, through a shared library built with the host gcc (plain C99, and with OpenMP's simd reductions and
AVX-512 or whatever this machine has, as the host profile builds it), and a host bundle against onnxruntime."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from onnx import TensorProto, helper

import sdk
from conftest import assert_c_threads_agree, ort_run
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


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_rows(lib, bias):
    rng = np.random.default_rng(1)
    rows, cols, eps = 6, 100, 1e-5
    x = (rng.standard_normal((rows, cols)) * 3 + 2).astype(np.float32)
    g = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    y = np.full_like(x, np.nan)
    lib.sdk_layernorm_f32(ctypes.c_int64(rows), ctypes.c_int64(cols), _p(x), _p(g), _p(b) if bias else None,
                          ctypes.c_float(eps), _p(y))
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + eps) * g + (b if bias else 0)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


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
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
    for threads in (1, 2):
        got = b.run({"x": xv}, runner=HostRunner(threads=threads, extra_cflags=san), engine="c")
        assert_outputs_close(got, ref, 1e-5, 1e-6)
    assert_c_threads_agree(b.save(tmp_path / "sm"), {"x": xv}, ref, 1e-5, 1e-6)
