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
                   workdir=None, progress: Optional[Callable[[str], None]] = None, compile_fn=None, run_fn=None):
    """Measure ``model``'s candidate builds (``whole_model.BUILDS``) under ``db``. Returns (records for the
    database, info {"builds", "rounds", "seconds", "costs", "noise", "same", "picked"}); ([], info) where every
    candidate compiles to the untuned build's sources (nothing to decide) or the builds do not fit ``budget_s`` (> 0:
    a candidate is built only if the slowest build so far still fits in what is left).

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
    info = {"builds": 0, "rounds": 0, "seconds": 0.0, "costs": {}, "noise": None, "same": {}, "picked": None}
    tmp = tempfile.TemporaryDirectory(prefix="sdk_model_") if workdir is None and run_fn is None else None
    wd = Path(workdir or (tmp.name if tmp else "."))
    # the step timer on the thread's CPU clock, as the kernel choices' and the bundle check's builds (the untuned and
    # tuned builds are compiler-cache hits of theirs): a run's time is the sum of its steps
    runner = _ProfRunner(extra_cflags=["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"], threads=1,
                         compiler_cache=True)
    bundles, same, build_s, feed, ref = {}, {}, [], None, None
    for b in whole_model.BUILDS:
        if build_s and budget_s > 0 and max(build_s) > budget_s - (time.perf_counter() - t0):
            say(f"{b} not built: {max(budget_s - (time.perf_counter() - t0), 0):.0f} s of the {budget_s:.0f} s "
                f"budget left, a build took {max(build_s):.0f} s")
            break
        tb = time.perf_counter()
        bundle = compile_fn(whole_model.forced(db, key, tgt.name, b))
        twin = next((o for o, ob in bundles.items() if _text(ob) == _text(bundle)), None)
        if twin is not None:  # the same sources: one build
            same[b] = twin
            continue
        bundles[b] = bundle
        if run_fn is None:  # its demo built and run once: every candidate computes the same outputs
            feed = feed or feeds(bundle)
            bundle.save(wd / b, force=True)
            outs, _ = bundle.run_with_info(feed, runner=runner)
            ref = ref or outs
            for o, v in outs.items():
                if not np.allclose(v, ref[o], rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref[o]).max()))):
                    raise SdkError(f"whole-model stage: output {o} of the {b} build differs from the untuned build's")
        build_s.append(time.perf_counter() - tb)
        say(f"{b}: built ({build_s[-1]:.0f} s, {time.perf_counter() - t0:.0f} s in all)")
    info["same"] = same
    if len(bundles) < 2:
        say("nothing to decide: " + ("every candidate is the untuned build" if len(same) == len(whole_model.BUILDS) - 1
                                     else "the builds did not fit the budget"))
        info["seconds"] = time.perf_counter() - t0
        if tmp is not None:
            tmp.cleanup()
        return [], info
    if run_fn is None:
        shutil.copytree(wd / "untuned", wd / CONTROL, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if n.endswith(".o") or n.endswith("_main")])
        runner.run(wd / CONTROL, feed)  # builds its demo (a compiler-cache hit: the same sources)

        def run_fn(b, bundle, repeat):
            _, out = runner.run(wd / b, feed, repeat=repeat)
            by_step = defaultdict(list)
            for ln in out["stderr"].splitlines():
                m = STEP.match(ln)
                if m:
                    by_step[m.group(1)].append(float(m.group(2)) * 1e-6)
            n = min(len(v) for v in by_step.values())
            return min(sum(v[r] for v in by_step.values()) for r in range(n))
    order = list(bundles) + [CONTROL]
    samples: Dict[str, list] = {b: [] for b in order}
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or budget_s <= 0 or time.perf_counter() - t0 < budget_s):
        for b in order:
            samples[b].append(run_fn(b, bundles.get(b, bundles["untuned"]), repeat))
        rounds += 1
    costs = {b: statistics.median(v) for b, v in samples.items()}
    ctl = costs.pop(CONTROL)
    # the A/A noise: the control against the untuned build, by medians and by the spread of the rounds' ratios
    aa = sorted(c / u for c, u in zip(samples[CONTROL], samples["untuned"]))
    q = statistics.quantiles(aa, n=4) if len(aa) >= 2 else [aa[0]] * 3
    noise = max(abs(ctl - costs["untuned"]) / costs["untuned"], (q[2] - q[0]) / 2)
    wins = {b: sum(t < u for t, u in zip(v, samples["untuned"])) / rounds for b, v in samples.items()}
    recs = whole_model.records(key, tgt.name, name, costs, noise, same, f"model {name}: {len(model.graph.node)} nodes",
                               wins)
    picked = whole_model.decide(recs, whole_model.margin_of(tgt))
    info.update(builds=len(bundles), rounds=rounds, seconds=time.perf_counter() - t0, costs=costs, noise=noise,
                picked=picked, wins={b: w for b, w in wins.items() if b in costs and b != "untuned"})
    say(f"{rounds} rounds, {info['seconds']:.0f} s: "
        + ", ".join(f"{b} {c * 1e3:.3f} ms ({c / costs['untuned']:.3f}"
                    + (f", faster in {wins[b]:.0%} of rounds)" if b != "untuned" else ")") for b, c in costs.items())
        + f", A/A {noise:.3f} -> {picked}")
    if tmp is not None:
        tmp.cleanup()
    return recs, info
