"""The vector exp of the depthwise kernel's in-register activations (runtime_c sdk_v_expf) and of the generated
GEMM / convolution tiles (sdk/tune/kernels.py ``SDK_VEXPF{L}``): lane by lane the same floats as the scalar
``sdk_expf`` (sdk_math.h) and as the scalar SiLU / sigmoid expressions the tile epilogue and the in-process engine
use, on random values and on the clamps' edges (-87, 88.72283, beyond, +-inf, NaN, -0), with the AVX-512
intrinsics (-march=native where the CPU has them) and the portable vector-extension form."""
import subprocess

import numpy as np
import pytest

from sdk.tune.kernels import _act_fn, vec_prelude
from sdk.resources import RUNTIME

SPECIAL = [0.0, -0.0, 1.0, -1.0, -87.0, -87.0001, -86.9999, 88.72283, 88.7229, 88.7228, 89.0, -88.72283, -89.0,
           -100.0, 100.0, 1e-30, -1e-30, np.inf, -np.inf, np.nan, 20.5, -20.5,
           87.0, 87.0001, 86.9999, -86.98, -86.6, 86.98]  # the last: SDK_VEXP1PF16's |x| <= 87 branch, n = -126
FLAGS = [["-O3", "-march=native", "-ffp-contract=fast", "--param=avoid-fma-max-bits=0"],
         ["-O2", "-ffp-contract=fast"]]


def _values(n=4096, seed=0):
    rng = np.random.default_rng(seed)
    v = np.concatenate([np.array(SPECIAL, np.float32), rng.uniform(-95, 95, n).astype(np.float32),
                        rng.standard_normal(n).astype(np.float32) * 4])
    return np.concatenate([v, np.zeros((-len(v)) % 16, np.float32)])


def _run(src: str, flags, tmp_path, vals: np.ndarray) -> np.ndarray:
    c = tmp_path / "h.c"
    c.write_text(src)
    exe = tmp_path / "h"
    inc = RUNTIME
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{inc / 'include'}",
                    f"-I{inc / 'src'}", str(c), "-o", str(exe), "-lm"], check=True, capture_output=True, text=True)
    (tmp_path / "in.bin").write_bytes(vals.tobytes())
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), str(len(vals))], check=True)
    return np.frombuffer((tmp_path / "out.bin").read_bytes(), np.float32).reshape(-1, len(vals))


MAIN = r"""
int main(int argc, char **argv) {
  (void)argc;
  const int n = atoi(argv[3]);
  float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * 6 * n);
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(x, sizeof(float), n, f) != (size_t)n) return 1;
  fclose(f);
  compute(n, x, y);
  f = fopen(argv[2], "wb");
  fwrite(y, sizeof(float), 6 * n, f);
  fclose(f);
  return 0;
}
"""


@pytest.mark.parametrize("flags", FLAGS, ids=["native", "portable"])
def test_runtime_vector_exp_and_activations_equal_the_scalar_ones(flags, tmp_path):
    """sdk_v_expf and sdk_v_act's sigmoid / SiLU (the depthwise kernel's in-register epilogue) against sdk_expf and
    sdk_epilogue_f32's expressions, bit for bit (NaN where the scalar gives NaN)."""
    src = r"""
#include <stdio.h>
#include <stdlib.h>
#include "sdk_kernels.c"
#if !SDK_DW_VEC
#error "no vectors"
#endif
static void compute(int n, const float *x, float *y) {
  for (int i = 0; i < n; i += (int)SDK_DW_VL) {
    const sdk_dwv v = dw_vload(x + i), a = sdk_v_splat(0.0f);
    dw_vstore(y + i, sdk_v_expf(v));
    dw_vstore(y + n + i, sdk_v_act(v, SDK_ACT_SIGMOID, a, a));
    dw_vstore(y + 2 * n + i, sdk_v_act(v, SDK_ACT_SILU, a, a));
  }
  for (int i = 0; i < n; ++i) {
    const float v = x[i];
    y[3 * n + i] = sdk_expf(v);
    y[4 * n + i] = 1.0f / (1.0f + sdk_expf(-v));
    y[5 * n + i] = v / (1.0f + sdk_expf(-v));
  }
}
""" + MAIN
    vals = _values()
    y = _run(src, flags, tmp_path, vals)
    for k, what in enumerate(("exp", "sigmoid", "silu")):
        np.testing.assert_array_equal(y[k], y[3 + k], err_msg=what)
    nan = SPECIAL.index(np.nan)  # SPECIAL's NaN (list.index matches the np.nan object itself)
    assert np.isinf(y[0][SPECIAL.index(89.0)]) and y[0][SPECIAL.index(-89.0)] == 0.0 and np.isnan(y[0][nan])
    fin = np.isfinite(vals) & (np.abs(vals) < 80)
    want = np.exp(vals[fin].astype(np.float64))
    assert np.max(np.abs(y[0][fin] - want) / want) < 1e-6  # sdk_expf's ~2 ulp


@pytest.mark.parametrize("lanes", [16, 8, 4])
@pytest.mark.parametrize("flags", FLAGS, ids=["native", "portable"])
def test_generated_tile_activation_equals_the_scalar_epilogue(lanes, flags, tmp_path):
    """The generated tiles' ``{name}_ACT`` for SiLU and sigmoid (in registers, ``last == 2``) against the tile
    epilogue's scalar expressions (sdk/transform/epilogue.py act_c), bit for bit."""
    defs = "".join(_act_fn(f"k{a}", {"lanes": lanes}, (a, 0.0, 0.0)) for a in ("silu", "sigmoid"))
    src = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "sdk_math.h"
""" + vec_prelude(lanes) + defs + rf"""
static void compute(int n, const float *x, float *y) {{
  for (int i = 0; i < n; i += {lanes}) {{
    sdk_vf{lanes} s = SDK_VLOAD{lanes}(x + i), g = s;
    ksilu_ACT(s);
    ksigmoid_ACT(g);
    SDK_VSTORE{lanes}(y + i, s);
    SDK_VSTORE{lanes}(y + n + i, g);
  }}
  for (int i = 0; i < n; ++i) {{
    const float v = x[i];
    y[2 * n + i] = (v / (1.0f + sdk_expf(-v)));
    y[3 * n + i] = (1.0f / (1.0f + sdk_expf(-v)));
    y[4 * n + i] = y[5 * n + i] = 0.0f;
  }}
}}
""" + MAIN
    vals = _values(seed=lanes)
    y = _run(src, flags, tmp_path, vals)
    np.testing.assert_array_equal(y[0], y[2], err_msg="silu")
    np.testing.assert_array_equal(y[1], y[3], err_msg="sigmoid")
    fin = np.isfinite(vals)
    v = vals[fin].astype(np.float64)
    with np.errstate(over="ignore"):
        want = v / (1.0 + np.exp(-v))
    assert np.max(np.abs(y[0][fin] - want) / np.maximum(np.abs(want), 1e-30)) < 1e-5
