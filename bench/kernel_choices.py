"""Per-layer kernel choices of models on this machine, measured in the bundle without a time budget.

    python bench/kernel_choices.py MODEL.onnx [MODEL.onnx ...] --db DB.jsonl [--rounds 3]

What ``sdk tune``'s first phase does (``sdk/backends/host/step_profile.measure_choices``: variant k of the model built
with candidate k of every choice point, the step timer on the thread's CPU clock, the variants run alternately on one
thread), but every variant is built whatever the load (``sdk tune`` builds a variant only while the slowest build
so far fits the phase's share of its budget: at load 26 on the shared 2-vCPU machine one build took 600 s and nothing
was measured in 1200 s). Appends the records to DB (the same records ``sdk tune`` writes) and prints, per model, the
choice summary (each candidate's cost in us, what a build takes) and the wall and CPU seconds it took (this process
and its children: the compiler) with the load average before and after: the CPU seconds say what the phase would
take on a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sdk.backends.host.step_profile import measure_choices  # noqa: E402
from sdk.targets import load_target  # noqa: E402
from sdk.tune import kernel_choice as kc  # noqa: E402
from sdk.tune.database import TuningDatabase  # noqa: E402
from sdk.tune.tuner import choice_summary  # noqa: E402


def cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--db", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--target", default="host")
    a = ap.parse_args(argv)
    db = TuningDatabase(a.db)
    tgt = load_target(a.target)
    for path in a.models:
        name = Path(path).stem
        t0, c0, l0 = time.perf_counter(), cpu_s(), os.getloadavg()[0]
        points, costs, info = measure_choices(
            onnx.load(path), target=a.target, name="model", budget_s=0.0, min_rounds=a.rounds, max_rounds=a.rounds,
            progress=lambda line, n=name: print(f"{n}: {line}", file=sys.stderr, flush=True))
        for p in points:
            p.site = f"{name}:{p.site.split(':', 1)[1]}"
        db.add_many(kc.records(points, costs, tgt.name, noise=info.get("noise")))
        print(choice_summary([(name, points, costs, info)], tgt.name, kc.margin_of(tgt)))
        print(f"{name}: {time.perf_counter() - t0:.0f} s wall, {cpu_s() - c0:.0f} s CPU (this process and the "
              f"compiler), load {l0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
