"""Issue 22's model table (``python bench/gpu.py models``): sdk CUDA bundles of ResNet-50, BERT-base, a GPT-2-small
decoder step with a KV cache and ViT-B/16 (``bench/gpu_zoo.py``, random weights, exported and compiled on the GPU
machine) in fp32 and fp16 against PyTorch eager and ``torch.compile`` (default mode) in fp32 and fp16, one run; and
one attention product at seq 512 / 2048 (16 heads of 64) against PyTorch's fused SDPA and a cuBLAS GEMM of the same
FLOPs (TFLOP/s in the note column).

Each model is compiled ONCE per precision at its bounds and run at two dims from that build. Reference: the same
PyTorch module in float64 on the GPU; error ||y - ref|| / ||ref|| over all outputs (the largest), limits 1e-4
(fp32) and 1e-2 (fp16). PyTorch fp32 runs with TF32 off (cuDNN and cuBLAS), so its fp32 rows are fp32 arithmetic."""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# model -> (bounds of the one build, the dims it runs at)
CASES = {
    "resnet50": ({"batch": 32}, [{"batch": 1}, {"batch": 32}]),
    "bert_base": ({"batch": 8, "seq": 512}, [{"batch": 8, "seq": 128}, {"batch": 8, "seq": 512}]),
    "gpt2_step": ({"batch": 8, "past": 1023}, [{"batch": 1, "past": 127}, {"batch": 8, "past": 511}]),
    "vit_b16": ({"batch": 8}, [{"batch": 1}, {"batch": 8}]),
    "attention": ({"batch": 1, "seq": 2048}, [{"batch": 1, "seq": 512}, {"batch": 1, "seq": 2048}]),
}
LIMIT = {"fp32": 1e-4, "fp16": 1e-2}
# precisions that also get torch.compile(mode="reduce-overhead") (bench/gpu.py models --compile-graphs)
COMPILE_GRAPH_PRECISIONS = ()
REPEAT = 30
# torch.compile (default mode; tens of seconds of compiling per model and precision) at each model's larger dims
COMPILE_CASES = {(n, " ".join(f"{k}={v}" for k, v in runs[-1].items())) for n, (_, runs) in CASES.items()}
# bundles: (directory suffix, precision, row label, extra nvcc flags); fp16a (--cp-async): the fp16 bundle built
# with the opt-in cp.async tensor-core kernel (SDK_CUDA_IGEMM_STAGES=4) instead of the default register-prefetch one
VARIANTS = (("fp32", "fp32", "sdk fp32", ""), ("fp16", "fp16", "sdk fp16", ""))
CP_ASYNC = ("fp16a", "fp16", "sdk fp16, cp.async GEMM kernel (opt-in)", "-DSDK_CUDA_IGEMM_STAGES=4")
# fp16w (--igemm-wgmma): the fp16 bundle built with the Hopper wgmma implicit GEMM (SDK_CUDA_IGEMM_WGMMA, sm_90a; the
# target's default since 2026-12-05 15:00)
IGEMM_WGMMA = ("fp16w", "fp16", "sdk fp16, wgmma GEMM kernel (opt-in)",
               "-arch=sm_90a -DSDK_CUDA_WGMMA -DSDK_CUDA_IGEMM_WGMMA")
# fp16t (--igemm-tc): the fp16 bundle with the implicit GEMM on the WMMA kernel (the default before); "!FLAG" drops a
# flag of the target's
IGEMM_TC = ("fp16t", "fp16", "sdk fp16, WMMA implicit GEMM (the old default)", "!-DSDK_CUDA_IGEMM_WGMMA")
# fp16f (--fp32-weights): the fp16 bundle compiled without fp16 weights (sdk/backends/cuda/linear.py off: every GEMM
# on the implicit GEMM with fp32 storage, as before 2026-12-05 15:00), the same-run baseline of that change
FP32_WEIGHTS = ("fp16f", "fp16", "sdk fp16, fp32 weights (the path before)", "@fp32-weights")
# fp16s (--linear-epi-smem): the fp16 bundle with the fp16-weight GEMM's epilogue through shared memory (opt-in
# SDK_CUDA_LINEAR_EPI_SMEM: float4 rows) instead of each thread storing its own fragments
LINEAR_EPI_SMEM = ("fp16s", "fp16", "sdk fp16, GEMM epilogue through shared memory (opt-in)", "-DSDK_CUDA_LINEAR_EPI_SMEM")
# fp16o (--act-per-output): the GEMM / convolution epilogues reading the activation code per output (as before
# 2026-12-05 18:00; SDK_CUDA_ACT_PER_OUTPUT), the same-run baseline of instantiating them per activation
ACT_PER_OUTPUT = ("fp16o", "fp16", "sdk fp16, epilogue activation read per output (the code before)",
                  "-DSDK_CUDA_ACT_PER_OUTPUT")
