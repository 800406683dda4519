"""Loop splitting: an element-wise kernel whose inner (vector) loop variable ``i`` is read as ``i // d`` and
``i % d`` (d a constant dividing the loop's extent) runs that loop as ``io`` over extent / d and ``ii`` over d, with
``i = io * d + ii``: the index arithmetic then simplifies to ``io`` and ``ii``.

A transpose flattened by a Reshape reads its source that way: attention's heads merged back into rows
(``Transpose([h, s, d] -> [s, h, d])`` + ``Reshape([s, h * d])``, ViT-S's 12 ``..._Reshape_9`` kernels) stored
row i0, column i1 from ``src[i1 // 64][i0][i1 % 64]``: one division and one remainder per element, and a gather
for the vector loop. Split, the inner loop copies 64 contiguous floats of a head's row. The stored values are the
same loads in the same order (only the loop nest changes). CPU profiles turn it on (``[lower] split_divmod``);
on a GPU a thread computes one element either way."""
from __future__ import annotations

from .expr import (FLOAT_TYPES, Bin, Call, Cast, Const, For, Kernel, Load, Select, Store, Var, binop, children,
                   const_value)

MIN_RUN = 8  # an inner loop shorter than this is no better a vector loop than the gather


def split_divmod_loops(k: Kernel) -> Kernel:
    """``k`` with its innermost loop split by the largest divisor it is divided by (``k`` where nothing applies)."""
    loops, s = [], k.body
    while isinstance(s, For):
        loops.append(s)
        s = s.body
    if not loops or not isinstance(s, Store):
        return k
    lp = loops[-1]
    ext = const_value(lp.extent)
    if not isinstance(ext, int) or isinstance(ext, bool):
        return k
    found = set()
    for e in [*s.indices, s.value]:
        _divisors(e, lp.var, found, set())
    ds = [d for d in found if MIN_RUN <= d < ext and ext % d == 0]
    if not ds:
        return k
    d = max(ds)
    v = lp.var
    vo = Var(f"{v.name}o", v.dtype, ext // d - 1, Const(ext // d))
    vi = Var(f"{v.name}i", v.dtype, d - 1, Const(d))
    flat = binop("+", binop("*", vo, Const(d)), vi)
    memo = {}
    body = Store(s.buffer, [_subst(i, v, flat, memo) for i in s.indices], _subst(s.value, v, flat, memo))
    body = For(vo, Const(ext // d), For(vi, Const(d), body, lp.kind), "serial")
    for q in reversed(loops[:-1]):
        body = For(q.var, q.extent, body, q.kind)
    return Kernel(k.name, body, k.inputs, k.outputs, k.guard)


def _divisors(e, var, found, seen):
    if id(e) in seen:
        return
    seen.add(id(e))
    if isinstance(e, Bin) and e.op in ("//", "%") and e.a is var:
        c = const_value(e.b)
        if isinstance(c, int) and not isinstance(c, bool) and c > 0:
            found.add(c)
    for ch in children(e):
        _divisors(ch, var, found, seen)


def _subst(e, var, by, memo):
    """``e`` with ``var`` replaced by ``by``; integer arithmetic rebuilt through ``binop`` (so ``(io*d + ii) // d``
    becomes ``io``), float arithmetic kept node for node (shared subexpressions stay shared)."""
    if id(e) in memo:
        return memo[id(e)]
    if e is var:
        r = by
    elif isinstance(e, Load):
        r = Load(e.tensor, [_subst(i, var, by, memo) for i in e.indices], e.dtype)
    elif isinstance(e, Bin):
        a, b = _subst(e.a, var, by, memo), _subst(e.b, var, by, memo)
        if a is e.a and b is e.b:
            r = e
        elif e.dtype in FLOAT_TYPES or e.dtype == "bool":
            r = Bin(e.op, a, b, e.dtype)
        else:
            r = binop(e.op, a, b)
            if r.dtype != e.dtype:
                r = Bin(e.op, a, b, e.dtype)
    elif isinstance(e, Call):
        r = Call(e.fn, [_subst(a, var, by, memo) for a in e.args], e.dtype)
    elif isinstance(e, Select):
        r = Select(_subst(e.cond, var, by, memo), _subst(e.a, var, by, memo), _subst(e.b, var, by, memo), e.dtype)
    elif isinstance(e, Cast):
        r = Cast(_subst(e.x, var, by, memo), e.dtype)
    else:
        r = e
    memo[id(e)] = r
    return r
