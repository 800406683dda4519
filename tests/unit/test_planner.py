"""The offset placer on synthetic buffers (TFLM's planner test idea): no two buffers alive at the same step overlap in
the arena, the arena is never below the max-live lower bound, and the plan is a function of the input alone (an
iteration budget, not a clock: a slow machine gets the same plan). With symbolic sizes, the offsets the generated C
computes for the actual dims (each slot on top of the live slots placed below it) keep every pair apart and every
buffer inside ``workspace_size(dims)``, for any dims within the bounds. The overlap checks here are written
independently of the planner's own ``_overlap``."""
import random

import pytest

from sdk.ir import sym
from sdk.memory import plan as P


def _slots(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        first = rng.randrange(60)
        size = 64 * rng.choice([1, 3, 7, 16, 40, 100])
        out.append(P.Slot([], size, first, first + rng.randrange(1, 12), size_bound=size))
    return out


def _lower_bound(slots):
    return max(sum(s.size_bound for s in slots if s.first <= t <= s.last) for t in range(80))


def _live_together(a, b):
    """Some step t has both alive: the closed intervals [first, last] intersect."""
    return any(a.first <= t <= a.last for t in range(b.first, b.last + 1))


def _assert_disjoint(slots, offset, size):
    """No two slots alive at one step share a byte; ``offset``/``size``: slot -> bytes."""
    for i, a in enumerate(slots):
        assert offset(a) >= 0 and size(a) >= 0
        for b in slots[i + 1:]:
            if _live_together(a, b) and size(a) and size(b):
                assert offset(a) + size(a) <= offset(b) or offset(b) + size(b) <= offset(a), (a.index, b.index)


def _check(slots):
    _assert_disjoint(slots, lambda s: s.offset_bound, lambda s: s.size_bound)


@pytest.mark.parametrize("seed", range(4))
def test_no_live_overlap_and_deterministic(seed, monkeypatch):
    slots = _slots(80, seed)
    lb = _lower_bound(slots)
    calls = []
    orig = P._greedy
    monkeypatch.setattr(P, "_greedy", lambda order, ov: calls.append(1) or orig(order, ov))
    P._place(slots, lb)
    _check(slots)
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
    _check(slots)
    work = len(slots) + sum(1 for a in slots for b in slots if a is not b and P._overlap(a, b))
    assert len(calls) == 4 + min(P.SWAP_BUDGET, P.WORK_BUDGET // work)


def _symbolic_slots(n, seed, bounds):
    """Slots whose sizes are aligned polynomials in batch/seq (as the lowering makes them), some static."""
    rng = random.Random(seed)
    batch, seq = sym.var("batch"), sym.var("seq")
    shapes = [lambda: batch * seq * rng.choice([4, 64, 768]), lambda: batch * rng.choice([16, 3072]),
              lambda: seq * seq * batch * 4, lambda: rng.choice([48, 4096]), lambda: (seq + 2) * rng.choice([8, 12])]
    out = []
    for i in range(n):
        first = rng.randrange(40)
        size = P.aligned(rng.choice(shapes)())
        out.append(P.Slot([], size, first, first + rng.randrange(1, 10), index=i))
    for s in out:
        s.size_bound = sym.upper_bound(s.size, bounds)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_symbolic_sizes_no_overlap_at_any_dims(seed):
    bounds = {"batch": 4, "seq": 64}
    slots = _symbolic_slots(60, seed, bounds)
    lb = _lower_bound(slots)
    P._place(slots, lb)
    P._symbolic_below(slots)
    _check(slots)  # at the bounds
    plan = P.MemoryPlan(slots, {}, max(s.offset_bound + s.size_bound for s in slots), lb, 0, bounds, 50)
    rng = random.Random(seed)
    envs = [bounds, {"batch": 1, "seq": 1}] + [{"batch": rng.randint(1, 4), "seq": rng.randint(1, 64)} for _ in range(8)]
    for env in envs:
        off = {}
        for s in sorted(slots, key=lambda s: s.offset_bound):  # the order the generated *_offsets computes them in
            off[s.index] = max([off[p.index] + sym.evaluate(p.size, env) for p in s.below], default=0)
        size = {s.index: sym.evaluate(s.size, env) for s in slots}
        for s in slots:
            assert size[s.index] % P.ALIGN == 0 and off[s.index] % P.ALIGN == 0
        _assert_disjoint(slots, lambda s: off[s.index], lambda s: size[s.index])
        arena = P.workspace_at(plan, env)
        assert all(off[s.index] + size[s.index] <= arena for s in slots), env  # every buffer fits the arena
        assert arena <= plan.arena_bytes  # never more than at the bounds
    assert P.workspace_at(plan, bounds) == plan.arena_bytes
    again = _symbolic_slots(60, seed, bounds)
    P._place(again, lb)
    assert [s.offset_bound for s in again] == [s.offset_bound for s in slots]


def test_overlap_checker_catches_overlap():
    """The independent checker is not vacuous: two live slots at one offset fail it."""
    a, b = P.Slot([], 64, 0, 3, size_bound=64), P.Slot([], 64, 2, 5, size_bound=64, index=1)
    with pytest.raises(AssertionError):
        _check([a, b])
    b.first = 4  # not alive together: the same bytes may be reused
    _check([a, b])
