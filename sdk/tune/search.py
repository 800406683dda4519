"""Evolutionary search guided by the cost model, over many workloads at once.

Each round gives one batch of measurements to the task whose tuned kernels cost the most
(occurrences x best time so far: where a better schedule saves the most). A batch is chosen from a
population of mutations of the task's best schedules plus fresh samples: the cost model ranks it,
``1 - eps`` of the batch is its top picks and ``eps`` is drawn at random (epsilon-greedy, so the
model keeps seeing schedules it would not pick). The first batch of a task measures the runtime
library kernel and the default schedule, so "tuned" is never slower than either (steps an untuned build gives to
kernels outside the search, Winograd, GEMV, direct convolutions, are not tasks: ``apply.kept_kernel``). Given the
seed and the measured times, every choice is deterministic.

The last part of the budget confirms each task's winners (``confirm``): its best schedules and the build's default
(the default schedule, or the library call where the profile keeps it) measured again, three times each in
alternation, by the confirmation measurer (on the host: gcc builds with the fused epilogue, what the bundle runs, while the search itself
runs through the JIT), and recorded as ``"confirm": 1`` records; ``apply`` takes a winner only where it beats the
default by the profile's ``[tune] tie_margin`` in those fresh measurements. The minimum over hundreds of candidates within noise of each other
is biased low (its own draw's luck), and a tuned build that took such winners ran slower than the untuned one.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from .cost_model import CostModel
from .space import SPACE_VERSION, GemmSpace
from .workload import Workload

LIBRARY = {"library": True}  # the schedule "keep the runtime library call"


def skey(s: Dict) -> str:
    return json.dumps(s, sort_keys=True)


@dataclass
class Task:
    wl: Workload
    space: GemmSpace
    hash: str
    count: int = 1                     # how many steps of the model(s) run this workload
    sites: List[str] = field(default_factory=list)
    measured: Dict[str, tuple] = field(default_factory=dict)  # skey -> (schedule, cost)
    library_s: float = math.inf
    b_const: bool = False              # B is a weight every site's build packs once (apply.prepack_b)
    default_s: float = math.inf
    stale: int = 0                     # batches since the best time last improved
    confirmed: Optional[tuple] = None  # (best, default) costs measured again by Search.confirm
    chosen: Optional[Dict] = None      # what the build takes after confirmation (None: not confirmed)

    @property
    def best(self):
        if not self.measured:
            return None, math.inf
        return min(self.measured.values(), key=lambda v: v[1])

    @property
    def weight(self) -> float:
        b = self.best[1]
        return self.count * (b if math.isfinite(b) else 1.0) * 0.7 ** self.stale


class Search:
    def __init__(self, tasks: List[Task], measure: Callable, target: str, seed: int = 0, batch: int = 8,
                 eps: float = 0.2, population: int = 96, db=None, progress: Optional[Callable] = None,
                 unit: str = "s", packed_b: bool = False, default: str = "heuristic", margin: float = 0.0,
                 confirm_share: float = 0.4, confirm_measure: Optional[Callable] = None, neighbours: int = 0):
        """``packed_b``: ``measure`` takes ``b_packed=True`` (time a ``pack_b`` schedule with B packed beforehand,
        as the build stores a weight) and is given it for tasks whose B is a weight (``Task.b_const``).
        ``default``: what the build gives a step without a record ("heuristic": the default schedule; "library");
        ``margin``: how much faster than it a winner must be when confirmed; ``confirm_share``: the part of a time
        budget kept for confirming (0: no confirmation; tasks the confirmation does not reach within the budget keep
        the default); ``confirm_measure``: the measurer of the confirmation (default ``measure``); ``neighbours``: how
        many mutations of the default schedule the confirmation measures besides the search's winners (``confirm``)."""
        self.tasks, self.measure, self.target, self.unit = tasks, measure, target, unit
        self.packed_b = packed_b
        self.rng = np.random.default_rng(seed)
        self.batch, self.eps, self.population = batch, eps, population
        self.model = CostModel(seed)
        self.db, self.progress = db, progress or (lambda info: None)
        self.default, self.margin, self.confirm_share = default, margin, confirm_share
        self.confirm_measure = confirm_measure or measure
        self.neighbours = int(neighbours)
        self.trials = 0
        self.history: List[tuple] = []   # (trials, seconds since start, estimated total of best kernels)
        self.sparse: list = []           # the sparse-format sites tune() measured (sdk/tune/sparse_formats.py)
        self.t0 = time.perf_counter()

    def total(self) -> float:
        return sum(t.count * t.best[1] for t in self.tasks)

    def _rec(self, task: Task, s: Dict, t: float) -> Dict:
        return {"hash": task.hash, "target": self.target, "workload": task.wl.key(),
                "kernel": Workload(task.wl.kind, task.wl.params).hash(self.target),
                "site": task.sites[0] if task.sites else "", "space": SPACE_VERSION,
                "schedule": s, "cost": t if math.isfinite(t) else None, "unit": self.unit, "trial": self.trials}

    def _record(self, task: Task, schedules, times):
        before = task.best[1]
        for s, t in zip(schedules, times):
            self.trials += 1
            task.measured[skey(s)] = (s, t)
            if self.db is not None:
                self.db.add(self._rec(task, s, t))
        task.stale = 0 if task.best[1] < 0.99 * before else task.stale + 1
        self.model.update([(task.wl, None if s.get("library") else s, t) for s, t in zip(schedules, times)])
        self.history.append((self.trials, time.perf_counter() - self.t0, self.total()))
        self.progress({"trials": self.trials, "task": task, "total": self.total()})

    def _measure(self, task: Task, schedules):
        if self.packed_b and task.b_const:
            return self.measure(task.wl, schedules, b_packed=True)
        return self.measure(task.wl, schedules)

    def _first_batch(self, task: Task):
        sched = [LIBRARY, task.space.default(spatial_rows=False)]  # spatial rows: not a search decision yet
        while len(sched) < self.batch:
            s = task.space.sample(self.rng)
            if skey(s) not in {skey(x) for x in sched}:
                sched.append(s)
        times = self._measure(task, [None if s.get("library") else s for s in sched])
        task.library_s, task.default_s = times[0], times[1]
        self._record(task, sched, times)

    def _candidates(self, task: Task) -> List[Dict]:
        seen = set(task.measured)
        elite = sorted((v for v in task.measured.values() if not v[0].get("library") and math.isfinite(v[1])),
                       key=lambda v: v[1])[:6]
        pop, keys = [], set()
        tries = 0
        while len(pop) < self.population and tries < 20 * self.population:
            tries += 1
            if elite and self.rng.random() < 0.6:
                s = elite[int(self.rng.integers(len(elite)))][0]
                s = task.space.mutate(s, self.rng)
                if self.rng.random() < 0.5:
                    s = task.space.mutate(s, self.rng)
            else:
                s = task.space.sample(self.rng)
            k = skey(s)
            if k not in seen and k not in keys:
                pop.append(s)
                keys.add(k)
        return pop

    def step(self, task: Task):
        if not task.measured:
            return self._first_batch(task)
        pop = self._candidates(task)
        if not pop:
            return False
        n = min(self.batch, len(pop))
        if self.model.ready:
            score = self.model.predict(task.wl, pop)
            order = list(np.argsort(-score, kind="stable"))
            n_greedy = n - int(round(self.eps * n))
            pick = order[:n_greedy]
            rest = order[n_greedy:]
            if rest and n - n_greedy:
                pick += list(self.rng.choice(rest, size=min(n - n_greedy, len(rest)), replace=False))
        else:
            pick = list(self.rng.choice(len(pop), size=n, replace=False))
        sched = [pop[int(i)] for i in pick]
        self._record(task, sched, self._measure(task, sched))
        return True

    def default_of(self, task: Task) -> Dict:
        return LIBRARY if self.default == "library" else task.space.default(spatial_rows=False)

    def _confirm_measure(self, task: Task, schedules):
        if self.packed_b and task.b_const:
            return self.confirm_measure(task.wl, schedules, b_packed=True)
        return self.confirm_measure(task.wl, schedules)

    def confirm(self, task: Task, top: int = 2, rounds: int = 3) -> Optional[Dict]:
        """Measure the task's ``top`` best schedules and the build's default again with ``confirm_measure`` (gcc
        builds with the fused epilogue on the host), ``rounds`` times each in alternation, the minimum kept; record them
        as confirmation records and return what the build will take: the fastest only where it beats the default by
        ``margin``, else the default. None where no schedule but the default was measured.

        With ``neighbours``, that many distinct mutations of the default schedule (one decision each, ``mutate``) are
        measured with them: the search ranks by its own measurer (the JIT's LLVM kernels on the host), which orders
        schedules differently from gcc's build of them, so schedules next to the default that gcc runs faster (a
        packed weight, another row block or k-block: 0.90-0.97 of the default on MobileNetV2's heaviest GEMMs,
        bench/RESULTS_tune.md tune46) were never proposed to the confirmation."""
        dflt = self.default_of(task)
        ranked = sorted((v for v in task.measured.values() if math.isfinite(v[1]) and skey(v[0]) != skey(dflt)),
                        key=lambda v: v[1])
        cands = [s for s, _ in ranked[:top]]
        if self.neighbours and not dflt.get("library") and cands:
            seen, want, tries = {skey(dflt)} | {skey(c) for c in cands}, len(cands) + self.neighbours, 0
            while len(cands) < want and tries < 40 * self.neighbours:
                tries += 1
                s = task.space.mutate(dflt, self.rng)
                if skey(s) not in seen and task.space.valid(s):
                    seen.add(skey(s))
                    cands.append(s)
        if not cands:
            return None
        group = [None if s.get("library") else s for s in [dflt] + cands]
        costs = [min(ts) for ts in zip(*(self._confirm_measure(task, group) for _ in range(rounds)))]
        for s, c in zip([dflt] + cands, costs):
            if self.db is not None:
                self.db.add(dict(self._rec(task, s, c), confirm=1))
        i = min(range(1, len(costs)), key=lambda j: costs[j])
        task.confirmed = (costs[i], costs[0])
        return cands[i - 1] if costs[i] < (1.0 - self.margin) * costs[0] else dflt

    def run(self, trials: int, time_budget_s: Optional[float] = None):
        out = self._search(trials, None if time_budget_s is None else (1.0 - self.confirm_share) * time_budget_s)
        if self.confirm_share > 0:
            for task in sorted(self.tasks, key=lambda t: -t.weight):
                if time_budget_s is not None and time.perf_counter() - self.t0 > time_budget_s:
                    # past the budget: the task keeps the default (its first-batch time as its confirmation record)
                    task.chosen = self.default_of(task)
                    if self.db is not None and task.measured and math.isfinite(task.default_s):
                        self.db.add(dict(self._rec(task, task.chosen, task.default_s), confirm=1))
                    continue
                task.chosen = self.confirm(task)
        return out

    def _search(self, trials: int, time_budget_s: Optional[float] = None):
        exhausted = set()
        # every task gets its first batch (library, default, samples), the most multiply-adds first, within the
        # budget too: a model of 19 workloads spent 22 minutes of a 300 s budget on first batches alone (JIT
        # compiles on a loaded machine); a task left without one keeps the default schedule
        for task in sorted(self.tasks, key=lambda t: -t.count * t.wl.flops()):
            if self.trials >= trials or (time_budget_s is not None and time.perf_counter() - self.t0 > time_budget_s):
                break
            self.step(task)
        while self.trials < trials:
            if time_budget_s is not None and time.perf_counter() - self.t0 > time_budget_s:
                break
            live = [t for t in self.tasks if id(t) not in exhausted]
            if not live:
                break
            task = max(live, key=lambda t: t.weight)
            if self.step(task) is False:
                exhausted.add(id(task))
        return self.history
