"""The fused attention kernel (runtime_c/cuda/sdk_cuda_attention.cu) on the GPU: correctness against float64 and
TFLOP/s against cuBLAS (issue 22: at seq 2048, >= 50% of the fp16 GEMM peak measured with cuBLAS on the same FLOPs).

    python bench/attention_gpu.py [--out DIR]     # on the GPU machine (nvcc, PyTorch); writes attention.md there

The kernel is built as a shared library (nvcc -arch=sm_90) and called through ctypes on PyTorch tensors, on
PyTorch's current stream. Checks: fp16 and fp32 storage, fp16 and bf16 operands, head sizes 64 and 128, no mask /
causal / an additive key-padding mask [B, 1, 1, Sk] / a full additive mask [B, H, Sq, Sk], odd lengths (the edge
tiles), Sq != Sk, and the [B, S, H, D] layout (strides, as the model pass passes them). Each check poisons the
output with NaN first, draws fresh normal inputs, and compares with the same product in float64 on the GPU:
||y - ref|| / ||ref|| <= 1e-2 (16-bit operands). Timings: median of CUDA-event timings (torch.cuda.Event) of 50
launches after 10 warm-ups; peers in the same run: PyTorch's fused scaled_dot_product_attention (fp16) and
torch.matmul fp16 n x n x n with 2 n^3 = the attention's FLOPs (4 B H Sq Sk D; causal: half)."""
from __future__ import annotations

import argparse
import ctypes
import datetime
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1e-2
REPS = 50
I64, F32, P = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p


# the launchers have C++ linkage (sdk_cuda.h): C names for ctypes
C_NAMES = r"""
#include "sdk_cuda.h"
#define A64 int64_t
extern "C" int att_f32(cudaStream_t s, int prec, A64 B, A64 H, A64 Sq, A64 Sk, A64 D, A64 Dv, float sc, const float *Q,
    A64 a, A64 b, A64 c, const float *K, A64 d, A64 e, A64 f, const float *V, A64 g, A64 h, A64 i, const float *M,
    A64 j, A64 k, A64 l, A64 m, A64 causal, float *O, A64 n, A64 o, A64 p) {
  return (int)sdk_cuda_attention_f32(s, prec, B, H, Sq, Sk, D, Dv, sc, Q, a, b, c, K, d, e, f, V, g, h, i, M, j, k, l,
                                     m, causal, O, n, o, p);
}
extern "C" int att_f16(cudaStream_t s, int cfg, A64 B, A64 H, A64 Sq, A64 Sk, A64 D, float sc, const __half *Q, A64 a,
    A64 b, A64 c, const __half *K, A64 d, A64 e, A64 f, const __half *V, A64 g, A64 h, A64 i, const float *M, A64 j,
    A64 k, A64 l, A64 m, A64 causal, __half *O, A64 n, A64 o, A64 p) {
  return (int)sdk_cuda_attention_f16_cfg(s, cfg, B, H, Sq, Sk, D, sc, Q, a, b, c, K, d, e, f, V, g, h, i, M, j, k, l, m,
                                         causal, O, n, o, p);
}
"""


# the cuda-sm90 profile's sm_90a build, plus the opt-in wgmma attention kernel (tile configurations 4-8)
WGMMA_FLAGS = ["-gencode=arch=compute_90a,code=sm_90a", "-DSDK_CUDA_WGMMA", "-DSDK_ATT_WGMMA"]


def nvcc_cmd(out: Path, so: Path, src: Path | None = None, defines=()) -> list[str]:
    """The shared library's nvcc command (``src``: another copy of sdk_cuda_attention.cu; ``defines``: -D flags, or
    WGMMA_FLAGS for the sm_90a build with the wgmma kernel)."""
    (out / "c_names.cu").write_text(C_NAMES)
    arch = [] if any(d.startswith("-gencode") for d in defines) else ["-arch=sm_90"]
    return ["nvcc", "-O3", "-std=c++17", *arch, "-shared", "-Xcompiler", "-fPIC", *defines,
            f"-I{ROOT / 'runtime_c' / 'include'}", f"-I{ROOT / 'runtime_c' / 'cuda'}",
            str(src or ROOT / "runtime_c" / "cuda" / "sdk_cuda_attention.cu"), str(out / "c_names.cu"), "-o", str(so)]


def build(out: Path) -> ctypes.CDLL:
    so = out / "libsdk_attention.so"
    subprocess.run(nvcc_cmd(out, so), check=True)
    return declare(ctypes.CDLL(str(so)))


