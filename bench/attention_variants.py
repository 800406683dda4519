"""Variants of the fused attention kernel side by side in one GPU run (issue 22: at seq 2048, >= 50% of the fp16
GEMM peak measured with cuBLAS on the same FLOPs): every variant checked against float64, then timed with the cuBLAS
peak and PyTorch's SDPA measured in the same run.

    python bench/attention_variants.py build --out DIR [--opts 0,1,3] [--main-src FILE] [--wgmma [--wg-main-src FILE]]
    python bench/attention_variants.py run --out DIR [--libs DIR] [--labels ...]          # on the GPU machine
    python bench/attention_variants.py all --out DIR --jobs 9 [--opts ...] [--main-src FILE]  # both, on the GPU

A variant is runtime_c/cuda/sdk_cuda_attention.cu compiled with -DSDK_ATT_OPT=<bit mask> (the kernel options at the
top of that file), or, labelled "main", another copy of the file (``--main-src``: the kernel as it was, the
baseline); "wg" is the file built for sm_90a with the wgmma kernel (``--wgmma``) and "wgmain" another copy of it
built the same way (``--wg-main-src``: the wgmma kernel as it was, a same-run baseline for its tile configurations).
``build`` writes DIR/libatt_<label>.so and a copy of each source with its nvcc command, so ``run`` can
rebuild on the GPU machine when a library does not load there. ``run`` loads each library through ctypes (as
bench/attention_gpu.py does), runs every check of bench/attention_gpu.py with every variant on the same inputs (plus
the D = 64 fp16 checks with the other two tile configurations, and inputs whose row max grows along the keys, which
exercise ATT_LAZY's rescaling), then times the speed cases: per case the cuBLAS fp16 GEMM n^3 of the same FLOPs
(before and after the variants; the larger is the peak), SDPA, and each variant (median of CUDA-event timings of 50
launches after 10 warm-ups; every timed output is compared with float64 too). Writes DIR/variants.md and
DIR/variants.json."""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attention_gpu as ag  # noqa: E402
from cuda_events import median_ms  # noqa: E402

SRC = ag.ROOT / "runtime_c" / "cuda" / "sdk_cuda_attention.cu"
RAMP = 6.0
EXTRA = [  # (case, ramp): row max growing along the keys (ATT_LAZY's rescale path and its kept-max path)
    ((1, 4, 300, 2048, 64, "fp16", 1, None, False, "bhsd"), RAMP),
    ((1, 4, 256, 1000, 128, "fp16", 1, None, False, "bhsd"), RAMP),
    ((2, 3, 200, 700, 64, "fp32", 2, "pad", False, "bshd"), RAMP),
    ((1, 2, 200, 1500, 64, "fp16", 1, None, False, "bhsd"), -RAMP),
    # fp16 storage the wgmma kernel takes (TMA tensor maps: strided [B, S, H, D] views, one query row, partial tiles)
    ((2, 3, 200, 333, 64, "fp16", 1, None, False, "bshd"), 0.0),
    ((2, 3, 190, 260, 128, "fp16", 1, None, True, "bshd"), 0.0),
    ((2, 12, 1, 513, 64, "fp16", 1, None, False, "bhsd"), 0.0),
    ((1, 3, 200, 333, 64, "fp16", 1, "pad", False, "bshd"), RAMP),
    ((3, 1, 200, 333, 64, "fp16", 1, None, False, "bhsd"), 0.0),  # one head ([b*h, s, d] calls), one batch
    ((1, 1, 190, 260, 128, "fp16", 1, None, True, "bshd"), 0.0),
]
SPEED_CFGS = (1, 2)  # also timed with these tile configurations: D = 64, non-causal, seq 2048


def run_parallel(cmds, n):
    """Run the (label, command) pairs, at most ``n`` at a time; stop at the first that fails."""
    running = []
    for label, cmd in cmds:
        running.append((label, subprocess.Popen(cmd)))
        if len(running) >= n:
            label0, p = running.pop(0)
            if p.wait():
                raise SystemExit(f"nvcc failed: {label0}")
    for label, p in running:
        if p.wait():
            raise SystemExit(f"nvcc failed: {label}")


