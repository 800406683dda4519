"""The offset placer on synthetic buffers (TFLM's planner test idea): no two buffers alive at the same step overlap in
the arena, the arena is never below the max-live lower bound, and the plan is a function of the input alone (an
iteration budget, not a clock: a slow machine gets the same plan). With symbolic sizes, the layout the generated C
computes for any dims within the bounds is checked the same way, by a per-step checker that shares no code with the
planner."""
import random

import pytest

from planner_slots import assert_no_live_overlap, check_placed, lower_bound, random_slots
from sdk.memory import plan as P


def _slots(n, seed):
    return random_slots(n, seed, steps=60, unit=64, spans=(1, 12))[0]


@pytest.mark.parametrize("seed", range(4))
def test_no_live_overlap_and_deterministic(seed, monkeypatch):
    slots = _slots(80, seed)
    lb = lower_bound(slots)
    calls = []
    orig = P._greedy
    monkeypatch.setattr(P, "_greedy", lambda order, ov: calls.append(1) or orig(order, ov))
    P._place(slots, lb)
    check_placed(slots)
    first = [s.offset_bound for s in slots]
    arena = max(s.offset_bound + s.size_bound for s in slots)
    assert arena >= lb
    assert len(calls) <= 4 + P.SWAP_BUDGET  # the orderings plus at most the swap budget
    again = _slots(80, seed)
    P._place(again, lb)
    assert [s.offset_bound for s in again] == first


def test_work_budget_caps_swaps_on_big_graphs(monkeypatch):
    slots = _slots(400, 7)
    calls = []
    orig = P._greedy
    monkeypatch.setattr(P, "_greedy", lambda order, ov: calls.append(1) or orig(order, ov))
    P._place(slots, 0)  # an unreachable lower bound: the search runs to its budget
    check_placed(slots)
    work = len(slots) + sum(1 for a in slots for b in slots if a is not b and P._overlap(a, b))
    assert len(calls) == 4 + min(P.SWAP_BUDGET, P.WORK_BUDGET // work)


BOUNDS = {"batch": 8, "seq": 48}


def _symbolic_slots(n, seed):
    """Slots whose sizes are aligned products of the dims (what a model's temps look like), placed at the bounds."""
    from sdk.ir import sym
    rng = random.Random(seed)
    dims = [sym.var(name) for name in BOUNDS]
    slots = []
    for _ in range(n):
        size = rng.choice([1, 3, 4, 12, 33])
        for d in dims:
            size = sym.mul(size, d) if rng.random() < 0.6 else size
        first = rng.randrange(40)
        s = P.Slot([], P.aligned(sym.mul(size, 4)), first, first + rng.randrange(0, 10))
        s.size_bound = sym.upper_bound(s.size, BOUNDS)
        slots.append(s)
    for i, s in enumerate(slots):
        s.index = i
    return slots


def _plan(slots):
    lower = max(sum(s.size_bound for s in slots if s.first <= t <= s.last) for t in range(60))
    P._place(slots, lower)
    P._symbolic_below(slots)
    plan = P.MemoryPlan(slots, {}, 0, lower, sum(s.size_bound for s in slots), dict(BOUNDS), 60)
    plan.arena_bytes = P.workspace_at(plan, BOUNDS)
    return plan


def _offsets_at(plan, env):
    """The arena layout the generated C computes for concrete dims (``<name>_offsets`` in sdk/codegen/host_api.py):
    each slot on top of the slots placed below it."""
    from sdk.ir import sym
    off, size = {}, {}
    for s in sorted(plan.slots, key=lambda s: s.offset_bound):
        size[s.index] = sym.evaluate(s.size, env)
        off[s.index] = max([off[p.index] + size[p.index] for p in s.below], default=0)
    return off, size


@pytest.mark.parametrize("seed", range(6))
def test_symbolic_offsets_never_overlap_at_any_dims(seed):
    """The plan is made at the bounds, but the generated C lays the arena out for the actual dims: at every dims
    within the bounds, buffers alive together stay apart and fit the workspace that the C reports (which never
    exceeds the arena at the bounds), and planning the same slots twice gives the same offsets."""
    slots = _symbolic_slots(60, seed)
    plan = _plan(slots)
    at_bounds = {s.index: s.offset_bound for s in slots}
    off, size = _offsets_at(plan, BOUNDS)
    assert off == at_bounds  # at the bounds, the symbolic layout is the placement itself
    assert_no_live_overlap(slots, off, size, plan.arena_bytes)
    assert plan.lower_bound_bytes <= plan.arena_bytes <= plan.naive_bytes
    rng = random.Random(100 + seed)
    envs = [{"batch": 1, "seq": 1}] + [{k: rng.randint(1, b) for k, b in BOUNDS.items()} for _ in range(20)]
    for env in envs:
        off, size = _offsets_at(plan, env)
        ws = P.workspace_at(plan, env)
        assert ws <= plan.arena_bytes, env
        assert ws == max(off[i] + size[i] for i in off), env
        assert_no_live_overlap(slots, off, size, ws)
    again = _plan(_symbolic_slots(60, seed))
    assert [s.offset_bound for s in again.slots] == [at_bounds[i] for i in range(len(slots))]
    assert again.arena_bytes == plan.arena_bytes


def test_overlap_checker_is_not_vacuous():
    """The independent checker fails on a layout the planner would never make: two slots alive together at one
    offset, or a slot outside the arena; slots never alive together may share bytes."""
    a, b = P.Slot([], 64, 0, 3, index=0), P.Slot([], 64, 2, 5, index=1)
    with pytest.raises(AssertionError):
        assert_no_live_overlap([a, b], {0: 0, 1: 0}, {0: 64, 1: 64}, 128)
    with pytest.raises(AssertionError):
        assert_no_live_overlap([a, b], {0: 0, 1: 64}, {0: 64, 1: 64}, 100)
    assert_no_live_overlap([a, b], {0: 0, 1: 64}, {0: 64, 1: 64}, 128)
    b.first = 4
    assert_no_live_overlap([a, b], {0: 0, 1: 0}, {0: 64, 1: 64}, 64)
