"""The whole-model stage's measurement on this machine (``sdk/tune/whole_model.py``): a model's complete candidate
builds run alternately, whole runs on one thread.

Each distinct candidate (untuned, tuned, near: builds with the same sources are run once) is compiled as
``sdk build --db`` compiles it (forced model records, ``whole_model.forced``), its demo built with the step timer
on the thread's CPU clock as the other phases' builds (``step_profile.py``: time other processes take the core does
not count; the untuned and tuned builds are compiler-cache hits of theirs) and run on one thread ``repeat`` times a
round; a run's time is the sum of its steps, a candidate's cost the median over the rounds of each round's fastest
run (the run other processes disturbed least; the median over rounds drops a lucky one). An A/A
control (the untuned build's sources in a second demo) runs in the rounds too: how far it reads from the untuned
build is the measurement's noise, which a candidate must beat (``whole_model.decide``).
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ...errors import SdkError
from ...tune import whole_model
from ...tune.database import TuningDatabase
from .step_profile import STEP, _ProfRunner, feeds, with_kernel_units

CONTROL = "control"


def _text(bundle) -> Dict[str, str]:
    return {f: t for f, t in bundle.sources.items() if isinstance(t, str)}


def measure_builds(model, db: TuningDatabase, target: str = "host", dims=None, name: str = "model",
                   budget_s: float = 120.0, min_rounds: int = 3, max_rounds: int = 24, repeat: int = 10,
                   workdir=None, progress: Optional[Callable[[str], None]] = None, compile_fn=None, run_fn=None,
                   walk_rounds: Optional[int] = None, knobs=None):
    """Measure ``model``'s candidate builds (``whole_model.BUILDS``) under ``db``, then walk the profile's
    whole-model knobs from the pick (``knobs``: [(section.key, value)], None: ``whole_model.knobs_of`` the profile;
    ``walk_rounds`` rounds a set, default ``max(min_rounds, 8)`` capped by ``max_rounds``; with knobs to walk, the
    first set runs at most as many rounds, so that the budget is left to the walk's builds). Returns (records for the database, info {"builds", "rounds",
    "seconds", "costs", "noise", "same", "picked", "walk": [(candidates, picked after the set)]}); ([], info) where
    every candidate compiles to the untuned build's sources (nothing to decide) or the builds do not fit ``budget_s``
    (> 0: a candidate is built only if the slowest build so far still fits in what is left).

    ``compile_fn(db) -> bundle`` and ``run_fn(build, bundle, repeat) -> seconds a run`` replace compiling and
    running (tests: a deterministic stand-in for the machine)."""
    import sdk
    from ...frontend.onnx import load_model
    from ...targets import load_target
    say = progress or (lambda line: None)
    t0 = time.perf_counter()
    tgt = load_target(target)
    model = load_model(model)
    key = whole_model.model_key(model, dims, tgt.name)
    compile_fn = compile_fn or (lambda d: with_kernel_units(sdk.compile(model, target=target, dims=dims, name=name,
                                                                        tuning_db=d)))
    info = {"builds": 0, "rounds": 0, "seconds": 0.0, "costs": {}, "noise": None, "same": {}, "picked": None,
            "walk": []}
    tmp = tempfile.TemporaryDirectory(prefix="sdk_model_") if workdir is None and run_fn is None else None
    wd = Path(workdir or (tmp.name if tmp else "."))
    # the step timer on the thread's CPU clock, as the kernel choices' and the bundle check's builds (the untuned and
    # tuned builds are compiler-cache hits of theirs): a run's time is the sum of its steps
    runner = _ProfRunner(extra_cflags=["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"], threads=1,
                         compiler_cache=True)
    bundles, dirs, build_s, st = {}, {CONTROL: CONTROL}, [], {"feed": None, "ref": None}
    real = run_fn is None  # the demos built and run (run_fn becomes their runner below)
    left = lambda: budget_s - (time.perf_counter() - t0)  # noqa: E731

    def build(b):
        """Compile candidate ``b`` (a ``whole_model.label``); its twin's name where the sources are a measured
        build's, else None (built, its demo run once: every candidate computes the untuned build's outputs)."""
        tb = time.perf_counter()
        bundle = compile_fn(whole_model.forced(db, key, tgt.name, b))
        twin = next((o for o, ob in bundles.items() if _text(ob) == _text(bundle)), None)
        if twin is not None:
            return twin
        bundles[b] = bundle
        dirs[b] = b if b in whole_model.BUILDS else f"walk{len(dirs)}"  # a label with knobs is no directory name
        if real:
            st["feed"] = st["feed"] or feeds(bundle)
            bundle.save(wd / dirs[b], force=True)
            outs, _ = bundle.run_with_info(st["feed"], runner=runner)
            st["ref"] = st["ref"] or outs
            for o, v in outs.items():
                ref = st["ref"][o]
                if not np.allclose(v, ref, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref).max()))):
                    raise SdkError(f"whole-model stage: output {o} of the {b} build differs from the untuned build's")
        build_s.append(time.perf_counter() - tb)
        say(f"{b}: built ({build_s[-1]:.0f} s, {time.perf_counter() - t0:.0f} s in all)")
        return None

    def fits():
        return not (build_s and budget_s > 0 and max(build_s) > left())

    same = {}
    for b in whole_model.BUILDS:
        if not fits():
            say(f"{b} not built: {max(left(), 0):.0f} s of the {budget_s:.0f} s budget left, a build took "
                f"{max(build_s):.0f} s")
            break
        twin = build(b)
        if twin is not None:  # the same sources: one build
            same[b] = twin
    info["same"] = same
    if len(bundles) < 2:
        say("nothing to decide: " + ("every candidate is the untuned build" if len(same) == len(whole_model.BUILDS) - 1
                                     else "the builds did not fit the budget"))
        info["seconds"] = time.perf_counter() - t0
        if tmp is not None:
            tmp.cleanup()
        return [], info
    if real:
        shutil.copytree(wd / "untuned", wd / CONTROL, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if n.endswith(".o") or n.endswith("_main")])
        runner.run(wd / CONTROL, st["feed"])  # builds its demo (a compiler-cache hit: the same sources)

        def run_fn(b, bundle, repeat):
            _, out = runner.run(wd / dirs[b], st["feed"], repeat=repeat)
            by_step = defaultdict(list)
            for ln in out["stderr"].splitlines():
                m = STEP.match(ln)
                if m:
                    by_step[m.group(1)].append(float(m.group(2)) * 1e-6)
            n = min(len(v) for v in by_step.values())
            return min(sum(v[r] for v in by_step.values()) for r in range(n))
    what = f"model {name}: {len(model.graph.node)} nodes"
    margin = whole_model.margin_of(tgt)
    knobs = list(whole_model.knobs_of(tgt) if knobs is None else knobs)
    n_walk = min(max(min_rounds, 8), max_rounds) if walk_rounds is None else walk_rounds
    # the first set: untuned, tuned, near
    costs, ratios, noise, wins, rounds = _rounds(list(bundles), bundles, run_fn, repeat, min_rounds,
                                                 min(max_rounds, n_walk) if knobs else max_rounds, budget_s, t0)
    recs = whole_model.records(key, tgt.name, name, costs, noise, same, what, wins)
    picked = whole_model.decide(recs, margin)
    info.update(builds=len(bundles), rounds=rounds, costs=costs, noise=noise, picked=picked,
                wins={b: w for b, w in wins.items() if b in costs and b != "untuned"})
    say(f"{rounds} rounds, {time.perf_counter() - t0:.0f} s: "
        + ", ".join(f"{b} {c * 1e3:.3f} ms ({c / costs['untuned']:.3f}"
                    + (f", faster in {wins[b]:.0%} of rounds)" if b != "untuned" else ")") for b, c in costs.items())
        + f", A/A {noise:.3f} -> {picked}")
    # the walk over the whole-model knobs, from the pick
    picked, recs, info["walk"], walked = _walk(
        picked, knobs, recs, build, fits, margin, say,
        measure=lambda order: _rounds(order, bundles, run_fn, repeat, n_walk, n_walk, 0.0, t0),
        records=lambda *a: whole_model.walk_records(key, tgt.name, name, *a, what))
    info["rounds"] += walked
    info.update(seconds=time.perf_counter() - t0, picked=picked, builds=len(bundles))
    if tmp is not None:
        tmp.cleanup()
    return recs, info


def _walk(picked, knobs, recs, build, fits, margin, say, measure, records):
    """The greedy walk over the whole-model knobs ``knobs`` ([(section.key, value)]; a knob taken or that does not
    reach the model is removed) from the build ``picked``, while ``fits()``: a step builds ``picked`` with each knob
    not yet in it (``build(label)``: a twin's name where the sources are a measured build's), measures the untuned
    build, the pick and those candidates (``measure(order)``: ``_rounds``' result), adds their records
    (``records(ratios, costs, noise, wins)``) to ``recs`` and decides again (``whole_model.decide`` at ``margin``);
    it stops where the pick stays, no candidate is left or the knobs run out. Returns (the pick, the records,
    [(candidates, pick after the step)], rounds run)."""
    steps, walked = [], 0
    while knobs and fits():
        base = whole_model.schedule_of(picked)
        cands = []
        for k, v in list(knobs):
            if not fits():
                break
            if (base.get("knobs") or {}).get(k, object()) == v:
                knobs.remove((k, v))
                continue
            c = whole_model.label(dict(base, knobs=dict(base.get("knobs") or {}, **{k: v})))
            twin = build(c)
            if twin is not None:  # the knob does not reach this model (from here): not a candidate again
                say(f"{c}: the sources of {twin}")
                knobs.remove((k, v))
                continue
            cands.append((c, (k, v)))
        if not cands:
            break
        order = ["untuned"] + ([picked] if picked != "untuned" else []) + [c for c, _ in cands]
        costs, ratios, noise, wins, rounds = measure(order)
        recs = recs + records({b: ratios[b] for b in order if b != "untuned"}, costs, noise, wins)
        now = whole_model.decide(recs, margin)
        say(f"walk from {picked}, {rounds} rounds: " + ", ".join(f"{b} {ratios[b]:.3f} ({wins[b]:.0%})"
                                                                 for b in order if b != "untuned")
            + f", A/A {noise:.3f} -> {now}")
        steps.append(([c for c, _ in cands], now))
        walked += rounds
        taken = next((kv for c, kv in cands if c == now), None)
        picked = now
        if taken is None:
            break
        knobs.remove(taken)
    return picked, recs, steps, walked


def _rounds(order, bundles, run_fn, repeat, min_rounds, max_rounds, budget_s, t0):
    """Alternating rounds of the builds ``order`` (the untuned one among them) and the A/A control: (median cost,
    median ratio to the untuned build of the same round, A/A noise, share of rounds faster than the untuned build,
    rounds). The A/A noise: the control against the untuned build, by medians and by the spread of the rounds'
    ratios."""
    order = list(order) + [CONTROL]
    samples: Dict[str, list] = {b: [] for b in order}
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or budget_s <= 0 or time.perf_counter() - t0 < budget_s):
        for b in order:
            samples[b].append(run_fn(b, bundles.get(b, bundles["untuned"]), repeat))
        rounds += 1
    costs = {b: statistics.median(v) for b, v in samples.items()}
    ctl = costs.pop(CONTROL)
    u = samples["untuned"]
    aa = sorted(c / x for c, x in zip(samples[CONTROL], u))
    q = statistics.quantiles(aa, n=4) if len(aa) >= 2 else [aa[0]] * 3
    noise = max(abs(ctl - costs["untuned"]) / costs["untuned"], (q[2] - q[0]) / 2)
    ratios = {b: statistics.median(t / x for t, x in zip(v, u)) for b, v in samples.items() if b != CONTROL}
    wins = {b: sum(t < x for t, x in zip(v, u)) / rounds for b, v in samples.items()}
    return costs, ratios, noise, wins, rounds
