"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (forward only, as onnx's reference)."""
from __future__ import annotations

from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, as_expr, binop, call, cast, emax, emin, select
from .reduce import _lowest, reduce_compute
from .registry import register


def log_softmax(ctx, name, x, axis):
    """Materialised log(softmax(x)) over ``axis``: x - max - log(sum(exp(x - max)))."""
    m = ctx.materialize(reduce_compute(name + "_max", x, [axis], True, "max", _lowest(x.dtype)))

    def at(t, i):
        j = list(i)
        j[axis] = Const(0)
        return t[j]

    s = ctx.materialize(reduce_compute(name + "_sum", x, [axis], True, "sum", 0,
                                       term=lambda v, j: call("exp", v - at(m, j))))
    return ctx.materialize(Compute(name + "_logp", x.shape, x.dtype,
                                   lambda i: x[i] - at(m, i) - call("log", at(s, i))))


def _infer(n):
    x, t = n.inputs[0], n.inputs[1]
    if x.rank < 2 or t.rank != x.rank - 1:
        raise n.unsupported(f"input rank {x.rank} with target rank {t.rank}")
    red = n.attr("reduction", "mean")
    shape = tuple(t.shape) if red == "none" else ()
    outs = [TensorType(shape, x.dtype)]
    if n.n_outputs > 1:
        outs.append(TensorType(x.shape, x.dtype))
    return outs


def _lower(ctx, n):
    x, t = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    w = ctx.tensor(n.input(2)) if n.input(2) is not None else None
    sce = n.op_type == "SoftmaxCrossEntropyLoss"
    logp = log_softmax(ctx, n.name, x, 1) if sce else x
    ii = n.attr("ignore_index")
    dt = x.dtype
    C = x.shape[1]

    def cls(j):  # target class at target index j, clamped like numpy's take(mode="clip")
        c = cast(t[j], "int64")
        return emin(emax(c, 0), as_expr(C) - 1), c

    def weight(j):
        k, c = cls(j)
        g = w[[k]] if w is not None else Const(1.0, dt)
        return g if ii is None else select(binop("==", c, Const(int(ii))), Const(0.0, dt), g)

    def loss(j):
        k, c = cls(j)
        v = -logp[[j[0], k] + list(j[1:])] * (w[[k]] if w is not None else Const(1.0, dt))
        return v if ii is None else select(binop("==", c, Const(int(ii))), Const(0.0, dt), v)

    red = n.attr("reduction", "mean")
    shape = tuple(t.shape)
    elem = Compute(n.name + "_elem", shape, dt, loss)
    outs = []
    if red == "none":
        outs.append(Compute(n.name, shape, dt, loss))
    else:
        axes = list(range(len(shape)))
        total = ctx.materialize(reduce_compute(n.name + "_total", elem, axes, False, "sum", 0))
        if red == "sum":
            outs.append(Compute(n.name, (), dt, lambda i: total[[]]))
        else:
            # the denominator as onnx's reference: the gathered weights' sum, or the element count when the op
            # has no weights to gather (NLL with ignore_index -1 and no weight counts ignored elements too)
            plain = w is None and (ii is None if sce else ii == -1)
            if plain:
                count = 1
                for d in shape:
                    count = sym.mul(count, d)
                outs.append(Compute(n.name, (), dt, lambda i: total[[]] / cast(as_expr(count), dt)))
            else:
                den = ctx.materialize(reduce_compute(n.name + "_wsum", Compute(n.name + "_w", shape, dt, weight),
                                                     axes, False, "sum", 0))
                outs.append(Compute(n.name, (), dt, lambda i: total[[]] / den[[]]))
    if n.n_outputs > 1:
        outs.append(logp)
    return outs


register("NegativeLogLikelihoodLoss", _infer, _lower, "opaque")
register("SoftmaxCrossEntropyLoss", _infer, _lower, "opaque")
