"""Where a whole run's time goes beyond the sum of its layers, one thread, sdk and onnxruntime side by side.

    PYTHONPATH=$PWD python bench/run_gap.py resnet18,mobilenet_v2 [--runs 20] [--cflags -DX]

Per model, in this one process and thread (the thread's CPU clock, ``time.thread_time`` / the step timer's
``CLOCK_THREAD_CPUTIME_ID``), the bundle built as two shared libraries (``-DSDK_PROFILE``: the step timer; and plain),
and one onnxruntime session with its node profile on and one without:

- ``steps min``: the sum over the steps of each step's minimum over the runs (bench/layer_gap.py's number; no run
  need reach it: each step's best may come from a different run);
- ``run sums``: each run's sum of its own steps, min (median): what the steps take together in a real run;
- ``whole``: ``model_run`` of the plain library (a ctypes call), min (median); the same run by run alternating with
  the peer (``zoo_latency.py --interleave``'s order: the other engine's weights and buffers pass through the caches
  between two runs) as ``whole, interleaved``;
- ``..., each run after an onnxruntime run``: the step-timed build again, each run right after one ``session.run``
  (cold caches), and which steps lose most against their warm minima;
- onnxruntime the same: the sum of its nodes' minima, the runs' node sums (its profile's ``model_run`` events delimit
  the runs; its profile is on the wall clock, so under load the runs' sums count other processes' time slices and
  only the per-node minima are readable), ``session.run`` alone and interleaved.

The rows between say where the time is: ``run sums - steps min`` is the steps' variance (caches, memory, the
machine's load), ``whole - run sums`` what a run spends outside its steps (call overhead, argument checks, the step
timer's clock reads and its fprintf between the steps cost the profiled build a few %), ``interleaved - whole``
what the peer's runs between ours cost (caches).
"""
import argparse
import ctypes
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
STEP = re.compile(r"step (\S+)\s+([\d.]+) us")


def build_lib(b, out: Path, extra: list):
    """The bundle's C sources (not the demo's main.c) with its Makefile's flags plus ``extra`` as a loaded library."""
    from sdk.backends.host.ctensor import start_pool
    out = Path(b.save(out, force=True))
    mk = (out / "Makefile").read_text()
    cflags = re.search(r"^CFLAGS = (.*)$", mk, re.M).group(1).split()
    ldlibs = re.search(r"^LDLIBS = (.*)$", mk, re.M).group(1).split()
    srcs = [x for x in re.search(r"^SRCS = (.*)$", mk, re.M).group(1).split() if x != "main.c"]
    subprocess.run(["gcc", *cflags, *extra, "-fPIC", "-shared", "-o", "lib.so", *srcs, *ldlibs], cwd=out, check=True)
    lib = ctypes.CDLL(str(out / "lib.so"))
    lib.model_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    start_pool(lib)
    lib.model_set_threads(1)
    return lib


class Captured:
    """fd 2 into a file while inside (the step timer's fprintf(stderr) lines of a library in this process)."""

    def __enter__(self):
        self.f = tempfile.TemporaryFile(mode="w+")
        sys.stderr.flush()
        self.saved = os.dup(2)
        os.dup2(self.f.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.f.seek(0)
        self.text = self.f.read()
        self.f.close()


def steps_of(text: str):
    """[[(step, us) ...] per run]: a run starts again where its first step's name comes back."""
    runs, first = [], None
    for ln in text.splitlines():
        m = STEP.match(ln)
        if not m:
            continue
        if first is None:
            first = m.group(1)
        if m.group(1) == first:
            runs.append([])
        runs[-1].append((m.group(1), float(m.group(2))))
    return runs


def ort_session(model, profile: bool):
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"run_gap_{os.getpid()}")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_profile(sess):
    """(per-node minima summed, [per-run node sums]) in us from the session's profile; the first run dropped."""
    events = json.loads(Path(sess.end_profiling()).read_text())
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    per_node, sums = defaultdict(list), [0.0] * len(runs)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            i = next((k for k, (a, z) in enumerate(runs) if a <= e["ts"] <= z), None)
            if i is None or i == 0:
                continue
            per_node[e["name"]].append(float(e["dur"]))
            sums[i] += float(e["dur"])
    return sum(min(v) for v in per_node.values()), sums[1:]


def stats(v):
    return f"{min(v) / 1e3:.2f} ({statistics.median(v) / 1e3:.2f})"