# fp16n (--nhwc-convs) / fp16c (--nchw-convs): the fp16 bundle compiled with the profile's [lower] fp16_nhwc_convs
# on / off (sdk/backends/cuda/nhwc.py: convolutions on fp16 NHWC activations, or fp32 NCHW storage rounded while
# staged, as before 2026-12-06), whatever cuda-sm90.toml ships
NHWC_CONVS = ("fp16n", "fp16", "sdk fp16, fp16 NHWC convolutions", "@nhwc-convs")
NCHW_CONVS = ("fp16c", "fp16", "sdk fp16, fp32 NCHW convolutions (the path before)", "@nchw-convs")
# fp16g (--graph): the fp16 bundle itself (no build of its own) with its CUDA graphs off (the demo program's
# --graph 0: model_set_graphs(ctx, 0), every run launches its kernels). The other rows run the bundle's default:
# the timed runs repeat dims and buffers, so from the second on they replay the graph the bundle captured (the
# note says how many of the REPEAT runs did; a bundle of a checkout before 2026-12-06 19:00 launches every run).
GRAPH = ("fp16g", "fp16", "sdk fp16, graphs off (kernel launches every run)", "#graph")


def compile_conv_layout(path, dims, out, nhwc: bool):
    """An fp16 build with the profile's ``[lower] fp16_nhwc_convs`` set to ``nhwc``."""
    import dataclasses
    import sdk
    from unittest import mock
    from sdk.targets import load_target
    t = load_target("cuda-sm90")
    t = dataclasses.replace(t, data={**t.data, "lower": {**t.data.get("lower", {}), "fp16_nhwc_convs": nhwc}})
    with mock.patch("sdk.api.load_target", lambda name: t):
        return sdk.compile(path, target="cuda-sm90", dims=dims, precision="fp16").save(out)


# --baseline ROOT: the fp16 bundle compiled by the sdk of another checkout (ROOT: its repository root, e.g. main's),
# built and run in the same process as this checkout's: the same-run baseline of a change
def baseline_variant(root, k=0):
    """The k-th --baseline (tags fp16b, fp16b2, ...; the label names the checkout's directory from the second on)."""
    if k == 0:
        return ("fp16b", "fp16", "sdk fp16, baseline checkout (the code before)", f"@sdk:{root}")
    return (f"fp16b{k + 1}", "fp16", f"sdk fp16, baseline checkout {k + 1} ({os.path.basename(root)})", f"@sdk:{root}")


def compile_with_sdk(root, path, dims, out):
    """``sdk.compile`` of another checkout (``root``) in a subprocess (its own ``sdk`` package)."""
    code = ("import sys, sdk; sdk.compile(sys.argv[1], target='cuda-sm90', dims=eval(sys.argv[2]), "
            "precision='fp16').save(sys.argv[3])")
    r = subprocess.run([sys.executable, "-c", code, str(path), repr(dims), str(out)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(root)}, cwd=str(root))
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-500:])


def compile_fp32_weights(path, dims, out):
    """An fp16 build with the fp16-weight GEMMs off (the code generator's plan of them left empty)."""
    import sdk
    from unittest import mock
    from sdk.backends.cuda.linear import Linears
    with mock.patch("sdk.backends.cuda.codegen.plan_linears", lambda prog, prec: Linears()):
        return sdk.compile(path, target="cuda-sm90", dims=dims, precision="fp16").save(out)


def rel_err(ys, refs):
    e = 0.0
    for y, r in zip(ys, refs):
        y, r = np.asarray(y, np.float64), np.asarray(r, np.float64)
        if y.shape != r.shape or not np.all(np.isfinite(y)):
            return float("inf")
        e = max(e, float(np.linalg.norm(y - r) / max(np.linalg.norm(r), 1e-300)))
    return e


