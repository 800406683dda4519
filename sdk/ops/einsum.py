"""Einsum: one loop nest over the output letters with a reduction over the summed letters (repeated letters in
one operand read its diagonal; '...' broadcasts like numpy)."""
from __future__ import annotations

from ..errors import ShapeError
from ..ir import sym
from ..tir.expr import Compute, Const, Reduction
from .common import out
from .registry import register

_ELL = "0123456789"  # stand-ins for the dims under '...'


def _parse(n):
    eq = n.attr("equation").replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    ins = [v for v in n.inputs if v is not None]
    if len(terms) != len(ins):
        raise ShapeError(f"Einsum '{n.name}': {len(terms)} terms for {len(ins)} inputs")
    ell = max((v.rank - (len(t) - 3) for t, v in zip(terms, ins) if "..." in t), default=0)
    subs = []
    for t, v in zip(terms, ins):
        if "..." in t:
            k = v.rank - (len(t) - 3)
            t = t.replace("...", _ELL[ell - k:ell])
        if len(t) != v.rank:
            raise ShapeError(f"Einsum '{n.name}': term '{t}' for a rank-{v.rank} input")
        subs.append(t)
    if arrow:
        res = rhs.replace("...", _ELL[:ell])
    else:
        letters = "".join(subs)
        res = _ELL[:ell] + "".join(sorted(c for c in set(letters) if c not in _ELL and letters.count(c) == 1))
    size = {}
    for t, v in zip(subs, ins):
        for c, d in zip(t, v.shape):
            if c not in size or size[c] == 1:
                size[c] = d
            elif d != 1 and sym.sub(size[c], d) != 0:
                raise ShapeError(f"Einsum '{n.name}': letter {c} is {sym.to_str(size[c])} and {sym.to_str(d)}")
    summed = sorted({c for t in subs for c in t} - set(res))
    return subs, res, summed, size, ins


def _infer(n):
    _, res, _, size, ins = _parse(n)
    return out([size[c] for c in res], ins[0].dtype)


def _lower(ctx, n):
    subs, res, summed, size, ins = _parse(n)
    ts = [ctx.tensor(v) for v in ins]
    dt = ts[0].dtype

    def term(i, r=()):
        val = dict(zip(res, i))
        val.update(zip(summed, r))
        p = None
        for t, s in zip(ts, subs):
            v = t[[Const(0) if d == 1 and size[c] != 1 else val[c] for c, d in zip(s, t.shape)]]
            p = v if p is None else p * v
        return p

    shape = [size[c] for c in res]
    if not summed:
        return [Compute(n.name, shape, dt, lambda i: term(i))]
    return [Compute(n.name, shape, dt, term, Reduction([size[c] for c in summed], "sum", 0))]


register("Einsum", _infer, _lower, "opaque")
