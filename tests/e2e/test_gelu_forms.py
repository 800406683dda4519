"""The exact (erf) GELU of the fused GEMM / convolution epilogues: sdk_math.h ``sdk_geluf`` (the tile epilogue pass,
the runtime's scalar epilogue) and the generated tiles' vector form (sdk/tune/kernels.py ``_vgelu``, applied in the
full register tiles before their store) give the same floats, lane by lane, with AVX-512 intrinsics (16 lanes) and
with the generic vector extensions (16 lanes without AVX-512, 8 lanes AVX2, 4 lanes portable); NaN, infinities and
-0 included. The scalar form against float64 over a dense sweep: |gelu - GELU| <= 2e-7 |x| + 1.2e-7 |GELU|
(sdk_erff's ~3.5e-7 absolute error on erf, halved by GELU's x / 2, plus the final roundings)."""
import math
import subprocess

import numpy as np
import pytest

from sdk.resources import RUNTIME
from sdk.tune.kernels import _act_fn, vec_prelude

SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e-3, -1e-3, 5.656, -5.656, 5.66, -5.66, 6.0, -6.0, 10.0, -10.0,
           100.0, -100.0, 1e30, -1e30, np.inf, -np.inf, np.nan]
FLAGS = {"avx512": (16, ["-O3", "-march=native", "-ffp-contract=fast", "--param=avoid-fma-max-bits=0"]),
         "generic16": (16, ["-O2", "-ffp-contract=fast"]),
         "avx2": (8, ["-O3", "-mavx2", "-mfma", "-ffp-contract=fast"]),
         "portable": (4, ["-O2", "-ffp-contract=fast"])}


def _values():
    rng = np.random.default_rng(0)
    v = np.concatenate([np.array(SPECIAL, np.float32), np.linspace(-8, 8, 200001, dtype=np.float32),
                        (rng.standard_normal(20000) * 3).astype(np.float32),
                        rng.uniform(-100, 100, 2000).astype(np.float32)])
    return np.concatenate([v, np.zeros((-len(v)) % 16, np.float32)])


def _run_c(tmp_path, lanes, flags, vals):
    src = r"""
#include <stdio.h>
#include <stdlib.h>
#include "sdk_math.h"
""" + vec_prelude(lanes) + _act_fn("kg", {"lanes": lanes}, ("gelu", 0.0, 0.0)) + rf"""
int main(int argc, char **argv) {{
  (void)argc;
  const int n = atoi(argv[3]);
  float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * 2 * n);
  FILE *f = fopen(argv[1], "rb");
  if (!x || !y || !f || fread(x, sizeof(float), n, f) != (size_t)n) return 1;
  fclose(f);
  for (int i = 0; i < n; ++i) y[i] = sdk_geluf(x[i]);
  for (int i = 0; i < n; i += {lanes}) {{
    sdk_vf{lanes} g = SDK_VLOAD{lanes}(x + i);
    kg_ACT(g);
    SDK_VSTORE{lanes}(y + n + i, g);
  }}
  f = fopen(argv[2], "wb");
  if (!f || fwrite(y, sizeof(float), 2 * n, f) != (size_t)(2 * n)) return 1;
  fclose(f);
  return 0;
}}
"""
    c, exe = tmp_path / "g.c", tmp_path / "g"
    c.write_text(src)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{RUNTIME / 'include'}", str(c),
                    "-o", str(exe), "-lm"], check=True, capture_output=True, text=True)
    (tmp_path / "in.bin").write_bytes(vals.tobytes())
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), str(len(vals))], check=True)
    return np.frombuffer((tmp_path / "out.bin").read_bytes(), np.float32).reshape(2, len(vals))


@pytest.mark.parametrize("form", list(FLAGS))
def test_tile_gelu_equals_the_scalar_form(form, tmp_path):
    lanes, flags = FLAGS[form]
    if form == "avx512" and "avx512f" not in open("/proc/cpuinfo").read():
        pytest.skip("no AVX-512 on this CPU")
    vals = _values()
    scalar, tile = _run_c(tmp_path, lanes, flags, vals)
    np.testing.assert_array_equal(tile, scalar)  # NaN where NaN, -0 and +0 compare equal: signs below
    np.testing.assert_array_equal(np.signbit(tile), np.signbit(scalar))
    # against float64
    x = vals.astype(np.float64)
    erf = np.vectorize(math.erf)
    fin = np.isfinite(vals)
    want = 0.5 * x[fin] * (1.0 + erf(x[fin] / math.sqrt(2.0)))
    err = np.abs(scalar[fin] - want)
    assert np.all(err <= 2e-7 * np.abs(x[fin]) + 1.2e-7 * np.abs(want)), float(np.max(err / (np.abs(x[fin]) + 1e-30)))
    at = {v: i for i, v in enumerate(SPECIAL)}
    assert scalar[at[np.inf]] == np.inf and np.isnan(scalar[at[-np.inf]]) and np.isnan(scalar[at[np.nan]])
    assert scalar[at[0.0]] == 0.0 and np.signbit(scalar[at[-0.0]])


def test_full_tiles_apply_gelu_in_registers(tmp_path):
    """A Linear layer + the exact GELU (ragged M and N): the full register tiles take the epilogue (``act_in``) with
    the vector GELU, and the C bundle matches onnxruntime on one and two threads."""
    import sdk
    from sdk.backends.host.runner import HostRunner
    from conftest import ort_run
    from test_fuse_gelu import _linear_gelu_model
    m = _linear_gelu_model("none", M=67)
    b = sdk.compile(m)
    b.save(tmp_path / "m")
    src = "".join(p.read_text() for p in (tmp_path / "m").glob("*.h"))
    assert "SDK_VGELUF" in src and "const int act_in = 1 && epi && !epi->C;" in src
    x = np.random.default_rng(0).standard_normal((3, 67, 40)).astype(np.float32) * 2.0
    ref = ort_run(m, {"x": x})["y"]
    for threads in (1, 2):
        got = b.run({"x": x}, runner=HostRunner(threads=threads), engine="c")["y"]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6)