def build(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    labels = (["main"] if a.main_src else []) + [str(int(o)) for o in a.opts.split(",") if o != ""]
    labels += (["wg"] if a.wgmma else []) + (["wgmain"] if a.wgmma and a.wg_main_src else [])
    for label in labels:
        src = out / f"src_{label}.cu"
        shutil.copy({"main": a.main_src, "wgmain": a.wg_main_src}.get(label) or SRC, src)
        defines = ([] if label == "main" else ag.WGMMA_FLAGS + ([f"-DSDK_ATT_WG_DEFAULT={a.wg_default}"]
                                                                if a.wg_default else [])
                   if label in ("wg", "wgmain") else [f"-DSDK_ATT_OPT={label}u"])
        so = out / f"libatt_{label}.so"
        cmd = ag.nvcc_cmd(out, so, src, defines)
        (out / f"cmd_{label}.txt").write_text(shlex.join(cmd) + "\n")
        jobs.append((label, cmd))
    run_parallel(jobs, a.jobs)
    (out / "labels.txt").write_text("\n".join(labels) + "\n")
    print("built:", labels)


def works(lib) -> bool:
    """One small call: status 0 and a finite output (a library built elsewhere may not run here)."""
    import torch
    q = torch.randn(1, 1, 16, 64, device="cuda", dtype=torch.half)
    o = torch.full_like(q, float("nan"))
    try:
        ag.call(lib, q, q, q, o, 0.125)
        torch.cuda.synchronize()
    except RuntimeError as ex:
        print(ex, flush=True)
        return False
    return bool(torch.isfinite(o).all())


def load_all(out: Path, labels) -> dict:
    """Each variant's library; those that do not load or run here are rebuilt here (in parallel, with their own
    sources and -D flags)."""
    libs, redo = {}, []
    for label in labels:
        try:
            lib = ag.declare(ctypes.CDLL(str(out / f"libatt_{label}.so")))
            if works(lib):
                libs[label] = lib
                continue
            print(f"{label}: the library does not run here; rebuilding", flush=True)
        except OSError as ex:
            print(f"{label}: {ex}; rebuilding", flush=True)
        redo.append(label)
    jobs = []
    for label in redo:
        cmd = shlex.split((out / f"cmd_{label}.txt").read_text())
        alt = out / f"rebuilt_{label}"
        alt.mkdir(exist_ok=True)
        defines = [c for c in cmd if c.startswith(("-D", "-gencode"))]
        jobs.append((label, alt, subprocess.Popen(ag.nvcc_cmd(alt, alt / "lib.so", out / f"src_{label}.cu", defines))))
    for label, alt, proc in jobs:
        if proc.wait():
            raise SystemExit(f"nvcc failed: {label}")
        libs[label] = ag.declare(ctypes.CDLL(str(alt / "lib.so")))
    return {label: libs[label] for label in labels}


def batched_ms(fn, reps=20, rounds=10):
    """Median over ``rounds`` of (CUDA-event time of ``reps`` back-to-back calls) / reps (bench/cuda_events.py)."""
    return median_ms(fn, rounds, warmup=5, calls=reps)


def times(fn):
    """(median per launch as bench/attention_gpu.py times, batched): ms."""
    return ag.median_ms(fn), batched_ms(fn)


def timed(lib, q, k, v, o, scale, causal, cfg, ref):
    import torch
    o.fill_(float("nan"))
    ms = times(lambda: ag.call(lib, q, k, v, o, scale, None, causal, cfg=cfg))
    err = float(torch.linalg.norm((o.double() - ref).flatten()) / torch.linalg.norm(ref.flatten()))
    return [*ms, err if math.isfinite(err) else float("inf")]


def run(a):
    import torch
    import torch.nn.functional as F
    out, lib_dir = Path(a.out), Path(a.libs or a.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = a.labels.split(",") if a.labels else (lib_dir / "labels.txt").read_text().split()
    libs = load_all(lib_dir, labels)
    lab_cfgs = {lab: None for lab in labels}  # --cfgs wg:0,4,5 main:0: the tile configurations checked and timed
    for item in (a.cfgs or "").split():
        lab, cs = item.split(":")
        lab_cfgs[lab] = tuple(int(c) for c in cs.split(","))
    if a.diag:
        diag(libs, labels, lab_cfgs)
        return 0
    if a.profile:  # one launch of each variant with each of its tile configurations (default 0 and 1; under ncu)
        q, k, v = (torch.randn(1, 16, 2048, 64, device="cuda", dtype=torch.half) for _ in range(3))
        o = torch.empty_like(q)
        for lab in labels:
            for cfg in lab_cfgs[lab] or (0, 1):
                ag.call(libs[lab], q, k, v, o, 0.125, cfg=cfg)
        torch.cuda.synchronize()
        return 0
    gen = torch.Generator(device="cuda").manual_seed(0)
    res = dict(gpu=torch.cuda.get_device_name(), when=f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
               torch=torch.__version__, labels=labels, checks=[], speed=[])
    cases = [(c, 0.0, (0,)) for c in ag.CHECKS]
    cases += [(c, 0.0, (1, 2)) for c in ag.CHECKS if c[4] == 64 and c[5] == "fp16"]
    cases += [(c, r, (0,)) for c, r in EXTRA]
    bad = {lab: 0 for lab in labels}
    for c, ramp, cfgs in cases:
        made = ag.make_case(c, gen, ramp)
        row = dict(case=list(c), ramp=ramp, cfgs=list(cfgs), err={})
        for lab in labels:
            try:
                e = max(ag.check_made(libs[lab], c, made, cfg) for cfg in (lab_cfgs[lab] or cfgs))
            except Exception as ex:  # noqa: BLE001 (reported)
                print(f"{lab} {c}: {type(ex).__name__}: {ex}", flush=True)
                e = float("inf")
            row["err"][lab] = e
            bad[lab] += not e <= ag.LIMIT
        res["checks"].append(row)
        print(row, flush=True)
    save(out, res, bad)
    model_cases(libs, labels, lab_cfgs, res, out, bad)
    for B, H, S, D, causal in ag.SPEED + EXTRA_SPEED:
        q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.half) for _ in range(3))
        o = torch.empty_like(q)
        flops = 4.0 * B * H * S * S * D * (0.5 if causal else 1.0)
        scale = 1.0 / math.sqrt(D)
        ref = ag.reference(q, k, v, scale, None, causal, "bhsd")
        n = round((flops / 2) ** (1 / 3) / 64) * 64
        x, y = torch.randn(n, n, device="cuda", dtype=torch.half), torch.randn(n, n, device="cuda", dtype=torch.half)
        mm = [times(lambda: torch.matmul(x, y))]
        row = dict(case=[B, H, S, D, causal], flops=flops, n=n, sdpa_ms=times(
            lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)), var={})
        cfgs = (0,) + (SPEED_CFGS if D == 64 and not causal and S == 2048 else ())
        for lab in labels:
            for cfg in lab_cfgs[lab] or cfgs:
                row["var"][f"{lab}/{cfg}"] = timed(libs[lab], q, k, v, o, scale, causal, cfg, ref)
        mm.append(times(lambda: torch.matmul(x, y)))
        row["mm_ms"] = mm  # before and after the variants: the faster of the two is the peak
        row["peak"] = [2.0 * n ** 3 / min(m[i] for m in mm) / 1e9 for i in (0, 1)]
        res["speed"].append(row)
        print(row, flush=True)
        save(out, res, bad)  # after each case: a run cut short keeps what it measured
    print(save(out, res, bad))
    return 0


