"""Sigmoid and SiLU: one definition of their division by d = 1 + exp(-v) (runtime_c sdk_math.h ``sdk_div1pf`` /
``SDK_VDIV1P``; ``sdk_sigmoidf`` / ``sdk_siluf``), used by the runtime's scalar and vector kernels and the generated
C (sdk/transform/epilogue.py ``act_c``, the tiles of sdk/tune/kernels.py). In both forms (``SDK_SIGMOID_RECIP`` 0:
the division, the default; 1: a reciprocal by multiply-adds, no divide): the runtime's vector activation
(sdk_kernels.c ``sdk_v_act``) and the generated tiles' ``{name}_ACT`` equal the scalar forms bit for bit, and the
scalar forms are within a few float ulp of float64 over [-100, 100], with inf, -inf, NaN and the far negative end
as the division gives them. The default form is today's ``1.0f / (1.0f + sdk_expf(-v))`` bit for bit; the LLVM IR
of the in-process engine (sdk/codegen/llvm_kernels.py ``act_ir``) is within 2 ulp of it (LLVM fuses multiply-adds
of the exp polynomial unlike gcc: 11 of 14032 values differed by 1 ulp on the AVX-512 Xeon)."""
import ctypes
import subprocess

import numpy as np
import pytest

from sdk.resources import RUNTIME
from sdk.tune.kernels import _act_fn, vec_prelude

ROWS = ("sigmoid", "silu", "v_sigmoid", "v_silu", "t_sigmoid", "t_silu", "div_sigmoid", "div_silu")
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e-3, -1e-3, 16.6, -16.6, 17.0, -17.0, 30.0, -30.0, 86.98, -86.98,
           -87.0, -87.5, -88.0, -88.72283, -88.8, -89.0, -100.0, -1e30, 88.8, 100.0, 1e30, np.inf, -np.inf, np.nan]
FLAGS = {"native": ["-O3", "-march=native", "-ffp-contract=fast", "--param=avoid-fma-max-bits=0"],
         "portable": ["-O2", "-ffp-contract=fast"]}


def _values(seed=0):
    rng = np.random.default_rng(seed)
    v = np.concatenate([np.array(SPECIAL, np.float32), rng.uniform(-100, 100, 6000).astype(np.float32),
                        (rng.standard_normal(6000) * 6).astype(np.float32),
                        np.linspace(1, 4, 2000, dtype=np.float32)])  # d of the sigmoid near 1 ... 1 + e^-1
    return np.concatenate([v, np.zeros((-len(v)) % 16, np.float32)])


def _run_c(tmp_path, flags, recip: int, vals: np.ndarray) -> dict:
    lanes = 16 if "-march=native" in flags else 4
    tiles = "".join(_act_fn(f"k{a}", {"lanes": lanes}, (a, 0.0, 0.0)) for a in ("silu", "sigmoid"))
    src = r"""
#include <stdio.h>
#include <stdlib.h>
#include "sdk_kernels.c"
#if !SDK_DW_VEC
#error "no vectors"
#endif
""" + vec_prelude(lanes) + tiles + rf"""
int main(int argc, char **argv) {{
  (void)argc;
  const int n = atoi(argv[3]);
  float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * 8 * n);
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(x, sizeof(float), n, f) != (size_t)n) return 1;
  fclose(f);
  for (int i = 0; i < n; ++i) {{
    const float v = x[i];
    y[i] = sdk_sigmoidf(v);
    y[n + i] = sdk_siluf(v);
    y[6 * n + i] = 1.0f / (1.0f + sdk_expf(-v));
    y[7 * n + i] = v / (1.0f + sdk_expf(-v));
  }}
  for (int i = 0; i < n; i += (int)SDK_DW_VL) {{
    const sdk_dwv v = dw_vload(x + i), z = sdk_v_splat(0.0f);
    dw_vstore(y + 2 * n + i, sdk_v_act(v, SDK_ACT_SIGMOID, z, z));
    dw_vstore(y + 3 * n + i, sdk_v_act(v, SDK_ACT_SILU, z, z));
  }}
  for (int i = 0; i < n; i += {lanes}) {{
    sdk_vf{lanes} g = SDK_VLOAD{lanes}(x + i), s = g;
    ksigmoid_ACT(g);
    ksilu_ACT(s);
    SDK_VSTORE{lanes}(y + 4 * n + i, g);
    SDK_VSTORE{lanes}(y + 5 * n + i, s);
  }}
  f = fopen(argv[2], "wb");
  fwrite(y, sizeof(float), 8 * n, f);
  fclose(f);
  return 0;
}}
"""
    c, exe = tmp_path / f"s{recip}.c", tmp_path / f"s{recip}"
    c.write_text(src)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-DSDK_SIGMOID_RECIP={recip}",
                    f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}", str(c), "-o", str(exe), "-lm"],
                   check=True, capture_output=True, text=True)
    (tmp_path / "in.bin").write_bytes(vals.tobytes())
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), str(len(vals))], check=True)
    y = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.float32).reshape(len(ROWS), len(vals))
    return dict(zip(ROWS, y))


