"""GPU benchmark of CUDA bundles (issue 7): correctness against float64 references and CUDA-event timings.

    python bench/gpu.py prepare  [--work bench/data/gpu]   # CPU only: bundles, inputs, float64 references
    python bench/gpu.py measure  [--work bench/data/gpu] [--out RESULTS.md]   # on the GPU machine
    python bench/gpu.py all      ...                        # both

(a) fp16 GEMM 4096x4096x4096: sdk_cuda_gemm_f16 (WMMA/mma.sync, cp.async pipeline; three tile configs) against
    cuBLAS (cublasGemmEx from a small program built here, and torch.matmul when PyTorch is installed).
(b) every example at its bounds (fp32), and the transformer (batch 4, seq 64/128/512 from ONE build with bound
    seq<=512: dynamic dims, no recompiling) in fp32 and fp16, against PyTorch eager (an ONNX interpreter over torch
    ops, fp32 and fp16) when PyTorch is there. Reference: float64 (onnx ReferenceEvaluator on a float64 copy of the
    model). Error: ||y - ref||_2 / ||ref||_2; limits 1e-4 (fp32), 1e-2 (fp16)."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "bench"))

TR_BOUNDS = {"batch": 4, "seq": 512}
TR_SEQS = (64, 128, 512)
LIMIT = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 1e-2}
REPEAT = 100
GEMM = 4096

GEMM_MAIN = r"""
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <cublas_v2.h>
#include "sdk_cuda.h"
static std::vector<__half> load(const char *p, size_t n) {
  std::vector<__half> v(n); FILE *f = fopen(p, "rb");
  if (!f || fread(v.data(), 2, n, f) != n) { fprintf(stderr, "cannot read %s\n", p); exit(2); }
  fclose(f); return v;
}
static void save(const char *p, const __half *d, size_t n) {
  std::vector<__half> v(n); cudaMemcpy(v.data(), d, n * 2, cudaMemcpyDeviceToHost);
  FILE *f = fopen(p, "wb"); fwrite(v.data(), 2, n, f); fclose(f);
}
template <typename F> static float median_ms(F f, int reps) {
  cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
  for (int i = 0; i < 10; ++i) f();
  std::vector<float> t(reps);
  for (int i = 0; i < reps; ++i) { cudaEventRecord(a); f(); cudaEventRecord(b); cudaEventSynchronize(b); cudaEventElapsedTime(&t[i], a, b); }
  std::sort(t.begin(), t.end()); return t[reps / 2];
}
int main(int argc, char **argv) {
  const int n = atoi(argv[1]), reps = atoi(argv[4]); const size_t nn = (size_t)n * n;
  std::vector<__half> A = load(argv[2], nn), B = load(argv[3], nn);
  __half *dA, *dB, *dY; cudaMalloc(&dA, nn * 2); cudaMalloc(&dB, nn * 2); cudaMalloc(&dY, nn * 2);
  cudaMemcpy(dA, A.data(), nn * 2, cudaMemcpyHostToDevice); cudaMemcpy(dB, B.data(), nn * 2, cudaMemcpyHostToDevice);
  for (int cfg = 0; cfg < 4; ++cfg) {
    cudaMemset(dY, 0, nn * 2);
    sdk_status st = sdk_cuda_gemm_f16_cfg(0, cfg, n, n, n, 1.0f, dA, dB, dY);
    if (st) { printf("cfg%d error %d %s\n", cfg, (int)st, cudaGetErrorString(cudaGetLastError())); continue; }
    float ms = median_ms([&] { sdk_cuda_gemm_f16_cfg(0, cfg, n, n, n, 1.0f, dA, dB, dY); }, reps);
    char p[64]; snprintf(p, sizeof p, "Y_cfg%d.bin", cfg); save(p, dY, nn);
    printf("cfg%d %.6f\n", cfg, ms);
  }
  std::vector<__half> Bt = load(argv[5], nn); /* B transposed: [N, K] */
  __half *dBt; cudaMalloc(&dBt, nn * 2); cudaMemcpy(dBt, Bt.data(), nn * 2, cudaMemcpyHostToDevice);
  for (int cfg = 0; cfg < 5; ++cfg) {
    cudaMemset(dY, 0, nn * 2);
    sdk_status st = sdk_cuda_gemm_f16_nt_cfg(0, cfg, n, n, n, 1.0f, dA, dBt, dY);
    if (st) { printf("nt_cfg%d error %d %s\n", cfg, (int)st, cudaGetErrorString(cudaGetLastError())); continue; }
    float ms = median_ms([&] { sdk_cuda_gemm_f16_nt_cfg(0, cfg, n, n, n, 1.0f, dA, dBt, dY); }, reps);
    char p[64]; snprintf(p, sizeof p, "Y_nt_cfg%d.bin", cfg); save(p, dY, nn);
    printf("nt_cfg%d %.6f\n", cfg, ms);
  }
  cublasHandle_t h; cublasCreate(&h);
  const float one = 1.0f, zero = 0.0f;
  auto cub = [&] { /* row-major Y = A B  <=>  column-major Y^T = B^T A^T */
    cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, dB, CUDA_R_16F, n, dA, CUDA_R_16F, n, &zero, dY,
                 CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT); };
  cub(); cudaDeviceSynchronize();
  save("Y_cublas.bin", dY, nn);
  printf("cublas %.6f\n", median_ms(cub, reps));
  auto cub_nt = [&] { /* row-major Y = A Bt^T  <=>  column-major Y^T = op_T(Bt) A^T */
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, dBt, CUDA_R_16F, n, dA, CUDA_R_16F, n, &zero, dY,
                 CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT); };
  cub_nt(); cudaDeviceSynchronize();
  save("Y_cublas_nt.bin", dY, nn);
  printf("cublas_nt %.6f\n", median_ms(cub_nt, reps));
  return cudaGetLastError() == cudaSuccess ? 0 : 3;
}
"""


def to_float64(model):
    """A float64 copy of a float32 ONNX model (initializers, graph inputs and outputs)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == onnx.TensorProto.FLOAT:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for vi in list(m.graph.input) + list(m.graph.output):
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    del m.graph.value_info[:]
    return m