def declare(lib):
    strides = [I64] * 3
    common = [I64] * 4 + [F32, P] + strides + [P] + strides + [P] + strides + [P] + [I64] * 4 + [I64, P] + strides
    lib.att_f32.argtypes = [P, ctypes.c_int] + [I64] * 6 + [F32] + common[5:]
    lib.att_f16.argtypes = [P, ctypes.c_int] + [I64] * 5 + [F32] + common[5:]
    lib.att_f32.restype = lib.att_f16.restype = ctypes.c_int
    return lib


def bhs(t, layout):
    """(batch, head, row) strides in elements of a logical [B, H, S, D] tensor stored as ``layout``."""
    if layout == "bhsd":
        return t.stride(0), t.stride(1), t.stride(2)
    return t.stride(0), t.stride(2), t.stride(1)  # stored [B, S, H, D]


def call(lib, q, k, v, o, scale, mask=None, causal=False, layout="bhsd", precision=1, cfg=0):
    """q/k/v/o: tensors in ``layout`` ([B, H, S, D] or [B, S, H, D]); mask: fp32 broadcastable to [B, H, Sq, Sk]."""
    import torch
    ax = (0, 1, 2) if layout == "bhsd" else (0, 2, 1)
    B, H, Sq, D = (q.shape[ax[0]], q.shape[ax[1]], q.shape[ax[2]], q.shape[3])
    Sk = k.shape[ax[2]]
    if mask is not None:
        m = mask.expand(B, H, Sq, Sk) if mask.dim() == 4 else mask
        ms = [0 if mask.shape[i] == 1 else mask.stride(i) for i in range(4)]
        mp = m.data_ptr()
    else:
        ms, mp = [0, 0, 0, 0], None
    stream = torch.cuda.current_stream().cuda_stream
    args = [q.data_ptr(), *bhs(q, layout), k.data_ptr(), *bhs(k, layout), v.data_ptr(), *bhs(v, layout), mp, *ms,
            int(causal), o.data_ptr(), *bhs(o, layout)]
    if q.dtype == torch.float16:
        st = lib.att_f16(stream, cfg, B, H, Sq, Sk, D, scale, *args)
    else:
        st = lib.att_f32(stream, precision, B, H, Sq, Sk, D, D, scale, *args)
    if st != 0:
        raise RuntimeError(f"sdk_cuda_attention: status {st}")


def reference(q, k, v, scale, mask, causal, layout):
    import torch
    if layout == "bshd":
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    s = (q.double() @ k.double().transpose(-1, -2)) * scale
    if mask is not None:
        s = s + mask.double()
    if causal:
        Sq, Sk = s.shape[-2:]
        i = torch.arange(Sq, device=s.device)[:, None]
        j = torch.arange(Sk, device=s.device)[None, :]
        s = s.masked_fill(j > i + Sk - Sq, float("-inf"))
    y = torch.softmax(s, -1) @ v.double()
    return y.transpose(1, 2) if layout == "bshd" else y


CHECKS = [  # (B, H, Sq, Sk, D, storage, operands, mask, causal, layout)
    (2, 3, 200, 200, 64, "fp16", 1, None, False, "bhsd"),
    (2, 3, 200, 200, 64, "fp16", 1, None, True, "bhsd"),
    (2, 4, 130, 77, 64, "fp16", 1, "pad", False, "bhsd"),
    (1, 2, 257, 300, 128, "fp16", 1, "full", False, "bhsd"),
    (1, 2, 100, 100, 128, "fp16", 1, None, True, "bhsd"),
    (3, 12, 128, 128, 64, "fp32", 1, "pad", False, "bshd"),
    (2, 12, 1, 513, 64, "fp32", 1, None, False, "bhsd"),
    (2, 12, 77, 77, 64, "fp32", 2, None, True, "bshd"),
    (1, 4, 333, 333, 128, "fp32", 1, "full", False, "bhsd"),
    (2, 16, 2048, 2048, 64, "fp16", 1, None, False, "bhsd"),
    (2, 12, 300, 300, 64, "fp32", 1, "pad", False, "bshd"),  # fp32 staging: a partial last tile under the mask
]


