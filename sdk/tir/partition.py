"""Loop partitioning: an element-wise kernel whose value chooses among inputs by comparing an outer loop variable
with constants (``select(c < 64, a[c], select(c < 96, b[c - 64], ...))``: a Concat read inside the kernel that uses
it) runs, per range of that variable, a loop nest with the choice made.

A Concat along the channels that is not written in place (its inputs feed other Concats too: DenseNet's layer k
reads Concat(x0, y1, ..., y(k-1)) through batch norm + ReLU) is inlined into its reader, so every element went
through a chain of up to 49 selects, each branch a load: the compiler cannot vectorise that (DenseNet-121's
batch-norm kernels alone took longer than onnxruntime's whole model). Partitioned, the loop over the channels holds
one ``if`` per input range, and inside each the rows are plain loads, vectorised as any element-wise kernel.

Only selects on a loop variable other than the innermost are split (the innermost is the vector loop), only on the
outermost such loop, and only where its extent is a constant. A kernel whose stored value is itself such a select (a
Concat copied as it is) is left to the C emitter, which prints one loop per input range (``split_loops``). The
result computes each element from the same expression with the decided selects removed: the same values. CPU
profiles turn it on (``[lower] partition_selects``); on a GPU a thread computes one element and the choice is per
thread anyway."""
from __future__ import annotations

from .expr import (Bin, Call, Cast, Const, For, IfThen, Kernel, Load, Select, Seq, Store, Var, binop, children,
                   const_value)


def partition_selects(k: Kernel) -> Kernel:
    """``k`` with its outermost selected-on loop split into ranges (``k`` itself where nothing applies)."""
    loops, s = [], k.body
    while isinstance(s, For):
        loops.append(s)
        s = s.body
    if len(loops) < 2 or not isinstance(s, Store):
        return k
    if isinstance(s.value, Select) and _split_point(s.value.cond) is not None:
        return k  # a plain Concat: the C emitter prints a loop per input range (split_loops in sdk/codegen/c.py)
    cuts = {id(lp.var): set() for lp in loops[:-1]}
    _find_cuts(s.value, cuts, set())
    for depth, lp in enumerate(loops[:-1]):
        ext = const_value(lp.extent)
        points = sorted(c for c in cuts[id(lp.var)] if ext is not None and 0 < c < int(ext))
        if points:
            break
    else:
        return k
    bounds = list(zip([0] + points, points + [int(ext)]))
    parts = []
    for lo, hi in bounds:
        value = _decide(s.value, lp.var, lo, hi, {})
        inner = Store(s.buffer, s.indices, value)
        for q in reversed(loops[depth + 1:]):
            inner = For(q.var, q.extent, inner, q.kind)
        cond = None
        if lo > 0:
            cond = binop(">=", lp.var, Const(lo))
        if hi < int(ext):
            c = binop("<", lp.var, Const(hi))
            cond = c if cond is None else binop("&&", cond, c)
        parts.append(IfThen(cond, inner) if cond is not None else inner)
    body = For(lp.var, lp.extent, Seq(parts), lp.kind)
    for q in reversed(loops[:depth]):
        body = For(q.var, q.extent, body, q.kind)
    return Kernel(k.name, body, k.inputs, k.outputs, k.guard)


def _split_point(cond):
    """(loop variable, c) for a condition ``var < c`` with c an integer constant, else None."""
    if isinstance(cond, Bin) and cond.op == "<" and isinstance(cond.a, Var) and isinstance(cond.b, Const):
        v = cond.b.value
        if isinstance(v, int) and not isinstance(v, bool):
            return cond.a, v
    return None


def _find_cuts(e, cuts, seen):
    if id(e) in seen:
        return
    seen.add(id(e))
    if isinstance(e, Select):
        sp = _split_point(e.cond)
        if sp is not None and id(sp[0]) in cuts:
            cuts[id(sp[0])].add(sp[1])
    for ch in children(e):
        _find_cuts(ch, cuts, seen)


def _decide(e, var, lo, hi, memo):
    """``e`` with every select on ``var < c`` decided for ``lo <= var < hi`` (shared subexpressions stay shared)."""
    if id(e) in memo:
        return memo[id(e)]
    if isinstance(e, Select):
        sp = _split_point(e.cond)
        if sp is not None and sp[0] is var and (hi <= sp[1] or lo >= sp[1]):
            r = _decide(e.a if hi <= sp[1] else e.b, var, lo, hi, memo)
        else:
            r = Select(_decide(e.cond, var, lo, hi, memo), _decide(e.a, var, lo, hi, memo),
                       _decide(e.b, var, lo, hi, memo), e.dtype)
    elif isinstance(e, Load):
        r = Load(e.tensor, [_decide(i, var, lo, hi, memo) for i in e.indices], e.dtype)
    elif isinstance(e, Bin):
        r = Bin(e.op, _decide(e.a, var, lo, hi, memo), _decide(e.b, var, lo, hi, memo), e.dtype)
    elif isinstance(e, Call):
        r = Call(e.fn, [_decide(a, var, lo, hi, memo) for a in e.args], e.dtype)
    elif isinstance(e, Cast):
        r = Cast(_decide(e.x, var, lo, hi, memo), e.dtype)
    else:
        r = e
    memo[id(e)] = r
    return r
