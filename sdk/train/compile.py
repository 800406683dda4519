"""Compile a Function already in IR form (a training step, a gradient graph) with the one pipeline's back half:
lower + schedule + plan + codegen, as ``sdk.compile`` does after import."""
from __future__ import annotations

from typing import Dict, Optional

from .. import pipeline
from ..api import Bundle, check_arena
from ..ir.graph import Function
from ..memory.order import memory_aware_order
from ..targets import load_target


def plan_function(f: Function, tgt, bounds: Dict[str, int], name: str = "model", reorder: bool = True, after=None):
    """Lower and plan ``f`` in the bindings' order and, with ``reorder``, in the memory-aware order keeping the
    extra dependences ``after`` ({id(binding): ids of bindings it must follow}: a training step's updates follow
    every read of the parameter they overwrite); the smaller arena wins. Returns (func, program, plan, the plan in
    the bindings' order)."""
    f, prog, plan, file_plan = pipeline.plan(f, tgt, bounds, name, reorder=False)
    order = memory_aware_order(f, bounds, after) if reorder and len(f.bindings) > 2 else f.bindings
    if [id(b) for b in order] != [id(b) for b in f.bindings]:  # the same order: the same program (pipeline.plan)
        g = f.with_bindings(order)
        g, prog2, plan2, _ = pipeline.plan(g, tgt, bounds, name, reorder=False)
        if (plan2.arena_bytes, plan2.lower_bound_bytes) < (plan.arena_bytes, plan.lower_bound_bytes):
            f, prog, plan = g, prog2, plan2
    return f, prog, plan, file_plan


def compile_function(f: Function, target="host", bounds: Optional[Dict[str, int]] = None, name: str = "model",
                     reorder: bool = True, max_arena: Optional[int] = None, budget=None, after=None,
                     precision: str = "fp32") -> Bundle:
    """``f`` -> Bundle, planned by ``plan_function``; ``precision``: of the CUDA matrix products (``sdk.compile``)."""
    tgt = load_target(target) if isinstance(target, str) else target
    bounds = dict(bounds or f.bounds)
    f = f.with_bindings(f.bindings, name=name)
    f, prog, plan, file_plan = plan_function(f, tgt, bounds, name, reorder, after)
    check_arena(plan, tgt, max_arena)
    sources = pipeline.codegen(prog, plan, name, tgt, bounds, precision)
    return Bundle(name, f, prog, plan, sources, tgt, bounds, file_plan, budget=budget, precision=precision)
