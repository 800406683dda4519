"""``tune(model, target, trials, db)``: extract a model's tunable workloads, search them, record the
measurements in the database that ``sdk build --db`` reads."""
from __future__ import annotations

import math
import sys
import time
from typing import Dict, List, Optional

from ..backends import BACKENDS, backend_of
from ..errors import BoundError, SdkError
from ..frontend.onnx import ir_dims
from .. import pipeline
from ..memory.order import memory_aware_order, reordered
from ..targets import load_target
from . import winograd
from ..transform.epilogue import epilogue_after
from .apply import b_prepackable, c_kernels_available, kept_kernel
from .database import TuningDatabase
from .search import Search, Task
from .space import space_of, target_facts
from .workload import workload_of


def extract_tasks(models: Dict[str, object], tgt, dims: Dict[str, Dict[str, int]]) -> List[Task]:
    """One task per distinct workload over all models (same GEMM twice: one task, count 2)."""
    facts = target_facts(tgt)
    default = (tgt.data.get("tune") or {}).get("default", "heuristic")
    c_kernels = c_kernels_available(tgt)

    def kept(prog, i, wl):
        return bool((c_kernels and winograd.chosen(prog.steps[i], wl, tgt))
                    or kept_kernel(prog, i, wl, facts, default, c_kernels))
    tasks: Dict[str, Task] = {}
    for name, model in models.items():
        model, bounds = ir_dims(model, dims.get(name))  # keyed by the IR's symbols, as sdk.compile does
        for f in _fronts(model, bounds, name, tgt):
            unbound = [s for s in f.symbols() if s not in bounds]
            if unbound:  # kernels are tuned at the bounds: without one there is no shape to tune
                raise BoundError(f"symbolic dim '{unbound[0]}' needs an upper bound to tune at: "
                                 f"--dim {unbound[0]}=MAX")
            prog = pipeline.lower(f, options=tgt.data.get("lower"))  # unscheduled: the library calls are the workloads
            for i, step in enumerate(prog.steps):
                wl = workload_of(step, bounds)
                if wl is None or kept(prog, i, wl):  # the build keeps its own kernel there: nothing to search
                    continue
                wl = wl.with_epilogue(epilogue_after(prog, i))  # measured with the epilogue the build fuses in
                h = wl.hash(tgt.name)
                b_const = wl.kind == "gemm" and b_prepackable(prog, step)
                if h not in tasks:
                    tasks[h] = Task(wl, space_of(wl, facts), h, count=0, b_const=b_const)
                tasks[h].b_const = tasks[h].b_const and b_const  # packed at build time at every site
                site = f"{name}:{step.outputs[0].name}"
                if site in tasks[h].sites:  # the same step in both fronts: counted once
                    continue
                tasks[h].count += 1
                tasks[h].sites.append(site)
    return list(tasks.values())


def _fronts(model, bounds, name, tgt):
    """The graphs a build of this model may lower, as sdk.compile makes them: with the profile's strided operands,
    and, where that pass changed something, without them too (``pipeline.run`` keeps the views only where the arena
    does not grow, which is known only after planning), each in the file's order and in the memory-aware order
    (``pipeline.plan`` keeps the order with the smaller arena; which convolution an Add's epilogue fuses into, part of
    the workload, can differ between the two), so the tuned workloads cover the build's either way."""
    views = pipeline.view_options(tgt)
    fronts = [pipeline.front(model, bounds, name, layout=pipeline.layout_options(tgt), views=views,
                             fuse=pipeline.fuse_options(tgt))[0]]
    if views is not None and pipeline.has_views(fronts[0]):
        fronts.append(pipeline.front(model, bounds, name, layout=pipeline.layout_options(tgt), views=None,
                                     fuse=pipeline.fuse_options(tgt))[0])
    for f in fronts:
        yield f
        if len(f.bindings) > 2 and not any(b.op == "LoopBegin" for b in f.bindings):
            order = memory_aware_order(f, bounds)
            if [id(b) for b in order] != [id(b) for b in f.bindings]:
                yield reordered(f, order)


