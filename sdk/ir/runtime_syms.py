"""Run-time symbols at planning time: sizes in terms of the input symbols only.

A buffer whose shape holds run-time symbols (NonZero's count, a run-time Reshape's dims) is planned at
the symbols' upper bounds. Before that, a known product (``prod(r0, r1) == numel(x)`` from a run-time
Reshape) replaces the product of the symbols, so an element-wise op after ``Reshape(x, shape_tensor)``
gets a slot of ``numel(x)``, not the product of each dim's bound. What remains is an expression of the
input symbols, which the generated C evaluates for the actual input dims (exact where the bound is).
"""
from __future__ import annotations

from typing import Dict

from . import sym
from .sym import Atom, Dim, Sym


def _replace_product(x: Dim, names, expr: Dim) -> Dim:
    if not isinstance(x, Sym):
        return x
    total: Dim = 0
    for mono, coef in x.terms.items():
        atoms = list(mono)
        factor: Dim = 1
        while all(Atom("var", (n,)) in atoms for n in names):
            for n in names:
                atoms.remove(Atom("var", (n,)))
            factor = sym.mul(factor, expr)
        term: Dim = coef
        for a in atoms:
            term = sym.mul(term, Sym.make({(a,): 1}))
        total = sym.add(total, sym.mul(term, factor))
    return total


def planning_size(x: Dim, func) -> Dim:
    """``x`` with every run-time symbol replaced by its upper bound (after known products)."""
    rts = getattr(func, "runtime_syms", None) or {}
    if not rts or not (sym.free_vars(x) & set(rts)):
        return x
    bounds: Dict[str, Dim] = {n: r.bound for n, r in rts.items() if r.bound is not None}
    for _ in range(len(rts) + 1):  # bounds may name earlier run-time symbols
        if not (sym.free_vars(x) & set(rts)):
            break
        for names, expr in func.runtime_products:
            x = _replace_product(x, names, expr)
        x = sym.substitute(x, bounds)
    return x


def unbounded(func) -> list:
    return [r for r in (getattr(func, "runtime_syms", None) or {}).values() if r.is_dim and r.bound is None]


def bound_error(r):
    from ..errors import BoundError
    return BoundError(f"run-time dim '{r.name}' from {r.origin.split(',')[0]} has no upper bound that the compiler "
                      f"can infer: pass --dim {r.name}=MAX (Python: dims={{'{r.name}': MAX}})")
