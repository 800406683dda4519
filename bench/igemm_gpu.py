"""The implicit GEMM of the GPU runtime (runtime_c/cuda/sdk_cuda_igemm.cu: model GEMMs and convolutions with fp32
storage, fp16 tensor-core operands) in its build variants, side by side on the GPU (issue 22): correctness against
float64 and TFLOP/s against PyTorch's fp16 GEMM / convolution (cuBLAS / cuDNN) in the same run.

    python bench/igemm_gpu.py build --out DIR [--variants tc,wgmma,async]   # anywhere with nvcc
    python bench/igemm_gpu.py run --out DIR                                   # on the GPU machine (PyTorch)

Variants (compile-time flags of the GPU library): ``tc`` the default register-prefetch WMMA kernel (-arch=sm_90),
``wgmma`` SDK_CUDA_IGEMM_WGMMA (Hopper wgmma, cp.async fp32 slices converted to swizzled 16-bit tiles;
-arch=sm_90a -DSDK_CUDA_WGMMA), ``async`` SDK_CUDA_IGEMM_STAGES=4 (the cp.async WMMA kernel), ``lin``
(sdk_cuda_linear_f16, the GEMM of fp16 builds on fp16 weights: its tile configurations lin, lin/256, lin/128 and the
plain non-wgmma kernel lin/plain, on the GEMMs with K % 8 == 0; B is shared by the batch in every GEMM check), ``nhwc``
(sdk_cuda_conv2d_nhwc_f16, the convolution of fp16 builds on fp16 NHWC activations, groups 1: its tile choices nhwc,
nhwc/128, nhwc/64, nhwc/128x2, nhwc/256, nhwc/64r, nhwc/128r (sdk_cuda.h), the plain kernel nhwc/plain, and
nhwc/f32out writing fp32 NCHW with an fp32 NCHW residual; X and R arrive as fp16 NHWC converted outside the timed
call (X by sdk_cuda_nchw_to_nhwc_f16, C padded to 8), the weights as fp16 [M, KH, KW, C]; plus max pooling on
fp16 NHWC against F.max_pool2d). Each is a shared library called through ctypes (C-named wrappers) on PyTorch
tensors. Checks: GEMMs with odd M, N, K (edge tiles), batches,
transposed operands (strides), alpha, a bias row (beta C), a residual and ReLU; convolutions with input channels that
are and are not a multiple of the k slice, strides, padding, dilation, groups, bias, residual, ReLU. Output poisoned
with NaN first; error ||y - ref|| / ||ref|| against the same product in float64, limit 1e-2 (16-bit operands).
Timings: median of CUDA-event timings of 30 launches after 5 warm-ups, on BERT-base (batch 8, seq 512) GEMM shapes
and ResNet-50 (batch 32) convolution shapes; peers: torch.matmul fp16 and F.conv2d fp16 (cuDNN) on the same sizes."""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1e-2
REPS = 30
I64, F32, P = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
VARIANTS = {
    "tc": ["-arch=sm_90"],
    "wgmma": ["-arch=sm_90a", "-DSDK_CUDA_WGMMA", "-DSDK_CUDA_IGEMM_WGMMA"],
    "async": ["-arch=sm_90", "-DSDK_CUDA_IGEMM_STAGES=4"],
    "lin": ["-arch=sm_90a", "-DSDK_CUDA_WGMMA"],  # sdk_cuda_linear_f16: fp16 weights [N, K], A rounded to scratch
    # the same with the opt-in epilogue through shared memory (float4 rows)
    "linS": ["-arch=sm_90a", "-DSDK_CUDA_WGMMA", "-DSDK_CUDA_LINEAR_EPI_SMEM"],
    "nhwc": ["-arch=sm_90a", "-DSDK_CUDA_WGMMA"],  # sdk_cuda_conv2d_nhwc_f16: fp16 NHWC activations and weights
}
# the linear kernel's tile configurations (sdk_cuda_linear_f16_cfg), timed and checked as variants of the "lin" build
# (lin: the default, the persistent warp-specialised kernel with its tile rule; lin/ws128, lin/ws192: the same at one
# width; lin/128x2: the default before, 128 x 128, two blocks an SM)
# lin/h: the default through sdk_cuda_linear_f16_h (fp16 output, as a transformer's QKV and FFN 1), checked only;
# lin/hr: through sdk_cuda_linear_f16_hr (fp16 output and fp16 residual: the fp16 residual stream), checked only
LIN_CFGS = {"lin": 0, "lin/256": 1, "lin/128": 2, "lin/plain": 3, "lin/128x2": 4, "lin/ws128": 5, "lin/ws192": 6,
            "lin/h": "h", "lin/hr": "hr"}
# LayerNorm rows of the lin build (sdk_cuda_layernorm_f32_h / _f16), checked against float64: (rows, cols, X fp16,
# fp32 Y written, fp16 Yh written); 768 columns: the vector path (BERT-base), 77 / 1001: the scalar one
LN_CHECKS = [(4096, 768, True, False, True), (4096, 768, True, True, False), (4096, 768, False, False, True),
             (4096, 768, False, True, True), (37, 77, True, True, True), (5, 1001, False, False, True),
             (300, 1000, True, False, True)]