def make_case(case, gen, ramp=0.0):
    """Fresh normal inputs for a CHECKS row, and the float64 reference: (q, k, v, mask, scale, ref). ``ramp``: key j
    scaled by 1 + ramp * (j / Sk - 1/2) (ramp > 0: the scores' row max grows along the keys, tile after tile)."""
    import torch
    B, H, Sq, Sk, D, storage, prec, mask_kind, causal, layout = case
    dt = torch.float16 if storage == "fp16" else torch.float32
    shp = (lambda S: (B, H, S, D)) if layout == "bhsd" else (lambda S: (B, S, H, D))
    q, k, v = (torch.randn(shp(S), generator=gen, device="cuda") for S in (Sq, Sk, Sk))
    if ramp:
        f = 1.0 + ramp * (torch.arange(Sk, device="cuda") / Sk - 0.5)
        k = k * (f[:, None] if layout == "bhsd" else f[:, None, None])
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    mask = None
    if mask_kind == "pad":
        mask = torch.zeros(B, 1, 1, Sk, device="cuda")
        for b in range(B):
            mask[b, ..., Sk - (b + 1) * Sk // (2 * B + 1):] = -10000.0
    elif mask_kind == "full":
        mask = torch.randn(B, H, Sq, Sk, generator=gen, device="cuda")
    scale = 1.0 / math.sqrt(D)
    return q, k, v, mask, scale, reference(q, k, v, scale, mask, causal, layout)


def check_made(lib, case, made, cfg=0):
    """||y - ref|| / ||ref|| of one call on make_case's inputs (the output poisoned with NaN first)."""
    import torch
    q, k, v, mask, scale, ref = made
    o = torch.full_like(q, float("nan"))
    call(lib, q, k, v, o, scale, mask, case[8], case[9], case[6], cfg)
    torch.cuda.synchronize()
    err = float(torch.linalg.norm((o.double() - ref).flatten()) / torch.linalg.norm(ref.flatten()))
    return err if math.isfinite(err) else float("inf")


def check(lib, case, gen, cfg=0):
    return check_made(lib, case, make_case(case, gen), cfg)


def median_ms(fn, reps=REPS):
    from cuda_events import median_ms as events_median
    return events_median(fn, reps)


SPEED = [  # (B, H, S, D, causal)
    (1, 16, 2048, 64, False), (4, 16, 2048, 64, False), (1, 16, 2048, 64, True), (1, 16, 2048, 128, False),
    (8, 12, 512, 64, False),
]


CFGS = {0: "32 rows a warp, 64-key tiles (default)", 1: "16 rows a warp, 64-key tiles",
        2: "16 rows a warp, 128-key tiles"}


def speed(lib, case, rows, cfgs=None):
    import torch
    import torch.nn.functional as F
    B, H, S, D, causal = case
    q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.half) for _ in range(3))
    o = torch.empty_like(q)
    flops = 4.0 * B * H * S * S * D * (0.5 if causal else 1.0)
    scale = 1.0 / math.sqrt(D)
    what = f"B={B} H={H} S={S} D={D}{' causal' if causal else ''}"
    ref = reference(q, k, v, scale, None, causal, "bhsd")
    best = None
    for cfg in cfgs or (CFGS if D == 64 else (0,)):
        o.fill_(float("nan"))
        ms = median_ms(lambda: call(lib, q, k, v, o, scale, None, causal, cfg=cfg))
        err = float(torch.linalg.norm((o.double() - ref).flatten()) / torch.linalg.norm(ref.flatten()))
        print(f"{what} cfg {cfg} ({CFGS[cfg]}): {ms:.4f} ms, {flops / ms / 1e9:.0f} TFLOP/s, err {err:.1e}", flush=True)
        if cfg == 0:
            best = (ms, err)
    ms, err = best
    ms_sdpa = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    n = round((flops / 2) ** (1 / 3) / 64) * 64
    a, b = torch.randn(n, n, device="cuda", dtype=torch.half), torch.randn(n, n, device="cuda", dtype=torch.half)
    ms_mm = median_ms(lambda: torch.matmul(a, b))
    peak = 2.0 * n ** 3 / ms_mm / 1e9
    tf = flops / ms / 1e9
    rows.append(dict(what=what, ms=ms, tf=tf, err=err, sdpa_ms=ms_sdpa, sdpa_tf=flops / ms_sdpa / 1e9, n=n,
                     mm_ms=ms_mm, peak=peak, frac=tf / peak))