EXTRA_SPEED = [(4, 16, 2048, 128, False), (4, 16, 2048, 64, True)]


def model_cases(libs, labels, lab_cfgs, res, out, bad):
    """The attention as BERT-base's fp16 bundles call it now (B 8, H 12, D 64, seq 512 and 128): fp16 storage, Q, K
    and V strided views of one [B, S, 3, H, D] projection output, a key-padding mask [B, 1, 1, S] (the last eighth of
    every other sequence masked), output [B, S, H, D]; each variant/cfg checked against float64 and timed."""
    import torch
    res["model"] = []
    gen = torch.Generator(device="cuda").manual_seed(1)
    for S in (512, 128):
        B, H, D = 8, 12, 64
        qkv = torch.randn(B, S, 3, H, D, generator=gen, device="cuda").half()
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        mask = torch.zeros(B, 1, 1, S, device="cuda")
        mask[::2, ..., S - S // 8:] = -10000.0
        o = torch.empty(B, S, H, D, device="cuda", dtype=torch.half)
        scale = 1.0 / math.sqrt(D)
        ref = ag.reference(q, k, v, scale, mask, False, "bshd")
        row = dict(case=[B, H, S, D], flops=4.0 * B * H * S * S * D, var={})
        for lab in labels:
            for cfg in lab_cfgs[lab] or (0,):
                def fn():
                    ag.call(libs[lab], q, k, v, o, scale, mask, False, "bshd", cfg=cfg)
                o.fill_(float("nan"))
                ms = times(fn)
                err = float(torch.linalg.norm((o.double() - ref).flatten()) / torch.linalg.norm(ref.flatten()))
                err = err if math.isfinite(err) else float("inf")
                bad[lab] += not err <= ag.LIMIT
                row["var"][f"{lab}/{cfg}"] = [*ms, err]
        res["model"].append(row)
        print(row, flush=True)
        save(out, res, bad)


def diag(libs, labels, lab_cfgs):
    """Where a failing variant goes wrong: (a) Q = 0, so O = the mean of V's rows (the P V product alone); (b) V =
    the identity (Sk = D), so O = softmax(S) (the Q K^T product and the softmax alone); max abs errors per cfg."""
    import torch
    gen = torch.Generator(device="cuda").manual_seed(2)
    for lab in labels:
        for cfg in lab_cfgs[lab] or (0,):
            for D in (64, 128):
                def rn(*shape):
                    return torch.randn(*shape, generator=gen, device="cuda").half()
                q, k, v = torch.zeros(1, 1, 128, D, device="cuda", dtype=torch.half), rn(1, 1, 256, D), rn(1, 1, 256, D)
                o = torch.full_like(q, float("nan"))
                ag.call(libs[lab], q, k, v, o, 1.0 / math.sqrt(D), cfg=cfg)
                ea = (o.float() - v.float().mean(2, keepdim=True)).abs().max().item()
                q, k = rn(1, 1, 128, D), rn(1, 1, D, D)
                v = torch.eye(D, device="cuda", dtype=torch.half)[None, None]
                o = torch.full_like(q, float("nan"))
                ag.call(libs[lab], q, k, v, o, 1.0 / math.sqrt(D), cfg=cfg)
                p = torch.softmax(q.float() @ k.float().transpose(-1, -2) / math.sqrt(D), -1)
                eb = (o.float() - p).abs().max().item()
                print(f"{lab}/{cfg} D {D}: P V alone (Q = 0) max abs err {ea:.2e}; Q K^T + softmax alone (V = I) "
                      f"{eb:.2e}", flush=True)


def save(out: Path, res, bad) -> str:
    res["bad"] = bad
    (out / "variants.json").write_text(json.dumps(res, indent=1))
    text = report(res)
    (out / "variants.md").write_text(text)
    return text


def report(res) -> str:
    labels = res["labels"]
    lines = [f"GPU: {res['gpu']}; {res['when']}; torch {res['torch']}; variants (SDK_ATT_OPT or main): "
             f"{', '.join(labels)}", "", "| check (B, H, Sq, Sk, D, storage, operands, mask, causal, layout; cfgs; "
             "ramp) | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for r in res["checks"]:
        c = r["case"]
        what = f"{', '.join(map(str, c[:6]))}, {'fp16' if c[6] == 1 else 'bf16'}, {', '.join(map(str, c[7:]))}"
        what += f"; cfg {'/'.join(map(str, r['cfgs']))}" + (f"; ramp {r['ramp']:g}" if r["ramp"] else "")
        lines.append(f"| {what} | " + " | ".join(
            f"{e:.2e}" + ("" if e <= ag.LIMIT else " NO") for e in (r["err"][lab] for lab in labels)) + " |")
    lines += ["", "failed checks (limit 1e-2): " + ", ".join(f"{lab}: {n}" for lab, n in res["bad"].items()), "",
              "Two timings of each: per launch (median of 50 launches with CUDA events around each, as "
              "bench/attention_gpu.py) / batched (median of 10 rounds of 20 back-to-back launches between two "
              "events). The cuBLAS GEMM n^3 has the same FLOPs; its TFLOP/s is the faster of two measurements "
              "(before and after the variants), per method; ratios are per method.", "",
              "| fp16 attention | cuBLAS n: TFLOP/s | SDPA TFLOP/s | variant/cfg | ms | TFLOP/s | / cuBLAS | "
              "rel. error |", "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in res["speed"]:
        B, H, S, D, causal = r["case"]
        fl, pk = r["flops"], r["peak"]
        what = f"B={B} H={H} S={S} D={D}{' causal' if causal else ''}"
        head = (f"| {what} | {r['n']}: {pk[0]:.0f} / {pk[1]:.0f} | "
                f"{fl / r['sdpa_ms'][0] / 1e9:.0f} / {fl / r['sdpa_ms'][1] / 1e9:.0f} |")
        for i, (key, (ms1, ms2, err)) in enumerate(r["var"].items()):
            lines.append((head if i == 0 else "| | | |") + f" {key} | {ms1:.4f} / {ms2:.4f} | {fl / ms1 / 1e9:.0f} / "
                         f"{fl / ms2 / 1e9:.0f} | {fl / ms1 / 1e9 / pk[0]:.2f} / {fl / ms2 / 1e9 / pk[1]:.2f} | "
                         f"{err:.1e} |")
    if res.get("model"):
        lines += ["", "| BERT-base call (fp16 storage, [B, S, 3, H, D] views, key-padding mask) | variant/cfg | ms | "
                  "TFLOP/s | rel. error |", "| --- | --- | ---: | ---: | ---: |"]
        for r in res["model"]:
            B, H, S, D = r["case"]
            for i, (key, (ms1, ms2, err)) in enumerate(r["var"].items()):
                lines.append(f"| {f'B={B} H={H} S={S} D={D}' if i == 0 else ''} | {key} | {ms1:.4f} / {ms2:.4f} | "
                             f"{r['flops'] / ms1 / 1e9:.0f} / {r['flops'] / ms2 / 1e9:.0f} | {err:.1e} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("build", "run", "all"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--opts", default="0", help="build: SDK_ATT_OPT values, comma-separated")
    ap.add_argument("--main-src", help="build: a copy of sdk_cuda_attention.cu to build as the variant 'main'")
    ap.add_argument("--jobs", type=int, default=1, help="build: nvcc processes at once")
    ap.add_argument("--libs", help="run: the directory that build wrote (default: --out)")
    ap.add_argument("--labels", help="run: the variants (default: all built)")
    ap.add_argument("--wgmma", action="store_true", help="build: also the variant 'wg' (sm_90a, SDK_CUDA_WGMMA)")
    ap.add_argument("--wg-main-src", help="build (with --wgmma): a copy of sdk_cuda_attention.cu to build as 'wgmain', "
                    "the same sm_90a flags as 'wg'")
    ap.add_argument("--wg-default", type=int, default=0,
                    help="build: the variant 'wg' with -DSDK_ATT_WG_DEFAULT=N (its cfg 0, which the check list runs)")
    ap.add_argument("--cfgs", help="run: tile configurations per variant, e.g. 'wg:0,4,5 main:0' (default: 0, and "
                    "1, 2 on the D = 64 fp16 checks and seq-2048 cases)")
    ap.add_argument("--diag", action="store_true", help="run: the P V and Q K^T products alone (failing variants)")
    ap.add_argument("--profile", action="store_true", help="run: one launch of each variant, cfg 0 then 1 (for ncu)")
    a = ap.parse_args()
    if a.mode != "run":
        build(a)
        if a.mode == "build":
            return 0
        a.libs = None
    return run(a)


if __name__ == "__main__":
    os.environ.setdefault("CUDA_MODULE_LOADING", "LAZY")
    sys.exit(main())
