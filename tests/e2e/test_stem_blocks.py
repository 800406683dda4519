"""The stem kernel's block form (runtime_c sdk_kernels.c ``sdk_conv2d_stem_nhwc_f32``: P interior pixels x V channel
vectors of sums in registers, each weight vector loaded once for the P pixels): on random inputs with odd sizes
(rows that end in partial blocks, stride 1 / 2 / 4, dilation, asymmetric padding, 1-4 input channels, 16-96 outputs,
a channel tail, a residual, no bias, two images) its outputs equal the 4-pixel form's (``-DSDK_STEM_ACC=0``) bit for
bit, at AVX-512 (16 accumulators) and AVX2 (8), and are within float32 rounding of a float64 reference; the call is
clean under ASan + UBSan (the suite's sanitizer flags, conftest.SANITIZE_FLAGS)."""
import subprocess

import numpy as np
import pytest

from conftest import SANITIZE_FLAGS
from sdk.resources import RUNTIME

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "sdk_kernels.h"
int main(int argc, char **argv) {
  if (argc != 21) return 2;
  long a[18];
  for (int i = 0; i < 18; ++i) a[i] = atol(argv[i + 1]);
  const long N = a[0], C = a[1], H = a[2], W = a[3], M = a[4], OH = a[5], OW = a[6], KH = a[7], KW = a[8];
  const long nx = N * C * H * W, nw = C * KH * KW * M, ny = N * OH * OW * M;
  float *buf = malloc(sizeof(float) * (nx + nw + M + 2 * ny));
  float *X = buf, *Wt = X + nx, *B = Wt + nw, *R = B + M, *Y = R + ny;
  FILE *f = fopen(argv[19], "rb");
  if (!f || fread(buf, sizeof(float), nx + nw + M + ny, f) != (size_t)(nx + nw + M + ny)) return 3;
  fclose(f);
  sdk_conv2d_stem_nhwc_f32(N, C, H, W, M, OH, OW, KH, KW, a[9], a[10], a[11], a[12], a[13], a[14], X, Wt,
                           a[16] ? B : 0, a[17] ? R : 0, a[15], 0.0f, 6.0f, Y);
  f = fopen(argv[20], "wb");
  fwrite(Y, sizeof(float), ny, f);
  fclose(f);
  free(buf);
  return 0;
}
"""
NATIVE = ["-O3", "-march=native", "-ffp-contract=fast", "--param=avoid-fma-max-bits=0"]
BUILDS = {"native": NATIVE, "native_4px": NATIVE + ["-DSDK_STEM_ACC=0"],
          "avx2": ["-O3", "-mavx2", "-mfma", "-ffp-contract=fast"],
          "avx2_4px": ["-O3", "-mavx2", "-mfma", "-ffp-contract=fast", "-DSDK_STEM_ACC=0"],
          "sanitized": [*SANITIZE_FLAGS, "-march=native", "-ffp-contract=fast"]}
ACTS = {"none": 0, "relu": 1, "relu6": 2, "hardswish": 4, "silu": 6}
# N, C, H, W, M, K (KH, KW), stride, pads (top, left, bottom, right), dilation, act, bias, residual
CASES = [(1, 3, 37, 45, 32, (3, 3), 2, (1, 1, 1, 1), 1, "relu6", True, False),   # MobileNetV2: 8 x 2 blocks
         (2, 3, 29, 53, 16, (3, 3), 2, (1, 1, 1, 1), 1, "hardswish", True, False),  # MobileNetV3: 8 x 1
         (1, 3, 31, 47, 64, (3, 3), 2, (0, 0, 0, 0), 1, "relu", True, False),  # SqueezeNet: 4 x 4, no padding
         (1, 3, 36, 44, 96, (4, 4), 4, (0, 0, 0, 0), 1, "none", True, False),  # ConvNeXt's patches: 4 x 4 twice
         (1, 3, 23, 41, 48, (3, 3), 1, (1, 2, 0, 1), 1, "silu", False, False),  # 3 vectors: 8 x 1, no bias
         (1, 4, 19, 39, 32, (3, 3), 1, (2, 2, 2, 2), 2, "relu", True, True),  # dilated, 4 channels, a residual
         (1, 1, 21, 50, 16, (5, 5), 2, (2, 2, 2, 2), 1, "silu", True, False),  # one channel, 5 x 5
         (1, 3, 17, 35, 40, (3, 3), 2, (1, 1, 1, 1), 1, "relu6", True, False)]  # a channel tail: no block form


def _out(n, k, s, pb, pe, d):
    return (n + pb + pe - d * (k - 1) - 1) // s + 1


def _reference(x, w, b, r, s, pads, d, act):
    """float64 convolution NCHW in, NHWC out, w [M, C, KH, KW]"""
    N, C, H, W = x.shape
    M, _, KH, KW = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    OH, OW = _out(H, KH, s, pads[0], pads[2], d), _out(W, KW, s, pads[1], pads[3], d)
    y = np.zeros((N, OH, OW, M))
    for kh in range(KH):
        for kw in range(KW):
            patch = xp[:, :, kh * d: kh * d + (OH - 1) * s + 1: s, kw * d: kw * d + (OW - 1) * s + 1: s]
            y += np.einsum("nchw,mc->nhwm", patch, w[:, :, kh, kw].astype(np.float64))
    if b is not None:
        y += b
    if r is not None:
        y += r.reshape(y.shape)
    return {"none": y, "relu": np.maximum(y, 0), "relu6": np.clip(y, 0, 6),
            "hardswish": y * np.clip(y / 6 + 0.5, 0, 1), "silu": y / (1 + np.exp(-y))}[act]


@pytest.fixture(scope="module")
def exes(tmp_path_factory):
    """The harness built with each of BUILDS. Most of a build is sdk_kernels.c (every kernel, for the one the harness
    calls), so each source is compiled on its own (-c) and then linked: ccache (make test puts it in front of gcc)
    reuses an object whose source and flags did not change, where one gcc call that compiles and links is never
    cached."""
    d = tmp_path_factory.mktemp("stem")
    (d / "h.c").write_text(HARNESS)
    srcs = [d / "h.c", RUNTIME / "src" / "sdk_kernels.c", RUNTIME / "src" / "sdk_status.c"]
    out = {}
    for name, flags in BUILDS.items():
        objs = [d / f"{name}_{src.stem}.o" for src in srcs]
        for src, obj in zip(srcs, objs):
            subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{RUNTIME / 'include'}", "-c",
                            str(src), "-o", str(obj)], check=True, capture_output=True)
        out[name] = d / name
        subprocess.run(["gcc", *flags, *map(str, objs), "-o", str(out[name]), "-lm"], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"M{c[4]}_k{c[5][0]}s{c[6]}_{c[9]}" for c in CASES])
def test_stem_block_form(case, exes, tmp_path):
    N, C, H, W, M, (KH, KW), s, pads, d, act, has_b, has_r = case
    OH, OW = _out(H, KH, s, pads[0], pads[2], d), _out(W, KW, s, pads[1], pads[3], d)
    rng = np.random.default_rng(M * 31 + W)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((M, C, KH, KW)) / np.sqrt(C * KH * KW)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32) * 0.3
    r = rng.standard_normal((N, OH, OW, M)).astype(np.float32) * 0.5
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # [C * KH * KW, M], taps (c, kh, kw)
    inp = tmp_path / "in.bin"
    np.concatenate([x.ravel(), wt.ravel(), b, r.ravel()]).astype(np.float32).tofile(inp)
    args = [N, C, H, W, M, OH, OW, KH, KW, s, s, pads[0], pads[1], d, d, ACTS[act], int(has_b), int(has_r)]
    ys = {}
    for name, exe in exes.items():
        o = tmp_path / f"{name}.bin"
        subprocess.run([str(exe), *map(str, args), str(inp), str(o)], check=True, timeout=120)
        ys[name] = np.fromfile(o, np.float32).reshape(N, OH, OW, M)
    ref = _reference(x, w, b if has_b else None, r if has_r else None, s, pads, d, act)
    for name, y in ys.items():
        np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-5, err_msg=name)
    assert np.array_equal(ys["native"], ys["native_4px"])  # the same chains in the same order: the same floats
    assert np.array_equal(ys["avx2"], ys["avx2_4px"])
