"""Control-flow ops that the importer creates (``sdk/frontend/control_flow.py``).

``IfMerge(cond, then..., else...)``: each output is a planned slot that the taken branch's value is copied
into (the copies run under ``if (cond)`` / ``if (!cond)``). Dims that differ between the branches become
run-time dims, bounded by the larger branch.
"""
from __future__ import annotations

from ..errors import ShapeError
from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Compute, as_expr
from .common import same_dim
from .registry import register


def _role(k, a):
    return f"dim{a}" if k == 0 else f"out{k}_dim{a}"


def _ifmerge_infer(n):
    k = n.n_outputs
    thens, elses = n.inputs[1:1 + k], n.inputs[1 + k:1 + 2 * k]
    outs = []
    for j, (t, e) in enumerate(zip(thens, elses)):
        if t.dtype != e.dtype or t.rank != e.rank:
            raise ShapeError(f"If '{n.name}': output {j} is {t.type} in one branch and {e.type} in the other")
        shape = [a if same_dim(a, b) else n.runtime_sym(_role(j, i), bound=sym.smax(a, b))
                 for i, (a, b) in enumerate(zip(t.shape, e.shape))]
        outs.append(TensorType(tuple(shape), t.dtype))
    return outs


def _ifmerge_lower(ctx, n):
    k = n.n_outputs
    cond = ctx.buffer(n.inputs[0])
    outs = []
    for j in range(k):
        y = ctx.new_buffer(f"{n.name}_{j}", n.out_types[j].shape, n.out_types[j].dtype)
        for flag, src_v in ((True, n.inputs[1 + j]), (False, n.inputs[1 + k + j])):
            ctx.guards.append((cond, flag))
            defs = [(n.rt[_role(j, i)], as_expr(d)) for i, d in enumerate(src_v.shape) if _role(j, i) in n.rt]
            if defs:
                ctx.bind_dims(f"{n.name}_{j}_{'then' if flag else 'else'}", defs)
            src = ctx.tensor(src_v)
            ctx.materialize(Compute(f"{n.name}_{j}_{'then' if flag else 'else'}", y.shape, y.dtype,
                                    lambda i, src=src: src[i]), into=y)
            ctx.guards.pop()
        outs.append(y)
    return outs


register("IfMerge", _ifmerge_infer, _ifmerge_lower, "opaque")
