"""Which profile facts matter on this CPU: the same model built with patched ``targets/<target>.toml`` values, per-step
A/B in the bundle (the step timer on the thread's CPU clock, one thread, variants run alternately).

    python bench/profile_facts_ab.py MODEL.onnx --variant NAME:TABLE.KEY=VALUE[,TABLE.KEY=VALUE] ... [--rounds 4]

e.g. ``--variant wino2m:winograd.cache_bytes=2097152 --variant rows:tune.spatial_rows_gain=0``. Variant ``base`` (the
profile as it is) always runs first. Each variant is ``sdk.compile(model, target)`` with the profile's data patched
(untuned: no database), built with ``-DSDK_PROFILE -DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID``, and run ``--repeat``
times per round, the variants alternating, ``--rounds`` rounds. Prints each variant's sum of step medians, its sum
per kind of step (the library function, or the generated kernel's form), the steps whose kernel differs from
base's with their median times, and max |y - y_base|. Only the same-run ratios count on a shared machine.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse  # noqa: E402
import copy  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import sdk  # noqa: E402
import sdk.targets  # noqa: E402
from sdk.backends.host.runner import HostRunner  # noqa: E402
from zoo_latency import feeds_for  # noqa: E402

STEP = re.compile(r"step (\S+)\s+([\d.]+) us")


class ProfRunner(HostRunner):
    def extra_info(self, proc, info):
        info["stderr"] = proc.stderr


def parse_value(v: str):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def patched_loader(patches):
    """load_target with ``patches`` [(table, key, value)] applied to the profile's data."""
    orig = sdk.targets.load_target

    def load(name):
        t = orig(name)
        if not patches:
            return t
        data = copy.deepcopy(t.data)
        for table, key, value in patches:
            data.setdefault(table, {})[key] = value
        return type(t)(t.name, t.backend, t.cc, list(t.cflags), list(t.ldlibs), data)
    return orig, load


def compile_with(model, target, patches):
    """sdk.compile with every module's ``load_target`` swapped for the patched one (modules import it by name; a
    module first imported during the compile takes the patched one from ``sdk.targets``: it is put back too, else
    the next variant would build with this one's facts)."""
    orig, load = patched_loader(patches)
    mods = [m for m in list(sys.modules.values()) if getattr(m, "load_target", None) is orig]
    for m in mods:
        m.load_target = load
    try:
        return sdk.compile(model, target=target, name="model")
    finally:
        for m in list(sys.modules.values()):
            if getattr(m, "load_target", None) is load:
                m.load_target = orig


def kind(step) -> str:
    sched = getattr(step, "schedule", None)
    if not sched:
        return step.fn
    if sched.get("trans"):
        return "gen:spatial_rows"
    if sched.get("planes"):
        return "gen:tap_planes"
    if sched.get("cv") or sched.get("direct") or "mb" in sched:
        return "gen:direct"
    return f"gen:{getattr(step, 'workload', None).kind if getattr(step, 'workload', None) else 'kernel'}"


def form(step) -> str:
    sched = getattr(step, "schedule", None)
    if step.fn == "sdk_winograd_f32":
        return f"winograd m={step.arg('m')} tb={step.arg('tb')}"
    if sched:
        return " ".join(f"{k}={v}" for k, v in sorted(sched.items()) if k in ("mr", "nv", "kc", "mc", "nc", "trans"))
    return step.fn


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:TABLE.KEY=VALUE[,...]")
    ap.add_argument("--target", default="host")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args(argv)
    model = onnx.load(a.model)
    feed = feeds_for(model)
    variants = {"base": []}
    for v in a.variant:
        name, spec = v.split(":", 1)
        variants[name] = [(kv.split("=", 1)[0].split(".", 1)[0], kv.split("=", 1)[0].split(".", 1)[1],
                           parse_value(kv.split("=", 1)[1])) for kv in spec.split(",")]
    runner = ProfRunner(extra_cflags=["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"], threads=1,
                        compiler_cache=True)
    wd = Path(tempfile.mkdtemp(prefix="facts_ab_"))
    bundles, steps, outs = {}, {}, {}
    for name, patches in variants.items():
        b = compile_with(model, a.target, patches)
        b.save(wd / name, force=True)
        o, _ = b.run_with_info(feed, runner=runner)
        bundles[name], outs[name] = b, o
        steps[name] = {s.outputs[0].name: s for s in b.program.steps if hasattr(s, "fn")}
        print(f"built {name} ({len(steps[name])} steps)", file=sys.stderr, flush=True)
    times = {n: defaultdict(list) for n in bundles}
    load = [os.getloadavg()[0]]
    for r in range(a.rounds):
        for name, b in bundles.items():
            _, info = b.run_with_info(feed, runner=runner, repeat=a.repeat)
            for ln in info["stderr"].splitlines():
                m = STEP.match(ln)
                if m:
                    times[name][m.group(1).split("->")[-1]].append(float(m.group(2)))
    load.append(os.getloadavg()[0])
    med = {n: {o: statistics.median(v) for o, v in t.items()} for n, t in times.items()}
    mins = {n: {o: min(v) for o, v in t.items()} for n, t in times.items()}
    print(f"{a.model}: {a.rounds} rounds x {a.repeat} runs, one thread, step timer on the thread CPU clock, "
          f"load {load[0]:.1f}-{load[1]:.1f}")
    print("| variant | patches | sum of step medians us | sum of step minima us | /base (median) | max abs diff vs base |")
    print("|---|---|---|---|---|---|")
    base = sum(med["base"].values())
    for n in bundles:
        diff = max(float(np.max(np.abs(outs[n][k] - outs["base"][k]))) for k in outs[n])
        tot = sum(med[n].values())
        print(f"| {n} | {', '.join(f'{t}.{k}={v}' for t, k, v in variants[n]) or '-'} | {tot:.0f} | "
              f"{sum(mins[n].values()):.0f} | {tot / base:.3f} | {diff:.2g} |")
    kinds = sorted({kind(s) for st in steps.values() for s in st.values()})
    print("\n| kind | " + " | ".join(f"{n} us" for n in bundles) + " |")
    print("|---|" + "---|" * len(bundles))
    for k in kinds:
        row = [sum(t for o, t in med[n].items() if o in steps[n] and kind(steps[n][o]) == k) for n in bundles]
        if max(row) >= 1:
            print(f"| {k} | " + " | ".join(f"{x:.0f}" for x in row) + " |")
    print("\nsteps whose kernel differs from base's (median us; the largest first):")
    rows = []
    for o, s in steps["base"].items():
        fs = {n: form(steps[n][o]) for n in bundles if o in steps[n]}
        if len(set(fs.values())) > 1 and o in med["base"]:
            rows.append((med["base"][o], o, fs))
    for t, o, fs in sorted(rows, reverse=True)[:a.top]:
        cells = "  ".join(f"{n} {med[n].get(o, float('nan')):.0f} [{fs[n]}]" for n in bundles if n in fs)
        print(f"  {o}: {cells}")


if __name__ == "__main__":
    main()