def model_speed(lib, lines):
    """The attention as BERT-base's fp16 bundles call it (B 8, H 12, D 64, seq 128 and 512): fp32 storage, Q, K and
    V strided views of one [B, S, 3, H, D] projection output, a key-padding mask [B, 1, 1, S] (the last eighth of
    every other sequence masked), fp16 operands; beside the same product with fp16 [B, H, S, D] inputs and no mask."""
    import torch
    lines += ["", "| attention as in BERT-base (B 8, H 12, D 64) | ms | TFLOP/s | rel. error |", "| --- | ---: | ---: | ---: |"]
    gen = torch.Generator(device="cuda").manual_seed(1)
    for S in (128, 512):
        B, H, D = 8, 12, 64
        qkv = torch.randn(B, S, 3, H, D, generator=gen, device="cuda")
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        mask = torch.zeros(B, 1, 1, S, device="cuda")
        mask[::2, ..., S - S // 8:] = -10000.0
        o = torch.full((B, S, H, D), float("nan"), device="cuda")
        scale = 1.0 / math.sqrt(D)
        ref = reference(q, k, v, scale, mask, False, "bshd")
        flops = 4.0 * B * H * S * S * D
        ms = median_ms(lambda: call(lib, q, k, v, o, scale, mask, False, "bshd"))
        err = float(torch.linalg.norm((o.double() - ref).flatten()) / torch.linalg.norm(ref.flatten()))
        lines.append(f"| S {S}: fp32 storage, strided bshd views, key-padding mask | {ms:.4f} | {flops / ms / 1e9:.0f} | "
                     f"{err:.1e} |")
        qh, kh, vh = (t.transpose(1, 2).contiguous().half() for t in (q, k, v))
        oh = torch.empty_like(qh)
        ms = median_ms(lambda: call(lib, qh, kh, vh, oh, scale))
        lines.append(f"| S {S}: fp16 storage, [B, H, S, D], no mask | {ms:.4f} | {flops / ms / 1e9:.0f} | |")
        print(lines[-2], lines[-1], sep="\n", flush=True)


def main():
    import torch
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".")
    ap.add_argument("--profile", action="store_true", help="one launch of each configuration (run under ncu)")
    ap.add_argument("--lib", help="a libsdk_attention.so built elsewhere (same nvcc command), instead of building")
    ap.add_argument("--quick", action="store_true", help="the checks, then the seq-2048 cases with the default tiles")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lib = ctypes.CDLL(a.lib) if a.lib else build(out)
    if a.lib:
        declare(lib)
    gen = torch.Generator(device="cuda").manual_seed(0)
    if a.profile:
        q, k, v = (torch.randn(1, 16, 2048, 64, device="cuda", dtype=torch.half) for _ in range(3))
        o = torch.empty_like(q)
        for cfg in CFGS:
            call(lib, q, k, v, o, 0.125, cfg=cfg)
        torch.cuda.synchronize()
        return 0
    lines = [f"GPU: {torch.cuda.get_device_name()}; {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; "
             f"torch {torch.__version__}", "", "| check (B, H, Sq, Sk, D, storage, operands, mask, causal, layout) | "
             "rel. error | within 1e-2 |", "| --- | ---: | --- |"]
    bad = 0
    again = [c for c in CHECKS if c[4] == 64 and c[5] == "fp16"]  # with the other D=64 configurations too
    for idx, c in enumerate(CHECKS + again):
        cfgs = (0,) if idx < len(CHECKS) else (1, 2)
        try:
            e = max(check(lib, c, gen, cfg) for cfg in cfgs)
        except Exception as ex:  # noqa: BLE001 (reported)
            e, c = float("inf"), c + (f"{type(ex).__name__}: {ex}",)
        bad += not e <= LIMIT
        prec = {1: "fp16", 2: "bf16"}[c[6]]
        lines.append(f"| {', '.join(map(str, c[:6]))}, {prec}, {c[7]}, {c[8]}, {c[9]}{' '.join(map(str, c[10:]))}"
                     f"{'' if cfgs == (0,) else ' (cfg 1 and 2)'} | {e:.2e} | {'yes' if e <= LIMIT else 'NO'} |")
        print(lines[-1], flush=True)
    model_speed(lib, lines)
    rows = []
    for c in (SPEED[:2] if a.quick else SPEED):
        speed(lib, c, rows, (0,) if a.quick else None)
        print(rows[-1], flush=True)
    lines += ["", "| fp16 attention | sdk ms | sdk TFLOP/s | rel. error | PyTorch SDPA ms | SDPA TFLOP/s | "
              "cuBLAS n^3 (same FLOPs) | cuBLAS TFLOP/s | sdk / cuBLAS |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['ms']:.4f} | {r['tf']:.0f} | {r['err']:.1e} | {r['sdpa_ms']:.4f} | "
                     f"{r['sdpa_tf']:.0f} | {r['n']} ({r['mm_ms']:.4f} ms) | {r['peak']:.0f} | {r['frac']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (out / "attention.md").write_text(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
