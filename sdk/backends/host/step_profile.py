"""Measure per-layer kernel choices inside the bundle (``sdk/tune/kernel_choice.py``) on this machine.

Variant k of the model is built with candidate k of every choice point (the default where a point has fewer; variant
0 is the untuned build) through a tuning database of forced records, so the variants are exactly what a tuned build
compiles: gcc, the fused epilogues, the weights packed, the layout and the neighbours' cache state of the real model.
Each variant's demo is built with ``-DSDK_PROFILE`` (the bundle's step timer) and the variants run alternately on one
thread (the step timer reads the thread's CPU clock: time other processes take the core from it does not count),
``repeat`` runs each per round; a candidate's cost is, per workload, the sum over its sites of the median step
time over every run where it ran. The first run of each demo process is the one the timer sees cold; the median
over ``repeat`` runs and rounds leaves it out.
"""
from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ...errors import SdkError
from ...tune import kernel_choice
from ...tune.database import TuningDatabase
from .runner import HostRunner

STEP = re.compile(r"step (\S+)\s+([\d.]+) us")
CONTROL = -1  # the A/A control's index among the variants run in the rounds


class _ProfRunner(HostRunner):
    def extra_info(self, proc, info):
        info["stderr"] = proc.stderr


def feeds(bundle, seed: int = 0) -> Dict[str, np.ndarray]:
    """Random inputs at the bundle's bounds (integer inputs: zeros, valid as indices)."""
    rng = np.random.default_rng(seed)
    out = {}
    for n, (dtype, shape) in zip(bundle.func.input_names, bundle.input_types()):
        shp = [d if isinstance(d, int) else bundle.bounds.get(d, 1) for d in shape]
        out[n] = (rng.standard_normal(shp) if dtype.startswith("float") else np.zeros(shp)).astype(dtype)
    return out


def points_of(bundle) -> List[kernel_choice.ChoicePoint]:
    """The bundle's choice points, each once (a depthwise + projection pair's two steps share theirs)."""
    out, seen = [], set()
    for s in bundle.program.steps:
        pt = getattr(s, "choice", None)
        if pt is not None and id(pt) not in seen:
            seen.add(id(pt))
            out.append(pt)
    return out


def _sites(bundle, target: str) -> Dict[str, tuple]:
    """Profile label's output name -> (workload hash, chosen candidate key) of the bundle's choice steps."""
    return {s.outputs[0].name: (s.choice.hash(target), kernel_choice.key(s.choice.chosen))
            for s in bundle.program.steps if getattr(s, "choice", None) is not None}


def with_kernel_units(bundle):
    """``bundle`` with each scheduled kernel in its own translation unit (``[codegen] kernel_units``; the C rendered
    again from its program where the profile keeps them in one ``<name>_tuned.h``): sdk tune's variant builds, which
    ccache then recompiles only where a variant changed a kernel. The kernels' code is the same either way (gcc
    specialises each on its call sites' dims in its unit as in ``<name>.c``)."""
    if _units(bundle) or f"{bundle.name}_tuned.h" not in bundle.sources:
        return bundle
    from ...codegen.c import generate
    opts = dict(bundle.target.data.get("codegen", {}), kernel_units=True)
    storage = bundle.target.data.get("weights", {}).get("storage", "incbin")
    bundle.sources.update(generate(bundle.program, bundle.plan, bundle.name, bundle.bounds, weights_storage=storage,
                                   **opts))
    return bundle


def _units(bundle) -> Dict[str, str]:
    """The bundle's kernel units (``[codegen] kernel_units``): {file name: text}; {} where its kernels are in one
    file."""
    return {f: t for f, t in bundle.sources.items()
            if f.startswith(f"{bundle.name}_tk") and f.endswith(".c") and isinstance(t, str)}


def forced_db(points: List[kernel_choice.ChoicePoint], k: int, target: str, path) -> TuningDatabase:
    """A database that makes every point with a candidate k build it (cost 0.5 against the default's 1.0)."""
    db = TuningDatabase(path)
    done = set()
    for pt in points:
        h = pt.hash(target)
        if k >= len(pt.candidates) or h in done:
            continue
        done.add(h)
        for c, cost in ((pt.candidates[0], 1.0), (pt.candidates[k], 0.5)):
            db.add({"hash": h, "target": target, "workload": pt.wl.key(), "site": pt.site,
                    "choice": kernel_choice.CHOICE_VERSION, "schedule": c, "cost": cost, "unit": "forced"})
    return db


