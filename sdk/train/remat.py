"""What the training step recomputes instead of keeping (``sdk/transform/remat.py``), chosen with the real
planner: each candidate set of dropped values is applied to the step and planned, and the arenas compared.

``remat``: "auto" (default: recompute what element-wise / view ops give back, when the arena gets smaller),
"off", "cheap" (always), "checkpoint" (also recompute convolution / matrix-product segments: the smallest arena of
every checkpoint spacing from 2 to ``MAX_SPACING`` and of the channel groups below). ``memory`` (bytes,
``--train-memory``): the candidate with the least recomputation whose arena fits (planned in that order until one
fits), or the smallest arena when none does.

Channel groups (``split:K``, K in ``SPLITS``): the step rebuilt with its largest convolution segments computed in K
groups of output channels (``sdk/transform/channel_split.py``), every activation of the groups dropped and
recomputed just before that group's backward. A one-layer backward whose activation and gradient set the peak (the
CNN example's first convolution at 28x28) then holds one group's at a time; checkpoints cannot shrink it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from ..errors import SdkError
from ..transform.remat import checkpoint_drops, cheap_drops, group_drops, recompute_cost, rematerialize, stashed
from .compile import plan_function
from .step import TrainStep, updates_early

MODES = ("auto", "off", "cheap", "checkpoint")
MAX_SPACING = 4  # checkpoint spacings tried: 2 .. this
SPLITS = (2, 4)  # channel groups tried


@dataclass
class RematChoice:
    mode: str              # "off", "cheap" or "checkpoint:K" (every K-th expensive stashed value kept)
    arena_bytes: Optional[int]    # the step's arena with it (None: not planned here)
    arena_without: Optional[int]  # ... and with nothing recomputed
    recompute: int         # elements (multiply-adds for convolutions) recomputed a step
    dropped: List[str] = field(default_factory=list)  # the forward values recomputed
    tried: Dict[str, int] = field(default_factory=dict)  # mode -> arena, every candidate planned
    stash: str = "fp32"    # the stashed activations' storage ("fp16": sdk.transform.remat.half_stash)
    step: Optional[TrainStep] = None  # the step rebuilt for the choice (channel groups), None: the one given

    def to_json(self):
        return {"mode": self.mode, "arena_bytes": self.arena_bytes, "arena_without": self.arena_without,
                "recompute": self.recompute, "dropped": self.dropped, "tried": self.tried,
                "stash": self.stash}


def choose_remat(ts: TrainStep, tgt, bounds, name: str = "model", remat: str = "auto",
                 memory: Optional[int] = None, measure: bool = True,
                 split_step: Optional[Callable[[int], TrainStep]] = None):
    """(the step Function with the chosen recomputation and its updates placed early, RematChoice). With one
    candidate only (nothing to recompute) and ``measure`` false, nothing is planned: the RematChoice's arenas are
    None (the caller's own plan gives them). ``split_step(K)``: the same step built with K channel groups (tried
    by "checkpoint" and under a budget); when one is chosen, ``RematChoice.step`` is it."""
    if remat not in MODES:
        raise SdkError(f"--remat {remat}: expected one of {', '.join(MODES)}")
    f, fwd = ts.func, ts.forward
    cands = [("off", [], ts)]
    if remat != "off":
        cands.append(("cheap", cheap_drops(f, fwd), ts))
    if remat == "checkpoint" or (memory is not None and remat != "off"):
        n = len(stashed(f, fwd))
        for k in range(2, min(MAX_SPACING, n) + 1):
            cands.append((f"checkpoint:{k}", checkpoint_drops(f, fwd, k), ts))
        for k in SPLITS if split_step is not None else ():
            sts = split_step(k)
            if sts.split:
                cands.append((f"split:{k}", group_drops(sts.func, sts.forward, sts.split), sts))
    costs = [recompute_cost(c[2].func, c[1], c[2].forward) for c in cands]
    if memory is not None:  # least recomputation first: stop at the first candidate that fits
        cands = [c for _, c in sorted(zip(costs, cands), key=lambda t: t[0])]
        costs = sorted(costs)
    seen, unique = set(), []
    for (mode, drop, step), cost in zip(cands, costs):
        key = (id(step), frozenset(id(v) for v in drop))
        if key not in seen:
            seen.add(key)
            unique.append((mode, drop, cost, step))
    if len(unique) == 1 and not measure and memory is None:
        return updates_early(f, ts), RematChoice("off", None, None, 0)
    planned = []
    for mode, drop, cost, step in unique:
        g = updates_early(rematerialize(step.func, step.forward, drop), step)
        arena = plan_function(g, tgt, bounds, name, after=step.order_deps(g))[2].arena_bytes
        planned.append((mode, drop, g, arena, cost, step))
        if memory is not None and arena <= memory:
            break
    tried = {p[0]: p[3] for p in planned}
    base = next(p[3] for p in planned if p[0] == "off")
    if remat == "off":
        pick = planned[0]
    elif memory is not None:
        fits = [p for p in planned if p[3] <= memory]
        pick = min(fits, key=lambda p: (p[4], p[3])) if fits else min(planned, key=lambda p: (p[3], p[4]))
    elif remat == "cheap":
        pick = planned[1] if len(planned) > 1 else planned[0]
    else:  # auto: recompute the cheap values if that helps; checkpoint: the smallest arena
        pool = planned if remat == "checkpoint" else planned[:2]
        pick = min(pool, key=lambda p: (p[3], p[4]))
    mode, drop, g, arena, cost, step = pick
    return g, RematChoice(mode, arena, base, cost, [v.name for v in drop], tried,
                          step=step if step is not ts else None)
