"""Register tiles of the spatial-rows ("trans") convolution kernel, alone: one C program, variants alternating.

    PYTHONPATH=$PWD python bench/convt_tiles.py [--layers r18_l2s2,r18_l4] [--tiles 4x4,7x2,14x2] [--rounds 40]

Each layer (ResNet-18's 3x3 layers that build as spatial rows: the stride-2 ones and layer4's 7x7 ones) is generated
by ``kernels.conv_t_source`` once per register tile (``GemmSpace.trans_schedule(mr, nv)``: mr pixels x nv vectors of
output channels), with its weights packed for that tile, and the variants are called one after the other in each
round (one thread, the thread's CPU clock), so every variant meets the same machine. Prints per variant the minimum
and median of the rounds (us), their ratio to the first tile given, GFLOP/s at the minimum, and the largest
difference of its output from numpy's convolution (float64), with the ReLU / residual epilogue the model fuses.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sdk.targets import load_target  # noqa: E402
from sdk.tune.kernels import conv_t_source, pack_conv_t_const  # noqa: E402
from sdk.tune.space import space_of, target_facts  # noqa: E402
from sdk.tune.workload import Workload  # noqa: E402

# name: (C, H, M, K, stride, pad, residual) of a square convolution with ReLU
LAYERS = {
    "r18_l2s2": (64, 56, 128, 3, 2, 1, False),     # layer2_0_conv1
    "r18_l3s2": (128, 28, 256, 3, 2, 1, False),    # layer3_0_conv1
    "r18_l4s2": (256, 14, 512, 3, 2, 1, False),    # layer4_0_conv1
    "r18_l4": (512, 7, 512, 3, 1, 1, False),       # layer4_x_conv1
    "r18_l4r": (512, 7, 512, 3, 1, 1, True),       # layer4_1_conv2 (+ residual)
    "vit_proj": (3, 224, 384, 16, 16, 0, False),   # ViT-S's patch embedding (no ReLU in the model)
    "regnet_ds": (208, 14, 440, 1, 2, 0, False),   # RegNetY-400MF's last 1x1/2 downsample (no ReLU in the model)
}


def workload(C, H, M, K, S, P):
    OH = (H + 2 * P - K) // S + 1
    p = dict(N=1, C=C, H=H, W=H, M=M, OH=OH, OW=OH, KH=K, KW=K, SH=S, SW=S, PH=P, PW=P, DH=1, DW=1, groups=1,
             has_bias=1)
    return Workload("conv2d", tuple(sorted(p.items()))), p


def reference(x, w, b, S, P, r):
    C, H, _ = x.shape
    M, _, K, _ = w.shape
    OH = (H + 2 * P - K) // S + 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (P, P), (P, P)))
    y = np.zeros((M, OH, OH))
    for kh in range(K):
        for kw in range(K):
            patch = xp[:, kh:kh + S * (OH - 1) + 1:S, kw:kw + S * (OH - 1) + 1:S]
            y += np.einsum("mc,chw->mhw", w[:, :, kh, kw].astype(np.float64), patch)
    y += b[:, None, None]
    if r is not None:
        y += r
    return np.maximum(y, 0.0)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="r18_l2s2,r18_l3s2,r18_l4s2,r18_l4")
    ap.add_argument("--tiles", default="", help="MRxNV,...; the first is the baseline (default: the rule's, then "
                    "the other tiles that fit)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--keep", default="", help="folder to keep the C program in")
    a = ap.parse_args(argv)
    tgt = load_target("host")
    facts = target_facts(tgt)
    rng = np.random.default_rng(0)
    for name in a.layers.split(","):
        C, H, M, K, S, P, res = LAYERS[name]
        wl, p = workload(C, H, M, K, S, P)
        epi = ("relu", 0.0, 0.0, res)
        wl = wl.with_epilogue(("relu", 0.0, 0.0, object() if res else None))
        sp = space_of(wl, facts)
        rule = sp.default()
        tiles = [tuple(int(v) for v in t.rstrip("i").split("x")) for t in a.tiles.split(",")] if a.tiles else \
            [(rule["mr"], rule["nv"])] + [t for t in sp.trans_tiles() if t != (rule["mr"], rule["nv"])]
        scheds = [sp.trans_schedule(mr, nv) for mr, nv in tiles]
        for i, t in enumerate(a.tiles.split(",") if a.tiles else []):
            if t.endswith("i") and scheds[i] is not None:  # the im2col form even where the rows hold whole tiles
                scheds[i] = dict(scheds[i], pad=False, col=C * K * K * p["OH"] * p["OW"])
        tiles = [t for t, s in zip(tiles, scheds) if s is not None]
        scheds = [s for s in scheds if s is not None]
        x = rng.standard_normal((C, H, H)).astype(np.float32)
        w = (rng.standard_normal((M, C, K, K)) / np.sqrt(C * K * K)).astype(np.float32)
        b = rng.standard_normal(M).astype(np.float32) * 0.1
        OH = p["OH"]
        r = rng.standard_normal((M, OH, OH)).astype(np.float32) if res else None
        ref = reference(x, w, b, S, P, r)
        d = Path(a.keep or tempfile.mkdtemp(prefix="convt_"))
        d.mkdir(parents=True, exist_ok=True)
        x.tofile(d / "x.bin"); b.tofile(d / "b.bin")
        if res:
            r.tofile(d / "r.bin")
        src = ['#define _POSIX_C_SOURCE 200809L\n#include <stdio.h>\n#include <stdlib.h>\n#include <time.h>\n']
        scratch = 0
        for i, s in enumerate(scheds):
            src.append(conv_t_source(f"v{i}", s, wl, epi))
            pack_conv_t_const(w, 1, s).astype(np.float32).tofile(d / f"w{i}.bin")
            scratch = max(scratch, int(s["col"]) + 2 * C * K * K + 64)
        calls = "\n".join(
            f"    t0 = now(); v{i}(1, {C}, {H}, {H}, {M}, {OH}, {OH}, {K}, {K}, {S}, {S}, {P}, {P}, 1, 1, 1, x, w[{i}], b, "
            f"y[{i}], scratch, r); t[{i}][rd] = now() - t0;" for i in range(len(scheds)))
        nvar, ny = len(scheds), M * OH * OH
        r_load = f'load("r.bin", {ny})' if res else "NULL"
        src.append(f"""