def measure_choices(model, target: str = "host", dims=None, name: str = "model", budget_s: float = 120.0,
                    min_rounds: int = 3, max_rounds: int = 12, repeat: int = 10, workdir=None,
                    progress: Optional[Callable[[str], None]] = None, compile_fn=None):
    """Measure every candidate of every choice point of ``model``. Returns (points of the untuned build,
    {workload hash: {candidate key: seconds}}, info {"variants", "rounds", "seconds", "skipped"}); ({}, ...) without
    points. Builds up to ``1 + max candidates - 1`` variants; runs rounds until ``budget_s`` (at least
    ``min_rounds``). ``budget_s`` > 0 also bounds the builds (each compiles the model's C with gcc: 20-30 s of CPU,
    minutes at load 10): a variant is built only if the slowest build so far still fits in what is left; the variants
    left out ("skipped") leave their candidates unmeasured (a build then keeps the rule's kernel there, unless
    another candidate measured beats it); without room for a second variant nothing is measured."""
    import sdk
    say = progress or (lambda line: None)
    compile_fn = compile_fn or (lambda db: with_kernel_units(sdk.compile(model, target=target, dims=dims, name=name,
                                                                         tuning_db=db)))
    t0 = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="sdk_choice_") if workdir is None else None
    wd = Path(workdir or tmp.name)
    base = compile_fn(None)
    points = points_of(base)
    if not points:
        return [], {}, {"variants": 0, "rounds": 0, "seconds": time.perf_counter() - t0, "skipped": 0}
    tgt = base.target.name
    n = max(len(p.candidates) for p in points)
    runner = _ProfRunner(extra_cflags=["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"], threads=1,
                         compiler_cache=True)
    feed = feeds(base)
    bundles, build_s, ref = [], [], None
    seen_units, unit_s = set(), []  # kernel units built so far (their text); seconds per new unit of each build
    for k in range(n):
        tb = time.perf_counter()
        if k:
            left = budget_s - (tb - t0)
            if budget_s > 0 and left <= 0:
                say(f"variants {k}-{n - 1} not built: the {budget_s:.0f} s budget is spent")
                break
            b = compile_fn(forced_db(points, k, tgt, wd / f"forced{k}.jsonl"))
            for pt in points_of(b):  # the forced records must be what the build took
                if k < len(pt.candidates) and kernel_choice.key(pt.chosen) != kernel_choice.key(pt.candidates[k]):
                    raise SdkError(f"kernel choice {pt.site}: forced {pt.candidates[k]}, the build took {pt.chosen}")
        else:
            b = base
        units = _units(b)
        new = [t for t in units.values() if t not in seen_units]
        if k:
            # what this build will take: with kernel units ([codegen] kernel_units) gcc compiles only the kernels no
            # build compiled before (the compiler cache has the rest), else the whole model again
            est = (max(unit_s) * len(new) if units and unit_s else max(build_s))
            left = budget_s - (time.perf_counter() - t0)
            if budget_s > 0 and est > left:
                say(f"variants {k}-{n - 1} not built: variant {k} would compile {len(new)} kernels (~{est:.0f} s), "
                    f"{max(left, 0):.0f} s of the {budget_s:.0f} s budget left")
                break
        b.save(wd / f"v{k}", force=True)
        outs, _ = b.run_with_info(feed, runner=runner)  # builds the demo
        if ref is None:
            ref = outs
        else:  # every variant computes the same outputs (within float32 rounding of other kernels)
            for o, v in outs.items():
                if not np.allclose(v, ref[o], rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref[o]).max()))):
                    raise SdkError(f"kernel-choice variant {k}: output {o} differs from the untuned build's")
        bundles.append(b)
        build_s.append(time.perf_counter() - tb + (tb - t0 if k == 0 else 0.0))  # variant 0: with the model's compile
        seen_units.update(units.values())
        if new:
            unit_s.append(build_s[-1] / len(new))
        say(f"variant {k}: built in {build_s[-1]:.0f} s ({time.perf_counter() - t0:.0f} s in all)"
            + (f", {len(new)} of {len(units)} kernel units compiled, the rest from the compiler cache" if units else ""))
    skipped = n - len(bundles)
    if len(bundles) < 2:
        if tmp is not None:
            tmp.cleanup()
        return points, {}, {"variants": len(bundles), "rounds": 0, "seconds": time.perf_counter() - t0,
                            "skipped": skipped}
    sites = [_sites(b, tgt) for b in bundles]
    # an A/A control: variant 0 built a second time into its own demo (a compiler-cache hit: the same sources) and run
    # in the rounds like the others; per workload, how far its time reads from variant 0's is the noise of this
    # measurement, and a candidate must beat the default by more than that (``kernel_choice.pick``). On the shared
    # 2-vCPU machine at load 20 three builds of the same SqueezeNet read 1.000 / 0.961 / 0.953 (sum of step medians)
    runs = list(enumerate(bundles))
    if budget_s <= 0 or time.perf_counter() - t0 < budget_s:
        shutil.copytree(wd / "v0", wd / "control", dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if n.endswith(".o") or n.endswith("_main")])
        runner.run(wd / "control", feed)  # builds its demo
        runs.append((CONTROL, None))
        sites.append({o: (h, "control") for o, (h, _) in sites[0].items()})
        say(f"control: built ({time.perf_counter() - t0:.0f} s)")
    samples: Dict[str, Dict[str, list]] = defaultdict(lambda: defaultdict(list))  # hash -> cand -> [per-run sums]
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - t0 < budget_s):
        for k, b in runs:
            _, info = (runner.run(wd / "control", feed, repeat=repeat) if k == CONTROL else
                       b.run_with_info(feed, runner=runner, repeat=repeat))
            per = defaultdict(list)  # (hash, cand) -> site -> times
            for ln in info["stderr"].splitlines():
                m = STEP.match(ln)
                if m:
                    out = m.group(1).split("->")[-1]
                    if out in sites[k]:
                        per[sites[k][out]].append((out, float(m.group(2)) * 1e-6))
            for (h, c), vals in per.items():
                by_site = defaultdict(list)
                for out, t in vals:
                    by_site[out].append(t)
                # one sample per run of the demo: the workload's sites summed, run by run
                for r in range(min(len(v) for v in by_site.values())):
                    samples[h][c].append(sum(v[r] for v in by_site.values()))
        rounds += 1
        say(f"round {rounds}: {time.perf_counter() - t0:.0f} s")
    costs = {h: {c: statistics.median(v) for c, v in cs.items()} for h, cs in samples.items()}
    noise = {}
    for h, cs in costs.items():  # |control - default| / default, where both ran
        ctl = cs.pop("control", None)
        d = next((cs[kernel_choice.key(p.candidates[0])] for p in points if p.hash(tgt) == h
                  and kernel_choice.key(p.candidates[0]) in cs), None)
        if ctl is not None and d:
            noise[h] = abs(ctl - d) / d
    if tmp is not None:
        tmp.cleanup()
    return points, costs, {"variants": len(bundles), "rounds": rounds, "seconds": time.perf_counter() - t0,
                           "skipped": skipped, "noise": noise}


