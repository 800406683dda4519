"""Static memory planning with symbolic sizes.

1. Liveness: every temp buffer (after resolving views to the buffer they
   alias) lives from the step that writes it to the last step that reads it.
2. In-place: an element-wise kernel may write into an input that dies at
   that step (same size, read only at the stored index).
3. Offsets: buffers are placed at the upper bounds of the symbols with a
   greedy best-fit (several orderings tried, the smallest arena kept).
4. Symbolic offsets: for the placement found, each buffer's offset becomes
   ``max(offset + size)`` over the time-overlapping buffers placed below it.
   This expression is free of overlaps for *any* dims (sizes only need to be
   non-negative), so the generated C computes the exact arena need of the
   actual dims: ``workspace_size(dims) = max(offset + size)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

from ..errors import BoundError
from ..ir import sym
from ..ir.dtypes import itemsize
from ..tir.build import loads_of
from ..tir.expr import BindDims, Buffer, For, Kernel, LibCall, LoopHead, LoopTail, Store, loop_spans
from ..ir.runtime_syms import bound_error, planning_size, unbounded

ALIGN = 16


@dataclass(eq=False)
class Slot:
    """One storage region in the arena, shared by one or more buffers."""
    buffers: List[Buffer]
    size: object            # symbolic bytes (aligned)
    first: int
    last: int
    size_bound: int = 0
    offset_bound: int = 0
    below: List["Slot"] = field(default_factory=list)
    index: int = 0


@dataclass
class MemoryPlan:
    slots: List[Slot]
    storage: Dict[int, Slot]  # id(root buffer) -> slot
    arena_bytes: int          # workspace at the upper bounds
    lower_bound_bytes: int    # max bytes live at once in this order
    naive_bytes: int          # sum of all temp buffers
    bounds: Dict[str, int]
    n_steps: int
    align: int = 16           # slot sizes and offsets are multiples of it; above 16 the run aligns the caller's
    # (16-byte aligned) arena up to it, so the workspace has align - 16 more bytes (a profile's [memory] align)

    def slot_of(self, b: Buffer):
        return self.storage.get(id(b))

    def to_json(self):
        return {
            "arena_bytes": self.arena_bytes,
            "lower_bound_bytes": self.lower_bound_bytes,
            "naive_bytes": self.naive_bytes,
            "bounds": self.bounds,
            "steps": self.n_steps,
            "tensors": [{
                "name": s.buffers[0].name,
                "shares": [b.name for b in s.buffers[1:]],
                "offset": s.offset_bound, "size": s.size_bound,
                "size_expr": sym.to_str(s.size), "first_use": s.first, "last_use": s.last,
            } for s in self.slots],
        }


def aligned(nbytes, align=ALIGN):
    return sym.mul(sym.floordiv(sym.add(nbytes, align - 1), align), align)


def nbytes(b: Buffer):
    n = itemsize(b.dtype)
    for d in b.shape:
        n = sym.mul(n, d)
    return n


def step_io(step):
    """(buffers read, buffers written) by one step."""
    conds = [b for b, _ in getattr(step, "guard", ())]  # an If branch's step reads its condition
    if isinstance(step, (Kernel, BindDims, LoopHead, LoopTail)) or not hasattr(step, "args"):
        return list(step.inputs) + conds, step.outputs
    outs = step.outputs
    return [a for a in step.args if isinstance(a, Buffer) and a not in outs] + conds, outs


def _elementwise_store(k: Kernel):
    """The Store of a kernel that is a plain loop nest over its output, or None."""
    body = k.body
    loop_vars = []
    while isinstance(body, For):
        loop_vars.append(body.var)
        body = body.body
    if isinstance(body, Store) and [i for i in body.indices] == loop_vars:
        return body
    return None


def plan_memory(prog, bounds: Dict[str, int], align: int = ALIGN, cache_bytes: int = 0) -> MemoryPlan:
    """``cache_bytes`` (a profile's ``[memory] cache_bytes``, the per-core L2): among the placements of the smallest
    arena found, keep the one whose modelled cache misses over a run are fewest (``_misses``); 0: the first found."""
    _check_bounds(prog, bounds)
    size_of = lambda b: _size(prog, b, align)  # noqa: E731
    temps = {id(b): b for b in prog.temps}
    slots: Dict[int, Slot] = {}
    order: List[Slot] = []
    for t, step in enumerate(prog.steps):
        reads, writes = step_io(step)
        for b in reads:
            r = prog.root(b)
            if id(r) in slots:
                slots[id(r)].last = max(slots[id(r)].last, t)
        for b in writes:
            r = prog.root(b)
            if id(r) not in temps or id(r) in slots:
                continue
            # a view at an offset in its root (a Concat's input written in place) is never written over an input:
            # the kernel's element i would land at i + offset of the input's storage
            slot = _inplace_slot(prog, step, r, reads, slots, t, size_of) if prog.offset_of(b) == 0 else None
            if slot is not None:
                slot.buffers.append(r)
                slots[id(r)] = slot
                slot.last = max(slot.last, t)
                continue
            s = Slot([r], size_of(r), t, t)
            slots[id(r)] = s
            order.append(s)
    _extend_over_loops(prog, order)
    for i, s in enumerate(order):
        s.index = i
        s.size_bound = sym.upper_bound(s.size, bounds) if bounds else sym.evaluate(s.size, {})
    lower = 0
    for t in range(len(prog.steps)):
        lower = max(lower, sum(s.size_bound for s in order if s.first <= t <= s.last))
    touches = _touches(prog, slots, bounds) if cache_bytes > 0 else None  # only the cache model reads them
    _place(order, lower, touches=touches, cache_bytes=cache_bytes)
    _symbolic_below(order)
    arena = max((s.offset_bound + s.size_bound for s in order), default=0)
    naive = sum(sym.upper_bound(size_of(b), bounds) if bounds else sym.evaluate(size_of(b), {})
                for b in prog.temps)
    plan = MemoryPlan(order, slots, arena, lower, naive, dict(bounds), len(prog.steps), align)
    plan.arena_bytes = workspace_at(plan, bounds)
    return plan


def _size(prog, b: Buffer, align: int = ALIGN):
    """Aligned bytes of ``b`` with run-time symbols at their bounds (``sdk/ir/runtime_syms.py``)."""
    return aligned(planning_size(nbytes(b), prog.func), align)


def _extend_over_loops(prog, slots):
    """A slot used both inside a loop and outside it (carried values, scan outputs, the counter, inputs the
    body re-reads) lives across the whole loop; one used only inside lives within an iteration."""
    for b, e in loop_spans(prog.steps):
        for s in slots:
            if s.first <= e and b <= s.last and not (b < s.first and s.last < e):
                s.first, s.last = min(s.first, b), max(s.last, e)


def _check_bounds(prog, bounds):
    for r in unbounded(prog.func):
        raise bound_error(r)
    for b in list(prog.temps) + list(prog.inputs) + list(prog.outputs):
        for d in [planning_size(nbytes(b), prog.func)]:
            for s in sym.free_vars(d):
                if s not in bounds:
                    raise BoundError(f"symbolic dim '{s}' needs an upper bound to plan memory: pass --dim {s}=MAX "
                                     f"(Python: dims={{'{s}': MAX}})")


def _inplace_slot(prog, step, out_root, reads, slots, t, size_of):
    """The slot of an input that this element-wise kernel (or a library call declaring the pair ``in_place``)
    may overwrite, or None."""
    if any(b <= t <= e for b, e in loop_spans(prog.steps)):
        return None  # in a loop body, an input "dying" here is read again by the next iteration
    if isinstance(step, LibCall):
        arg = lambda n: step.args[step.decl.index(n)]  # noqa: E731 - in_place names declared parameters
        cands = [arg(i) for o, i in step.in_place if arg(o) is out_root]
        ok = lambda b: True  # noqa: E731 - the declaration vouches for the access pattern
    elif isinstance(step, Kernel) and (store := _elementwise_store(step)) is not None:
        cands = reads

        def ok(b):
            loads = loads_of(step.body, b)
            return bool(loads) and all(len(ld.indices) == len(store.indices) and
                                       all(x is y for x, y in zip(ld.indices, store.indices)) for ld in loads)
    else:
        return None
    for b in cands:
        if not isinstance(b, Buffer):
            continue
        r = prog.root(b)
        s = slots.get(id(r))
        if s is None or s.last > t or r is not b or b.dtype != out_root.dtype:
            continue
        if len(b.shape) != len(out_root.shape) or any(sym.sub(x, y) != 0 for x, y in zip(b.shape, out_root.shape)):
            continue
        if sym.sub(size_of(out_root), s.size) != 0:
            continue
        if _read_later(prog, r, t):
            continue
        if ok(b):
            return s
    return None


def _read_later(prog, root, t):
    for step in prog.steps[t + 1:]:
        reads, _ = step_io(step)
        if any(prog.root(b) is root for b in reads):
            return True
    return False


def _overlap(a: Slot, b: Slot) -> bool:
    return a.first <= b.last and b.first <= a.last


SWAP_BUDGET = 2000        # random swaps tried when the greedy orderings miss the lower bound
CACHE_SWAPS = 300        # swaps of the placement order searching fewer modelled misses at the same arena
WORK_BUDGET = 4_000_000   # ... at most this many (slot, overlapping slot) visits in all: big graphs get fewer swaps


def _place(slots: List[Slot], lower_bound: int, swaps: int = SWAP_BUDGET, seed: int = 0, touches=None,
           cache_bytes: int = 0):
    """Greedy best-fit at the upper bounds over a few orderings; if the best is above the lower bound, improve the
    placement order by random swaps (kept when the arena does not grow). The number of swaps is fixed by the graph
    (an iteration budget, not a clock), so a model gets the same plan on every machine. With ``touches`` (the slots
    each step reads or writes, ``_touches``) and ``cache_bytes``: of the placements found with the smallest arena,
    and the recency placements that fit in it (``_recent_fit``), the one with the fewest modelled misses
    (``_misses``) is kept."""
    import random
    overlaps = {id(s): [p for p in slots if p is not s and _overlap(p, s)] for s in slots}
    keys = [lambda s: (-s.size_bound, s.first),
            lambda s: (-(s.last - s.first), -s.size_bound),
            lambda s: (s.first, -s.size_bound),
            lambda s: (-s.size_bound * (s.last - s.first + 1), s.first)]
    best = None
    found = []  # (peak, offsets) of each greedy ordering
    for key in keys:
        order = sorted(slots, key=key)
        peak, offs = _greedy(order, overlaps)
        found.append((peak, offs))
        if best is None or peak < best[0]:
            best = (peak, offs, order)
    rng = random.Random(seed)
    work = len(slots) + sum(len(v) for v in overlaps.values())  # visits per greedy pass
    swaps = min(swaps, WORK_BUDGET // max(work, 1))
    peak, offs, order = best
    for _ in range(swaps if len(order) > 1 else 0):
        if peak <= lower_bound:
            break
        cand = list(order)
        i, j = rng.randrange(len(cand)), rng.randrange(len(cand))
        cand[i], cand[j] = cand[j], cand[i]
        p2, o2 = _greedy(cand, overlaps)
        if p2 <= peak:
            peak, offs, order = p2, o2, cand
    if touches is not None and cache_bytes > 0 and len(slots) > 1:
        cands = [offs] + [o for p, o in found if p <= peak]
        for horizon in (1, 2, 4, 8):
            o = _recent_fit(slots, overlaps, peak, horizon)
            if o is not None:
                cands.append(o)
        scored = []
        seen = set()
        for o in cands:
            k = tuple(o[id(s)] for s in slots)
            if k not in seen:
                seen.add(k)
                scored.append((_misses(slots, o, touches, cache_bytes), len(scored), o))
        miss, _, offs = min(scored, key=lambda x: x[:2])
        # then random swaps of the placement order that keep the arena, kept when the modelled misses fall
        for _ in range(min(CACHE_SWAPS, WORK_BUDGET // max(work, 1)) if len(order) > 1 else 0):
            cand = list(order)
            i, j = rng.randrange(len(cand)), rng.randrange(len(cand))
            cand[i], cand[j] = cand[j], cand[i]
            p2, o2 = _greedy(cand, overlaps)
            if p2 <= peak:
                m2 = _misses(slots, o2, touches, cache_bytes)
                if m2 < miss:
                    miss, offs, order = m2, o2, cand
    for s in slots:
        s.offset_bound = offs[id(s)]


def _recent_fit(slots: List[Slot], overlaps, cap: int, horizon: int):
    """A placement in time order where each slot takes, of the gaps that fit below ``cap``, the one over the bytes
    that slots dead in the last ``horizon`` steps used most recently (still cached when this slot is written: LIFO
    reuse), ties to the smallest gap; None if some slot fits no gap below ``cap``."""
    offs: Dict[int, int] = {}
    placed: List[Slot] = []
    for s in sorted(slots, key=lambda s: (s.first, -s.size_bound, s.index)):
        busy = sorted((offs[id(p)], offs[id(p)] + p.size_bound) for p in overlaps[id(s)] if id(p) in offs)
        dead = [p for p in placed if p.last < s.first and s.first - p.last <= horizon]
        best, pos = None, 0
        for lo, hi in busy + [(cap, cap)]:
            gap = lo - pos
            if gap >= s.size_bound:
                warm = 0.0
                for p in dead:
                    a, b = max(pos, offs[id(p)]), min(pos + s.size_bound, offs[id(p)] + p.size_bound)
                    if b > a:
                        warm += (b - a) / (s.first - p.last)
                key = (-warm, gap)
                if best is None or key < best[0]:
                    best = (key, pos)
            pos = max(pos, hi)
        if best is None:
            return None
        offs[id(s)] = best[1]
        placed.append(s)
    return offs


def _touches(prog, slots: Dict[int, Slot], bounds) -> list:
    """Per step: (the slots it reads or writes, bytes it reads outside the arena: weights, the caller's tensors)."""
    out = []
    for step in prog.steps:
        reads, writes = step_io(step)
        touched, extra = [], 0
        for b in list(reads) + list(writes):
            s = slots.get(id(prog.root(b)))
            if s is not None:
                if s not in touched:
                    touched.append(s)
            elif isinstance(b, Buffer):
                try:
                    extra += sym.upper_bound(nbytes(b), bounds) if bounds else sym.evaluate(nbytes(b), {})
                except Exception:  # noqa: BLE001 - a size the bounds do not fix: no weight in the model
                    pass
        out.append((touched, extra))
    return out


def _misses(slots: List[Slot], offs: Dict[int, int], touches, cache_bytes: int) -> int:
    """Modelled cache-miss bytes of one run of the steps in a loop (the second of two runs: the arena is warm from
    the first): a step touches the whole of each slot it reads or writes; a byte range is still cached when the
    distinct bytes touched since its last touch (the arena's ranges, counted once however many tensors shared them,
    plus the weights and the caller's tensors read between) leave room for it in ``cache_bytes`` (LRU). Tensors
    placed where recently used tensors were make the run's footprint smaller: fewer misses. Of the two steps at
    the ends of a reuse, half their bytes outside the arena count (the order inside a step is not modelled)."""
    import bisect
    edges = sorted({offs[id(s)] for s in slots} | {offs[id(s)] + s.size_bound for s in slots})
    size = [b - a for a, b in zip(edges, edges[1:])]
    segs_of = {}
    for s in slots:
        i0 = bisect.bisect_left(edges, offs[id(s)])
        i1 = bisect.bisect_left(edges, offs[id(s)] + s.size_bound)
        segs_of[id(s)] = range(i0, i1)
    steps = []
    for touched, extra in touches:
        seg = set()
        for s in touched:
            seg.update(segs_of[id(s)])
        steps.append((sorted(seg), extra))
    n = len(steps)
    last = [-1] * len(size)
    at = [0] * (2 * n + 1)  # bytes whose latest touch is step T
    miss = 0
    for T in range(2 * n):
        segs, extra = steps[T % n]
        if T >= n and segs:
            suf = {}
            acc = 0
            for u in range(T - 1, T - n - 1, -1):  # suf[u]: bytes touched in steps u + 1 .. T - 1
                suf[u] = acc
                acc += at[u]
            for g in segs:
                L = last[g]
                if L < 0:
                    miss += size[g]
                else:  # half the bytes outside the arena of the last step and of this one count: order unknown
                    d = suf.get(L, acc) + (steps[L % n][1] + extra) // 2
                    miss += min(size[g], max(0, d + size[g] - cache_bytes))
        for g in segs:
            if last[g] >= 0:
                at[last[g]] -= size[g]
            last[g] = T
            at[T] += size[g]
        at[T] += extra
    return miss


def _greedy(order, overlaps):
    offs: Dict[int, int] = {}
    for s in order:
        busy = sorted((offs[id(p)], offs[id(p)] + p.size_bound) for p in overlaps[id(s)] if id(p) in offs)
        cand, best_gap, pos = None, None, 0
        for lo, hi in busy:
            gap = lo - pos
            if gap >= s.size_bound and (best_gap is None or gap < best_gap):
                cand, best_gap = pos, gap
            pos = max(pos, hi)
        offs[id(s)] = cand if cand is not None else pos
    return max((offs[id(s)] + s.size_bound for s in order), default=0), offs


def _symbolic_below(slots: List[Slot]):
    for s in slots:
        s.below = [p for p in slots if p is not s and _overlap(p, s)
                   and p.offset_bound + p.size_bound <= s.offset_bound and p.size_bound > 0]


def workspace_at(plan: MemoryPlan, env: Dict[str, int]) -> int:
    """Exact arena bytes for concrete dims (what the generated C computes)."""
    offs: Dict[int, int] = {}
    size = 0
    for s in sorted(plan.slots, key=lambda s: s.offset_bound):
        sz = sym.evaluate(s.size, env)
        off = max([offs[id(p)] + sym.evaluate(p.size, env) for p in s.below], default=0)
        offs[id(s)] = off
        size = max(size, off + sz)
    return size + align_slack(plan) if size else size


def align_slack(plan: MemoryPlan) -> int:
    """Bytes the run may skip to align a 16-byte aligned arena up to the plan's alignment."""
    return max(plan.align - 16, 0)

