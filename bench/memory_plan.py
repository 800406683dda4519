"""Memory plans of sdk bundles: naive sum, lower bound, planned arena, and onnxruntime's peak.

    python bench/memory_plan.py [--conformance] [--models mlp,resnet50] [--no-ort]

Per model (the examples at their upper bounds from examples/make_examples.py
BOUNDS, and the nine light zoo models), in KiB:
- naive: the sum of all temporary buffers (no reuse);
- lower: the most bytes live at once in the chosen (memory-aware) order, which no
  placement of that order can beat; file lower: the same in the ONNX file order;
- arena: the planned workspace (``b.plan.arena_bytes``) and arena/lower;
- onnxruntime's CPU arena, read from its profiler's per-node events (1 thread,
  all graph optimizations, memory pattern on, two runs at the same shapes), less
  the bytes already in use before the first node runs (prepacked weights, which
  ORT keeps in the same arena):
  ort req: the most bytes requested and in use at the end of a node in the
  second run (the memory-pattern block plus outputs); scratch that a kernel
  frees before it ends is not seen;
  ort peak: ``mem_in_use_peak``, the arena's peak over both runs in chunks, which
  includes kernel scratch but also the arena's rounding (a chunk is not split
  unless the rest is large, so it can overstate by up to 2x).
  ORT counts graph outputs and works on its own fused, NCHWc-reordered graph; sdk's
  arena holds intermediates only (inputs and outputs are the caller's), so the
  columns are comparable, not equal.
With --conformance, the ONNX backend node test models are planned too (without
their dims bounds: they are static), UnsupportedOp ones skipped, and one summary
line printed with the worst ratios.

Exit status 1 if any planned model breaks arena <= 1.05 * lower, or if the
resnext_block chosen order's lower bound exceeds its file order's.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

SLACK = 1.05
KIB = 1024


def models():
    """(name, ModelProto, upper bounds or None)."""
    from make_examples import BOUNDS, EXAMPLES
    from zoo import ZOO, randomized
    return [(n, fn(), BOUNDS[n]) for n, fn in EXAMPLES.items()] + [(n, randomized(n), None) for n in ZOO]


def ort_peak(model, bounds):
    """(peak bytes in use, bytes requested) of onnxruntime's CPU arena; see the module doc."""
    import onnxruntime as ort
    from host_latency import input_specs, random_inputs
    feed = random_inputs(input_specs(model, bounds or {}))
    with tempfile.TemporaryDirectory() as td:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(td, "ort")
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        for _ in range(2):  # the second run allocates the memory pattern the first one recorded
            sess.run(None, feed)
        events = json.load(open(sess.end_profiling()))
    args = [e["args"] for e in events if e.get("cat") == "Node" and "mem_in_use_peak" in e.get("args", {})]
    if not args:
        return None, None
    # Bytes in use before the first node runs stay for the session (prepacked weights live in the arena).
    a0 = args[0]
    before = int(a0["mem_bytes_in_use"]) - int(a0["mem_in_use_delta"])
    before_req = int(a0["mem_bytes_requested_in_use"]) - int(a0["mem_requested_in_use_delta"])
    second = args[len(args) // 2:]
    return (max(int(a["mem_in_use_peak"]) for a in args) - before,
            max(int(a["mem_bytes_requested_in_use"]) for a in second) - before_req)


def plan_row(name, model, bounds, with_ort=True):
    import sdk
    b = sdk.compile(model, target="host", dims=bounds, name="model")
    p, fp = b.plan, b.file_order_plan
    r = {"model": name, "naive": p.naive_bytes, "lower": p.lower_bound_bytes, "arena": p.arena_bytes,
         "file_lower": fp.lower_bound_bytes, "file_arena": fp.arena_bytes}
    if with_ort:
        try:
            r["ort_peak"], r["ort_req"] = ort_peak(model, bounds)
        except Exception as e:  # noqa: BLE001 - reported in the row
            r["ort_note"] = f"{type(e).__name__}"
    return r


def ratio(r):
    return r["arena"] / r["lower"] if r["lower"] else (1.0 if r["arena"] == 0 else float("inf"))


def violations(r):
    bad = []
    if r["arena"] > SLACK * r["lower"]:
        bad.append(f"arena {r['arena']} > {SLACK} * lower {r['lower']}")
    if r["model"] == "resnext_block" and r["lower"] > r["file_lower"]:
        bad.append(f"chosen-order lower {r['lower']} > file-order lower {r['file_lower']}")
    return bad


def kib(v):
    return "n/a" if v is None else f"{v / KIB:.1f}"


def table(rows):
    head = ["model", "naive KiB", "lower KiB", "arena KiB", "arena/lower", "file-order lower KiB",
            "chosen lower KiB", "file-order arena KiB", "ort req KiB", "ort peak KiB", "ok"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["model"], kib(r["naive"]), kib(r["lower"]), kib(r["arena"]), f"{ratio(r):.3f}",
            kib(r["file_lower"]), kib(r["lower"]), kib(r["file_arena"]),
            kib(r.get("ort_req")), kib(r.get("ort_peak")), "yes" if not violations(r) else "NO"]) + " |")
    return "\n".join(lines)


def conformance_rows():
    """Plan every backend node test model the compiler accepts; returns (rows, skipped, failed)."""
    import sdk
    from onnx.backend.test.case.node import collect_testcases
    from sdk.errors import UnsupportedOp
    rows, skipped, failed = [], 0, []
    for c in collect_testcases(None):
        try:
            b = sdk.compile(c.model, name="model")
        except UnsupportedOp:
            skipped += 1
            continue
        except Exception as e:  # noqa: BLE001 - listed, not fatal: the conformance runner judges these
            failed.append(f"{c.name}: {type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}")
            continue
        p, fp = b.plan, b.file_order_plan
        rows.append({"model": c.name, "naive": p.naive_bytes, "lower": p.lower_bound_bytes, "arena": p.arena_bytes,
                     "file_lower": fp.lower_bound_bytes, "file_arena": fp.arena_bytes})
    return rows, skipped, failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conformance", action="store_true", help="also the ONNX backend node test models")
    ap.add_argument("--models", default="", help="comma-separated example/zoo names (default: all)")
    ap.add_argument("--no-ort", action="store_true", help="skip the onnxruntime peak column")
    a = ap.parse_args(argv)

    ms = models()
    if a.models:
        want = set(a.models.split(","))
        ms = [m for m in ms if m[0] in want]
    rows = [plan_row(n, m, bd, not a.no_ort) for n, m, bd in ms]
    print(table(rows))
    bad = [(r["model"], v) for r in rows for v in violations(r)]

    if a.conformance:
        crows, skipped, failed = conformance_rows()
        ratios = sorted(((ratio(r), r["model"]) for r in crows if r["lower"]), reverse=True)
        bad += [(r["model"], v) for r in crows for v in violations(r)]
        print(f"\nconformance: {len(crows)} node test models planned ({len(ratios)} with temporaries), "
              f"{skipped} skipped (UnsupportedOp), {len(failed)} failed to compile; "
              f"max arena/lower {ratios[0][0]:.3f} ({ratios[0][1]}); "
              f"{sum(1 for x, _ in ratios if x > SLACK)} above {SLACK}; "
              f"{sum(1 for r in crows if r['lower'] < r['file_lower'])} where the chosen order lowers the bound")
        print("highest arena/lower: " + ", ".join(f"{n} {x:.3f}" for x, n in ratios[:5]))
        for f in failed:
            print(f"  compile failed: {f}")

    for name, v in bad:
        print(f"VIOLATION {name}: {v}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
