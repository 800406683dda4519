"""Turn a Compute into a loop nest (a Kernel) that stores into a Buffer."""
from __future__ import annotations

import itertools

from .expr import (Assign, Bin, Buffer, Call, Cast, Compute, Const, Expr, For, Kernel, Let, Load, Select,
                   Seq, Store, Var, as_expr, binop, call, select)

_ids = itertools.count()


def build_kernel(name: str, c: Compute, out: Buffer) -> Kernel:
    k = next(_ids)
    idx = [Var(f"i{a}") for a in range(len(c.shape))]
    if c.reduce is None:
        inner = Store(out, idx, c.fn(idx))
    else:
        red = c.reduce
        ridx = [Var(f"r{a}") for a in range(len(red.extents))]
        term = c.fn(idx, ridx)
        acc_dt = term.dtype
        acc = Var(f"acc{k}", acc_dt)
        update = {"sum": lambda: acc + term, "prod": lambda: acc * term,
                  "max": lambda: _max(acc, term), "min": lambda: _min(acc, term)}[red.combiner]()
        body = Assign(acc, update)
        for v, e in reversed(list(zip(ridx, red.extents))):
            body = For(v, as_expr(e), body)
        result = red.post(acc, idx) if red.post else acc
        inner = Seq([Let(acc, Const(red.init, acc_dt)), body, Store(out, idx, result)])
    body = inner
    for a in range(len(c.shape) - 1, -1, -1):
        body = For(idx[a], as_expr(c.shape[a]), body, "vectorize" if a == len(c.shape) - 1 and c.reduce is None else "serial")
    reads = buffers_read(body)
    return Kernel(name, body, [b for b in reads if b is not out], [out])


def _max(a, b):
    if a.dtype in ("float32", "float64"):
        # NaN propagates as in numpy's max
        return select(binop("||", binop(">", b, a), call("isnan", b, dtype="bool")), b, a)
    return select(binop(">", b, a), b, a)


def _min(a, b):
    if a.dtype in ("float32", "float64"):
        return select(binop("||", binop("<", b, a), call("isnan", b, dtype="bool")), b, a)
    return select(binop("<", b, a), b, a)


def buffers_read(node) -> list:
    out, seen = [], set()

    def visit(x):
        if isinstance(x, Load):
            if id(x.tensor) not in seen:
                seen.add(id(x.tensor))
                out.append(x.tensor)
            for i in x.indices:
                visit(i)
        elif isinstance(x, Bin):
            visit(x.a), visit(x.b)
        elif isinstance(x, Call):
            for a in x.args:
                visit(a)
        elif isinstance(x, Select):
            visit(x.cond), visit(x.a), visit(x.b)
        elif isinstance(x, Cast):
            visit(x.x)
        elif isinstance(x, For):
            visit(x.extent), visit(x.body)
        elif isinstance(x, Store):
            for i in x.indices:
                visit(i)
            visit(x.value)
        elif isinstance(x, (Let, Assign)):
            visit(x.value)
        elif isinstance(x, Seq):
            for s in x.stmts:
                visit(s)

    visit(node)
    return out


def loads_of(node, buf: Buffer) -> list:
    """All Load nodes of ``buf`` in a statement tree (for in-place checks)."""
    found = []

    def visit(x):
        if isinstance(x, Load):
            if x.tensor is buf:
                found.append(x)
            for i in x.indices:
                visit(i)
        elif isinstance(x, Expr):
            for ch in _children(x):
                visit(ch)
        elif isinstance(x, For):
            visit(x.body)
        elif isinstance(x, Store):
            visit(x.value)
            for i in x.indices:
                visit(i)
        elif isinstance(x, (Let, Assign)):
            visit(x.value)
        elif isinstance(x, Seq):
            for s in x.stmts:
                visit(s)

    visit(node)
    return found


def _children(e):
    if isinstance(e, Bin):
        return [e.a, e.b]
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Select):
        return [e.cond, e.a, e.b]
    if isinstance(e, Cast):
        return [e.x]
    return []
