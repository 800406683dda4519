"""Index-driven ops from exporters: GatherND, ScatterND, Trilu, CumSum, CumProd.

Each is a loop-level definition (no library call): GatherND reads through an
index tuple; ScatterND finds, for every output element, the update that
targets it (a reduction over the update positions, so the work is
numel(data) x numel(updates-prefix): right for the small scatters of exported
graphs, e.g. writing one step into a cache); Trilu masks by ``col - row``;
CumSum is a masked sum along the axis. Out-of-range indices are clamped, so bad
data never reads or writes outside a buffer.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import sym
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, cast, emax, emin, select
from .common import match_dim, norm_axis, out, unravel
from .registry import register


def _index(e, dim):
    """int64 index, negative counting from the end, clamped into [0, dim)."""
    if e.dtype != "int64":
        e = cast(e, "int64")
    e = select(e < 0, e + as_expr(dim), e)
    return emin(emax(e, 0), as_expr(dim) - 1)


def _depth(n, ind, data, batch_dims=0):
    k = ind.shape[-1] if ind.rank else None
    if not sym.is_static(k) or k < 1 or batch_dims + k > data.rank:
        raise ShapeError(f"{n.op_type} '{n.name}': last dim of indices must be a constant in 1..{data.rank - batch_dims}")
    return int(k)


# ---------------------------------------------------------------- GatherND
def _gathernd_infer(n):
    data, ind = n.inputs[:2]
    b = n.attr("batch_dims", 0)
    k = _depth(n, ind, data, b)
    return out(list(ind.shape[:-1]) + list(data.shape[b + k:]), data.dtype)


def _gathernd_lower(ctx, n):
    data, ind = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    b = n.attr("batch_dims", 0)
    k = _depth(n, n.inputs[1], n.inputs[0], b)
    q = len(ind.shape)

    def body(i):
        pre = list(i[:q - 1])
        picked = [_index(ind[pre + [Const(c)]], data.shape[b + c]) for c in range(k)]
        return data[list(i[:b]) + picked + list(i[q - 1:])]

    return [Compute(n.name, n.out_types[0].shape, data.dtype, body)]


register("GatherND", _gathernd_infer, _gathernd_lower)


# ---------------------------------------------------------------- ScatterND
_LOWEST = {"max": lambda dt: float("-inf") if dt.startswith("float") else int(np.iinfo(dt).min),
           "min": lambda dt: float("inf") if dt.startswith("float") else int(np.iinfo(dt).max)}


def _scatternd_infer(n):
    data, ind, upd = n.inputs[:3]
    k = _depth(n, ind, data)
    want = list(ind.shape[:-1]) + list(data.shape[k:])
    error = (f"ScatterND '{n.name}': updates shape {[sym.to_str(d) for d in upd.shape]}, "
             f"expected {[sym.to_str(d) for d in want]}")
    if len(want) != upd.rank:
        raise ShapeError(error)
    for a, b in zip(want, upd.shape):  # two NonZero counts (x[x < 0] = v): equal at run time, checked there
        if not sym.prove_eq(a, b):
            match_dim(n, a, b, error)
    if n.attr("reduction", "none") not in ("none", "add", "mul", "max", "min"):
        raise n.unsupported(f"reduction {n.attr('reduction')}")
    return out(data.shape, data.dtype)


def _scatternd_lower(ctx, n):
    data, ind, upd = (ctx.tensor(v) for v in n.inputs[:3])
    k = _depth(n, n.inputs[1], n.inputs[0])
    pre = list(ind.shape[:-1])
    red = n.attr("reduction", "none")
    dt = data.dtype

    def match(i, u):
        cond = None
        for c in range(k):
            e = binop("==", _index(ind[list(u) + [Const(c)]], data.shape[c]), i[c])
            cond = e if cond is None else binop("&&", cond, e)
        return cond

    if red == "none":  # the last update aimed at an element wins (onnx leaves duplicates undefined)
        def last(i, u):
            flat = u[0] if u else Const(0)
            for x, d in zip(u[1:], pre[1:]):
                flat = flat * as_expr(d) + x
            return select(match(i, u), flat, Const(-1))
        hit = ctx.materialize(Compute(n.name + "_hit", data.shape, "int64", last, Reduction(pre, "max", -1)))

        def body(i):
            h = hit[i]
            src = unravel(emax(h, 0), pre) if pre else []
            return select(h >= 0, upd[src + list(i[k:])], data[i])
        return [Compute(n.name, data.shape, dt, body)]

    neutral = {"add": 0, "mul": 1}.get(red) if red in ("add", "mul") else _LOWEST[red](dt)
    comb = {"add": "sum", "mul": "prod", "max": "max", "min": "min"}[red]
    zero = float(neutral) if dt.startswith("float") else neutral
    acc = ctx.materialize(Compute(n.name + "_acc", data.shape, dt,
                                  lambda i, u: select(match(i, u), upd[list(u) + list(i[k:])], Const(zero, dt)),
                                  Reduction(pre, comb, neutral)))

    def combine(i):
        a, d = acc[i], data[i]
        if red == "add":
            return d + a
        if red == "mul":
            return d * a
        return select(binop(">=" if red == "max" else "<=", d, a), d, a)
    return [Compute(n.name, data.shape, dt, combine)]


register("ScatterND", _scatternd_infer, _scatternd_lower, "opaque")


# ---------------------------------------------------------------- Trilu
def _trilu_k(ctx, n):
    """k as an expression: a literal when known at compile time, else the scalar read at run time."""
    v = n.input(1)
    if v is None:
        return Const(0)
    vals = v.known_ints()
    if vals is not None:
        return as_expr(vals[0])
    t = ctx.tensor(v)
    return cast(t[[Const(0)] * len(t.shape)], "int64")


def _trilu_infer(n):
    x, k = n.inputs[0], n.input(1)
    if x.rank < 2:
        raise ShapeError(f"Trilu '{n.name}': input rank {x.rank} < 2")
    if k is not None and (k.rank > 1 or k.dtype != "int64"):
        raise ShapeError(f"Trilu '{n.name}': k must be an int64 scalar")
    return out(x.shape, x.dtype)


def _trilu_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    k = _trilu_k(ctx, n)
    upper = n.attr("upper", 1)
    zero = Const(False if x.dtype == "bool" else (0.0 if x.dtype.startswith("float") else 0), x.dtype)

    def body(i):
        diff = i[-1] - i[-2]
        keep = binop(">=", diff, k) if upper else binop("<=", diff, k)
        return select(keep, x[i], zero)

    return [Compute(n.name, x.shape, x.dtype, body)]


register("Trilu", _trilu_infer, _trilu_lower)


# ---------------------------------------------------------------- CumSum, CumProd
def _cum_axes(n):
    """The axis as [a] when known at compile time, else every axis it may name (it is read at run time)."""
    rank = n.inputs[0].rank
    vals = n.inputs[1].known_ints()
    if vals is None:
        if n.inputs[1].dtype not in ("int32", "int64") or n.inputs[1].rank > 1:
            raise n.unsupported(f"axis of dtype {n.inputs[1].dtype}, rank {n.inputs[1].rank}")
        return list(range(rank))
    if len(vals) != 1 or not sym.is_static(vals[0]):
        raise n.unsupported("axis must be a scalar")
    return [norm_axis(int(vals[0]), rank, n)]


def _cum_infer(n):
    x = n.inputs[0]
    _cum_axes(n)
    if x.dtype == "bool":
        raise n.unsupported("dtype bool")
    return out(x.shape, x.dtype)


def _cum(comb):
    """CumSum / CumProd: for each element, the sum (product) of the elements up to it along the axis (a masked
    reduction). An axis known only at run time: one reduction per axis it may name, and the one it names
    selected (an axis out of range selects the last; onnx calls it an error)."""
    def lower(ctx, n):
        x = ctx.tensor(n.inputs[0])
        axes = _cum_axes(n)
        rev, excl = n.attr("reverse", 0), n.attr("exclusive", 0)
        cmp = {(0, 0): "<=", (0, 1): "<", (1, 0): ">=", (1, 1): ">"}[(rev, excl)]
        neutral = 0 if comb == "sum" else 1
        unit = Const(float(neutral) if x.dtype.startswith("float") else neutral, x.dtype)

        def along(ax):
            def term(i, r):
                j = list(i)
                j[ax] = r[0]
                return select(binop(cmp, r[0], i[ax]), x[j], unit)
            return Compute(n.name if len(axes) == 1 else f"{n.name}_axis{ax}", x.shape, x.dtype, term,
                           Reduction([x.shape[ax]], comb, neutral))

        if len(axes) == 1:
            return [along(axes[0])]
        parts = [ctx.materialize(along(ax)) for ax in axes]
        t = ctx.tensor(n.inputs[1])
        a = cast(t[[Const(0)] * len(t.shape)], "int64")
        a = select(a < 0, a + Const(len(axes)), a)

        def body(i):
            e = parts[-1][i]
            for ax in reversed(range(len(axes) - 1)):
                e = select(binop("==", a, Const(ax)), parts[ax][i], e)
            return e
        return [Compute(n.name, x.shape, x.dtype, body)]
    return lower


register("CumSum", _cum_infer, _cum("sum"), "reduce")
register("CumProd", _cum_infer, _cum("prod"), "reduce")
