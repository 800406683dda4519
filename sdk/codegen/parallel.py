"""Which generated kernels may split their output loops across threads, and when it pays.

A profile with threads (``[codegen] outer_pragma``, e.g. ``omp parallel for schedule(static)``) puts the pragma
before a kernel's outermost printed loops, collapsed so that a batch of 1 still splits. ``parallel_loops`` says how
many loops to collapse, or None where splitting could race or would cost more than it saves:

- safe: every store indexes its buffer with each collapsed loop variable alone in one index position, affinely
  (``y[n][c + 4][h * 2][w + j]``), so two iterations never write one element; a load of a buffer the kernel also stores
  reads, in those positions, the element the same iteration wrote (in-place kernels, softmax's second pass).
  Scatter-like stores (``y[idx[i]]``) and counters (NonZero's compaction) are not split.
- worth it: the kernel's work (loop iterations summed over its statements) reaches ``min_work``; a symbolic work
  count becomes the pragma's ``if(...)`` clause, checked at run time.
The split never changes what one output element computes, so results do not depend on the thread count."""
from __future__ import annotations

from typing import List, Optional, Tuple

from ..ir import sym
from ..tir.expr import Assign, Bin, Const, DimE, For, IfThen, Let, Load, Seq, Store, Var, binop, const_value

# iterations below which a kernel stays on one thread: a fork/join costs microseconds (more on a loaded machine),
# 2^17 multiply-adds take ~10 us on one core (library and tuned kernels: SDK_PAR_MIN_WORK, same value)
MIN_WORK = 131072


def parallel_loops(body, printed) -> Optional[Tuple[int, object]]:
    """(n loops to collapse, work expression) for a kernel ``body`` whose outer loops may run in parallel, else
    None. ``printed(loop)``: whether the C renderer prints the loop (extent-1 loops are not)."""
    if not isinstance(body, For):
        return None
    chain, s = [], body
    while isinstance(s, For) and not s.kind.startswith("reduce:"):
        if printed(s):
            chain.append(s)
        s = s.body
    if not chain:
        return None
    # the innermost loop stays out of the split (the C renderer may vectorise it): collapse the ones above it
    n = len(chain) - 1 if not _has_loop(chain[-1].body) else len(chain)
    if n == 0:
        return None
    names = {loop.var.name for loop in chain[:n]}
    if not _disjoint_writes(body, names):
        return None
    return n, _work(body)


def if_clause(work, min_work: int, c_expr, bounds=None) -> Optional[str]:
    """'' (always split), an ``if(...)`` clause (decided at run time) or None (never worth it) for ``work``;
    a symbolic count that stays below ``min_work`` at the symbols' upper ``bounds`` is never worth it."""
    w = const_value(work)
    if w is not None:
        return "" if int(w) >= min_work else None
    top = _at_bounds(work, bounds or {})
    if top is not None and top < min_work:
        return None
    return f" if({c_expr(work)} >= {min_work})"


def _at_bounds(e, bounds) -> Optional[int]:
    """The value of a work count (sums and products of dims) at the upper bounds, or None if unknown."""
    c = const_value(e)
    if c is not None:
        return int(c)
    if isinstance(e, DimE):  # a run-time symbol without a bound here: decided at run time
        return sym.upper_bound(e.dim, bounds) if sym.free_vars(e.dim) <= set(bounds) else None
    if isinstance(e, Bin) and e.op in ("+", "*"):
        a, b = _at_bounds(e.a, bounds), _at_bounds(e.b, bounds)
        return None if a is None or b is None else (a + b if e.op == "+" else a * b)
    return None


def _work(s):
    """Loop iterations summed over the statements of ``s`` (an expression of the dims)."""
    if isinstance(s, For):
        inner = _work(s.body)
        if _has_var(s.extent):  # a triangular loop: count it once (a lower bound is enough for the threshold)
            return inner
        return binop("*", s.extent, inner)
    if isinstance(s, Seq):
        total = Const(0)
        for x in s.stmts:
            total = binop("+", total, _work(x))
        return total
    if isinstance(s, IfThen):
        return _work(s.body)
    return Const(1)


def _has_loop(s) -> bool:
    if isinstance(s, For):
        return True
    if isinstance(s, Seq):
        return any(_has_loop(x) for x in s.stmts)
    return isinstance(s, IfThen) and _has_loop(s.body)


def _has_var(e) -> bool:
    return any(isinstance(x, Var) for x in _subexprs(e))


def _subexprs(e):
    yield e
    for f in ("a", "b", "x", "cond"):
        sub = getattr(e, f, None)
        if sub is not None and not isinstance(sub, (str, int, float)):
            yield from _subexprs(sub)
    for sub in list(getattr(e, "args", None) or []) + list(getattr(e, "indices", None) or []):
        yield from _subexprs(sub)


def _statements(s) -> List[object]:
    if isinstance(s, For):
        return _statements(s.body)
    if isinstance(s, Seq):
        return [x for y in s.stmts for x in _statements(y)]
    if isinstance(s, IfThen):
        return [s] + _statements(s.body)
    return [s]


def _affine_in(e, v: str) -> bool:
    """``e`` is c*v + (terms without v), c a nonzero constant: distinct v give distinct values."""
    if isinstance(e, Var):
        return e.name == v
    if isinstance(e, Bin) and e.op in ("+", "-"):
        a, b = _mentions(e.a, v), _mentions(e.b, v)
        return (a and not b and _affine_in(e.a, v)) or (b and not a and _affine_in(e.b, v))
    if isinstance(e, Bin) and e.op == "*":
        for x, c in ((e.a, e.b), (e.b, e.a)):
            k = const_value(c)
            if k is not None and k != 0 and _affine_in(x, v):
                return True
    return False


def _mentions(e, v: str) -> bool:
    return any(isinstance(x, Var) and x.name == v for x in _subexprs(e))


def _owned_positions(store: Store, names) -> Optional[List[int]]:
    """Index positions of ``store`` that hold the collapsed loop vars, each alone (no other loop var) and affine,
    so distinct iterations write distinct elements; or None."""
    positions = []
    for v in names:
        pos = [d for d, e in enumerate(store.indices)
               if _affine_in(e, v) and all(x.name == v for x in _subexprs(e) if isinstance(x, Var))
               and not any(isinstance(x, Load) for x in _subexprs(e))]
        if not pos:
            return None
        positions.append(pos[0])
    return positions


def _disjoint_writes(body, names) -> bool:
    stmts = _statements(body)
    stores = [s for s in stmts if isinstance(s, Store)]
    owned = {}
    for s in stores:
        pos = _owned_positions(s, names)
        if pos is None:
            return False
        owned.setdefault(id(s.buffer), []).append((s, pos))
    exprs = []
    for s in stmts:
        if isinstance(s, Store):
            exprs += [s.value] + list(s.indices)
        elif isinstance(s, (Let, Assign)):
            exprs.append(s.value)
        elif isinstance(s, IfThen):
            exprs.append(s.cond)
    from .c import CEmitter  # the printed index: two loads of one element print alike
    em = CEmitter()
    for e in exprs:
        for x in _subexprs(e):
            if isinstance(x, Load) and id(x.tensor) in owned:
                for s, pos in owned[id(x.tensor)]:
                    if any(d >= len(x.indices) or em.expr(x.indices[d]) != em.expr(s.indices[d]) for d in pos):
                        return False
    return True