class _Bar:
    """Progress on stderr: trials, best estimated time of the tuned kernels, the task just measured."""

    def __init__(self, total, enabled, stream=None):
        self.total, self.enabled, self.stream = total, enabled, stream or sys.stderr
        self.unit = "s"
        self.t0 = time.perf_counter()

    def __call__(self, info):
        if not self.enabled:
            return
        n = min(info["trials"], self.total)
        filled = int(30 * n / max(self.total, 1))
        tot = info["total"]
        if self.unit == "s":
            best = f"{tot * 1e3:8.4f} ms" if math.isfinite(tot) else "       - ms"
        else:
            best = f"{tot:10.0f} {self.unit}" if math.isfinite(tot) else f"         - {self.unit}"
        self.stream.write(f"\rtune [{'#' * filled}{'.' * (30 - filled)}] {n}/{self.total} "
                          f"{time.perf_counter() - self.t0:6.1f}s best {best}  "
                          f"{str(info['task'].wl)[:40]:<40}")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")


def tune(models, target: str = "host", dims=None, trials: int = 200, db=None, seed: int = 0,
         time_budget_s: Optional[float] = None, progress: bool = True, batch: int = 8, plot=None,
         measurer=None, sparse: bool = True, sparse_measure=None, kernel_choice: Optional[bool] = None,
         whole_model_knobs: Optional[List[str]] = None) -> Search:
    """Tune every GEMM/convolution of ``models`` ({name: onnx model}, or one model) for ``target``, then (``sparse``)
    the storage format of every weight that is mostly zeros (``sdk/tune/sparse_formats.py``: each candidate
    format measured, the dense one with the schedules just found).

    ``dims``: {model name: {dim: bound}} (or one dict for one model); kernels are tuned at the bounds.
    ``db``: path or TuningDatabase that receives every measurement. Returns the finished Search
    (``.tasks`` with best schedules, ``.history`` of (trials, seconds, estimated total), ``.sparse``: the sparse
    sites with their measured formats). ``sparse_measure(site, fmt) -> (cost, unit)`` replaces building and
    running the sparse candidates (tests).

    First (``kernel_choice`` and the profile's ``[tune] kernel_choice``; None: where ``measurer`` is the target's own),
    each model's per-layer kernel choices (``sdk/tune/kernel_choice.py``) are measured in variant builds of its
    bundle, within ``[tune] kernel_choice_share`` of the time budget, and recorded; ``.choices`` lists (model name,
    points, costs, info). The schedule search gets the rest of the budget.

    ``whole_model_knobs`` (``sdk tune --whole-model-knobs``): the whole-model stage walks only these of the profile's
    ``[tune] whole_model_knobs`` (``whole_model.named_knobs``), in this order; None: all of them."""
    tgt = load_target(target)
    if not tgt.data.get("tune"):
        raise SdkError(f"target '{target}' has no [tune] table in targets/{target}.toml: nothing to tune")
    make_measurer = backend_of(tgt).measurer
    if measurer is None and make_measurer is None:
        raise SdkError(f"target '{target}': its backend '{tgt.backend}' has no tuning measurer yet (backends "
                       f"with one: {', '.join(n for n, b in BACKENDS.items() if b.measurer is not None)})")
    if not isinstance(models, dict):
        models = {"model": models}
        dims = {"model": dims or {}}
    dims = dims or {}
    if plot:
        try:
            import matplotlib  # noqa: F401 - an optional dependency; fail before the search, not after it
        except ImportError:
            raise SdkError("--plot needs matplotlib, which is not installed: pip install matplotlib "
                           "(or drop --plot)") from None
    if db is not None and not isinstance(db, TuningDatabase):
        db = TuningDatabase(db)
    t_start = time.perf_counter()
    tune_t = tgt.data["tune"]
    if kernel_choice is None:  # with the target's own measurers (not a test's stand-in)
        kernel_choice = measurer is None
    kernel_choice = kernel_choice and bool(tune_t.get("kernel_choice"))  # where the profile has them
    choices = []
    tasks = extract_tasks(models, tgt, dims)
    measure_choices = kernel_choice and backend_of(tgt).choice_measurer is not None and c_kernels_available(tgt)
    # last, the model's complete builds (untuned, tuned, near) as whole runs (sdk/tune/whole_model.py)
    whole = backend_of(tgt).model_measurer if kernel_choice and db is not None and tune_t.get("whole_model") else None
    whole_share = float(tune_t.get("whole_model_share", 0.25)) if whole else 0.0
    knobs = None
    if whole_model_knobs is not None:  # checked before anything is measured
        from .whole_model import named_knobs
        knobs = named_knobs(tgt, whole_model_knobs)
        if whole is None:
            raise SdkError(f"--whole-model-knobs: the whole-model stage does not run for target '{target}' here (it "
                           "needs --db, the kernel-choice phase and the profile's [tune] whole_model)")
    if progress:  # what the phases will do and their shares of the budget (sdk tune --dry-run lists them)
        share = float(tune_t.get("kernel_choice_share", 0.5)) if tasks else 1.0 - whole_share
        print(f"tune: {len(models)} model(s); kernel choices {'measured in variant builds of the bundle' if measure_choices else 'off'}"
              f"; schedule search: {len(tasks)} workloads"
              + (f"; budget {time_budget_s:.0f} s ({share:.0%} kernel choices, then the search"
                 f"{' and the check in the bundle' if tune_t.get('bundle_check') and tasks else ''}"
                 f"{f'; {whole_share:.0%} whole-model builds' if whole else ''})"
                 if time_budget_s is not None else ""), file=sys.stderr, flush=True)
    if measure_choices:
        # the whole budget (less the whole-model stage's) where nothing is left to search (ResNet-18: every layer a
        # Winograd, direct, spatial-rows or tap-plane kernel): its variant builds took 600 s each at load 26 on the
        # shared 2-vCPU machine
        share = float(tune_t.get("kernel_choice_share", 0.5)) if tasks else 1.0 - whole_share
        per = None if time_budget_s is None else share * time_budget_s / len(models)
        choices = tune_choices(models, tgt, dims, db, per, progress)
    if not tasks and not any(c[1] for c in choices):
        raise SdkError("no kernels to tune: the model has no GEMM/MatMul/Conv in float32, or every one runs a kernel "
                       "the search does not cover (Winograd, GEMV, direct convolution), which a tuned build keeps: "
                       "build without --db")
    # the search's winners measured again in the bundle at the end (the profile's [tune] bundle_check), in this
    # share of the budget, where the measurer is the target's own and a database receives them
    checker = backend_of(tgt).schedule_checker if kernel_choice and db is not None else None
    check_share = float(tune_t.get("bundle_check_share", 0.2)) if checker and tune_t.get("bundle_check") else 0.0
    total_s = time_budget_s
    if time_budget_s is not None:
        time_budget_s = max(0.0, time_budget_s * (1.0 - check_share - whole_share) - (time.perf_counter() - t_start))
    bar = _Bar(trials, progress)
    if measurer is None:
        measurer = make_measurer(tgt, seed=seed)
    # the winners confirmed as the bundle runs them (host: gcc with the fused epilogue), where the measurer has that
    confirmer = getattr(measurer, "confirm_measurer", lambda: None)()
    search = Search(tasks, measurer.measure, tgt.name, seed=seed, batch=batch, db=db, progress=bar,
                    confirm_measure=confirmer.measure if confirmer is not None else None,
                    unit=getattr(measurer, "unit", "s"), packed_b=getattr(measurer, "measures_packed_b", False),
                    default=tune_t.get("default", "heuristic"), margin=float(tune_t.get("tie_margin", 0.0)),
                    neighbours=int(tune_t.get("confirm_neighbours", 0)) if confirmer is not None else 0)
    bar.unit = search.unit
    search.choices = choices
    try:
        if tasks:
            search.run(trials, time_budget_s)
    finally:
        bar.close()
    search.checks = []
    if check_share > 0 and tasks:
        left = None if total_s is None else max(0.0, total_s * (1.0 - whole_share) - (time.perf_counter() - t_start))
        search.checks = check_schedules(models, tgt, dims, db, None if left is None else left / len(models), progress)
    search.sparse = []
    if sparse:
        from .sparse_formats import tune_sparse
        say = (lambda line: print(f"sparse: {line}", file=sys.stderr, flush=True)) if progress else None
        search.sparse = tune_sparse(models, tgt, dims, db, measure=sparse_measure, progress=say)
    search.wholes = []
    if whole is not None:
        left = None if total_s is None else max(0.0, total_s - (time.perf_counter() - t_start))
        search.wholes = measure_wholes(models, tgt, dims, db, None if left is None else left / len(models), progress,
                                       knobs=knobs)
    for m in (measurer, confirmer):
        for e in (getattr(m, "errors", None) or [])[:5]:
            print(f"warning: {e}", file=sys.stderr)
    if plot:
        plot_history(search, plot)
    return search


