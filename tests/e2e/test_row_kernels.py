"""The portable C row kernels (sdk_softmax_f32, sdk_layernorm_f32: what the CUDA profiles' [lower] row_kernels
lowers Softmax / LayerNormalization to) against float64 numpy, through a shared library built with the host gcc."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from sdk.resources import RUNTIME

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("rows") / "libk.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
                    f"-I{RUNTIME / 'include'}", str(RUNTIME / "src" / "sdk_kernels.c"), "-o", str(so), "-lm"],
                   check=True)
    return ctypes.CDLL(str(so))


def _p(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


@pytest.mark.parametrize("rows,cols", [(7, 1), (5, 33), (3, 768)])
def test_softmax_rows(lib, rows, cols):
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((rows, cols)) * 5).astype(np.float32)
    x[0, 0] = 80.0  # exp would overflow without the max subtracted
    y = np.full_like(x, np.nan)
    lib.sdk_softmax_f32(ctypes.c_int64(rows), ctypes.c_int64(cols), _p(x), _p(y))
    x64 = x.astype(np.float64)
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
