"""Turn a Compute into a loop nest (a Kernel) that stores into a Buffer."""
from __future__ import annotations

import contextlib
import contextvars
import itertools

from .expr import (FLOAT_TYPES, Assign, Bin, Buffer, Call, Cast, Compute, Const, For, IfThen, Kernel, Let, Load, Select, Seq,
                   Store, Var, as_expr, binop, call, const_value, select)

_ids = contextvars.ContextVar("tir_kernel_ids", default=None)
_ids_outside = itertools.count()  # kernels built outside any lowering (tests building one kernel)


@contextlib.contextmanager
def fresh_ids():
    """Number the kernels' accumulators from 0 within one lowering (a nested one continues the outer count), so the
    generated C is a function of the model alone, not of what this process compiled before."""
    if _ids.get() is not None:
        yield
        return
    token = _ids.set(itertools.count())
    try:
        yield
    finally:
        _ids.reset(token)


def build_kernel(name: str, c: Compute, out: Buffer) -> Kernel:
    k = next(_ids.get() or _ids_outside)
    idx = [Var(f"i{a}", "int64", _ub(d), as_expr(d)) for a, d in enumerate(c.shape)]
    if c.reduce is None:
        inner = Store(out, idx, c.fn(idx))
    else:
        red = c.reduce
        ridx = [Var(f"r{a}", "int64", _ub(d), as_expr(d)) for a, d in enumerate(red.extents)]
        term = c.fn(idx, ridx)
        acc_dt = term.dtype
        acc = Var(f"acc{k}", acc_dt)
        update = {"sum": lambda: acc + term, "prod": lambda: acc * term,
                  "max": lambda: _max(acc, term), "min": lambda: _min(acc, term),
                  # NaN-ignoring max: vectorises; for internal maxima whose NaN shows up anyway (softmax)
                  "fastmax": lambda: select(binop(">", term, acc), term, acc)}[red.combiner]()
        body = Assign(acc, update)
        # float sum / NaN-ignoring max may be re-associated: codegen can vectorise them (simd reductions)
        simd_op = {"sum": "+", "fastmax": "max"}.get(red.combiner) if acc_dt in FLOAT_TYPES else None
        for n, (v, e) in enumerate(reversed(list(zip(ridx, red.extents)))):
            body = For(v, as_expr(e), body, f"reduce:{simd_op}:{acc.name}" if simd_op and n == 0 else "serial")
        result = red.post(acc, idx) if red.post else acc
        inner = Seq([Let(acc, Const(red.init, acc_dt)), body, Store(out, idx, result)])
    body = inner
    for a in range(len(c.shape) - 1, -1, -1):
        body = For(idx[a], as_expr(c.shape[a]), body, "vectorize" if a == len(c.shape) - 1 and c.reduce is None else "serial")
    reads = buffers_read(body)
    return Kernel(name, body, [b for b in reads if b is not out], [out])


def _ub(extent):
    v = const_value(as_expr(extent))
    return int(v) - 1 if v is not None else None


def _max(a, b):
    if a.dtype in FLOAT_TYPES:
        # NaN propagates as in numpy's max
        return select(binop("||", binop(">", b, a), call("isnan", b, dtype="bool")), b, a)
    return select(binop(">", b, a), b, a)


def _min(a, b):
    if a.dtype in FLOAT_TYPES:
        return select(binop("||", binop("<", b, a), call("isnan", b, dtype="bool")), b, a)
    return select(binop("<", b, a), b, a)


def walk(node, visit):
    """Call ``visit`` on every expression and statement of a tree, parents first."""
    visit(node)
    if isinstance(node, Load):
        children = node.indices
    elif isinstance(node, Bin):
        children = [node.a, node.b]
    elif isinstance(node, Call):
        children = node.args
    elif isinstance(node, Select):
        children = [node.cond, node.a, node.b]
    elif isinstance(node, Cast):
        children = [node.x]
    elif isinstance(node, For):
        children = [node.extent, node.body]
    elif isinstance(node, Store):
        children = list(node.indices) + [node.value]
    elif isinstance(node, (Let, Assign)):
        children = [node.value]
    elif isinstance(node, Seq):
        children = node.stmts
    elif isinstance(node, IfThen):
        children = [node.cond, node.body]
    else:
        children = []
    for ch in children:
        walk(ch, visit)


def buffers_read(node) -> list:
    """Buffers loaded anywhere in a tree, in first-seen order."""
    out = []

    def visit(x):
        if isinstance(x, Load) and all(x.tensor is not b for b in out):
            out.append(x.tensor)

    walk(node, visit)
    return out


def loads_of(node, buf: Buffer) -> list:
    """All Load nodes of ``buf`` in a tree (for in-place checks)."""
    found = []
    walk(node, lambda x: found.append(x) if isinstance(x, Load) and x.tensor is buf else None)
    return found