def decisions(models, target: str = "host", dims=None):
    """What ``sdk tune`` would measure, without measuring (``sdk tune --dry-run``): the schedule search's tasks
    (``extract_tasks``) and each model's per-layer kernel choices (the untuned build's choice points: the rule's
    kernel first). Returns (tasks, [(model name, points)])."""
    import sdk
    from ..backends.host.step_profile import points_of
    tgt = load_target(target)
    if not isinstance(models, dict):
        models, dims = {"model": models}, {"model": dims or {}}
    dims = dims or {}
    tasks = extract_tasks(models, tgt, dims)
    tune_t = tgt.data.get("tune") or {}
    choices = []
    if tune_t.get("kernel_choice") and backend_of(tgt).choice_measurer is not None and c_kernels_available(tgt):
        for name, model in models.items():
            choices.append((name, points_of(sdk.compile(model, target=target, dims=dims.get(name), name="model"))))
    return tasks, choices


def decisions_summary(tasks, choices, target: str) -> str:
    """``decisions``' lists as text: per kernel-choice workload its sites and candidates (the default first), per
    schedule-search task its sites and the size of its space."""
    from . import kernel_choice as kc
    rows = []
    for name, points in choices:
        by = {}
        for p in points:
            by.setdefault(p.hash(target), []).append(p)
        rows.append(f"kernel choices of {name}: {len(points)} layers, {len(by)} workloads, "
                    f"{max((len(p.candidates) for p in points), default=0)} variant builds")
        for ps in by.values():
            rows.append(f"  {str(ps[0].wl)[:52]:<52} x{len(ps)}  " + " | ".join(kc.label(c) for c in ps[0].candidates))
    rows.append(f"schedule search: {len(tasks)} workloads, {sum(t.count for t in tasks)} sites"
                + ("" if tasks else " (nothing to search: every GEMM / convolution keeps its own kernel)"))
    for t in sorted(tasks, key=lambda t: -t.wl.flops() * t.count):
        rows.append(f"  {str(t.wl)[:52]:<52} x{t.count}  {t.wl.flops() * t.count / 1e6:.0f} MFLOP")
    return "\n".join(rows)