def measure(name, path, runs, extra):
    import sdk
    from sdk.backends.host.ctensor import Tensor, stop_pool, view
    model = onnx.load(str(path))
    inp = model.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    b = sdk.compile(model, target="host", name="model")
    sess, psess = ort_session(model, False), ort_session(model, True)
    ref = sess.run(None, feed)[0]
    x = np.ascontiguousarray(feed[inp.name])
    y = np.empty_like(ref)
    ins, outs = (Tensor * 1)(view(x)), (Tensor * 1)(view(y))
    size = b.plan.arena_bytes + 64
    arena = np.zeros(size + 64, np.uint8)
    base = ctypes.c_void_p(arena.ctypes.data + (-arena.ctypes.data) % 64)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="run_gap_") as tmp:
        libs = {"plain": build_lib(b, Path(tmp) / "plain", extra),
                "prof": build_lib(b, Path(tmp) / "prof", [*extra, "-DSDK_PROFILE",
                                                          "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"])}
        try:
            calls = {k: (lambda f=lib.model_run: f(base, size, ctypes.addressof(ins), ctypes.addressof(outs)))
                     for k, lib in libs.items()}
            ort_run = lambda: sess.run(None, feed)  # noqa: E731
            ort_prof = lambda: psess.run(None, feed)  # noqa: E731
            for f in (*calls.values(), ort_run, ort_prof):
                f()
            err = float(np.abs(y - ref).max())
            t = defaultdict(list)

            def timed(f, key):
                t0 = time.thread_time()
                f()
                t[key].append(1e6 * (time.thread_time() - t0))

            for _ in range(runs):  # alone: back to back, in alternating blocks of 5
                for _ in range(5):
                    timed(calls["plain"], "sdk alone")
                for _ in range(5):
                    timed(ort_run, "ort alone")
            for _ in range(runs):  # interleaved run by run
                timed(calls["plain"], "sdk inter")
                timed(ort_run, "ort inter")
            with Captured() as cap:  # warm: back to back (the first run of each block dropped below)
                for _ in range(runs):
                    for _ in range(4):
                        calls["prof"]()
                    for _ in range(3):
                        ort_prof()
            sruns = [r for k, r in enumerate(steps_of(cap.text)) if k % 4]
            with Captured() as cap:  # cold: each profiled run right after an onnxruntime run
                for _ in range(runs):
                    ort_run()
                    calls["prof"]()
            cruns = steps_of(cap.text)
            step_min = defaultdict(lambda: float("inf"))
            for r in sruns:
                for s, us in r:
                    step_min[s] = min(step_min[s], us)
            o_min, o_sums = ort_profile(psess)
            wbytes = (Path(tmp) / "plain" / "model_weights.bin").stat().st_size
        finally:
            for lib in libs.values():
                stop_pool(lib)
    load1 = os.getloadavg()[0]
    s_sums = [sum(us for _, us in r) for r in sruns]
    c_sums = [sum(us for _, us in r) for r in cruns]
    print(f"\n{name}: {runs * 5} alone / {runs} interleaved / {len(sruns)} + {len(cruns)} profiled runs, one thread, CPU clock, ms "
          f"min (median); load {load0:.1f}-{load1:.1f}; max abs err vs onnxruntime {err:.1e}; arena "
          f"{b.plan.arena_bytes} bytes; weights {wbytes} bytes")
    print("| | sdk | onnxruntime | sdk/ort (min) |\n|---|---|---|---|")
    so = sum(step_min.values())
    print(f"| steps min (sum of each step's / node's minimum) | {so / 1e3:.2f} | {o_min / 1e3:.2f} | {so / o_min:.2f} |")
    print(f"| run sums (each run's steps; ort: its nodes, wall clock) | {stats(s_sums)} | {stats(o_sums)} | "
          f"{min(s_sums) / min(o_sums):.2f} |")
    cmin = defaultdict(lambda: float("inf"))
    for r in cruns:
        for s, us in r:
            cmin[s] = min(cmin[s], us)
    print(f"| steps min, each run after an onnxruntime run | {sum(cmin.values()) / 1e3:.2f} | | |")
    print(f"| run sums, each run after an onnxruntime run | {stats(c_sums)} | | |")
    for k, label in (("alone", "whole, alone"), ("inter", "whole, interleaved")):
        a, o = t[f"sdk {k}"], t[f"ort {k}"]
        print(f"| {label} | {stats(a)} | {stats(o)} | {min(a) / min(o):.2f} ({statistics.median(a) / statistics.median(o):.2f} median) |")
    # the steps that vary most: median - min over the profiled runs
    per = defaultdict(list)
    for r in sruns:
        for s, us in r:
            per[s].append(us)
    var = sorted(per.items(), key=lambda kv: -(statistics.median(kv[1]) - min(kv[1])))
    cold = sorted(cmin, key=lambda s: -(cmin[s] - step_min[s]))
    print(f"sdk steps cold - warm (min us, {sum(cmin.values()) / 1e3 - so / 1e3:+.2f} ms in all): " + ", ".join(
        f"{s.split('->')[-1]} {step_min[s]:.0f}/{cmin[s]:.0f}" for s in cold[:10]))
    print("sdk steps by median - min (us): " + ", ".join(
        f"{s.split('->')[-1]} {min(v):.0f}/{statistics.median(v):.0f}" for s, v in var[:8]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cflags", default="", help="extra C flags for both libraries")
    ap.add_argument("--dir", default=str(ROOT / "bench" / "data" / "zoo_full"))
    a = ap.parse_args()
    for name in a.models.split(","):
        measure(name, Path(a.dir) / f"{name}.onnx", a.runs, a.cflags.split())
    return 0


if __name__ == "__main__":
    sys.exit(main())
