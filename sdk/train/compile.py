"""Compile a Function already in IR form (a training step, a gradient graph) with the one pipeline's back half:
lower + schedule + plan + codegen, as ``sdk.compile`` does after import."""
from __future__ import annotations

from typing import Dict, Optional

from .. import pipeline
from ..api import Bundle, check_arena
from ..ir.graph import Function
from ..targets import load_target


def compile_function(f: Function, target="host", bounds: Optional[Dict[str, int]] = None, name: str = "model",
                     reorder: bool = True, max_arena: Optional[int] = None, budget=None) -> Bundle:
    """``f`` -> Bundle. ``reorder=False`` keeps the bindings' order (a training step's updates must stay last)."""
    tgt = load_target(target) if isinstance(target, str) else target
    bounds = dict(bounds or f.bounds)
    f = f.with_bindings(f.bindings, name=name)
    f, prog, plan, file_plan = pipeline.plan(f, tgt, bounds, name, reorder=reorder)
    check_arena(plan, tgt, max_arena)
    sources = pipeline.codegen(prog, plan, name, tgt, bounds)
    return Bundle(name, f, prog, plan, sources, tgt, bounds, file_plan, budget=budget)
