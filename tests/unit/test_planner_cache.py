"""Placement by modelled cache misses (``sdk/memory/plan.py`` ``_misses``, ``_place(..., touches, cache_bytes)``):
the model counts what an LRU cache of the profile's L2 size would miss over a warm run, the search keeps the arena
it had without the model, never places two live slots over each other, and is a function of its input alone."""
import pytest

from planner_slots import check_placed, lower_bound, random_slots
from sdk.memory import plan as P

MB = 1 << 20


def _chain(n, size):
    """Step t reads x_t and writes x_{t+1}: slot t lives over steps t-1 .. t (x_0: the first step only)."""
    slots = [P.Slot([], size, max(t - 1, 0), t, size_bound=size) for t in range(n + 1)]
    for i, s in enumerate(slots):
        s.index = i
    touches = [([slots[t], slots[t + 1]], 0) for t in range(n)]
    return slots, touches


def test_ping_pong_misses_less_than_a_spread_placement():
    slots, touches = _chain(6, MB)
    ping = {id(s): (i % 2) * MB for i, s in enumerate(slots)}       # two buffers, 2 MiB in all
    spread = {id(s): (i % 4) * MB for i, s in enumerate(slots)}     # four buffers, 4 MiB in all
    assert P._misses(slots, ping, touches, 3 * MB) == 0             # the whole 2 MiB footprint stays cached
    assert P._misses(slots, spread, touches, 3 * MB) > 0
    # buffers per step (0,1) (1,2) (2,3) (3,0) (0,1) (1,2), again: four touches find the other three buffers (3 MiB)
    # touched since their last one, so 1 MiB of the 3 MiB cache is left for nothing: 4 MiB missed a run
    assert P._misses(slots, spread, touches, 3 * MB) == 4 * MB


def test_bytes_outside_the_arena_evict():
    slots, touches = _chain(4, MB)
    ping = {id(s): (i % 2) * MB for i, s in enumerate(slots)}
    heavy = [(t, 4 * MB) for t, _ in touches]  # 4 MiB of weights a step
    assert P._misses(slots, ping, touches, 3 * MB) == 0
    assert P._misses(slots, ping, heavy, 3 * MB) == sum(len(t) for t, _ in touches) * MB  # nothing survives


def _random(n, seed):
    slots, rng = random_slots(n, seed, steps=30, unit=4096, spans=(0, 4))
    steps = max(s.last for s in slots) + 1
    touches = [([s for s in slots if s.first == t or s.last == t], 4096 * rng.randrange(20)) for t in range(steps)]
    return slots, touches, lower_bound(slots)


@pytest.mark.parametrize("seed", range(3))
def test_cache_placement_keeps_the_arena_and_misses_no_more(seed):
    slots, touches, lower = _random(60, seed)
    P._place(slots, lower)
    base = {id(s): s.offset_bound for s in slots}
    arena = max(s.offset_bound + s.size_bound for s in slots)
    cache = 256 * 1024
    P._place(slots, lower, touches=touches, cache_bytes=cache)
    new = {id(s): s.offset_bound for s in slots}
    assert max(s.offset_bound + s.size_bound for s in slots) <= arena
    check_placed(slots)  # no two slots alive at one step share a byte
    assert P._misses(slots, new, touches, cache) <= P._misses(slots, base, touches, cache)
    again, touches2, _ = _random(60, seed)
    P._place(again, lower, touches=touches2, cache_bytes=cache)
    assert [s.offset_bound for s in again] == [new[id(s)] for s in slots]


def test_cache_search_finds_fewer_misses_somewhere():
    """Over a few random programs the search lowers the modelled misses of at least one (it is not a no-op)."""
    gains = []
    for seed in range(6):
        slots, touches, lower = _random(60, seed)
        P._place(slots, lower)
        m0 = P._misses(slots, {id(s): s.offset_bound for s in slots}, touches, 256 * 1024)
        P._place(slots, lower, touches=touches, cache_bytes=256 * 1024)
        gains.append(m0 - P._misses(slots, {id(s): s.offset_bound for s in slots}, touches, 256 * 1024))
    assert min(gains) >= 0 and max(gains) > 0


def test_profile_knob_keeps_the_arena_of_a_model():
    """``[memory] cache_bytes`` (the whole-model knob ``memory.cache_bytes``) places the cnn example's tensors by the
    model: the same arena at the bounds, no more modelled misses than the default placement, every live pair apart."""
    from make_examples import cnn
    from sdk.frontend.onnx import import_onnx
    from sdk.pipeline import plan
    from sdk.targets import load_target
    from sdk.tune.whole_model import knobs_of, with_knobs
    host = load_target("host")
    assert host.data["memory"].get("cache_bytes", 0) == 0  # off by default: see targets/host.toml
    assert dict(knobs_of(host))["memory.cache_bytes"] == 2097152
    bounds = {"batch": 4}
    m = cnn()
    cache = 64 * 1024  # small, so this small model's tensors compete for it
    _, prog0, p0, _ = plan(import_onnx(m, bounds, "m"), host, bounds, "m")
    _, prog1, p1, _ = plan(import_onnx(m, bounds, "m"), with_knobs(host, {"memory.cache_bytes": cache}), bounds, "m")
    assert p1.arena_bytes == p0.arena_bytes
    check_placed(p1.slots)
    miss = lambda prog, p: P._misses(p.slots, {id(s): s.offset_bound for s in p.slots},  # noqa: E731
                                     P._touches(prog, p.storage, bounds), cache)
    assert miss(prog1, p1) <= miss(prog0, p0)