def tune_choices(models, tgt, dims, db, budget_s, progress: bool):
    """Measure and record each model's kernel choices; [(model name, points, costs, info)]."""
    from . import kernel_choice as kc
    out = []
    for name, model in models.items():
        say = (lambda line, n=name: print(f"kernel choice {n}: {line}", file=sys.stderr, flush=True)) if progress else None
        points, costs, info = backend_of(tgt).choice_measurer(
            model, target=tgt.name, dims=(dims or {}).get(name), name="model", budget_s=budget_s or 0.0, progress=say)
        for p in points:
            p.site = f"{name}:{p.site.split(':', 1)[1]}"
        if db is not None:
            db.add_many(kc.records(points, costs, tgt.name, noise=info.get("noise")))
        out.append((name, points, costs, info))
    return out


def _per_model(what: str, measure, models, tgt, dims, db, budget_s, progress: bool, **kw):
    """Run a per-model measurement of the bundle (``measure(model, db, target=, dims=, name=, budget_s=,
    progress=, **kw) -> (records, info)``) on each model, its records' sites named by the model and appended to
    ``db``; [(model name, records, info)]. The bundle check and the whole-model stage."""
    out = []
    for name, model in models.items():
        say = ((lambda line, n=name: print(f"{what} {n}: {line}", file=sys.stderr, flush=True)) if progress else None)
        recs, info = measure(model, db, target=tgt.name, dims=(dims or {}).get(name), name="model",
                             budget_s=budget_s or 0.0, progress=say, **kw)
        for r in recs:
            r["site"] = f"{name}:{r['site'].split(':', 1)[1]}"
        db.add_many(recs)
        out.append((name, recs, info))
    return out