def reference64(model, feeds):
    from onnx.reference import ReferenceEvaluator
    ref = ReferenceEvaluator(to_float64(model))
    outs = ref.run(None, {k: v.astype(np.float64) for k, v in feeds.items()})
    return dict(zip([o.name for o in model.graph.output], outs))


def prepare(work: Path):
    import onnx
    import sdk
    from make_examples import BOUNDS, EXAMPLES
    from sdk.tensorfile import write_tensor
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cases = []
    rng = np.random.default_rng(0)
    for name, fn in EXAMPLES.items():
        model = fn()
        onnx.save(model, work / f"{name}.onnx")
        bounds = TR_BOUNDS if name == "transformer" else BOUNDS[name]
        for prec in (("fp32", "fp16") if name == "transformer" else ("fp32",)):
            sdk.compile(model, target="cuda-sm90", dims=bounds, precision=prec).save(work / f"{name}_{prec}")
        runs = [dict(TR_BOUNDS, seq=s) for s in TR_SEQS] if name == "transformer" else [bounds]
        for dims in runs:
            tag = "_".join(f"{k}{v}" for k, v in dims.items())
            feeds = {}
            for vi in model.graph.input:
                shape = [d.dim_value if d.HasField("dim_value") else dims[d.dim_param]
                         for d in vi.type.tensor_type.shape.dim]
                feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
            ref = reference64(model, feeds)
            for k, (n, a) in enumerate(feeds.items()):
                write_tensor(work / f"{name}_{tag}_in{k}.sdkt", a)
            np.savez(work / f"{name}_{tag}_ref.npz", **ref)
            for prec in (("fp32", "fp16") if name == "transformer" else ("fp32",)):
                cases.append(dict(model=name, bundle=f"{name}_{prec}", precision=prec, dims=dims, tag=tag,
                                  inputs=[f"{name}_{tag}_in{k}.sdkt" for k in range(len(feeds))],
                                  outputs=[o.name for o in model.graph.output]))
    (work / "cases.json").write_text(json.dumps(cases, indent=1))
    g = work / "gemm"
    g.mkdir()
    (g / "gemm_main.cu").write_text(GEMM_MAIN)
    from sdk.resources import GPU_HEADERS, GPU_LIBRARY
    for f in (*(f"cuda/{c}" for c in GPU_HEADERS + GPU_LIBRARY), "include/sdk_runtime.h", "include/sdk_status.h",
              "src/sdk_status.c", "src/sdk_runtime.c"):
        shutil.copy(ROOT / "runtime_c" / f, g / Path(f).name)
    print(f"prepared {len(cases)} cases in {work}")