def torch_median(fn, reps):
    from cuda_events import median_ms
    return median_ms(fn, reps, warmup=3)


def build_bundles(work: Path, names, log, store: Path | None = None, link: bool = True, reuse_exports: bool = False):
    """Export, sdk-compile (fp32 and fp16) and nvcc-build every model: each distinct object once, in parallel, through
    the object store ``store`` (bench/nvcc_objects.py; default ``work/objects``: fill it beforehand where nvcc is, e.g.
    ``bench/gpu.py models --prebuild``, and the GPU machine only compiles what changed). ``link`` False: fill the
    store only (no demo programs; no GPU needed). ``reuse_exports`` (or ``link`` False): a model's ONNX file already
    in ``work`` is not exported again (gpu_zoo's modules are seeded: the same file)."""
    import sdk
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_zoo
    import nvcc_objects
    store = Path(store) if store else work / "objects"
    todo = []
    for n in names:
        t0 = time.perf_counter()
        path = str(work / f"{n}.onnx")
        if not ((reuse_exports or not link) and os.path.exists(path)):
            path = gpu_zoo.export(n, str(work))
        log(f"{n}: exported in {time.perf_counter() - t0:.1f} s ({os.path.getsize(path) / 1e6:.0f} MB)")
        for prec in ("fp32", "fp16"):
            if not any(v[1] == prec for v in VARIANTS):  # (bench/gpu.py models --sdk-precisions)
                continue
            t0 = time.perf_counter()
            try:
                b = sdk.compile(path, target="cuda-sm90", dims=CASES[n][0], precision=prec)
                out = b.save(work / f"{n}_{prec}")
            except Exception as e:  # noqa: BLE001 (reported in the table)
                log(f"{n} {prec}: sdk compile failed: {type(e).__name__}: {e}")
                continue
            log(f"{n} {prec}: sdk compile {time.perf_counter() - t0:.1f} s")
            for tag, vprec, _, extra in VARIANTS:
                if vprec != prec or extra == "#graph":  # (GRAPH: runs the bundle of its precision)
                    continue
                d = work / f"{n}_{tag}"
                if extra in ("@fp32-weights", "@nhwc-convs", "@nchw-convs") or extra.startswith("@sdk:"):
                    try:
                        if extra.startswith("@sdk:"):
                            compile_with_sdk(extra[5:], os.path.abspath(path), CASES[n][0], d.resolve())
                        elif extra == "@fp32-weights":
                            compile_fp32_weights(path, CASES[n][0], d)
                        else:
                            compile_conv_layout(path, CASES[n][0], d, extra == "@nhwc-convs")
                    except Exception as e:  # noqa: BLE001 (reported in the table)
                        log(f"{n} {tag}: sdk compile failed: {type(e).__name__}: {e}")
                        continue
                    extra = ""
                elif d != out:
                    shutil.copytree(out, d, dirs_exist_ok=True)
                flags = None  # the Makefile's
                if extra:
                    flags = next(ln.split("=", 1)[1].strip() for ln in (d / "Makefile").read_text().splitlines()
                                 if ln.startswith("NVCCFLAGS"))
                    if "-arch=" in extra:  # the variant's architecture replaces the target's
                        flags = " ".join(f for f in flags.split() if not f.startswith("-arch="))
                    drop = {f[1:] for f in extra.split() if f.startswith("!")}
                    flags = " ".join(f for f in flags.split() if f not in drop)
                    extra = " ".join(f for f in extra.split() if not f.startswith("!"))
                    flags = f"{flags} {extra}"
                todo.append((n, tag, d, flags))
    t0 = time.perf_counter()
    if not link:
        failed = nvcc_objects.compile_missing([(d, f) for _, _, d, f in todo], store, log=log)
        log(f"objects: {time.perf_counter() - t0:.0f} s, {len(failed)} failed{''.join(failed.values())[-3000:]}")
        return {}
    res = nvcc_objects.build_all([(d, f) for _, _, d, f in todo], store, log=log)
    built = {}
    for n, tag, d, _ in todo:
        ok, text = res[d]
        built[(n, tag)] = ok
        log(f"{n} {tag}: nvcc {'ok' if ok else 'FAILED'}{'' if ok else text[-2000:]}")
    for n in names:
        for tag, prec, _, extra in VARIANTS:
            if extra == "#graph":
                built[(n, tag)] = built.get((n, prec), False)
    log(f"nvcc builds: {time.perf_counter() - t0:.0f} s")
    return built


