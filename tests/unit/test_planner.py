"""The offset placer on synthetic buffers (TFLM's planner test idea): no two buffers alive at the same step overlap in
the arena, the arena is never below the max-live lower bound, and the plan is a function of the input alone (an
iteration budget, not a clock: a slow machine gets the same plan)."""
import random

import pytest

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


def _check(slots):
    for a in slots:
        for b in slots:
            if a is not b and P._overlap(a, b):
                assert a.offset_bound + a.size_bound <= b.offset_bound or b.offset_bound + b.size_bound <= a.offset_bound, \
                    (a, b)


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