def rel_err(y, ref):
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-300))


def sh(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, shell=isinstance(cmd, str))
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def measure_gemm(work: Path, rows: list):
    g = work / "gemm"
    n = GEMM
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, n)).astype(np.float16)
    B = rng.standard_normal((n, n)).astype(np.float16)
    A.tofile(g / "A.bin")
    B.tofile(g / "B.bin")
    np.ascontiguousarray(B.T).tofile(g / "Bt.bin")
    from sdk.resources import GPU_LIBRARY
    sh(f"nvcc -O3 -std=c++17 -arch=sm_90a -DSDK_CUDA_WGMMA -o gemm_main gemm_main.cu {' '.join(GPU_LIBRARY)} "
       "sdk_status.c sdk_runtime.c -lcublas", cwd=g)
    out = sh(["./gemm_main", str(n), "A.bin", "B.bin", "50", "Bt.bin"], cwd=g)
    times = {ln.split()[0]: float(ln.split()[1]) for ln in out.splitlines() if len(ln.split()) == 2}
    try:
        import torch
        At, Bt = torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda()
        ref = (At.double() @ Bt.double()).cpu().numpy()
        times["torch.matmul"] = _torch_median(lambda: torch.matmul(At, Bt), 50)
        Btt = Bt.t().contiguous()
        times["torch.matmul_nt"] = _torch_median(lambda: torch.matmul(At, Btt.t()), 50)
    except ImportError:
        ref = A.astype(np.float64) @ B.astype(np.float64)
    flop = 2.0 * n ** 3
    for k, ms in times.items():
        nt = "nt" in k
        cub = times["cublas_nt" if nt else "cublas"]
        path = g / f"Y_{k}.bin"
        err = rel_err(np.fromfile(path, np.float16).reshape(n, n), ref) if path.exists() else float("nan")
        what = f"GEMM fp16 {n}^3, " + ("A B^T (B given [N,K])" if nt else "A B (B given [K,N])")
        impl = {"cfg0": "sdk wgmma + TMA, 128x256, 4 stages (default)", "cfg1": "sdk WMMA 128x128 (8 warps 64x32)",
                "cfg2": "sdk WMMA 128x256 (8 warps 64x64)", "cfg3": "sdk WMMA 128x128 (4 warps 64x64)", "nt_cfg0": "sdk wgmma + TMA, 128x256, 4 stages (default)",
                "nt_cfg1": "sdk wgmma + cp.async, 128x256, 4 stages", "nt_cfg2": "sdk wgmma + TMA, 128x128, 5 stages",
                "nt_cfg3": "sdk wgmma + cp.async, 128x128, 5 stages", "nt_cfg4": "sdk WMMA 128x128 (non-sm_90a fallback)",
                "cublas": "cuBLAS cublasGemmEx", "cublas_nt": "cuBLAS cublasGemmEx",
                "torch.matmul": "torch.matmul", "torch.matmul_nt": "torch.matmul"}[k]
        rows.append(dict(what=what, impl=impl, ms=ms,
                         tflops=flop / ms / 1e9, vs=cub / ms, err=err, ok=(err < LIMIT["fp16"]) if err == err else None))