# the NHWC convolution's (cfg, output and residual in fp16 NHWC) as variants of the "nhwc" build
NHWC_CFGS = {"nhwc": (0, True), "nhwc/128": (1, True), "nhwc/64": (2, True), "nhwc/plain": (3, True),
             "nhwc/f32out": (0, False), "nhwc/128x2": (4, True), "nhwc/256": (5, True), "nhwc/64r": (6, True),
             "nhwc/128r": (7, True), "nhwc/lin": (8, True)}  # r: 64-row tiles, one warpgroup a block; lin: 1x1
# stride-1 convolutions as the linear GEMM (others as nhwc)
C_NAMES = r"""
#include "sdk_cuda.h"
#define A64 int64_t
extern "C" int ig_gemm(cudaStream_t s, int prec, A64 batch, A64 M, A64 N, A64 K, float alpha, const float *A, A64 a_bs,
    A64 a_rs, A64 a_cs, const float *B, A64 b_bs, A64 b_rs, A64 b_cs, float beta, const float *C, A64 c_rs, A64 c_cs,
    float *Y, const float *R, A64 act) {
  return (int)sdk_cuda_gemm_f32(s, prec, batch, M, N, K, alpha, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, beta, C, c_rs,
                                c_cs, Y, R, act, 0.0f, 0.0f);
}
extern "C" int ig_linear(cudaStream_t s, int cfg, A64 batch, A64 M, A64 N, A64 K, float alpha, const float *A,
    A64 a_bs, A64 a_rs, A64 a_cs, const __half *Wt, __half *H, float beta, const float *C, float *Y, const float *R,
    A64 act) {
  return (int)sdk_cuda_linear_f16_cfg(s, cfg, batch, M, N, K, alpha, A, a_bs, a_rs, a_cs, Wt, H, 1, beta, C, 0, 1, Y,
                                      R, act, 0.0f, 0.0f);
}
extern "C" int ig_linear_h(cudaStream_t s, A64 batch, A64 M, A64 N, A64 K, float alpha, const float *A, A64 a_bs,
    A64 a_rs, A64 a_cs, const __half *Wt, __half *H, float beta, const float *C, __half *Y, const float *R, A64 act) {
  return (int)sdk_cuda_linear_f16_h(s, batch, M, N, K, alpha, A, a_bs, a_rs, a_cs, Wt, H, 1, beta, C, 0, 1, Y, R, act,
                                    0.0f, 0.0f);
}
extern "C" int ig_linear_hr(cudaStream_t s, A64 batch, A64 M, A64 N, A64 K, float alpha, const float *A, A64 a_bs,
    A64 a_rs, A64 a_cs, const __half *Wt, __half *H, float beta, const float *C, __half *Y, const __half *R, A64 act) {
  return (int)sdk_cuda_linear_f16_hr(s, batch, M, N, K, alpha, A, a_bs, a_rs, a_cs, Wt, H, 1, beta, C, 0, 1, Y, R, act,
                                     0.0f, 0.0f);
}
extern "C" int ig_layernorm(cudaStream_t s, A64 rows, A64 cols, const void *X, A64 x_half, const float *g,
    const float *b, float eps, float *Y, __half *Yh) {
  return x_half ? (int)sdk_cuda_layernorm_f16(s, rows, cols, (const __half *)X, g, b, eps, Y, Yh)
                : (int)sdk_cuda_layernorm_f32_h(s, rows, cols, (const float *)X, g, b, eps, Y, Yh);
}
extern "C" int ig_gemm_f16_nt(cudaStream_t s, int cfg, A64 M, A64 N, A64 K, float alpha, const __half *A,
    const __half *Bt, __half *Y) {
  return (int)sdk_cuda_gemm_f16_nt_cfg(s, cfg, M, N, K, alpha, A, Bt, Y);
}
extern "C" int ig_conv(cudaStream_t s, int prec, A64 N, A64 C, A64 H, A64 W, A64 M, A64 OH, A64 OW, A64 KH, A64 KW,
    A64 SH, A64 SW, A64 PH, A64 PW, A64 DH, A64 DW, A64 groups, const float *X, const float *Wt, const float *bias,
    float *Y, const float *R, A64 act) {
  return (int)sdk_cuda_conv2d_f32(s, prec, N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, groups, X, Wt, bias,
                                  Y, R, act, 0.0f, 0.0f);
}
extern "C" int ig_conv_nhwc(cudaStream_t s, int cfg, A64 N, A64 C, A64 H, A64 W, A64 M, A64 OH, A64 OW, A64 KH,
    A64 KW, A64 SH, A64 SW, A64 PH, A64 PW, A64 DH, A64 DW, const __half *X, const __half *Wt, const float *bias,
    void *Y, A64 y_half, const void *R, A64 r_half, A64 act) {
  return (int)sdk_cuda_conv2d_nhwc_f16_cfg(s, cfg, N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, X, Wt, bias,
                                           Y, y_half, R, r_half, act, 0.0f, 0.0f);
}
extern "C" int ig_to_nhwc(cudaStream_t s, A64 N, A64 C, A64 HW, A64 Cp, const float *X, __half *Y) {
  return (int)sdk_cuda_nchw_to_nhwc_f16(s, N, C, HW, Cp, X, Y);
}
extern "C" int ig_maxpool_nhwc(cudaStream_t s, A64 N, A64 C, A64 H, A64 W, A64 OH, A64 OW, A64 K, A64 S, A64 P,
    const __half *X, __half *Y) {
  return (int)sdk_cuda_maxpool_nhwc_f16(s, N, C, H, W, OH, OW, K, K, S, S, P, P, 1, 1, X, Y);
}
"""
# (batch, M, N, K, A transposed, B transposed, alpha, bias row, residual, relu)
GEMM_CHECKS = [
    (1, 200, 130, 77, False, False, 1.0, False, False, False),
    (1, 256, 256, 256, False, False, 1.0, True, True, True),
    (2, 128, 384, 192, False, True, 0.5, True, False, False),
    (3, 65, 300, 1000, True, False, 1.0, False, True, False),
    (1, 4096, 768, 768, False, False, 1.0, True, False, False),
    (1, 1000, 3072, 768, False, True, 1.0, True, False, True),
    (4, 333, 97, 515, True, True, 1.0, False, False, False),
    (2, 300, 200, 136, True, False, 1.0, True, True, True),
    (1, 77, 1000, 64, False, True, 0.5, True, False, False),
    (1, 4096, 3072, 768, False, False, 1.0, True, False, True),
    (1, 1000, 3072, 768, False, False, 1.0, True, False, "gelu"),
    (2, 517, 200, 264, False, True, 1.0, True, True, "gelu"),
]
# (N, C, H, W, M, KH, KW, stride, pad, dilation, groups, bias, residual, relu)
CONV_CHECKS = [
    (2, 64, 20, 20, 64, 3, 3, 1, 1, 1, 1, True, True, True),
    (2, 3, 33, 33, 64, 7, 7, 2, 3, 1, 1, True, False, True),
    (3, 128, 15, 15, 96, 1, 1, 1, 0, 1, 1, False, True, False),
    (2, 256, 14, 14, 512, 1, 1, 2, 0, 1, 1, True, False, False),
    (1, 96, 17, 19, 64, 3, 3, 1, 2, 2, 1, True, False, True),
    (2, 64, 16, 16, 128, 3, 3, 1, 1, 1, 2, False, False, False),
]
# timed: BERT-base b8 s512 linear layers (M = 4096 tokens), ResNet-50 b32 convolutions
GEMM_SPEED = [(4096, 2304, 768), (4096, 768, 768), (4096, 3072, 768), (4096, 768, 3072)]
CONV_SPEED = [  # (N, C, H, W, M, KH, KW, stride, pad)
    (32, 64, 56, 56, 64, 3, 3, 1, 1), (32, 256, 56, 56, 64, 1, 1, 1, 0), (32, 64, 56, 56, 256, 1, 1, 1, 0),
    (32, 128, 28, 28, 128, 3, 3, 1, 1), (32, 256, 14, 14, 256, 3, 3, 1, 1), (32, 1024, 14, 14, 256, 1, 1, 1, 0),
    (32, 512, 7, 7, 512, 3, 3, 1, 1), (32, 3, 224, 224, 64, 7, 7, 2, 3),
]
# --conv-shapes resnet50: every distinct convolution of torchvision's ResNet-50 at batch 32, with how many times the
# model runs it; the table's last row sums count x time over them (the model's convolution time by that variant)
RESNET50_CONVS = [  # ((N, C, H, W, M, KH, KW, stride, pad), count)
    ((32, 3, 224, 224, 64, 7, 7, 2, 3), 1),
    ((32, 64, 56, 56, 64, 1, 1, 1, 0), 1), ((32, 64, 56, 56, 64, 3, 3, 1, 1), 3),
    ((32, 64, 56, 56, 256, 1, 1, 1, 0), 4), ((32, 256, 56, 56, 64, 1, 1, 1, 0), 2),
    ((32, 256, 56, 56, 128, 1, 1, 1, 0), 1), ((32, 128, 56, 56, 128, 3, 3, 2, 1), 1),
    ((32, 128, 28, 28, 512, 1, 1, 1, 0), 4), ((32, 256, 56, 56, 512, 1, 1, 2, 0), 1),
    ((32, 512, 28, 28, 128, 1, 1, 1, 0), 3), ((32, 128, 28, 28, 128, 3, 3, 1, 1), 3),
    ((32, 512, 28, 28, 256, 1, 1, 1, 0), 1), ((32, 256, 28, 28, 256, 3, 3, 2, 1), 1),
    ((32, 256, 14, 14, 1024, 1, 1, 1, 0), 6), ((32, 512, 28, 28, 1024, 1, 1, 2, 0), 1),
    ((32, 1024, 14, 14, 256, 1, 1, 1, 0), 5), ((32, 256, 14, 14, 256, 3, 3, 1, 1), 5),
    ((32, 1024, 14, 14, 512, 1, 1, 1, 0), 1), ((32, 512, 14, 14, 512, 3, 3, 2, 1), 1),
    ((32, 512, 7, 7, 2048, 1, 1, 1, 0), 3), ((32, 1024, 14, 14, 2048, 1, 1, 2, 0), 1),
    ((32, 2048, 7, 7, 512, 1, 1, 1, 0), 2), ((32, 512, 7, 7, 512, 3, 3, 1, 1), 2),
]


