"""Random slots for the offset placer's tests (test_planner.py, test_planner_cache.py) and a check of a placement
that shares no code with the planner."""
import random

from sdk.memory import plan as P

SIZES = (1, 3, 7, 16, 40, 100)


def random_slots(n, seed, steps, unit, spans):
    """``n`` indexed slots of ``unit`` x one of ``SIZES`` bytes, each first alive at a step below ``steps`` and for
    ``rng.randrange(*spans)`` steps more; returns (slots, the generator, for more draws of the same seed)."""
    rng = random.Random(seed)
    slots = []
    for i in range(n):
        first = rng.randrange(steps)
        size = unit * rng.choice(SIZES)
        slots.append(P.Slot([], size, first, first + rng.randrange(*spans), size_bound=size, index=i))
    return slots, rng


def lower_bound(slots):
    """The most bytes alive at one step: no placement's arena is smaller."""
    return max(sum(s.size_bound for s in slots if s.first <= t <= s.last) for t in range(max(s.last for s in slots) + 1))


def assert_no_live_overlap(slots, off, size, arena):
    """Independent of the planner's predicates: per step, the byte ranges of the slots alive at that step."""
    for t in range(min(s.first for s in slots), max(s.last for s in slots) + 1):
        live = sorted((off[s.index], off[s.index] + size[s.index], s.index) for s in slots
                      if t in range(s.first, s.last + 1))
        for (lo1, hi1, i), (lo2, hi2, j) in zip(live, live[1:]):
            assert hi1 <= lo2, f"step {t}: slot {i} [{lo1}, {hi1}) overlaps slot {j} [{lo2}, {hi2})"
        assert all(0 <= lo and hi <= arena for lo, hi, _ in live), (t, live, arena)


def check_placed(slots):
    """The placer's offsets at the bounds (``offset_bound``) keep every live pair apart inside the arena."""
    arena = max(s.offset_bound + s.size_bound for s in slots)
    assert_no_live_overlap(slots, {s.index: s.offset_bound for s in slots}, {s.index: s.size_bound for s in slots},
                           arena)