def check_schedules(models, tgt, dims, db, budget_s, progress: bool):
    """Measure each model's searched schedules in its bundle against the defaults and record them
    (``"bundle": 1`` records, which builds prefer); [(model name, records, info)]."""
    return _per_model("bundle check", backend_of(tgt).schedule_checker, models, tgt, dims, db, budget_s, progress)


def measure_wholes(models, tgt, dims, db, budget_s, progress: bool, knobs=None):
    """The whole-model stage: each model's candidate builds run as whole runs, then the walk over the profile's
    whole-model knobs (``knobs``: [(section.key, value)] instead), records appended (``sdk/tune/whole_model.py``);
    [(model name, records, info)]."""
    kw = {} if knobs is None else {"knobs": knobs}
    return _per_model("whole model", backend_of(tgt).model_measurer, models, tgt, dims, db, budget_s, progress, **kw)


def whole_summary(wholes) -> str:
    """One row per model of the whole-model stage: each build's ms a run, its ratio to the untuned one, the pick."""
    rows = []
    for name, recs, info in wholes:
        if not recs:
            rows.append(f"whole model {name}: not measured ("
                        + ("every candidate is the untuned build" if len(info.get("same", {})) == 2
                           else "the builds did not fit the budget") + "): the per-workload picks apply")
            continue
        c = info["costs"]
        rows.append(f"whole model {name}: {info['rounds']} rounds, {info['seconds']:.0f} s, A/A {info['noise']:.3f}: "
                    + ", ".join(f"{b} {c[b] * 1e3:.3f} ms ({c[b] / c['untuned']:.3f}"
                                + (f", faster in {info['wins'][b]:.0%} of rounds)" if b in info.get("wins", {}) else ")")
                                for b in c)
                    + "".join(f", {b} = {s}" for b, s in info["same"].items())
                    + "".join(f"; walk set {i + 1}: {len(c)} knob builds" for i, (c, p) in enumerate(info.get("walk", [])))
                    + f" -> {info['picked']}")
    return "\n".join(rows)


def check_summary(checks, margin: float) -> str:
    """One row per workload checked in the bundle: default and tuned us, their ratio, what a build takes."""
    rows = []
    for name, recs, info in checks:
        rows.append(f"bundle check of {name}: {info.get('steps', 0)} tuned steps, {info['rounds']} rounds, "
                    f"{info['seconds']:.0f} s"
                    + ("" if info["rounds"] or not info.get("steps") else
                       " (not measured: the two builds did not fit the budget; the confirmation decides)"))
        by = {}
        for r in recs:
            by.setdefault(r["hash"], []).append(r)
        for h, (t, d) in ((h, v) for h, v in by.items() if len(v) == 2):
            took = "tuned" if t["cost"] <= (1.0 - margin) * d["cost"] else "default"
            rows.append(f"  {t['workload'][:46]:<46} default {d['cost'] * 1e6:.0f} us, tuned {t['cost'] * 1e6:.0f} us "
                        f"({t['cost'] / d['cost']:.3f}) -> {took}")
    return "\n".join(rows)