def nvcc_cmd(out: Path, label: str) -> list[str]:
    (out / "c_names.cu").write_text(C_NAMES)
    rt = ROOT / "runtime_c"
    sys.path.insert(0, str(ROOT))
    from sdk.resources import GPU_LIBRARY  # the GPU runtime's library kernels (the implicit GEMM and the others)
    return ["nvcc", "-O3", "-std=c++17", *VARIANTS[label], "-shared", "-Xcompiler", "-fPIC",
            f"-I{rt / 'include'}", f"-I{rt / 'cuda'}", *(str(rt / "cuda" / s) for s in GPU_LIBRARY),
            str(out / "c_names.cu"), "-o", str(out / f"libig_{label}.so")]


def build(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = a.variants.split(",")
    from attention_variants import run_parallel
    cmds = [(lab, nvcc_cmd(out, lab)) for lab in labels]
    for _, cmd in cmds:
        print(shlex.join(cmd), flush=True)
    run_parallel(cmds, a.jobs)
    (out / "labels.txt").write_text("\n".join(labels) + "\n")


def declare(lib):
    lib.ig_gemm.argtypes = [P, ctypes.c_int] + [I64] * 4 + [F32, P] + [I64] * 3 + [P] + [I64] * 3 + [F32, P, I64, I64,
                                                                                                    P, P, I64]
    lib.ig_conv.argtypes = [P, ctypes.c_int] + [I64] * 16 + [P] * 5 + [I64]
    lib.ig_gemm.restype = lib.ig_conv.restype = ctypes.c_int
    if hasattr(lib, "ig_linear"):
        lib.ig_linear.argtypes = [P, ctypes.c_int] + [I64] * 4 + [F32, P] + [I64] * 3 + [P, P, F32, P, P, P, I64]
        lib.ig_linear.restype = ctypes.c_int
    if hasattr(lib, "ig_linear_h"):
        lib.ig_linear_h.argtypes = [P] + [I64] * 4 + [F32, P] + [I64] * 3 + [P, P, F32, P, P, P, I64]
        lib.ig_linear_h.restype = ctypes.c_int
    elif hasattr(lib, "sdk_cuda_linear_f16_h"):  # a library built before ig_linear_h: the runtime's entry point itself
        f = lib.sdk_cuda_linear_f16_h
        f.argtypes = [P] + [I64] * 4 + [F32, P] + [I64] * 3 + [P, P, I64, F32, P, I64, I64, P, P, I64, F32, F32]
        f.restype = ctypes.c_int
        lib.ig_linear_h = lambda s, batch, M, N, K, alpha, A, a_bs, a_rs, a_cs, Wt, H, beta, C, Y, R, act: f(
            s, batch, M, N, K, alpha, A, a_bs, a_rs, a_cs, Wt, H, 1, beta, C, 0, 1, Y, R, act, 0.0, 0.0)
    if hasattr(lib, "ig_linear_hr"):
        lib.ig_linear_hr.argtypes = [P] + [I64] * 4 + [F32, P] + [I64] * 3 + [P, P, F32, P, P, P, I64]
        lib.ig_linear_hr.restype = ctypes.c_int
        lib.ig_layernorm.argtypes = [P, I64, I64, P, I64, P, P, F32, P, P]
        lib.ig_layernorm.restype = ctypes.c_int
    if hasattr(lib, "ig_conv_nhwc"):
        lib.ig_conv_nhwc.argtypes = [P, ctypes.c_int] + [I64] * 15 + [P] * 4 + [I64, P, I64, I64]
        lib.ig_to_nhwc.argtypes = [P] + [I64] * 4 + [P, P]
        lib.ig_maxpool_nhwc.argtypes = [P] + [I64] * 9 + [P, P]
        lib.ig_conv_nhwc.restype = lib.ig_to_nhwc.restype = lib.ig_maxpool_nhwc.restype = ctypes.c_int
    if hasattr(lib, "ig_gemm_f16_nt"):
        lib.ig_gemm_f16_nt.argtypes = [P, ctypes.c_int] + [I64] * 3 + [F32, P, P, P]
        lib.ig_gemm_f16_nt.restype = ctypes.c_int
    return lib


def load(out: Path, lab: str):
    """The variant's library; rebuilt here when it does not load (built elsewhere) - returns None if it cannot run."""
    so = out / f"libig_{lab}.so"
    try:
        return declare(ctypes.CDLL(str(so)))
    except OSError as ex:
        print(f"{lab}: {ex}; rebuilding", flush=True)
    if subprocess.run(nvcc_cmd(out, lab)).returncode:
        return None
    return declare(ctypes.CDLL(str(so)))


def gemm_operands(case, gen):
    import torch
    batch, M, N, K, at, bt, alpha, bias, resid, relu = case
    r = lambda *s: torch.randn(*s, generator=gen, device="cuda")  # noqa: E731
    A = r(batch, K, M).transpose(1, 2) if at else r(batch, M, K)
    B = (r(1, N, K).transpose(1, 2) if bt else r(1, K, N)).expand(batch, K, N)  # shared by the batch (a weight)
    C = r(N) if bias else None
    R = r(batch, M, N) if resid else None
    ref = alpha * (A.double() @ B.double())
    if C is not None:
        ref = ref + C.double()
    if R is not None:
        ref = ref + R.double()
    if relu == "gelu":  # the erf GELU (SDK_ACT_GELU, code 8): a transformer's FFN 1
        ref = 0.5 * ref * (1.0 + torch.erf(ref / math.sqrt(2.0)))
    elif relu:
        ref = ref.clamp_min(0)
    return A, B, C, R, ref


_WT = {}  # B's data_ptr -> (B, its fp16 transpose [N, K], scratch): made once, outside the timed calls


def call_linear(lib, cfg, case, A, B, C, R, Y):
    import torch
    batch, M, N, K, at, bt, alpha, bias, resid, relu = case
    key = (B.data_ptr(), batch, M)
    if key not in _WT:
        _WT[key] = (B, B[0].t().contiguous().half(), torch.empty(batch * M * K, dtype=torch.half, device="cuda"))
    _, Wt, H = _WT[key]
    if cfg in ("h", "hr"):  # fp16 output (sdk_cuda_linear_f16_h; hr: and R as fp16): into Y when it is fp16, else
        # widened into Y
        Yh = Y if Y.dtype == torch.half else torch.full(Y.shape, float("nan"), dtype=torch.half, device="cuda")
        Rx = R.half().contiguous() if R is not None and cfg == "hr" else R
        f = lib.ig_linear_hr if cfg == "hr" else lib.ig_linear_h
        st = f(torch.cuda.current_stream().cuda_stream, batch, M, N, K, alpha, A.data_ptr(), A.stride(0), A.stride(1),
               A.stride(2), Wt.data_ptr(), H.data_ptr(), 1.0 if C is not None else 0.0,
               C.data_ptr() if C is not None else None, Yh.data_ptr(), Rx.data_ptr() if Rx is not None else None,
               8 if relu == "gelu" else 1 if relu else 0)
        if st:
            raise RuntimeError(f"sdk_cuda_linear_f16_{cfg}: status {st}")
        if Yh is not Y:
            Y.copy_(Yh.float())
        return
    st = lib.ig_linear(torch.cuda.current_stream().cuda_stream, cfg, batch, M, N, K, alpha, A.data_ptr(), A.stride(0),
                       A.stride(1), A.stride(2), Wt.data_ptr(), H.data_ptr(), 1.0 if C is not None else 0.0,
                       C.data_ptr() if C is not None else None, Y.data_ptr(), R.data_ptr() if R is not None else None,
                       8 if relu == "gelu" else 1 if relu else 0)
    if st:
        raise RuntimeError(f"sdk_cuda_linear_f16: status {st}")


def call_gemm(lib, case, A, B, C, R, Y):
    import torch
    batch, M, N, K, at, bt, alpha, bias, resid, relu = case
    if isinstance(lib, tuple):  # a tile configuration of the "lin" build
        return call_linear(lib[0], lib[1], case, A, B, C, R, Y)
    st = lib.ig_gemm(torch.cuda.current_stream().cuda_stream, 1, batch, M, N, K, alpha, A.data_ptr(), A.stride(0),
                     A.stride(1), A.stride(2), B.data_ptr(), B.stride(0), B.stride(1), B.stride(2),
                     1.0 if C is not None else 0.0, C.data_ptr() if C is not None else None, 0, 1, Y.data_ptr(),
                     R.data_ptr() if R is not None else None, 8 if relu == "gelu" else 1 if relu else 0)
    if st:
        raise RuntimeError(f"sdk_cuda_gemm_f32: status {st}")


def check_layernorm(lib, case, gen) -> float:
    """The largest relative error of a LayerNorm's outputs (fp32 Y, fp16 Yh: those written) against float64."""
    import torch
    import torch.nn.functional as F
    rows, cols, x_half, y32, y16 = case
    r = lambda *s: torch.randn(*s, generator=gen, device="cuda")  # noqa: E731
    X = r(rows, cols) * 3 + 1
    if x_half:
        X = X.half()
    g, b = r(cols), r(cols)
    ref = F.layer_norm(X.double(), (cols,), g.double(), b.double(), 1e-12)
    Y = torch.full((rows, cols), float("nan"), device="cuda") if y32 else None
    Yh = torch.full((rows, cols), float("nan"), dtype=torch.half, device="cuda") if y16 else None
    st = lib.ig_layernorm(torch.cuda.current_stream().cuda_stream, rows, cols, X.data_ptr(), int(x_half), g.data_ptr(),
                          b.data_ptr(), 1e-12, Y.data_ptr() if y32 else None, Yh.data_ptr() if y16 else None)
    if st:
        raise RuntimeError(f"layernorm: status {st}")
    torch.cuda.synchronize()
    return max(rel(o.float(), ref) for o in (Y, Yh) if o is not None)


def conv_operands(case, gen):
    import torch
    import torch.nn.functional as F
    N, C, H, W, M, KH, KW, s, p, dl, groups, bias, resid, relu = case
    r = lambda *sh: torch.randn(*sh, generator=gen, device="cuda")  # noqa: E731
    X, Wt = r(N, C, H, W), r(M, C // groups, KH, KW) / math.sqrt(C // groups * KH * KW)
    b = r(M) if bias else None
    ref = F.conv2d(X.double(), Wt.double(), b.double() if b is not None else None, s, p, dl, groups)
    R = r(*ref.shape) if resid else None
    if R is not None:
        ref = ref + R.double()
    if relu:
        ref = ref.clamp_min(0)
    return X, Wt, b, R, ref


_NHWC = {}  # (X, Wt) data_ptrs -> (X, Wt, R kept alive: no reuse of their addresses) + fp16 NHWC operands


def nhwc_operands(lib, case, X, Wt, R):
    import torch
    N, C, H, W, M, KH, KW = case[:7]
    key = (X.data_ptr(), Wt.data_ptr())
    if key not in _NHWC:
        Cp = (C + 7) // 8 * 8
        Xh = torch.empty(N * H * W * Cp, dtype=torch.half, device="cuda")
        st = lib.ig_to_nhwc(torch.cuda.current_stream().cuda_stream, N, C, H * W, Cp, X.data_ptr(), Xh.data_ptr())
        if st:
            raise RuntimeError(f"sdk_cuda_nchw_to_nhwc_f16: status {st}")
        Wh = torch.zeros(M, KH, KW, Cp, dtype=torch.half, device="cuda")
        Wh[..., :C] = Wt.permute(0, 2, 3, 1).half()
        Rh = R.permute(0, 2, 3, 1).contiguous().half() if R is not None else None
        _NHWC[key] = (X, Wt, R, Cp, Xh, Wh, Rh)
    return _NHWC[key][3:]


def call_conv_nhwc(lib, cfg, y16, case, X, Wt, b, R, Y, Yh=None):
    """Y: the fp32 NCHW output; with y16 the kernel writes fp16 NHWC into Yh (made here when None, then copied into
    Y for the check; the timed calls pass their own Yh and skip the copy)."""
    import torch
    N, C, H, W, M, KH, KW, s, p, dl = case[:10]
    relu = case[13] if len(case) > 13 else False
    OH, OW = Y.shape[2], Y.shape[3]
    Cp, Xh, Wh, Rh = nhwc_operands(lib, case, X, Wt, R)
    check = y16 and Yh is None
    if check:
        Yh = torch.full((N, OH, OW, M), float("nan"), dtype=torch.half, device="cuda")
    Rp = (Rh if y16 else R) if R is not None else None
    st = lib.ig_conv_nhwc(torch.cuda.current_stream().cuda_stream, cfg, N, Cp, H, W, M, OH, OW, KH, KW, s, s, p, p,
                          dl, dl, Xh.data_ptr(), Wh.data_ptr(), b.data_ptr() if b is not None else None,
                          (Yh if y16 else Y).data_ptr(), int(y16), Rp.data_ptr() if Rp is not None else None,
                          int(y16), 1 if relu else 0)
    if st:
        raise RuntimeError(f"sdk_cuda_conv2d_nhwc_f16: status {st}")
    if check:
        Y.copy_(Yh.permute(0, 3, 1, 2))


# (N, C, H, W, kernel, stride, pad): max pooling on fp16 NHWC
POOL_CHECKS = [(2, 64, 112, 112, 3, 2, 1), (3, 24, 15, 17, 3, 2, 1), (1, 16, 9, 9, 2, 2, 0)]


def check_maxpool(lib, case, gen):
    import torch
    import torch.nn.functional as F
    N, C, H, W, k, s, p = case
    X = torch.randn(N, C, H, W, generator=gen, device="cuda")
    ref = F.max_pool2d(X.double(), k, s, p)
    OH, OW = ref.shape[2], ref.shape[3]
    Xh = X.permute(0, 2, 3, 1).contiguous().half()
    Yh = torch.full((N, OH, OW, C), float("nan"), dtype=torch.half, device="cuda")
    st = lib.ig_maxpool_nhwc(torch.cuda.current_stream().cuda_stream, N, C, H, W, OH, OW, k, s, p, Xh.data_ptr(),
                             Yh.data_ptr())
    if st:
        raise RuntimeError(f"sdk_cuda_maxpool_nhwc_f16: status {st}")
    torch.cuda.synchronize()
    return rel(Yh.permute(0, 3, 1, 2), ref)


def call_conv(lib, case, X, Wt, b, R, Y):
    import torch
    if isinstance(lib, tuple):  # a configuration of the "nhwc" build
        return call_conv_nhwc(lib[0], lib[1][0], lib[1][1], case, X, Wt, b, R, Y)
    N, C, H, W, M, KH, KW, s, p, dl, groups = case[:11]
    relu = case[13] if len(case) > 13 else False
    OH, OW = Y.shape[2], Y.shape[3]
    st = lib.ig_conv(torch.cuda.current_stream().cuda_stream, 1, N, C, H, W, M, OH, OW, KH, KW, s, s, p, p, dl, dl,
                     groups, X.data_ptr(), Wt.data_ptr(), b.data_ptr() if b is not None else None, Y.data_ptr(),
                     R.data_ptr() if R is not None else None, 1 if relu else 0)
    if st:
        raise RuntimeError(f"sdk_cuda_conv2d_f32: status {st}")


def rel(y, ref):
    import torch
    e = float(torch.linalg.norm((y.double() - ref).flatten()) / torch.linalg.norm(ref.flatten()))
    return e if math.isfinite(e) else float("inf")


def median_ms(fn, reps=REPS):
    from cuda_events import median_ms as events_median
    return events_median(fn, reps, warmup=5)


def run(a):
    import torch
    import torch.nn.functional as F
    out = Path(a.out)
    libdir = Path(a.libs or a.out)
    labels = a.variants.split(",") if a.variants else (libdir / "labels.txt").read_text().split()
    libs = {lab: load(libdir, lab) for lab in labels}
    labels = [lab for lab in labels if libs[lab] is not None]
    if "lin" in labels:  # its configurations are variants of their own (GEMMs with K % 8 == 0 only)
        lin = libs.pop("lin")
        labels = [lab for lab in labels if lab != "lin"] + list(LIN_CFGS)
        libs.update({lab: (lin, cfg) for lab, cfg in LIN_CFGS.items()})
    if "linS" in labels:  # the shared-memory epilogue: the default tile only
        libs["linS"] = (libs["linS"], 0)
    nhwc = libs.pop("nhwc", None)
    if nhwc is not None:  # convolutions (groups 1) only
        labels = [lab for lab in labels if lab != "nhwc"] + list(NHWC_CFGS)
        libs.update({lab: (nhwc, cfg) for lab, cfg in NHWC_CFGS.items()})

    def applies(lab, kind, case):
        if lab in NHWC_CFGS:
            return kind == "conv" and case[10] == 1
        return not isinstance(libs[lab], tuple) or (kind == "gemm" and case[3] % 8 == 0)
    res = dict(gpu=torch.cuda.get_device_name(), when=f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
               torch=torch.__version__, labels=labels, checks=[], speed=[])
    gen = torch.Generator(device="cuda").manual_seed(0)
    checks = [("gemm", case, gemm_operands, call_gemm) for case in GEMM_CHECKS]
    checks += [("conv", case, conv_operands, call_conv) for case in CONV_CHECKS]
    for kind, case, operands, call in checks:
        *args, ref = operands(case, gen)
        row = dict(kind=kind, case=list(case), err={})
        for lab in labels:
            if not applies(lab, kind, case):
                continue
            Y = torch.full(ref.shape, float("nan"), device="cuda")
            try:
                call(libs[lab], case, *args, Y)
                torch.cuda.synchronize()
                row["err"][lab] = rel(Y, ref)
            except Exception as ex:  # noqa: BLE001 (reported)
                print(f"{lab} {case}: {type(ex).__name__}: {ex}", flush=True)
                row["err"][lab] = float("inf")
        res["checks"].append(row)
        print(row, flush=True)
    if "lin/hr" in labels and hasattr(libs["lin/hr"][0], "ig_layernorm"):
        for case in LN_CHECKS:
            try:
                e = check_layernorm(libs["lin/hr"][0], case, gen)
            except Exception as ex:  # noqa: BLE001 (reported)
                print(f"layernorm {case}: {type(ex).__name__}: {ex}", flush=True)
                e = float("inf")
            row = dict(kind="layernorm", case=list(case), err={"lin": e})
            res["checks"].append(row)
            print(row, flush=True)
    if nhwc is not None:
        for case in POOL_CHECKS:
            try:
                e = check_maxpool(nhwc, case, gen)
            except Exception as ex:  # noqa: BLE001 (reported)
                print(f"maxpool {case}: {type(ex).__name__}: {ex}", flush=True)
                e = float("inf")
            row = dict(kind="maxpool nhwc", case=list(case), err={"nhwc": e})
            res["checks"].append(row)
            print(row, flush=True)
    save(out, res)
    for M, N, K in GEMM_SPEED:
        case = (1, M, N, K, False, False, 1.0, True, False, False)
        A, B, C, R, ref = gemm_operands(case, gen)
        Ah, Bh, Ch = A.half(), B.half(), C.half()
        row = dict(kind="gemm", case=[M, N, K], flops=2.0 * M * N * K, ms={}, err={})
        row["ms"]["torch fp16 (cuBLAS, +bias)"] = median_ms(lambda: torch.addmm(Ch, Ah[0], Bh[0]))
        for lab in labels:
            if not applies(lab, "gemm", case) or lab in ("lin/plain", "lin/h", "lin/hr"):  # checked, not timed
                continue
            Y = torch.full(ref.shape, float("nan"), device="cuda")
            row["ms"][lab] = median_ms(lambda: call_gemm(libs[lab], case, A, B, C, R, Y))
            row["err"][lab] = rel(Y, ref)
        res["speed"].append(row)
        print(row, flush=True)
        save(out, res)
    shapes = RESNET50_CONVS if a.conv_shapes == "resnet50" else [(c, None) for c in CONV_SPEED]
    for (N, C, H, W, M, KH, KW, s, p), count in shapes:
        case = (N, C, H, W, M, KH, KW, s, p, 1, 1, True, False, True)
        X, Wt, b, R, ref = conv_operands(case, gen)
        OH, OW = ref.shape[2], ref.shape[3]
        row = dict(kind="conv", case=[N, C, H, W, M, KH, KW, s, p], flops=2.0 * N * M * OH * OW * C * KH * KW, ms={},
                   err={}, count=count)
        Xh, Wh, bh = X.half(), Wt.half(), b.half()
        row["ms"]["torch fp16 (cuDNN, NCHW)"] = median_ms(lambda: F.relu(F.conv2d(Xh, Wh, bh, s, p)))
        Xl, Wl = Xh.to(memory_format=torch.channels_last), Wh.to(memory_format=torch.channels_last)
        row["ms"]["torch fp16 (cuDNN, NHWC)"] = median_ms(lambda: F.relu(F.conv2d(Xl, Wl, bh, s, p)))
        for lab in labels:
            if not applies(lab, "conv", case) or lab in ("nhwc/plain", "nhwc/f32out"):  # checked, not timed
                continue
            Y = torch.full(ref.shape, float("nan"), device="cuda")
            if lab in NHWC_CFGS:  # fp16 NHWC in and out, as between the convolutions of an fp16 build
                Yh = torch.empty((N, OH, OW, M), dtype=torch.half, device="cuda")
                lib, (cfg, _) = libs[lab]
                row["ms"][lab] = median_ms(lambda: call_conv_nhwc(lib, cfg, True, case, X, Wt, b, R, Y, Yh))
                Y.copy_(Yh.permute(0, 3, 1, 2))
            else:
                row["ms"][lab] = median_ms(lambda: call_conv(libs[lab], case, X, Wt, b, R, Y))
            row["err"][lab] = rel(Y, ref)
        res["speed"].append(row)
        print(row, flush=True)
        save(out, res)
    print(save(out, res))
    return 0


def save(out: Path, res) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "igemm.json").write_text(json.dumps(res, indent=1))
    labels = res["labels"]
    lines = [f"GPU: {res['gpu']}; {res['when']}; torch {res['torch']}; variants: {', '.join(labels)}", "",
             "| check | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for r in res["checks"]:
        lines.append(f"| {r['kind']} {tuple(r['case'])} | " + " | ".join(
            "n/a" if lab not in r["err"] else f"{r['err'][lab]:.2e}" + ("" if r["err"][lab] <= LIMIT else " NO")
            for lab in labels) + " |")
    lines += ["", "| timed (ms / TFLOP/s) | " + " | ".join(
        sorted({k for r in res["speed"] for k in r["ms"]}, key=lambda k: (k in labels, k))) + " |"]
    keys = sorted({k for r in res["speed"] for k in r["ms"]}, key=lambda k: (k in labels, k))
    lines.append("| --- |" + " ---: |" * len(keys))
    for r in res["speed"]:
        cells = []
        for k in keys:
            ms = r["ms"].get(k)
            err = r["err"].get(k)
            cells.append("" if ms is None else f"{ms:.4f} / {r['flops'] / ms / 1e9:.0f}" +
                         ("" if err is None else f" (err {err:.1e})"))
        lines.append(f"| {r['kind']} {tuple(r['case'])}" + (f" x{r['count']}" if r.get("count") else "") + " | " +
                     " | ".join(cells) + " |")
    counted = [r for r in res["speed"] if r.get("count")]
    if counted:  # the model's convolutions: sum of count x median (ms) where the variant ran every one of them
        cells = [f"{sum(r['count'] * r['ms'][k] for r in counted):.3f}" if all(k in r["ms"] for r in counted) else ""
                 for k in keys]
        lines.append(f"| sum of count x ms ({sum(r['count'] for r in counted)} convolutions) | " + " | ".join(cells) +
                     " |")
    text = "\n".join(lines) + "\n"
    (out / "igemm.md").write_text(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("build", "run"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--libs", help="run: where build wrote the libraries (default: --out)")
    ap.add_argument("--variants", default=None, help="comma-separated (build default: tc,wgmma,async)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--conv-shapes", choices=("default", "resnet50"), default="default",
                    help="run: the timed convolutions (resnet50: every distinct one of ResNet-50 b32, with counts)")
    a = ap.parse_args()
    if a.mode == "build":
        a.variants = a.variants or "tc,wgmma,async"
        build(a)
        return 0
    return run(a)


if __name__ == "__main__":
    os.environ.setdefault("CUDA_MODULE_LOADING", "LAZY")
    sys.exit(main())
