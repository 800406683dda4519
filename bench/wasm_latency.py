"""Latency of sdk wasm bundles vs onnxruntime-web (wasm backend, 1 thread, SIMD), both in one node process.

    python bench/wasm_latency.py [--repeat 50] [--examples mlp,cnn]

Installs onnxruntime-web into bench/node_modules with npm on first use (git-ignored). Each example is compiled
with ``--target wasm32-browser``; the same random input goes to both engines, runs alternate after a warm-up,
outputs are cross-checked, and the table prints medians and the ratio ORT-web / sdk (> 1: sdk is faster).

``--text NAME,...``: the Hugging Face text models of bench/data/text_full (``NAME.onnx``, bench/export_text_full.py;
``ids`` + ``mask``, batch 1) at ``--seq`` tokens, with bench/text_latency.py's inputs; each build is bounded at that
length (weights go into the .wasm as a C array: the larger models take minutes to compile)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

NODE_SCRIPT = r"""
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';
const [benchDir, jobPath] = process.argv.slice(2);
const at = (p) => resolve(dirname(jobPath), p);
const require = createRequire(benchDir + '/package.json');
const ort = require('onnxruntime-web');
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const median = (t) => { t.sort((a, b) => a - b); return t[t.length >> 1]; };
const least = (t) => Math.min(...t);
const rows = [];
for (const ex of job.examples) {
  const { Model } = await import(pathToFileURL(at(ex.module)).href);
  const m = await Model.load();
  const sess = await ort.InferenceSession.create(at(ex.onnx), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const ours = {}, theirs = {};
  const inputs = ex.inputs ?? [{ name: ex.inputName, file: ex.input, dtype: 'float32', shape: ex.shape }];  // older jobs
  for (const t of inputs) {  // raw little-endian files; int64 ids and masks as BigInt64Array for both engines
    const raw = readFileSync(at(t.file));
    const A = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array }[t.dtype];
    const data = new A(raw.buffer, raw.byteOffset, raw.byteLength / A.BYTES_PER_ELEMENT).slice();
    ours[t.name] = { data, shape: t.shape };
    theirs[t.name] = new ort.Tensor(t.dtype, data, t.shape);
  }
  // warm up both until V8 has tiered the hot wasm functions up from Liftoff (time-based, >= 10 runs)
  for (let w = 0, t0 = performance.now(); w < 10 || performance.now() - t0 < job.warmupMs; ++w) { m.run(ours); await sess.run(theirs); }
  const ta = [], tb = [], ca = [], cb = [];  // wall ms; the process's CPU ms (user + system: both engines run here)
  const cpu = (c0) => { const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };
  let a, b;
  for (let r = 0; r < job.repeat; ++r) {
    let t0 = performance.now(), c0 = process.cpuUsage(); a = m.run(ours); ca.push(cpu(c0)); ta.push(performance.now() - t0);
    t0 = performance.now(); c0 = process.cpuUsage(); b = await sess.run(theirs); cb.push(cpu(c0)); tb.push(performance.now() - t0);
  }
  const name = Object.keys(a)[0], x = a[name], y = b[name].data;
  let err = 0;
  for (let i = 0; i < x.length; ++i) err = Math.max(err, Math.abs(x[i] - y[i]) / (1e-3 + Math.abs(y[i])));
  rows.push({ name: ex.name, sdk_ms: median(ta), ort_ms: median(tb), sdk_min_ms: least(ta), ort_min_ms: least(tb),
             sdk_cpu_min_ms: least(ca), ort_cpu_min_ms: least(cb), max_rel_diff: err, wasm_bytes: ex.wasmBytes });
}
console.log(JSON.stringify(rows));
"""


def ensure_ort_web():
    if (HERE / "node_modules" / "onnxruntime-web").exists():
        return
    print("installing onnxruntime-web into bench/node_modules (npm) ...", flush=True)
    subprocess.run(["npm", "install", "--prefix", str(HERE), "--no-save", "--no-package-lock", "--no-audit",
                    "--no-fund", "onnxruntime-web"], check=True)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


ZOO = HERE / "data" / "zoo_full"
TEXT = HERE / "data" / "text_full"


def load_example(name):
    """(model, dim bounds): an example of examples/make_examples.py, or ``zoo:NAME`` for bench/data/zoo_full/NAME.onnx
    (bench/export_zoo_full.py; static shapes, batch 1)."""
    import onnx
    if name.startswith("zoo:"):
        return onnx.load(str(ZOO / f"{name[4:]}.onnx")), {}
    if name.startswith("text:"):
        return onnx.load(str(TEXT / f"{name[5:]}.onnx")), {}
    from make_examples import BOUNDS, EXAMPLES
    return EXAMPLES[name](), BOUNDS[name]


def prepare(names, td: Path, repeat: int, warmup_ms: float, seq: int = 128):
    """Compile the examples for wasm32-browser into ``td`` with their ONNX files, inputs and a job file."""
    import onnx
    import sdk
    from conftest import random_inputs
    job = {"repeat": repeat, "warmupMs": warmup_ms, "examples": []}
    for label in names:
        model, bounds = load_example(label)
        if label.startswith("text:"):
            from text_latency import text_feeds
            feeds, bounds = text_feeds(model, seq)
        else:
            feeds = random_inputs(model, bounds)
        name = label.split(":", 1)[-1].replace(".", "_")  # a C identifier: gpt2.ts -> gpt2_ts
        b = sdk.compile(model, target="wasm32-browser", dims=bounds, name=name)
        out = b.save(td / name)
        model.ir_version = min(model.ir_version, 10)  # onnxruntime-web reads IR <= 13
        onnx.save(model, td / f"{name}.onnx", save_as_external_data=model.ByteSize() > 2**31 - 2**24)
        inputs = []
        for k, (iname, x) in enumerate(feeds.items()):
            x = np.ascontiguousarray(x.astype(np.float32) if x.dtype == np.float64 else x)
            x.tofile(td / f"{name}.in{k}")
            inputs.append({"name": iname, "file": f"{name}.in{k}", "dtype": x.dtype.name, "shape": list(x.shape)})
        job["examples"].append({"name": name, "module": f"{name}/{name}.mjs", "onnx": f"{name}.onnx",
                                "inputs": inputs, "wasmBytes": (out / f"{name}.wasm").stat().st_size, "dims": bounds})
    (td / "job.json").write_text(json.dumps(job))
    (td / "bench.mjs").write_text(NODE_SCRIPT)
    return job


def run_node(td: Path, node="node", ort_dir: Path = HERE):
    """Run the prepared job in one node process; ``ort_dir`` holds node_modules/onnxruntime-web."""
    r = subprocess.run([node, str(td / "bench.mjs"), str(Path(ort_dir).resolve()), str((td / "job.json").resolve())],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"node bench failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--warmup-ms", type=float, default=1000, help="warm-up time per example (both engines)")
    ap.add_argument("--examples", default="mlp,cnn,resnext_block,transformer",
                    help="example names; zoo:NAME for bench/data/zoo_full/NAME.onnx")
    ap.add_argument("--zoo", action="store_true", help="every model of bench/data/zoo_full instead")
    ap.add_argument("--text", default="", help="text models of bench/data/text_full instead (NAME,...: minilm.ts)")
    ap.add_argument("--seq", type=int, default=128, help="tokens for --text (also the build's bound)")
    ap.add_argument("--keep", metavar="DIR", help="prepare into DIR and keep it (for --node-only elsewhere)")
    ap.add_argument("--node-only", metavar="DIR", help="only run a job prepared with --keep (no compiler needed)")
    ap.add_argument("--node", default="node", help="node binary")
    ap.add_argument("--ort-dir", default=str(HERE), help="folder with node_modules/onnxruntime-web")
    a = ap.parse_args(argv)
    if a.node_only:
        td = Path(a.node_only)
        job = json.loads((td / "job.json").read_text())
        job["repeat"], job["warmupMs"] = a.repeat, a.warmup_ms
        (td / "job.json").write_text(json.dumps(job))
        (td / "bench.mjs").write_text(NODE_SCRIPT)  # this script's timing, also for jobs kept by older versions
        rows = run_node(td, a.node, Path(a.ort_dir))
    else:
        if Path(a.ort_dir).resolve() == HERE:
            ensure_ort_web()
        names = [n for n in a.examples.split(",") if n]
        if a.zoo:
            names = [f"zoo:{p.stem}" for p in sorted(ZOO.glob("*.onnx"))]
        if a.text:
            names = [f"text:{n}" for n in a.text.split(",") if n]
        with tempfile.TemporaryDirectory(prefix="wasm_bench_") as tmp:
            td = Path(a.keep) if a.keep else Path(tmp)
            td.mkdir(parents=True, exist_ok=True)
            job = prepare(names, td, a.repeat, a.warmup_ms, a.seq)
            rows = run_node(td, a.node, Path(a.ort_dir))
    node_v = subprocess.run([a.node, "--version"], capture_output=True, text=True).stdout.strip()
    ort_v = json.loads((Path(a.ort_dir) / "node_modules" / "onnxruntime-web" / "package.json").read_text())["version"]
    print(f"node {node_v}, onnxruntime-web {ort_v} (wasm, 1 thread, SIMD), {cpu_name()} ({os.cpu_count()} cpus), "
          f"median (min) of {job['repeat']}")
    print("(cpu: the node process's CPU time of a run, user + system, min: steadier than the wall clock on a loaded "
          "machine)")
    print("| example | dims | sdk wasm (ms) | onnxruntime-web (ms) | ORT-web / sdk | sdk / ORT-web (min) "
          "| sdk / ORT-web (cpu min) | max rel diff | .wasm bytes |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row, ex in zip(rows, job["examples"]):
        dims = ", ".join(f"{k}={v}" for k, v in ex["dims"].items()) or "static"
        print(f"| {row['name']} | {dims} | {row['sdk_ms']:.3f} ({row['sdk_min_ms']:.3f}) | {row['ort_ms']:.3f} "
              f"({row['ort_min_ms']:.3f}) | {row['ort_ms'] / row['sdk_ms']:.2f}x | "
              f"{row['sdk_min_ms'] / row['ort_min_ms']:.2f} | {row['sdk_cpu_min_ms'] / row['ort_cpu_min_ms']:.2f} | "
              f"{row['max_rel_diff']:.1e} | {row['wasm_bytes']} |")
    return rows


if __name__ == "__main__":
    main()
