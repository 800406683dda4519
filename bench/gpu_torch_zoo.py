"""The PyTorch model zoo (tests/torch_zoo/, both exporters) as CUDA bundles, checked on a GPU against onnxruntime.

    python bench/gpu_torch_zoo.py prepare OUT [--fp16 dynamo|all|none]   # here: compile, save, inputs, references
    python bench/gpu_torch_zoo.py run OUT [--jobs 16]                    # on the GPU machine: build, run, compare

``prepare`` compiles every zoo file for ``cuda-sm90`` at the manifest's bounds (fp32; fp16 too for the dynamo files
by default), saves each bundle without the runtime sources they all share (kept once in ``OUT/runtime``), and
writes the manifest's two dim sets of inputs (``.sdkt``) with onnxruntime's float32 outputs (``ref{k}.npz``).
``run`` (no onnxruntime or compiler stack needed there: nvcc and numpy) builds the shared runtime objects once,
builds every demo program with them, runs both dim sets, and prints one row per bundle: the largest error
``max |sdk - ort| / max(1, max |ort|)`` per dim set against the tolerance (fp32 1e-3, fp16 1e-2; integer outputs
exact) and the verdict."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sdk.resources import GPU_HEADERS, GPU_RUNTIME  # noqa: E402
from sdk.tensorfile import read_tensor, write_tensor  # noqa: E402

ZOO = ROOT / "tests" / "torch_zoo"
SHARED = (*GPU_RUNTIME, *GPU_HEADERS, "sdk_runtime.c", "sdk_runtime.h", "sdk_status.c", "sdk_status.h")
TOL = {"fp32": 1e-3, "fp16": 1e-2}


def _feeds(model, rec, dims, seed, run):
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]
    from test_torch_zoo import feeds_for  # the inputs the host test feeds
    return feeds_for(model, rec, dims, seed, run=run)


def prepare(out: Path, fp16: str):
    import onnx
    import onnxruntime as ort
    import sdk
    manifest = json.loads((ZOO / "manifest.json").read_text())["models"]
    runtime = out / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, rec in manifest.items():
        for exporter, f in rec["files"].items():
            path = ZOO / f["path"]
            model = onnx.load(str(path))
            precs = ["fp32"] + (["fp16"] if fp16 == "all" or (fp16 == "dynamo" and exporter == "dynamo") else [])
            refs = []
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for k, dims in enumerate(rec["dim_sets"]):
                feeds = _feeds(model, rec, dims, k, k)
                refs.append((feeds, dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))))
            for prec in precs:
                t0 = time.time()
                d = out / f"{path.stem}.{prec}"
                try:
                    b = sdk.compile(model, target="cuda-sm90", dims=rec["bounds"], precision=prec)
                    b.save(d)
                except Exception as e:  # noqa: BLE001 -- a failure is a row of the table
                    d.mkdir(parents=True, exist_ok=True)
                    (d / "compile_error.txt").write_text(f"{type(e).__name__}: {e}\n")
                    print(f"{d.name}: compile FAILED {type(e).__name__}: {str(e)[:200]}", flush=True)
                    continue
                for s in SHARED:  # one copy of the runtime for all bundles (checked identical)
                    h = hashlib.sha256((d / s).read_bytes()).hexdigest()
                    if digests.setdefault(s, h) != h:
                        raise SystemExit(f"{d.name}: {s} differs from the other bundles' copy")
                    if not (runtime / s).exists():
                        shutil.copy2(d / s, runtime / s)
                    (d / s).unlink()
                for p in d.glob("*.o"):
                    p.unlink()
                for k, (feeds, ref) in enumerate(refs):
                    for j, (iname, arr) in enumerate(feeds.items()):
                        write_tensor(d / f"in{k}_{j}.sdkt", arr)
                    np.savez(d / f"ref{k}.npz", **{f"o{j}": r for j, r in enumerate(ref.values())})
                (d / "io.json").write_text(json.dumps({"inputs": list(refs[0][0]), "outputs": list(refs[0][1]),
                                                       "dim_sets": rec["dim_sets"], "precision": prec}))
                print(f"{d.name}: {time.time() - t0:.1f} s", flush=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{len([p for p in out.iterdir() if p.is_dir()]) - 1} bundles, {size / 1e6:.1f} MB")


def _sh(cmd, cwd, timeout=900):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def run(out: Path, jobs: int):
    runtime = out / "runtime"
    flags = ["-O3", "-std=c++17", "-arch=sm_90a", "-DSDK_CUDA_WGMMA", "-DSDK_CUDA_IGEMM_WGMMA", "-Xcompiler",
             "-Wall,-Wextra", "-I."]
    t0 = time.time()
    srcs = [s for s in SHARED if s.endswith((".cu", ".c"))
            and not (runtime / (Path(s).stem + ".o")).exists()]  # objects built beforehand (same nvcc) are kept
    with ThreadPoolExecutor(max(1, len(srcs))) as ex:
        res = list(ex.map(lambda s: _sh(["nvcc", *flags, "-c", "-o", Path(s).stem + ".o", s], runtime), srcs))
    for s, r in zip(srcs, res):
        if r.returncode:
            raise SystemExit(f"runtime {s}: nvcc failed\n{r.stderr[-2000:]}")
    print(f"runtime objects: {time.time() - t0:.0f} s", flush=True)
    dirs = sorted(p for p in out.iterdir() if p.is_dir() and p.name != "runtime")

    def one(d: Path):
        if (d / "compile_error.txt").exists():
            return d.name, "compile", (d / "compile_error.txt").read_text().strip()[:150], []
        for p in runtime.iterdir():
            shutil.copy2(p, d / p.name)  # objects newer than every source: make builds the model's files only
        r = _sh(["make", "-s", "model_main"], d)
        if r.returncode:
            return d.name, "build", r.stderr.strip().splitlines()[-1][:150] if r.stderr.strip() else "make failed", []
        io = json.loads((d / "io.json").read_text())
        errs = []
        for k in range(len(io["dim_sets"])):
            ins = [f"in{k}_{j}.sdkt" for j in range(len(io["inputs"]))]
            outs = [f"out{k}_{j}.sdkt" for j in range(len(io["outputs"]))]
            r = _sh(["./model_main", *ins, *outs], d, timeout=120)
            if r.returncode:
                return d.name, "run", (r.stderr or r.stdout).strip()[-150:], errs
            ref = np.load(d / f"ref{k}.npz")
            worst = 0.0
            for j in range(len(outs)):
                got, want = read_tensor(d / outs[j]), ref[f"o{j}"]
                if got.shape != want.shape:
                    return d.name, "shape", f"{io['outputs'][j]}: {got.shape} vs {want.shape}", errs
                if np.issubdtype(want.dtype, np.floating):
                    diff = np.abs(got.astype(np.float64) - want) if got.size else np.zeros(1)
                    worst = max(worst, float(diff.max() / max(1.0, float(np.abs(want).max()) if want.size else 1.0)))
                elif not np.array_equal(got, want):
                    worst = max(worst, float("inf"))
            errs.append(worst)
        ok = all(e <= TOL[io["precision"]] for e in errs)
        return d.name, "ok" if ok else "MISMATCH", "", errs

    with ThreadPoolExecutor(jobs) as ex:
        rows = list(ex.map(one, dirs))
    print(f"\n| bundle | result | error dim set 1 | error dim set 2 | note |\n|---|---|---:|---:|---|")
    for name, verdict, note, errs in rows:
        e = [f"{x:.1e}" for x in errs] + [""] * (2 - len(errs))
        print(f"| {name} | {verdict} | {e[0]} | {e[1]} | {note} |")
    n_ok = sum(r[1] == "ok" for r in rows)
    print(f"\n{n_ok} of {len(rows)} bundles match onnxruntime ({time.time() - t0:.0f} s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["prepare", "run"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--fp16", choices=["dynamo", "all", "none"], default="dynamo")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 4)
    a = ap.parse_args(argv)
    if a.mode == "prepare":
        prepare(a.out, a.fp16)
    else:
        run(a.out, a.jobs)


if __name__ == "__main__":
    main()
