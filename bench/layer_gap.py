"""Per-layer time of an sdk bundle against onnxruntime's, one thread: where a model's gap is.

sdk: the bundle's step timer (``-DSDK_PROFILE``) on the thread's CPU clock (``SDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID``:
time other processes take from the core does not count). onnxruntime: its node profile (``enable_profiling``, one
intra-op thread) on the wall clock (its whole-run CPU time, ``time.thread_time()``, is printed next to the sum of its
nodes as a check). Each step / node: its minimum over the runs (under load, wall-clock medians of whole layers read
a 10 ms time slice). A layer is keyed by its ONNX node name (sdk names a step after the tensor it
writes, ``t_`` + the node's name with every other character than [0-9A-Za-z] as ``_``; onnxruntime keeps the name of
the node its fusions start from); what does not match (onnxruntime's activations / layout reorders, sdk's fused
epilogues) is listed as the rest.

    PYTHONPATH=$PWD python bench/layer_gap.py bench/data/zoo_wide/resnet50.onnx [--runs 15] [--top 25]
    PYTHONPATH=$PWD python bench/layer_gap.py bench/data/text_full/gpt2.ts.onnx --seq 128 [--by-op]

``--seq N``: a text model of bench/text_latency.py (its inputs at length N, the build's symbols bounded at N).
``--by-op``: also the sums per sdk step kind and per onnxruntime op type (the layers' keys need not match).
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

STEP = re.compile(r"step (\S+)\s+([\d.]+) us")


def key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "_", name)


ANCHORS = {"Conv", "Gemm", "MatMul", "ConvTranspose"}


def anchors(model):
    """{key of a node's name, of its output tensors (also without torch's ``_output_0``): the key of the layer's
    anchor node}: a Conv / Gemm / MatMul itself, or, for the element-wise ops after one (its activation, a residual Add
    whose first input it is), that node: the fused node onnxruntime or sdk names after either."""
    prod = {o: n for n in model.graph.node for o in n.output}
    out = {}
    for n in model.graph.node:
        a = n
        while a.op_type not in ANCHORS and a.input and a.input[0] in prod and a.op_type in (
                "Relu", "Clip", "Add", "Sigmoid", "Mul", "HardSwish", "HardSigmoid", "LeakyRelu", "BatchNormalization"):
            a = prod[a.input[0]]
        tgt = key(a.name) if a.op_type in ANCHORS else key(n.name)
        for name in [n.name, *n.output, *(o[: -len("_output_0")] for o in n.output if o.endswith("_output_0"))]:
            out.setdefault(key(name), tgt)
    return out


def layer(name: str, table) -> str:
    for k in (name, name[2:] if name.startswith("t_") else None, re.sub(r"_nchwc$", "", name)):
        if k and k in table:
            return table[k]
    return name


def sdk_steps(model, feed, runs: int, threads: int = 1, dims=None):
    """{layer key: minimum us over the runs}, {layer key: step description}, {step kind: summed minima us}.
    One thread: the thread's CPU clock; more: the wall clock (a step's time is its slowest thread's, barrier
    included)."""
    import sdk
    from sdk.backends.host.runner import HostRunner

    class Runner(HostRunner):
        def extra_info(self, proc, info):
            info["stderr"] = proc.stderr

    b = sdk.compile(model, target="host", name="model", dims=dims)
    clock = ["-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"] if threads == 1 else []
    runner = Runner(extra_cflags=["-DSDK_PROFILE", *clock], threads=threads)
    with tempfile.TemporaryDirectory(prefix="layer_gap_") as tmp:
        b.save(Path(tmp) / "m", force=True)
        b.run_with_info(feed, runner=runner)  # builds the demo
        _, info = b.run_with_info(feed, runner=runner, repeat=runs)
    desc = {}
    for s in b.program.steps:
        wl = getattr(s, "workload", None)
        what = str(wl) if wl is not None else getattr(s, "fn", None) or "kernel " + s.name
        desc[s.outputs[0].name] = what
    times = defaultdict(list)
    for ln in info["stderr"].splitlines():
        m = STEP.match(ln)
        if m:
            times[m.group(1).split("->")[-1]].append(float(m.group(2)))
    med, table, what, kinds = {}, anchors(model), {}, defaultdict(float)
    for out, v in times.items():
        k = layer(out, table)
        med[k] = med.get(k, 0.0) + min(v)
        what[k] = " + ".join(filter(None, [what.get(k), desc.get(out, "")]))
        d = desc.get(out, "kernel " + out)  # generated kernels: their name, numbers dropped, as the kind
        kinds[re.sub(r"_?\d+", "", d) if d.startswith("kernel ") else d] += min(v)
    return med, what, kinds


def ort_nodes(model, feed, runs: int, threads: int = 1):
    """{layer key: minimum us over the runs}, {layer key: op types}, median CPU ms of a whole run (thread_time),
    {op type: summed minima us}."""
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"layer_gap_{os.getpid()}")
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    sess.run(None, feed)
    cpu, clock = [], time.thread_time if threads == 1 else time.perf_counter
    for _ in range(runs):
        t0 = clock()
        sess.run(None, feed)
        cpu.append(1e3 * (clock() - t0))
    path = sess.end_profiling()
    events = json.loads(Path(path).read_text())
    os.unlink(path)
    times, ops, table = defaultdict(lambda: defaultdict(list)), defaultdict(set), anchors(model)
    node_op = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = key(e["name"][: -len("_kernel_time")])
            k = layer(node, table)
            times[k][node].append(float(e["dur"]))
            ops[k].add(e.get("args", {}).get("op_name", ""))
            node_op[node] = e.get("args", {}).get("op_name", "")
    # the first run (session warm-up) is in the profile too: drop it; the minimum over the runs (its wall clock counts
    # the time slices other processes take: medians of whole layers read 10 ms at load 12); a layer's nodes summed
    med = {k: sum(min(v[1:] if len(v) > 1 else v) for v in nodes.values()) for k, nodes in times.items()}
    by_op = defaultdict(float)
    for nodes in times.values():
        for node, v in nodes.items():
            by_op[node_op[node]] += min(v[1:] if len(v) > 1 else v)
    return med, {k: "+".join(sorted(v)) for k, v in ops.items()}, statistics.median(cpu), by_op


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1, help="threads of both engines (more than one: sdk's steps on "
                    "the wall clock, like onnxruntime's nodes; needs a quiet machine)")
    ap.add_argument("--seq", type=int, default=0, help="a text model (bench/text_latency.py's inputs) at this length")
    ap.add_argument("--by-op", action="store_true", help="also the time per step kind / onnxruntime op type")
    a = ap.parse_args()
    model = onnx.load(a.model)
    dims = None
    if a.seq:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from text_latency import text_feeds
        feed, dims = text_feeds(model, a.seq)
    else:
        inp = model.graph.input[0]
        shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
        feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    load0 = os.getloadavg()[0]
    s, desc, s_kinds = sdk_steps(model, feed, a.runs, a.threads, dims)
    o, ops, ort_cpu, o_ops = ort_nodes(model, feed, a.runs, a.threads)
    load1 = os.getloadavg()[0]
    both = [k for k in s if k in o]
    rows = sorted(both, key=lambda k: -(s[k] - o[k]))
    print(f"{Path(a.model).name}: {a.threads} thread(s), minima of {a.runs} runs; load {load0:.1f}-{load1:.1f}")
    print(f"sdk steps {sum(s.values()) / 1e3:.2f} ms ({'CPU' if a.threads == 1 else 'wall'} clock); onnxruntime nodes {sum(o.values()) / 1e3:.2f} ms "
          f"(wall clock), its whole run {ort_cpu:.2f} ms ({'CPU' if a.threads == 1 else 'wall'} clock, median)\n")
    print("| layer | sdk step | sdk us | ort op | ort us | sdk/ort | sdk - ort us |")
    print("|---|---|---:|---|---:|---:|---:|")
    for k in rows[: a.top]:
        print(f"| {k} | {desc.get(k, '')} | {s[k]:.0f} | {ops[k]} | {o[k]:.0f} | {s[k] / max(o[k], 1e-9):.2f} | "
              f"{s[k] - o[k]:+.0f} |")
    rest_s = {k: v for k, v in s.items() if k not in o}
    rest_o = {k: v for k, v in o.items() if k not in s}
    print(f"\nmatched layers: sdk {sum(s[k] for k in both) / 1e3:.2f} ms, onnxruntime {sum(o[k] for k in both) / 1e3:.2f}"
          f" ms ({len(both)} layers)")
    by_op = defaultdict(float)
    for k, v in rest_o.items():
        by_op[ops[k]] += v
    print(f"the rest: sdk {sum(rest_s.values()) / 1e3:.2f} ms ({len(rest_s)} steps: "
          + ", ".join(f"{desc.get(k, k)} {v:.0f}" for k, v in sorted(rest_s.items(), key=lambda kv: -kv[1])[:6])
          + f"); onnxruntime {sum(rest_o.values()) / 1e3:.2f} ms ("
          + ", ".join(f"{op} {v:.0f}" for op, v in sorted(by_op.items(), key=lambda kv: -kv[1])[:6]) + ")")
    if a.by_op:
        print("\nsdk per step kind (us):")
        for k, v in sorted(s_kinds.items(), key=lambda kv: -kv[1])[: a.top]:
            print(f"  {v:9.0f}  {k}")
        print("onnxruntime per op type (us):")
        for k, v in sorted(o_ops.items(), key=lambda kv: -kv[1]):
            print(f"  {v:9.0f}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