static double now(void) {{ struct timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3; }}
static float *amalloc(size_t n) {{ void *p = NULL; return posix_memalign(&p, 64, n) ? NULL : (float *)p; }}
static float *load(const char *f, size_t n) {{
  float *p = amalloc(n * 4); FILE *fp = fopen(f, "rb");
  if (!p || !fp || fread(p, 4, n, fp) != n) {{ fprintf(stderr, "read %s\\n", f); exit(1); }}
  fclose(fp); return p; }}
static int cmpd(const void *a, const void *b) {{ double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }}
int main(int argc, char **argv) {{
  (void)argc; int rounds = atoi(argv[1]); char f[64];
  float *x = load("x.bin", {C * H * H}), *b = load("b.bin", {M}), *w[{nvar}], *y[{nvar}];
  float *r = {r_load}; (void)r;
  float *scratch = amalloc({scratch} * 4);
  static double t[{nvar}][1000];
  for (int i = 0; i < {nvar}; ++i) {{
    snprintf(f, sizeof f, "w%d.bin", i);
    FILE *fp = fopen(f, "rb"); fseek(fp, 0, SEEK_END); long n = ftell(fp) / 4; fclose(fp);
    w[i] = load(f, (size_t)n); y[i] = amalloc({ny} * 4);
  }}
  double t0;
  for (int rd = 0; rd < rounds; ++rd) {{
{calls}
  }}
  for (int i = 0; i < {nvar}; ++i) {{
    qsort(t[i], rounds, sizeof(double), cmpd);
    printf("%d %.2f %.2f\\n", i, t[i][0], t[i][rounds / 2]);
    snprintf(f, sizeof f, "y%d.bin", i); FILE *fp = fopen(f, "wb"); fwrite(y[i], 4, {ny}, fp); fclose(fp);
  }}
  return 0;
}}
""")
        (d / "h.c").write_text("".join(src))
        cflags = [f for f in tgt.cflags if f != "-fopenmp"]
        subprocess.run([tgt.cc, *cflags, "-I", str(ROOT / "runtime_c" / "include"), "h.c", "-o", "h", "-lm"],
                       cwd=d, check=True)
        out = subprocess.run(["./h", str(min(a.rounds, 1000))], cwd=d, check=True, capture_output=True,
                             text=True, env=dict(os.environ, OMP_NUM_THREADS="1")).stdout.split("\n")
        flop = 2.0 * M * OH * OH * C * K * K
        print(f"\n{name}: {C} -> {M}, {H}x{H} -> {OH}x{OH}, {K}x{K}/{S}{' + residual' if res else ''} + ReLU; "
              f"{a.rounds} rounds, load {os.getloadavg()[0]:.1f}")
        print("| tile (mr x nv) | min us | median us | min / first | median / first | GFLOP/s (min) | max abs err |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        base = None
        for line in out:
            if not line.strip():
                continue
            i, mn, md = line.split()
            i, mn, md = int(i), float(mn), float(md)
            yv = np.fromfile(d / f"y{i}.bin", np.float32).reshape(ref.shape)
            base = base or (mn, md)
            form = "pad" if scheds[i].get("pad") else "im2col"
            print(f"| {tiles[i][0]} x {tiles[i][1]} {form} | {mn:.1f} | {md:.1f} | {mn / base[0]:.3f} | {md / base[1]:.3f} | "
                  f"{flop / mn / 1e3:.0f} | {np.abs(yv - ref).max():.1e} |")


if __name__ == "__main__":
    main()