def run_bundle(work: Path, n, prec, tag, feeds, args=()):
    """``prec``: the variant's tag (its bundle directory ``n_prec``); ``args``: more options of the demo program."""
    from sdk.tensorfile import read_tensor, write_tensor
    d = work / f"{n}_{prec}"
    ins = []
    for k, a in enumerate(feeds):
        p = work / f"{n}_{tag}_in{k}.sdkt"
        if not p.exists():
            write_tensor(p, a)
        ins.append(str(p))
    nout = len(json.loads((d / "bundle.json").read_text())["outputs"])
    outs = [str(d / f"out_{tag}_{k}.sdkt") for k in range(nout)]
    r = subprocess.run([str(d / "model_main"), "--repeat", str(REPEAT), *args, *ins, *outs], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-300:])
    info = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if " " in ln)
    run_bundle.graph_runs = info.get("graph_runs")  # (the demo programs of older checkouts print none)
    return float(info["median_ms"]), [read_tensor(p) for p in outs]


def measure_models(work: Path, names, compile_peers=True, log=print, compile_budget_s=None,
                   compile_precisions=("fp32", "fp16"), store: Path | None = None, reuse_exports: bool = False):
    """Rows of the table; torch.compile peers (at ``compile_precisions``) are skipped (noted) once
    compile_budget_s seconds have passed."""
    import torch
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_zoo
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    built = build_bundles(work, names, log, store, reuse_exports=reuse_exports)
    rows = []
    for n in names:
        base, _, _, _, mk = gpu_zoo.build(n)
        m64 = copy.deepcopy(base).double().cuda()
        mods = {"fp32": copy.deepcopy(base).cuda(), "fp16": copy.deepcopy(base).half().cuda()}
        for dims in CASES[n][1]:
            tag = "_".join(f"{k}{v}" for k, v in dims.items())
            what = f"{n} " + " ".join(f"{k}={v}" for k, v in dims.items())
            inputs = mk(dims, torch.Generator().manual_seed(zlib.crc32(tag.encode())))
            with torch.no_grad():
                ref = m64(*[x.cuda().double() if x.is_floating_point() else x.cuda() for x in inputs])
            refs = [r.cpu().numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
            feeds = [x.numpy() for x in inputs]
            for vtag, prec, label, extra in VARIANTS:
                row = dict(what=what, impl=label, prec=prec)
                if built.get((n, vtag)):
                    try:
                        row["ms"], ys = (run_bundle(work, n, vtag, tag, feeds) if extra != "#graph" else
                                         run_bundle(work, n, prec, tag + "_g", feeds, ("--graph", "0")))
                        row["err"] = rel_err(ys, refs)
                        if run_bundle.graph_runs is not None:
                            row["note"] = f"{run_bundle.graph_runs.strip()} of {REPEAT} runs replayed a graph"
                        if n == "attention":
                            row["note"] = f"{attention_flops(inputs[0]) / row['ms'] / 1e9:.0f} TFLOP/s"
                    except Exception as e:  # noqa: BLE001
                        row["note"] = f"run failed: {e}"
                else:
                    row["note"] = "not built"
                rows.append(row)
                log(str(row))
            for prec, dt in (("fp32", torch.float32), ("fp16", torch.float16)):
                m = mods[prec]
                xs = [x.cuda().to(dt) if x.is_floating_point() else x.cuda() for x in inputs]
                peers = [("PyTorch eager", m)]
                if compile_peers and (n, what.split(" ", 1)[1]) in COMPILE_CASES and prec in compile_precisions:
                    if compile_budget_s is not None and time.perf_counter() - start > compile_budget_s:
                        rows.append(dict(what=what, impl=f"torch.compile {prec}", prec=prec,
                                         note="not run: the device-time budget of this run was spent"))
                    else:
                        torch._dynamo.reset()
                        peers.append(("torch.compile", torch.compile(m)))
                        if prec in COMPILE_GRAPH_PRECISIONS:  # its CUDA-graph mode: the peer of the bundle's graphs
                            peers.append(("torch.compile reduce-overhead", _reduce_overhead(m)))
                for label, fn in peers:
                    row = dict(what=what, impl=f"{label} {prec}", prec=prec)
                    try:
                        t0 = time.perf_counter()
                        with torch.no_grad():
                            y = fn(*xs)
                            torch.cuda.synchronize()
                            row["first_s"] = time.perf_counter() - t0
                            ys = [t.double().cpu().numpy() for t in (y if isinstance(y, tuple) else (y,))]
                            row["err"] = rel_err(ys, refs)
                            row["ms"] = torch_median(lambda: fn(*xs), REPEAT)
                    except Exception as e:  # noqa: BLE001
                        row["note"] = f"{type(e).__name__}: {str(e)[:200]}"
                    rows.append(row)
                    log(str(row))
            if n == "attention":
                rows.extend(attention_peers(inputs, refs, what, log))
        del m64, mods
        torch.cuda.empty_cache()
    return rows


def _reduce_overhead(m):
    """torch.compile(m, mode="reduce-overhead"), compiled at its first call after a dynamo reset (the default mode's
    peer of the same module has been measured by then)."""
    import torch
    fn = []

    def call(*xs):
        if not fn:
            torch._dynamo.reset()
            fn.append(torch.compile(m, mode="reduce-overhead"))
        return fn[0](*xs)
    return call


def attention_flops(q):
    b, h, s, d = q.shape
    return 4.0 * b * h * s * s * d


def attention_peers(inputs, refs, what, log):
    """The attention case's extra fp16 rows: PyTorch's fused scaled_dot_product_attention and a cuBLAS GEMM
    (torch.matmul) of the same FLOPs (n x n x n with 2 n^3 = 4 b h s^2 d); TFLOP/s in the note. The sdk rows'
    TFLOP/s follow from their times (attention_flops)."""
    import torch
    out = []
    q, k, v = (x.cuda().half() for x in inputs)
    flops = attention_flops(q)
    row = dict(what=what, impl="PyTorch SDPA fp16 (fused)", prec="fp16")
    with torch.no_grad():
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        row["err"] = rel_err([y.double().cpu().numpy()], refs)
        row["ms"] = torch_median(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), REPEAT)
    row["note"] = f"{flops / row['ms'] / 1e9:.0f} TFLOP/s"
    out.append(row)
    n = round((flops / 2) ** (1 / 3))
    a, b = torch.randn(n, n, device="cuda", dtype=torch.half), torch.randn(n, n, device="cuda", dtype=torch.half)
    ms = torch_median(lambda: torch.matmul(a, b), REPEAT)
    out.append(dict(what=what, impl=f"cuBLAS GEMM fp16 {n}^3 (same FLOPs)", prec="fp16", ms=ms,
                    note=f"{2 * n ** 3 / ms / 1e9:.0f} TFLOP/s (the peak the issue compares with)"))
    for r in out:
        log(str(r))
    return out


