"""Execution order: a topological order of the bindings that lowers peak memory.

Multi-branch graphs (Inception/ResNeXt) admit many orders; ONNX file order
often runs all branch heads first and keeps every branch's activations alive.
``memory_aware_order`` list-schedules greedily: among ready bindings it runs
the one that frees the most bytes minus what it allocates (ties: file order),
so a branch is finished before the next one starts when that is cheaper.
Callers compare the planned arena of each candidate order and keep the best.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Set

from ..ir import sym
from ..ir.graph import Binding, Function


def _bytes(v, bounds) -> int:
    if v.const is not None:
        return 0
    try:
        return sym.upper_bound(v.type.nbytes(), bounds)
    except Exception:
        return 0


def memory_aware_order(f: Function, bounds: Dict[str, int], after: Optional[Dict[int, Set[int]]] = None) -> List[Binding]:
    """``after``: {id(binding): ids of bindings it must follow} besides its data dependences (a training step's
    in-place parameter update follows every read of the parameter)."""
    producer = {}
    for b in f.bindings:
        for v in b.outputs:
            producer[id(v)] = b
    # an If branch's binding also waits for its condition (b.guard), which is not among its inputs
    deps = {id(b): {id(producer[id(v)]) for v in list(b.inputs) + [g for g, _ in getattr(b, "guard", ())]
                    if v is not None and id(v) in producer} | set((after or {}).get(id(b), ()))
            for b in f.bindings}
    users: Dict[int, int] = {}
    for b in f.bindings:
        for v in {id(v): v for v in b.inputs if v is not None}.values():
            users[id(v)] = users.get(id(v), 0) + 1
    outputs = {id(v) for v in f.outputs}
    pos = {id(b): k for k, b in enumerate(f.bindings)}
    done, order = set(), []
    remaining = dict(users)
    pending = list(f.bindings)
    while pending:
        ready = [b for b in pending if deps[id(b)] <= done]
        best, best_key = None, None
        for b in ready:
            alloc = sum(_bytes(v, bounds) for v in b.outputs)
            freed = sum(_bytes(v, bounds) for v in {id(v): v for v in b.inputs if v is not None}.values()
                        if remaining.get(id(v)) == 1 and id(v) not in outputs and id(v) in producer)
            key = (alloc - freed, pos[id(b)])
            if best_key is None or key < best_key:
                best, best_key = b, key
        order.append(best)
        done.add(id(best))
        pending.remove(best)
        for v in {id(v): v for v in best.inputs if v is not None}.values():
            remaining[id(v)] = remaining.get(id(v), 1) - 1
    return order


def reordered(f: Function, order: List[Binding]) -> Function:
    return f.with_bindings(order)