def choice_summary(choices, target: str, margin: float) -> str:
    """One row per measured workload of the kernel-choice phase: each candidate's cost (us), what a build takes and
    its cost over the default's."""
    from . import kernel_choice as kc
    rows = []
    for name, points, costs, info in choices:
        rows.append(f"kernel choices of {name}: {len(points)} layers, {info['variants']} builds, {info['rounds']} "
                    f"rounds, {info['seconds']:.0f} s"
                    + (f" ({info['skipped']} variant builds left out for the time budget)" if info.get("skipped") else ""))
        seen = set()
        for p in points:
            h = p.hash(target)
            if h in seen or h not in costs:
                continue
            seen.add(h)
            cs = costs[h]
            noise = (info.get("noise") or {}).get(h)
            picked = kc.pick_costs(cs, p.candidates, max(margin, noise or 0.0))
            d = cs.get(kc.key(p.candidates[0]))
            row = "  ".join(f"{kc.label(c)} {cs[kc.key(c)] * 1e6:.0f}" for c in p.candidates if kc.key(c) in cs)
            n = sum(1 for q in points if q.hash(target) == h)
            rows.append(f"  {str(p.wl)[:46]:<46} x{n}  {row} us -> {kc.label(picked)}"
                        + (f" ({cs[kc.key(picked)] / d:.3f})" if d else "")
                        + (f" [A/A {noise:.3f}]" if noise is not None else ""))
    return "\n".join(rows)


def plot_history(search: Search, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs = [h[0] for h in search.history]
    sc = 1e3 if search.unit == "s" else 1.0
    ys = [h[2] * sc for h in search.history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(xs, ys, where="post")
    lib = sum(t.count * t.library_s for t in search.tasks) * sc
    dft = sum(t.count * t.default_s for t in search.tasks) * sc
    if math.isfinite(lib):
        ax.axhline(lib, ls=":", c="gray", label=f"runtime library kernels {lib:.3g}")
    if math.isfinite(dft):
        ax.axhline(dft, ls="--", c="orange", label=f"default schedules {dft:.3g}")
    ax.set_xlabel("trials")
    ax.set_ylabel("tuned kernels, ms (sum)" if search.unit == "s" else f"tuned kernels, {search.unit} (sum)")
    ax.set_title("best latency vs trials")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(search: Search) -> str:
    """One row per task: library, default and best times from the search; "built": what a build takes after the
    confirmation (``Search.confirm``: "tuned", or "default" where the best did not beat the default by the margin in
    the fresh measurements, with the confirmed ratio best / default)."""
    sec = search.unit == "s"
    u = "us" if sec else search.unit
    k = 1e6 if sec else 1.0
    rows = [f"{'workload':<44} {'n':>2} {'library ' + u:>12} {'default ' + u:>12} {'tuned ' + u:>12} "
            f"{'GFLOP/s' if sec else 'flop/insn':>9}  built"]
    for t in sorted(search.tasks, key=lambda t: -t.count * t.best[1]):
        s, b = t.best
        rate = t.wl.flops() / b * 1e-9 if sec else t.wl.flops() / b
        if t.confirmed is None:  # no other schedule measured, or the confirmation ran out of budget: the default
            built = "default" if t.chosen is not None or s is None or s == search.default_of(t) else "tuned (unconfirmed)"
        else:
            r = t.confirmed[0] / t.confirmed[1] if t.confirmed[1] else float("nan")
            built = f"{'default' if t.chosen == search.default_of(t) else 'tuned'} ({r:.3f})"
        rows.append(f"{str(t.wl)[:44]:<44} {t.count:>2} {t.library_s * k:>12.1f} {t.default_s * k:>12.1f} "
                    f"{b * k:>12.1f} {rate:>9.2f}  {built}")
    return "\n".join(rows)