def _scheduled(bundle) -> Dict[str, object]:
    """Output name -> step of the bundle's steps whose schedule came from the database's schedule records
    (``step.tuning``, set by ``apply_schedules``)."""
    return {s.outputs[0].name: s for s in bundle.program.steps if getattr(s, "tuning", None) is not None}


def check_schedules(model, db, target: str = "host", dims=None, name: str = "model", budget_s: float = 120.0,
                    min_rounds: int = 3, max_rounds: int = 12, repeat: int = 10, workdir=None,
                    progress: Optional[Callable[[str], None]] = None, compile_fn=None):
    """The schedule search's winners measured in the bundle: the build with ``db`` (tuned) against the same build
    with only its kernel-choice records (every searched step at its default schedule), both with the step timer on
    the thread's CPU clock, run alternately on one thread (``measure_choices``' rounds). Per workload whose step the
    database changed: the per-run sum over its sites of the tuned and of the default schedule, median; returned as
    records ``{"bundle": 1, "schedule", "cost", ...}`` (the tuned schedule's and the default's) that
    ``apply.pick_record`` prefers to the search's own: a schedule that won as a kernel alone (the JIT, gcc's
    confirmation) but not in its model is not taken. ([], info) where the database changes no step, or where the two
    builds do not fit ``budget_s`` (> 0): the slower of the two builds is estimated as the first one's time."""
    import sdk
    from ...tune.space import SPACE_VERSION
    say = progress or (lambda line: None)
    t0 = time.perf_counter()
    base_db = TuningDatabase(None)
    base_db.records = [r for r in db.records if kernel_choice.is_choice_record(r)]
    compile_fn = compile_fn or (lambda d: with_kernel_units(sdk.compile(model, target=target, dims=dims, name=name,
                                                                        tuning_db=d)))
    tuned = compile_fn(db)
    sched = _scheduled(tuned)
    info = {"variants": 0, "rounds": 0, "seconds": 0.0, "steps": len(sched)}
    if not sched:
        info["seconds"] = time.perf_counter() - t0
        return [], info
    tmp = tempfile.TemporaryDirectory(prefix="sdk_sched_") if workdir is None else None
    wd = Path(workdir or tmp.name)
    runner = _ProfRunner(extra_cflags=["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"], threads=1,
                         compiler_cache=True)
    feed = feeds(tuned)
    tb = time.perf_counter()
    tuned.save(wd / "tuned", force=True)
    ref, _ = tuned.run_with_info(feed, runner=runner)
    build_s = time.perf_counter() - t0
    base = compile_fn(base_db) if budget_s <= 0 or build_s < budget_s else None
    if base is not None:  # with kernel units the default build compiles only the kernels the tuned one does not have
        tu, bu = set(_units(tuned).values()), _units(base)
        est = build_s * sum(1 for t in bu.values() if t not in tu) / len(tu) if tu and bu else build_s
    if base is None or (budget_s > 0 and est > budget_s - (time.perf_counter() - t0)):
        say(f"not checked in the bundle: the tuned build took {build_s:.0f} s, {max(budget_s - build_s, 0):.0f} s of "
            f"the {budget_s:.0f} s budget left")
        if tmp is not None:
            tmp.cleanup()
        info.update(variants=1, seconds=time.perf_counter() - t0)
        return [], info
    base.save(wd / "base", force=True)
    outs, _ = base.run_with_info(feed, runner=runner)
    for o, v in outs.items():  # the same outputs (within float32 rounding of other schedules)
        if not np.allclose(v, ref[o], rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref[o]).max()))):
            raise SdkError(f"schedule check: output {o} of the tuned build differs from the default build's")
    say(f"tuned and default builds: {time.perf_counter() - t0:.0f} s ({time.perf_counter() - tb:.0f} s the two builds)")
    base_steps = {s.outputs[0].name: s for s in base.program.steps}
    # output name -> workload hash, for the sites whose step the database changed (both builds have the site)
    sites = {o: s.tuning["hash"] for o, s in sched.items() if o in base_steps}
    samples: Dict[str, Dict[str, list]] = defaultdict(lambda: defaultdict(list))  # hash -> variant -> [per-run sums]
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - t0 < budget_s):
        for label, b in (("tuned", tuned), ("default", base)):
            _, run = b.run_with_info(feed, runner=runner, repeat=repeat)
            per = defaultdict(lambda: defaultdict(list))  # hash -> site -> times
            for ln in run["stderr"].splitlines():
                m = STEP.match(ln)
                if m:
                    out = m.group(1).split("->")[-1]
                    if out in sites:
                        per[sites[out]][out].append(float(m.group(2)) * 1e-6)
            for h, by_site in per.items():
                for r in range(min(len(v) for v in by_site.values())):
                    samples[h][label].append(sum(v[r] for v in by_site.values()))
        rounds += 1
    recs, seen = [], set()
    for o, s in sched.items():
        h = sites.get(o)
        if h is None or h in seen or len(samples[h]) < 2:
            continue
        seen.add(h)
        for label, sc in (("tuned", s.tuning["schedule"]), ("default", s.tuning["default"])):
            recs.append({"hash": h, "target": tuned.target.name, "workload": s.tuning["workload"],
                         "site": f"{name}:{o}", "space": SPACE_VERSION, "schedule": sc, "cost": statistics.median(samples[h][label]),
                         "unit": "s", "bundle": 1})
    if tmp is not None:
        tmp.cleanup()
    info.update(variants=2, rounds=rounds, seconds=time.perf_counter() - t0)
    say(f"{len(seen)} workloads checked, {rounds} rounds: {info['seconds']:.0f} s")
    return recs, info