def _torch_median(fn, reps):
    from cuda_events import median_ms
    return median_ms(fn, reps)


def torch_eager(model, dtype):
    """A PyTorch eager version of the (transformer) ONNX graph: one torch op per node; shapes on the host."""
    import torch
    import torch.nn.functional as F
    from onnx import helper, numpy_helper
    consts = {}
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        consts[t.name] = torch.from_numpy(a).cuda().to(dtype) if a.dtype == np.float32 else a
    nodes = [(n.op_type, list(n.input), list(n.output), {a.name: helper.get_attribute_value(a) for a in n.attribute})
             for n in model.graph.node]

    def run(x):
        env = dict(consts)
        env[model.graph.input[0].name] = x
        for op, ins, outs, at in nodes:
            v = [env[i] for i in ins]
            if op == "Shape":
                y = np.array(v[0].shape, np.int64)
            elif op == "Gather":
                y = np.take(v[0], v[1], axis=at.get("axis", 0))
            elif op == "Concat":
                y = np.concatenate(v, axis=at["axis"])
            elif op == "Reshape":
                shape = [int(s) if s != 0 else v[0].shape[k] for k, s in enumerate(v[1])]
                y = v[0].reshape(shape)
            elif op == "Transpose":
                y = v[0].permute(*at["perm"])
            elif op == "MatMul":
                y = torch.matmul(v[0], v[1])
            elif op in ("Add", "Mul", "Div"):
                y = {"Add": torch.add, "Mul": torch.mul, "Div": torch.div}[op](v[0], v[1])
            elif op == "Erf":
                y = torch.erf(v[0])
            elif op == "Softmax":
                y = torch.softmax(v[0], dim=at.get("axis", -1))
            elif op == "LayerNormalization":
                y = F.layer_norm(v[0], v[0].shape[-1:], v[1], v[2], eps=at.get("epsilon", 1e-5))
            else:
                raise NotImplementedError(op)
            env[outs[0]] = y
        return env[model.graph.output[0].name]
    return run


def measure(work: Path, rows: list):
    from sdk.backends.cuda.runner import CudaRunner
    from sdk.tensorfile import read_tensor
    import onnx
    cases = json.loads((work / "cases.json").read_text())
    runner = CudaRunner()
    built = set()
    try:
        import torch
    except ImportError:
        torch = None
    for c in cases:
        b = work / c["bundle"]
        if c["bundle"] not in built:
            runner.build(b)
            built.add(c["bundle"])
        exe = b / "model_main"
        outs = [b / f"out_{c['tag']}_{k}.sdkt" for k in range(len(c["outputs"]))]
        res = sh([str(exe), "--repeat", str(REPEAT)] + [str(work / i) for i in c["inputs"]] + [str(p) for p in outs])
        info = dict(ln.split(" ", 1) for ln in res.splitlines() if " " in ln)
        ref = np.load(work / f"{c['model']}_{c['tag']}_ref.npz")
        err = max(rel_err(read_tensor(p), ref[n]) for p, n in zip(outs, c["outputs"]))
        what = f"{c['model']} " + " ".join(f"{k}={v}" for k, v in c["dims"].items())
        rows.append(dict(what=what, impl=f"sdk {c['precision']}", ms=float(info["median_ms"]), err=err,
                         ok=err < LIMIT[c["precision"]], arena=int(info["workspace_bytes"])))
        if torch is not None and c["model"] == "transformer" and c["precision"] == "fp32":
            model = onnx.load(work / "transformer.onnx")
            x = read_tensor(work / c["inputs"][0])
            for dt, tag in ((torch.float32, "fp32"), (torch.float16, "fp16")):
                fn = torch_eager(model, dt)
                xt = torch.from_numpy(x).cuda().to(dt)
                with torch.no_grad():
                    y = fn(xt).double().cpu().numpy()
                    ms = _torch_median(lambda: fn(xt), REPEAT)
                e = rel_err(y, ref["hidden"])
                rows.append(dict(what=what, impl=f"PyTorch eager {tag}", ms=ms, err=e, ok=e < LIMIT[tag]))


