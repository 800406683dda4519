"""The exact (erf) GELU of the fused GEMM / convolution epilogues and the Gelu op's loops: sdk_math.h ``sdk_geluf`` (the
tile epilogue pass, the runtime's scalar epilogue, the Gelu op's lowering) and the generated tiles' vector form
(sdk/tune/kernels.py ``_vgelu``, applied in the full register tiles before their store) give the same floats, lane by
lane, with AVX-512 intrinsics (16 lanes) and with the generic vector extensions (16 lanes without AVX-512, 8 lanes AVX2,
4 lanes portable); NaN, infinities and -0 included. The scalar form against float64 over a dense sweep: |gelu - GELU|
<= 2e-7 |x| + 1.2e-7 |GELU| where multiply-adds are fused (the host), 2.2e-7 |x| without (the last Horner steps
round twice: x ~ -5, |GELU| ~ 1e-6, absolute error 1.05e-6). ``sdk_geluf`` folds sdk_erff's rational form into GELU
(tx50): its error against float64 over every 97th float of [-10, 10] is checked against the former form's, kept here
as C (``FORMER``)."""
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
    c = 2e-7 if form in ("avx512", "avx2") else 2.2e-7  # fused multiply-adds or not
    assert np.all(err <= c * np.abs(x[fin]) + 1.2e-7 * np.abs(want)), float(np.max(err / (np.abs(x[fin]) + 1e-30)))
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


# the erf GELU before tx50: sdk_math.h's sdk_erff (unchanged; x P(x^2) / Q(x^2) on [-4, 4], clamped to [-1, 1]) inside
# 0.5 x (1 + erf(x / sqrt 2))
FORMER = r"""
static float former_geluf(float x) { return 0.5f * x * (1.0f + sdk_erff(x * 0.707106781186547524f)); }
"""
RANGES = (-10.0, -5.66, -3.0, -1.0, 0.0, 1.0, 3.0, 10.0)


def _errors(tmp_path, flags, stride=97):
    """{form: [(max absolute error, max error in ulps of the float64 value) per range of RANGES]} for the former and
    the current sdk_geluf, every ``stride``-th float of [-10, 10] against 0.5 x (1 + erf(x / sqrt 2)) in float64."""
    edges = ", ".join(f"{v}" for v in RANGES)
    src = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "sdk_math.h"
""" + FORMER + rf"""
static double ulp_at(double v) {{
  const float f = (float)fabs(v);
  int e;
  if (f < 1.17549435e-38f) return ldexp(1.0, -149);
  frexpf(f, &e);
  return ldexp(1.0, e - 24);
}}
int main(void) {{
  static const double edge[] = {{{edges}}};
  enum {{ R = {len(RANGES) - 1} }};
  double m[2][R][2];
  memset(m, 0, sizeof m);
  for (uint64_t b = 0; b < 0x100000000ull; b += {stride}) {{
    const uint32_t u = (uint32_t)b;
    float x;
    memcpy(&x, &u, 4);
    if (!(fabsf(x) <= 10.0f)) continue;
    const double want = 0.5 * (double)x * (1.0 + erf((double)x / sqrt(2.0)));
    const float got[2] = {{former_geluf(x), sdk_geluf(x)}};
    int r = 0;
    while (r < R - 1 && !((double)x < edge[r + 1])) ++r;
    for (int k = 0; k < 2; ++k) {{
      const double e = fabs((double)got[k] - want), el = e / ulp_at(want);
      if (e > m[k][r][0]) m[k][r][0] = e;
      if (el > m[k][r][1]) m[k][r][1] = el;
    }}
  }}
  for (int k = 0; k < 2; ++k)
    for (int r = 0; r < R; ++r) printf("%d %d %.9g %.9g\n", k, r, m[k][r][0], m[k][r][1]);
  return 0;
}}
"""
    c, exe = tmp_path / "e.c", tmp_path / "e"
    c.write_text(src)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{RUNTIME / 'include'}", str(c),
                    "-o", str(exe), "-lm"], check=True, capture_output=True, text=True)
    out = {"former": [None] * (len(RANGES) - 1), "now": [None] * (len(RANGES) - 1)}
    for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n"):
        if line:
            k, r, e, el = line.split()
            out[("former", "now")[int(k)]][int(r)] = (float(e), float(el))
    return out


def test_folded_gelu_against_the_former_form(tmp_path):
    """sdk_geluf against the former erf-then-GELU form, both against float64, with the host's flags (fused
    multiply-adds), every 97th float of [-10, 10]: below 0 the absolute error is smaller in every range (the
    cancellation in 1 + erf now happens inside one multiply-add, s = Q + h P), and the largest error in ulps over
    the sweep (that tail's) is smaller; above 0 both forms are ~2-3.5 ulps (the quotient s / Q in [1, 2] rounds
    where 1 + r did): there it may read up to 0.5 ulp and 10 % of absolute error more, range by range."""
    if "fma" not in open("/proc/cpuinfo").read():
        pytest.skip("no FMA on this CPU")
    e = _errors(tmp_path, ["-O2", "-march=native", "-ffp-contract=fast"])
    assert max(u for _, u in e["now"]) <= max(u for _, u in e["former"]), e
    for r, (now, former) in enumerate(zip(e["now"], e["former"])):
        if RANGES[r] < 0.0:
            assert now[0] <= former[0] and now[1] <= former[1], (RANGES[r], now, former)
        else:
            assert now[1] <= min(former[1] + 0.5, 4.0) and now[0] <= 1.1 * former[0], (RANGES[r], now, former)


def test_folded_gelu_ends_exactly():
    """Where erf is 1 in float the folded form gives x (x >= 4 sqrt 2) and -0 (x <= -4 sqrt 2) exactly, with fused
    multiply-adds and without (the clamp 2.82842612 is chosen so: s rounds to 2 Q, and s > 0 before its min with
    -0, in both ways of evaluating), as the former form did."""
    import tempfile
    from pathlib import Path
    vals = np.concatenate([np.float32(5.657) * np.float32(1.0001) ** np.arange(0, 300000, 97, dtype=np.float32),
                           np.array([3.4e38, 1e30, 7.0, 5.66], np.float32)]).astype(np.float32)
    vals = vals[np.isfinite(vals)]
    vals = np.concatenate([vals, -vals])
    vals = np.concatenate([vals, np.zeros((-len(vals)) % 16, np.float32) + np.float32(6.0)])
    with tempfile.TemporaryDirectory() as d:
        for flags in (FLAGS["avx512"][1] if "avx512f" in open("/proc/cpuinfo").read() else FLAGS["avx2"][1],
                      FLAGS["portable"][1]):
            lanes = 16 if "-march=native" in flags else 4
            scalar, tile = _run_c(Path(d), lanes, flags, vals)
            pos = vals > 0
            np.testing.assert_array_equal(scalar[pos], vals[pos])
            assert np.all(scalar[~pos] == 0) and np.all(np.signbit(scalar[~pos])), scalar[~pos][:8]
            np.testing.assert_array_equal(tile, scalar)