def _check_against_float64(vals, sig, silu):
    v = vals.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        want_sig = 1.0 / (1.0 + np.exp(-v))
        want_silu = v * want_sig
    fin = np.isfinite(vals) & (vals > -80)  # below, sigmoid < 2e-35: its float ulp is no longer relative
    assert np.max(np.abs(sig[fin] - want_sig[fin]) / want_sig[fin]) < 4e-7
    nz = fin & (np.abs(want_silu) > 1e-30)
    assert np.max(np.abs(silu[nz] - want_silu[nz]) / np.abs(want_silu[nz])) < 4e-7
    far = np.isfinite(vals) & (vals <= -80)  # the far negative end: 0 or a tiny positive sigmoid, -0 or tiny SiLU
    assert np.all((sig[far] >= 0) & (sig[far] < 2e-35)) and np.all((silu[far] <= 0) & (silu[far] > -2e-33))
    assert np.all((sig[np.isfinite(vals)] >= 0) & (sig[np.isfinite(vals)] <= 1))
    at = {x: i for i, x in enumerate(SPECIAL)}  # vals starts with SPECIAL
    assert sig[at[np.inf]] == 1.0 and silu[at[np.inf]] == np.inf
    assert sig[at[-np.inf]] == 0.0 and np.isnan(silu[at[-np.inf]])  # -inf * 0, as Mul(x, Sigmoid(x))
    assert sig[at[-1e30]] == 0.0 and silu[at[-1e30]] == 0.0 and np.signbit(silu[at[-1e30]])
    assert sig[at[0.0]] == 0.5 and silu[at[0.0]] == 0.0 and np.signbit(silu[at[-0.0]])
    assert np.isnan(sig[at[np.nan]]) and np.isnan(silu[at[np.nan]])


@pytest.mark.parametrize("recip", [0, 1], ids=["divide", "reciprocal"])
@pytest.mark.parametrize("flags", list(FLAGS), ids=list(FLAGS))
def test_sigmoid_silu_forms(flags, recip, tmp_path):
    vals = _values(seed=recip)
    y = _run_c(tmp_path, FLAGS[flags], recip, vals)
    for what in ("sigmoid", "silu"):  # the runtime's vector form and the generated tiles: the scalar floats
        np.testing.assert_array_equal(y[f"v_{what}"], y[what], err_msg=f"sdk_v_act {what}")
        np.testing.assert_array_equal(y[f"t_{what}"], y[what], err_msg=f"tile {what}")
    if recip == 0:  # the default: today's division, bit for bit
        np.testing.assert_array_equal(y["sigmoid"], y["div_sigmoid"])
        np.testing.assert_array_equal(y["silu"], y["div_silu"])
    else:  # the reciprocal: within 2 ulp of the division (below v = -86.6, d > 2^125: 0 where it is ~1e-37)
        for what in ("sigmoid", "silu"):
            a, b = y[what].astype(np.float64), y[f"div_{what}"].astype(np.float64)
            ok = np.isfinite(b) & (vals > -86.5) & (np.abs(b) > 1e-37)
            assert np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok])) < 2.4e-7, what
    _check_against_float64(vals, y["sigmoid"], y["silu"])


def test_llvm_activation_equals_the_c_scalar_form(tmp_path):
    """The in-process engine's epilogue activation (``act_ir``, its exp ``MathLib._exp``) against the bundle's
    scalar ``sdk_sigmoidf`` / ``sdk_siluf`` (default form, host flags): the same NaNs, zeros and infinities, the
    rest within 2 ulp, under 1 % of the values not bit-equal."""
    import llvmlite.binding as llvm
    from llvmlite import ir
    from sdk.backends.host.inprocess import _llvm, optimized_module
    from sdk.codegen.llvm import MathLib
    from sdk.codegen.llvm_kernels import act_ir
    vals = _values(seed=7)
    y = _run_c(tmp_path, FLAGS["native"], 0, vals)
    _llvm()
    mod = ir.Module("acts")
    math = MathLib(mod)
    f32 = ir.FloatType()
    for act in ("sigmoid", "silu"):
        fn = ir.Function(mod, ir.FunctionType(f32, [f32]), f"act_{act}")
        b = ir.IRBuilder(fn.append_basic_block())
        b.ret(act_ir(b, math, act, 0.0, 0.0, fn.args[0]))
    tm, m = optimized_module(str(mod))
    engine = llvm.create_mcjit_compiler(m, tm)
    engine.finalize_object()
    for act in ("sigmoid", "silu"):
        f = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_float)(engine.get_function_address(f"act_{act}"))
        got = np.array([f(float(v)) for v in vals], np.float32)
        want = y[act]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=act)
        ok = np.isfinite(want) & (np.abs(want) > 1e-37)
        np.testing.assert_array_equal(got[~ok & ~np.isnan(want)], want[~ok & ~np.isnan(want)], err_msg=act)
        rel = np.abs(got[ok].astype(np.float64) - want[ok]) / np.abs(want[ok])
        assert rel.max() < 2.4e-7 and np.mean(rel > 0) < 0.01, (act, rel.max(), np.mean(rel > 0))