def table(rows, device):
    lines = [f"GPU: {device}; date {datetime.date.today().isoformat()}; medians of CUDA-event timings "
             f"({REPEAT} runs per model, 50 per GEMM); rel. error ||y-ref||/||ref|| against float64.", "",
             "| case | implementation | median ms | TFLOP/s | vs cuBLAS | rel. error | within limit |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        tf = f"{r['tflops']:.1f}" if "tflops" in r else ""
        vs = f"{r['vs']:.2f}x" if "vs" in r else ""
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        err = f"{r['err']:.2e}" if r["err"] == r["err"] else "not checked"
        lines.append(f"| {r['what']} | {r['impl']} | {r['ms']:.4f} | {tf} | {vs} | {err} | {ok} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["prepare", "measure", "all", "models"])
    ap.add_argument("--models", nargs="*", help="models phase: a subset of bench/gpu_table.py's CASES")
    ap.add_argument("--no-compile-peer", action="store_true", help="models phase: skip torch.compile")
    ap.add_argument("--compile-budget", type=float, help="models phase: no torch.compile after this many seconds")
    ap.add_argument("--compile-precisions", nargs="*", default=["fp32", "fp16"],
                    help="models phase: torch.compile peers at these precisions only")
    ap.add_argument("--sdk-precisions", nargs="*", default=["fp32", "fp16"],
                    help="models phase: the precisions of the sdk bundles built and run (default both)")
    ap.add_argument("--cp-async", action="store_true", help="models phase: also the opt-in cp.async GEMM kernel")
    ap.add_argument("--igemm-wgmma", action="store_true", help="models phase: also the opt-in wgmma GEMM kernel")
    ap.add_argument("--igemm-tc", action="store_true",
                    help="models phase: also fp16 with the WMMA implicit GEMM (the default before the wgmma one)")
    ap.add_argument("--fp32-weights", action="store_true",
                    help="models phase: also fp16 without fp16 weights (sdk/backends/cuda/linear.py off)")
    ap.add_argument("--nhwc-convs", action="store_true",
                    help="models phase: also fp16 with the NHWC convolutions (sdk/backends/cuda/nhwc.py) on")
    ap.add_argument("--nchw-convs", action="store_true",
                    help="models phase: also fp16 with the NHWC convolutions off")
    ap.add_argument("--linear-epi-smem", action="store_true",
                    help="models phase: also fp16 with the opt-in shared-memory epilogue of the fp16-weight GEMM")
    ap.add_argument("--act-per-output", action="store_true",
                    help="models phase: also fp16 with the epilogues reading the activation per output (before)")
    ap.add_argument("--graph", action="store_true",
                    help="models phase: also the fp16 bundle with its CUDA graphs off (every run launches its kernels; "
                    "the other rows replay the graph the bundle captures)")
    ap.add_argument("--compile-graphs", nargs="*", default=[], metavar="PREC",
                    help="models phase: also torch.compile(mode='reduce-overhead') (CUDA graphs) at these precisions")
    ap.add_argument("--variant", metavar="TAG=FLAGS", action="append",
                    help="models phase: also the fp16 bundle built with these extra nvcc flags (bundle <model>_fp16TAG)")
    ap.add_argument("--baseline", metavar="ROOT", action="append",
                    help="models phase: also fp16 compiled by the sdk of the checkout at ROOT (a same-run baseline; "
                    "repeatable)")
    ap.add_argument("--objects", metavar="DIR",
                    help="models phase: the object store of the nvcc builds (bench/nvcc_objects.py; default WORK/objects)")
    ap.add_argument("--prebuild", action="store_true",
                    help="models phase: only export, sdk-compile and fill the object store (where nvcc is, no GPU): "
                         "carry it to the GPU machine (--objects) and the run there compiles only what changed")
    ap.add_argument("--reuse-exports", action="store_true",
                    help="models phase: a model's ONNX file already in WORK (e.g. a --prebuild's) is not exported again")
    ap.add_argument("--work", default=str(ROOT / "bench" / "data" / "gpu"))
    ap.add_argument("--out", help="write the table (markdown) here too")
    ap.add_argument("--skip-gemm", action="store_true")
    a = ap.parse_args()
    work = Path(a.work)
    if a.phase == "models":  # issue 22's table: everything on the GPU machine (exports, sdk, nvcc, PyTorch)
        import gpu_table
        names = a.models or list(gpu_table.CASES)
        gpu_table.VARIANTS = tuple(v for v in gpu_table.VARIANTS if v[1] in a.sdk_precisions)
        if a.cp_async:
            gpu_table.VARIANTS += (gpu_table.CP_ASYNC,)
        if a.igemm_wgmma:
            gpu_table.VARIANTS += (gpu_table.IGEMM_WGMMA,)
        if a.igemm_tc:
            gpu_table.VARIANTS += (gpu_table.IGEMM_TC,)
        if a.fp32_weights:
            gpu_table.VARIANTS += (gpu_table.FP32_WEIGHTS,)
        if a.nhwc_convs:
            gpu_table.VARIANTS += (gpu_table.NHWC_CONVS,)
        if a.nchw_convs:
            gpu_table.VARIANTS += (gpu_table.NCHW_CONVS,)
        if a.linear_epi_smem:
            gpu_table.VARIANTS += (gpu_table.LINEAR_EPI_SMEM,)
        if a.act_per_output:
            gpu_table.VARIANTS += (gpu_table.ACT_PER_OUTPUT,)
        if a.graph:
            gpu_table.VARIANTS += (gpu_table.GRAPH,)
        gpu_table.COMPILE_GRAPH_PRECISIONS = tuple(a.compile_graphs)
        for v in a.variant or ():
            tag, flags = v.split("=", 1)
            gpu_table.VARIANTS += ((f"fp16{tag}", "fp16", f"sdk fp16, {flags}", flags),)
        for k, root in enumerate(a.baseline or ()):
            gpu_table.VARIANTS += (gpu_table.baseline_variant(os.path.abspath(root), k),)
        logf = open(Path(a.out).with_suffix(".log"), "w") if a.out else None

        def log(msg):
            print(msg, flush=True)
            if logf:
                logf.write(msg + "\n")
                logf.flush()
        if a.prebuild:
            work.mkdir(parents=True, exist_ok=True)
            gpu_table.build_bundles(work, names, log, a.objects, link=False)
            return
        rows = gpu_table.measure_models(work, names, not a.no_compile_peer, log, a.compile_budget,
                                        tuple(a.compile_precisions), a.objects, a.reuse_exports)
        device = sh("nvidia-smi --query-gpu=name --format=csv,noheader").strip().splitlines()[0]
        t = f"GPU: {device}; {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC\n\n" + gpu_table.table(rows)
        print(t)
        if a.out:
            Path(a.out).write_text(t)
            Path(a.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))
        return
    if a.phase in ("prepare", "all"):
        prepare(work)
    if a.phase in ("measure", "all"):
        device = sh("nvidia-smi --query-gpu=name --format=csv,noheader").strip().splitlines()[0]
        rows = []
        if not a.skip_gemm:
            measure_gemm(work, rows)
        measure(work, rows)
        t = table(rows, device)
        print(t)
        if a.out:
            Path(a.out).write_text(t)


if __name__ == "__main__":
    main()