def table(rows):
    lines = ["| case | implementation | median ms | vs eager (same precision) | vs torch.compile (same precision) | "
             "rel. error | within limit | note |", "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    peer = {(r["what"], r["impl"]): r.get("ms") for r in rows}
    for r in rows:
        ms = r.get("ms")
        e = peer.get((r["what"], f"PyTorch eager {r['prec']}"))
        c = peer.get((r["what"], f"torch.compile {r['prec']}"))
        ve = f"{ms / e:.2f}x" if ms and e and r["impl"].startswith("sdk") else ""  # < 1: sdk faster
        vc = f"{ms / c:.2f}x" if ms and c and r["impl"].startswith("sdk") else ""
        cr = peer.get((r["what"], f"torch.compile reduce-overhead {r['prec']}"))
        if ms and cr and r["impl"].startswith("sdk"):  # (the CUDA-graph mode of torch.compile, where it ran)
            vc += f" ({ms / cr:.2f}x reduce-overhead)"
        err = r.get("err")
        ok = "" if err is None else ("yes" if err <= LIMIT[r["prec"]] else "NO")
        lines.append(f"| {r['what']} | {r['impl']} | {'' if ms is None else f'{ms:.3f}'} | {ve} | {vc} | "
                     f"{'' if err is None else f'{err:.2e}'} | {ok} | {r.get('note', '')} |")
    return "\n".join(lines) + "\n"
