"""In-process execution (LLVM JIT, ``Bundle.run``) against onnxruntime and the process path, in ONE process.

    python bench/inprocess.py [--repeat 50] [--budget-s 5] [--no-resnet] [--zoo all|none|a,b] [--out FILE.md]

Per model (the 64x512x512 MatMul+ReLU of issue 17, the four examples at batch 1, transformer at seq 64, and
the light model-zoo models with random weights):
- **call**: median wall time of one Python call, perf_counter around it, after warm-up:
  ``Bundle.run(feed)`` (JIT, engine="llvm"), ``session.run`` (onnxruntime, 1 thread, sequential, all graph
  optimizations), ``Bundle.run(feed, engine="c")`` (the demo program started per call, tensor files);
- **kernel**: the model's run function alone, both timed in native code with clock_gettime around each run
  (median of n): the JIT entry (``run_with_info(repeat=n)``) and the gcc -O3 bundle's ``model_run`` inside its
  demo program.
Then the JIT compile time of the light ResNet-50 (zoo, random weights), wall and CPU (this process and its
children): with the library-kernel cache warm, and cold (an empty ``SDK_CACHE``: its GEMMs, convolutions and
pooling are LLVM IR; the runtime C kernels it also calls, here the GEMV of the classifier, are built by gcc once
per machine).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

import sdk  # noqa: E402
from host_latency import OrtPeer, input_specs, outputs_match, random_inputs, runs_for  # noqa: E402


def matmul_relu(m=64, k=512, n=512):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y0"]), helper.make_node("Relu", ["y0"], ["y"])],
                          "matmul_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                          [onnx.numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def cases(zoo="all"):
    from make_examples import BOUNDS, EXAMPLES
    from zoo import ZOO, randomized
    out = [("matmul_relu 64x512x512", matmul_relu(), None, {})]
    for name, fn in EXAMPLES.items():
        dims = {"batch": 1, "seq": 64} if name == "transformer" else {"batch": 1}
        out.append((name + ("@64" if name == "transformer" else ""), fn(), BOUNDS[name], dims))
    names = ZOO if zoo == "all" else [] if zoo == "none" else zoo.split(",")
    return out + [(n, randomized(n), None, {}) for n in names]


def call_ms(fn, repeat, budget_s):
    t0 = time.perf_counter()
    fn()
    n = runs_for(time.perf_counter() - t0, repeat, budget_s)
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), n


def bench_model(row, model, bounds, dims, repeat, budget_s):
    feed = random_inputs(input_specs(model, dims))
    b = sdk.compile(model, dims=bounds)
    t0 = time.perf_counter()
    b.jit()
    r = {"model": row, "jit_s": time.perf_counter() - t0}
    ort = OrtPeer(model)
    ref = ort.run(feed)
    r["ok_jit"] = outputs_match(b.run(feed), ref)
    r["ok_c"] = outputs_match(b.run(feed, engine="c"), ref)
    r["jit"], _ = call_ms(lambda: b.run(feed), repeat, budget_s)
    r["ort"], _ = call_ms(lambda: ort.sess.run(ort.names, feed), repeat, budget_s)
    if r["jit"] < 1.0:  # fast models: also the two calls in alternating rounds (load drifts between blocks)
        rounds = sorted(call_ms(lambda: b.run(feed), repeat, budget_s / 8)[0] /
                        call_ms(lambda: ort.sess.run(ort.names, feed), repeat, budget_s / 8)[0] for _ in range(8))
        r["rounds"] = (rounds[0], rounds[len(rounds) // 2], rounds[-1])
    r["proc"], _ = call_ms(lambda: b.run(feed, engine="c"), max(3, repeat // 5), budget_s)
    n = runs_for(r["jit"] / 1e3, repeat, budget_s)
    r["k_jit"] = float(b.run_with_info(feed, repeat=n)[1]["median_ms"])
    r["k_c"] = float(b.run_with_info(feed, engine="c", repeat=n)[1]["median_ms"])
    return r


def resnet_compile(cold: bool):
    """(JIT compile seconds, of which library kernels, steps); warm: after one compile filled the cache."""
    from zoo import randomized
    model = randomized("resnet50")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as td:
        if cold:
            os.environ["SDK_CACHE"] = td
        try:
            if not cold:
                sdk.compile(model, name="zoo").jit()  # fill the cache
            b = sdk.compile(model, name="zoo")
            t0, c0 = time.perf_counter(), cpu_s()
            j = b.jit()
            total, cpu = time.perf_counter() - t0, cpu_s() - c0
        finally:
            os.environ.clear()
            os.environ.update(env)
    return total, j.lib_s, len(b.program.steps), cpu


def cpu_s() -> float:
    import resource
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def table(rows):
    head = ("| model | Bundle.run (JIT) ms | ORT session.run ms | JIT / ORT | process path ms | process / JIT "
            "| JIT kernel ms | gcc -O3 model_run ms | JIT / gcc | JIT compile s | outputs = ORT (JIT, C) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['jit']:.4f} | {r['ort']:.4f} | {r['jit'] / r['ort']:.2f} | {r['proc']:.1f} "
                     f"| {r['proc'] / r['jit']:.0f}x | {r['k_jit']:.4f} | {r['k_c']:.4f} | {r['k_jit'] / r['k_c']:.2f} "
                     f"| {r['jit_s']:.2f} | {'yes' if r['ok_jit'] else 'NO'}, {'yes' if r['ok_c'] else 'NO'} |")
    lines.append("")
    lines += [f"- {r['model']}: Bundle.run / session.run in 8 alternating rounds: median {r['rounds'][1]:.2f} "
              f"(min {r['rounds'][0]:.2f}, max {r['rounds'][2]:.2f})" for r in rows if "rounds" in r]
    ratios = [r["k_jit"] / r["k_c"] for r in rows]
    geo = float(np.exp(np.mean(np.log(ratios))))  # (the examples + zoo: every row)
    return "\n".join(lines), geo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--budget-s", type=float, default=5.0)
    ap.add_argument("--no-resnet", action="store_true")
    ap.add_argument("--zoo", default="all", help="zoo models: all, none or a comma-separated list")
    ap.add_argument("--out", default=None, help="write the record (markdown) here")
    a = ap.parse_args(argv)
    rows = []
    for row, model, bounds, dims in cases(a.zoo):
        rows.append(bench_model(row, model, bounds, dims, a.repeat, a.budget_s))
        print(f"{row}: JIT {rows[-1]['jit']:.3f} ms, ORT {rows[-1]['ort']:.3f} ms", flush=True)
    text, geo = table(rows)
    print(text)
    print(f"geometric mean JIT kernel / gcc -O3 kernel: {geo:.2f}")
    res = ""
    if not a.no_resnet:
        warm = resnet_compile(cold=False)
        cold = resnet_compile(cold=True)
        res = (f"ResNet-50 (light zoo, {warm[2]} steps) JIT compile: {warm[0]:.1f} s wall / {warm[3]:.1f} s CPU with the "
               f"library-kernel cache warm (of which {warm[1]:.2f} s loading C kernels); {cold[0]:.1f} s wall / "
               f"{cold[3]:.1f} s CPU cold (of which {cold[1]:.1f} s wall building the runtime C kernels it calls "
               f"besides the IR ones)")
        print(res)
    if a.out:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        load = os.getloadavg()
        Path(a.out).write_text(
            f"# In-process execution (LLVM JIT) against onnxruntime and the process path\n\n"
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Commit: `{commit}` (plus uncommitted work "
            f"of this run's author, if any). Machine: 2 shared cores (load average at the end "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}), one Python process for every column.\n"
            f"Command: `python bench/inprocess.py {' '.join(argv or sys.argv[1:])}`\n\n{__doc__.split(chr(10), 3)[3]}\n"
            f"{text}\n\nGeometric mean of JIT kernel / gcc -O3 kernel: {geo:.2f}.\n\n{res}\n")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
