"""Compile a Function already in IR form (a training step, a gradient graph) with the one pipeline's back half:
lower + schedule + plan + codegen, as ``sdk.compile`` does after import."""
from __future__ import annotations

from typing import Dict, Optional

from .. import pipeline
from ..api import Bundle, check_arena
from ..ir.graph import Function
from ..memory.order import memory_aware_order
from ..targets import load_target


def compile_function(f: Function, target="host", bounds: Optional[Dict[str, int]] = None, name: str = "model",
                     reorder: bool = True, max_arena: Optional[int] = None, budget=None, last=()) -> Bundle:
    """``f`` -> Bundle. Planned in the bindings' order and, with ``reorder``, in the memory-aware order with the
    bindings ``last`` moved to the end (a training step's updates: each parameter is updated in place after its
    last read); the smaller arena wins."""
    tgt = load_target(target) if isinstance(target, str) else target
    bounds = dict(bounds or f.bounds)
    f = f.with_bindings(f.bindings, name=name)
    f, prog, plan, file_plan = pipeline.plan(f, tgt, bounds, name, reorder=False)
    if reorder and len(f.bindings) > 2:
        tail = {id(b) for b in last}
        order = memory_aware_order(f, bounds)
        g = f.with_bindings([b for b in order if id(b) not in tail] + [b for b in f.bindings if id(b) in tail])
        g, prog2, plan2, _ = pipeline.plan(g, tgt, bounds, name, reorder=False)
        if (plan2.arena_bytes, plan2.lower_bound_bytes) < (plan.arena_bytes, plan.lower_bound_bytes):
            f, prog, plan = g, prog2, plan2
    check_arena(plan, tgt, max_arena)
    sources = pipeline.codegen(prog, plan, name, tgt, bounds)
    return Bundle(name, f, prog, plan, sources, tgt, bounds, file_plan, budget=budget)
