"""Reductions and normalisations: Reduce*, Softmax, LogSoftmax, LayerNorm, ArgMax..."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import ShapeError
from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Reduction, as_expr, call, cast, select
from .common import norm_axis, nth_unflagged, out, ravel, runtime_axes, unravel
from .registry import register
from ..ir.dtypes import FLOATS

F = FLOATS  # half types compute in float32 (sdk/ir/dtypes.py)


def _lowest(dt):
    if dt in F:
        return float("-inf")
    if dt == "bool":
        return 0
    return int(np.iinfo(np.dtype(dt)).min)


def _highest(dt):
    if dt in F:
        return float("inf")
    if dt == "bool":
        return 1
    return int(np.iinfo(np.dtype(dt)).max)


def reduce_compute(name, x, axes, keepdims, combiner, init, term=lambda v, i: v, post=None, dtype=None):
    """A Compute reducing ``x`` over ``axes``; ``term(x_value, x_index)`` is summed/maxed."""
    r = len(x.shape)
    shape = [1 if k in axes else d for k, d in enumerate(x.shape) if keepdims or k not in axes]
    extents = [x.shape[k] for k in axes]
    # the last two axes with static sizes (e.g. a global pool's H x W): one loop over H*W, split back by // and %
    # (which the flat index folds away), so the reduction is one long vectorised loop instead of H short ones
    flat_w = extents[-1] if len(axes) >= 2 and axes[-2:] == [r - 2, r - 1] and all(
        isinstance(d, int) for d in extents[-2:]) else None
    if flat_w is not None:
        extents = extents[:-2] + [extents[-2] * flat_w]

    def src_index(i, ridx):
        if flat_w is not None:
            q = ridx[-1]
            ridx = list(ridx[:-1]) + [q // Const(flat_w), q % Const(flat_w)]
        j, it, rt = [], iter(i), iter(ridx)
        for k in range(r):
            if k in axes:
                j.append(next(rt))
                if keepdims:
                    next(it)
            else:
                j.append(next(it))
        return j

    def fn(i, ridx):
        j = src_index(i, ridx)
        return term(x[j], j)

    return Compute(name, tuple(shape), dtype or x.dtype, fn,
                   Reduction(extents, combiner, init, post))


def _reduce_axes(n):
    x = n.inputs[0]
    axes = None
    if n.input(1) is not None:
        axes = n.const_ints(1, "axes")
    elif n.attr("axes") is not None:
        axes = n.attr("axes")
    if not axes:
        if n.attr("noop_with_empty_axes", 0):
            return []
        return list(range(x.rank))
    return sorted(norm_axis(a, x.rank, n) for a in axes)


def _runtime_axes(n) -> bool:
    """The axes are a tensor known only at run time (the backend node tests feed them as a graph input)."""
    return n.input(1) is not None and n.inputs[1].known_ints() is None


# ---- axes known only at run time. Per input dim k a run-time "reduced" flag picks two run-time dims: the
# output's (1 if reduced else d_k) and the reduction's extent (d_k if reduced else 1), so the input index is
# output index + reduction index on every dim and the reduction reads each input element once. Without
# keepdims the output is the same values (its dims are the kept ones, in order), read through flat indices.
def _runtime_axes_infer(n):
    x, a = n.inputs[0], n.inputs[1]
    if a.rank != 1 or not sym.is_static(a.shape[0]) or int(a.shape[0]) > x.rank:
        raise n.unsupported("run-time axes must be 1-D of a fixed length <= the input's rank")
    m = int(a.shape[0])
    one = [sym.smax(d, 1) for d in x.shape]  # a reduced empty dim gives 1; a kept one makes the extent 1
    for k, d in enumerate(one):
        n.runtime_sym(f"red{k}", bound=d)
    keep = [n.runtime_sym(f"dim{k}", bound=d) for k, d in enumerate(one)]
    if n.attr("keepdims", 1):
        return out(keep, x.dtype)
    r = x.rank

    def bound(j):  # the j-th kept dim is one of dims j .. j + m
        b = x.shape[j]
        for d in x.shape[j + 1:j + m + 1]:
            b = sym.smax(b, d)
        return b

    return out([n.runtime_sym(f"out{j}", bound=bound(j)) for j in range(r - m)], x.dtype)


def _runtime_axes_bind(ctx, n):
    x = n.inputs[0]
    r, m = x.rank, int(n.inputs[1].shape[0])
    red, checks = runtime_axes(ctx, n, 1, r)
    d = [as_expr(x.shape[k]) for k in range(r)]
    defs = [(n.rt[f"red{k}"], select(red[k], d[k], Const(1))) for k in range(r)]
    defs += [(n.rt[f"dim{k}"], select(red[k], Const(1), d[k])) for k in range(r)]
    if not n.attr("keepdims", 1):  # output dim j: the j-th kept input dim
        defs += [(n.rt[f"out{j}"], nth_unflagged(red, x.shape, j)) for j in range(r - m)]
    ctx.bind_dims(n.name, defs, checks)


def _runtime_axes_lower(ctx, n, combiner, term, post_fn):
    _runtime_axes_bind(ctx, n)
    x = ctx.tensor(n.inputs[0])
    r, dt = len(x.shape), x.dtype
    ext = [n.runtime_sym(f"red{k}") for k in range(r)]
    keep = [n.runtime_sym(f"dim{k}") for k in range(r)]
    count = 1
    for e in ext:
        count = sym.mul(count, e)
    init = {"sum": 0, "prod": 1, "max": _lowest(dt), "min": _highest(dt)}[combiner]
    post = (lambda acc, i: _post(post_fn, acc, count, dt)) if post_fn else None
    t = term or (lambda v, j: v)

    def fn(i, ridx):
        j = [i[k] + ridx[k] for k in range(r)]
        return t(x[j], j)

    if n.attr("keepdims", 1):
        return [Compute(n.name, tuple(keep), dt, fn, Reduction(ext, combiner, init, post))]
    res = ctx.materialize(Compute(n.name + "_kept", tuple(keep), dt, fn, Reduction(ext, combiner, init, post)))
    shape = n.out_types[0].shape  # the same values in the same order: read through the flat index
    return [Compute(n.name, tuple(shape), dt, lambda i: res[unravel(ravel(i, shape), keep)])]


def _reduce(name, combiner, term=None, post_fn=None):
    def infer(n):
        if _runtime_axes(n):
            return _runtime_axes_infer(n)
        x = n.inputs[0]
        axes = _reduce_axes(n)
        keep = n.attr("keepdims", 1)
        return out([1 if k in axes else d for k, d in enumerate(x.shape) if keep or k not in axes], x.dtype)

    def lower(ctx, n):
        if _runtime_axes(n):
            return _runtime_axes_lower(ctx, n, combiner, term, post_fn)
        x = ctx.tensor(n.inputs[0])
        axes = _reduce_axes(n)
        dt = x.dtype
        if not axes:
            t = term or (lambda v, j: v)
            return [Compute(n.name, x.shape, dt, lambda i: _post(post_fn, t(x[i], i), 1, dt))]
        init = {"sum": 0, "prod": 1, "max": _lowest(dt), "min": _highest(dt)}[combiner]
        count = 1
        for a in axes:
            count = sym.mul(count, x.shape[a])
        post = (lambda acc, i: _post(post_fn, acc, count, dt)) if post_fn else None
        return [reduce_compute(n.name, x, axes, n.attr("keepdims", 1), combiner, init,
                               term or (lambda v, j: v), post)]

    def symbolic(n):  # a reduced shape vector (torch's numel() as ReduceProd(Shape(x))): its value as a dim
        x = n.inputs[0]
        fold = {"sum": sym.add, "prod": sym.mul, "max": sym.smax, "min": sym.smin}.get(combiner)
        if (fold is None or term or post_fn or x.rank != 1 or _runtime_axes(n) or not x.dtype.startswith("int")
                or _reduce_axes(n) != [0]):
            return None
        vals = x.known_ints()
        if not vals:
            return None
        acc = vals[0]
        for v in vals[1:]:
            acc = fold(acc, v)
        return [[acc]]

    register(name, infer, lower, "reduce", symbolic=symbolic)


def _post(post_fn, acc, count, dt):
    return post_fn(acc, count, dt) if post_fn else acc


_reduce("ReduceSum", "sum")
_reduce("ReduceMean", "sum", post_fn=lambda a, c, dt: a / cast(as_expr(c), dt))
_reduce("ReduceMax", "max")
_reduce("ReduceMin", "min")
_reduce("ReduceProd", "prod")
_reduce("ReduceL1", "sum", term=lambda v, j: select(v < 0, -v, v))
_reduce("ReduceL2", "sum", term=lambda v, j: v * v, post_fn=lambda a, c, dt: call("sqrt", a))
_reduce("ReduceSumSquare", "sum", term=lambda v, j: v * v)
_reduce("ReduceLogSum", "sum", post_fn=lambda a, c, dt: call("log", a))
_reduce("ReduceLogSumExp", "sum", term=lambda v, j: call("exp", v), post_fn=lambda a, c, dt: call("log", a))


# ------------------------------------------------------------------ softmax
def _softmax_axes(n):
    r = n.inputs[0].rank
    if n.opset < 13:
        ax = norm_axis(n.attr("axis", 1), r, n)
        return list(range(ax, r))
    return [norm_axis(n.attr("axis", -1), r, n)]


def _rows_cols(shape):
    rows = 1
    for d in shape[:-1]:
        rows = sym.mul(rows, d)
    return rows, shape[-1]


def _softmax(log):
    def lower(ctx, n):
        axes = _softmax_axes(n)
        v = n.inputs[0]
        if (not log and (ctx.options.get("row_kernels") or ctx.options.get("softmax_kernel"))
                and v.dtype == "float32" and axes == [v.rank - 1] and v.rank >= 1):
            rows, cols = _rows_cols(v.shape)
            Y = ctx.new_buffer(n.name, v.shape, "float32")
            step = kernels.call("sdk_softmax_f32", rows=rows, cols=cols, X=ctx.buffer(v), Y=Y)
            if ctx.options.get("softmax_kernel"):  # the C kernel reads x[c] before it writes y[c] (row by row)
                step.in_place = (("Y", "X"),)
            ctx.lib(step)
            return [Y]
        x = ctx.tensor(n.inputs[0])
        dt = x.dtype
        # a NaN in x makes every exp(x - max) NaN whatever the max, so the max may ignore NaNs (and vectorise)
        m = ctx.materialize(reduce_compute(n.name + "_max", x, axes, True, "fastmax", _lowest(dt)))
        zero = [Const(0)] * len(axes)

        def at(t, i):
            j = list(i)
            for a, z in zip(axes, zero):
                j[a] = z
            return t[j]

        if log:
            s = ctx.materialize(reduce_compute(n.name + "_sum", x, axes, True, "sum", 0,
                                               term=lambda v, j: call("exp", v - at(m, j))))
            return [Compute(n.name, x.shape, dt, lambda i: x[i] - at(m, i) - call("log", at(s, i)))]
        # exp once: e = exp(x - max) in memory, its sum, then e / sum (in place over e)
        e = ctx.materialize(Compute(n.name + "_exp", x.shape, dt, lambda i: call("exp", x[i] - at(m, i))))
        s = ctx.materialize(reduce_compute(n.name + "_sum", e, axes, True, "sum", 0))
        return [Compute(n.name, x.shape, dt, lambda i: e[i] / at(s, i))]

    return lower


def _float_same(n):
    if n.inputs[0].dtype not in F:
        raise n.unsupported(f"dtype {n.inputs[0].dtype}")
    return out(n.inputs[0].shape, n.inputs[0].dtype)


register("Softmax", _float_same, _softmax(False), "opaque")
register("LogSoftmax", _float_same, _softmax(True), "opaque")


# ------------------------------------------------------------------ norms
def _moments(ctx, n, x, axes, eps):
    """Materialised mean and 1/sqrt(var + eps) over ``axes`` (kept dims)."""
    dt = x.dtype
    count = 1
    for a in axes:
        count = sym.mul(count, x.shape[a])
    cnt = cast(as_expr(count), dt)
    mean = ctx.materialize(reduce_compute(n.name + "_mean", x, axes, True, "sum", 0,
                                          post=lambda acc, i: acc / cnt))

    def at(t, i):
        j = list(i)
        for a in axes:
            j[a] = Const(0)
        return t[j]

    inv = ctx.materialize(reduce_compute(
        n.name + "_invstd", x, axes, True, "sum", 0,
        term=lambda v, j: (v - at(mean, j)) * (v - at(mean, j)),
        post=lambda acc, i: Const(1.0, dt) / call("sqrt", acc / cnt + Const(float(eps), dt))))
    return mean, inv, at


def _layernorm_infer(n):
    x = n.inputs[0]
    ax = norm_axis(n.attr("axis", -1), x.rank, n)
    outs = [TensorType(x.shape, x.dtype)]
    stat = tuple(d if k < ax else 1 for k, d in enumerate(x.shape))
    for _ in range(1, n.n_outputs):
        outs.append(TensorType(stat, "float32"))
    return outs


def _layernorm_rows(ctx, n, ax):
    """The layer norm as one sdk_layernorm_f32 call (row_kernels or layernorm_kernel on, last axis, 1-D scale/bias),
    else None."""
    v, s, b = n.inputs[0], n.inputs[1], n.input(2)
    if not ((ctx.options.get("row_kernels") or ctx.options.get("layernorm_kernel")) and v.dtype == "float32"
            and ax == v.rank - 1 and n.n_outputs == 1):
        return None
    for t in (s, b):
        if t is not None and (t.dtype != "float32" or t.rank != 1 or sym.sub(t.shape[0], v.shape[-1]) != 0):
            return None
    rows, cols = _rows_cols(v.shape)
    Y = ctx.new_buffer(n.name, v.shape, "float32")
    step = kernels.call("sdk_layernorm_f32", rows=rows, cols=cols, X=ctx.buffer(v), scale=ctx.buffer(s),
                        bias=ctx.buffer(b) if b is not None else None, eps=float(n.attr("epsilon", 1e-5)), Y=Y)
    if ctx.options.get("layernorm_kernel"):  # the C kernel reads a row whole before it writes it
        step.in_place = (("Y", "X"),)
    ctx.lib(step)
    return [Y]


def _layernorm_lower(ctx, n):
    ax = norm_axis(n.attr("axis", -1), n.inputs[0].rank, n)
    rows = _layernorm_rows(ctx, n, ax)
    if rows is not None:
        return rows
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    axes = list(range(ax, r))
    mean, inv, at = _moments(ctx, n, x, axes, n.attr("epsilon", 1e-5))
    scale = ctx.tensor(n.inputs[1])
    bias = ctx.tensor(n.input(2)) if n.input(2) is not None else None

    def body(i):
        tail = i[len(i) - len(scale.shape):]
        y = (x[i] - at(mean, i)) * at(inv, i) * scale[_bidx(scale, tail)]
        if bias is not None:
            y = y + bias[_bidx(bias, i[len(i) - len(bias.shape):])]
        return y

    outs = [Compute(n.name, x.shape, x.dtype, body)]
    if n.n_outputs > 1:
        outs.append(mean)
    if n.n_outputs > 2:
        outs.append(inv)
    return outs


def _bidx(t, idx):
    return [Const(0) if d == 1 else i for d, i in zip(t.shape, idx)]


register("LayerNormalization", _layernorm_infer, _layernorm_lower, "opaque")


def _instnorm_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    axes = list(range(2, len(x.shape)))
    mean, inv, at = _moments(ctx, n, x, axes, n.attr("epsilon", 1e-5))
    scale, bias = ctx.tensor(n.inputs[1]), ctx.tensor(n.inputs[2])
    return [Compute(n.name, x.shape, x.dtype,
                    lambda i: (x[i] - at(mean, i)) * at(inv, i) * scale[[i[1]]] + bias[[i[1]]])]


def _instnorm_infer(n):
    x = n.inputs[0]
    for k, what in ((1, "scale"), (2, "B")):
        p = n.input(k)
        if x.rank < 3 or p is None or p.rank != 1 or (sym.is_static(p.shape[0]) and sym.is_static(x.shape[1])
                                                     and p.shape[0] != x.shape[1]):
            raise ShapeError(f"InstanceNormalization '{n.name}': needs an input of rank >= 3 and a 1-D {what} with "
                             f"one value per channel (input {x.type}, {what} {p.type if p is not None else 'none'})")
    return _float_same(n)


register("InstanceNormalization", _instnorm_infer, _instnorm_lower, "opaque")


def _rmsnorm_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    axes = list(range(norm_axis(n.attr("axis", -1), r, n), r))
    dt = x.dtype
    count = 1
    for a in axes:
        count = sym.mul(count, x.shape[a])
    cnt = cast(as_expr(count), dt)
    eps = Const(float(n.attr("epsilon", 1e-5)), dt)
    inv = ctx.materialize(reduce_compute(n.name + "_invrms", x, axes, True, "sum", 0, term=lambda v, j: v * v,
                                         post=lambda acc, i: Const(1.0, dt) / call("sqrt", acc / cnt + eps)))
    scale = ctx.tensor(n.inputs[1])

    def body(i):
        j = list(i)
        for a in axes:
            j[a] = Const(0)
        return x[i] * inv[j] * scale[_bidx(scale, i[len(i) - len(scale.shape):])]

    return [Compute(n.name, x.shape, dt, body)]


register("RMSNormalization", _float_same, _rmsnorm_lower, "opaque")


def _groupnorm_lower(ctx, n):
    """Moments over (channels of a group) x spatial, through a [N, G, C/G * spatial] view of x."""
    from .common import unravel
    x = ctx.tensor(n.inputs[0])
    G = n.attr("num_groups")
    N, C = x.shape[0], x.shape[1]
    if not sym.is_static(C) or C % G:
        raise n.unsupported(f"{sym.to_str(C)} channels in {G} groups")
    cg = C // G
    spatial = list(x.shape[2:])
    inner = cg
    for d in spatial:
        inner = sym.mul(inner, d)
    xg = Compute(n.name + "_grouped", (N, G, inner), x.dtype,
                 lambda i: x[[i[0], i[1] * cg + unravel(i[2], [cg] + spatial)[0]] + unravel(i[2], [cg] + spatial)[1:]])
    mean, inv, _ = _moments(ctx, n, xg, [2], n.attr("epsilon", 1e-5))
    scale, bias = ctx.tensor(n.inputs[1]), ctx.tensor(n.inputs[2])
    per_group = not (sym.is_static(scale.shape[0]) and scale.shape[0] == C)  # opset 18: [G]; 21: [C]

    def body(i):
        g = i[1] // cg
        k = [g] if per_group else [i[1]]
        return (x[i] - mean[[i[0], g, Const(0)]]) * inv[[i[0], g, Const(0)]] * scale[k] + bias[k]

    return [Compute(n.name, x.shape, x.dtype, body)]


register("GroupNormalization", _float_same, _groupnorm_lower, "opaque")


def _lpnorm_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    ax = norm_axis(n.attr("axis", -1), len(x.shape), n)
    p = n.attr("p", 2)
    dt = x.dtype
    if p not in (1, 2):
        raise n.unsupported(f"p={p}")
    term = (lambda v, j: select(v < Const(0.0, dt), -v, v)) if p == 1 else (lambda v, j: v * v)
    post = None if p == 1 else (lambda acc, i: call("sqrt", acc))
    norm = ctx.materialize(reduce_compute(n.name + "_norm", x, [ax], True, "sum", 0, term=term, post=post))

    def body(i):
        j = list(i)
        j[ax] = Const(0)
        from ..tir.expr import binop
        return select(binop("==", norm[j], Const(0.0, dt)), Const(0.0, dt), x[i] / norm[j])

    return [Compute(n.name, x.shape, dt, body)]


register("LpNormalization", _float_same, _lpnorm_lower, "opaque")


def _mvn_lower(ctx, n):
    """(x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9), as the op's ONNX function."""
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    axes = sorted(norm_axis(a, r, n) for a in n.attr("axes", [0, 2, 3]))
    dt = x.dtype
    count = 1
    for a in axes:
        count = sym.mul(count, x.shape[a])
    cnt = cast(as_expr(count), dt)
    mean = ctx.materialize(reduce_compute(n.name + "_mean", x, axes, True, "sum", 0, post=lambda acc, i: acc / cnt))
    sq = ctx.materialize(reduce_compute(n.name + "_sq", x, axes, True, "sum", 0, term=lambda v, j: v * v,
                                        post=lambda acc, i: acc / cnt))

    def body(i):
        j = list(i)
        for a in axes:
            j[a] = Const(0)
        m = mean[j]
        return (x[i] - m) / (call("sqrt", sq[j] - m * m) + Const(1e-9, dt))

    return [Compute(n.name, x.shape, dt, body)]


register("MeanVarianceNormalization", _float_same, _mvn_lower, "opaque")


def _lrn_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    size = n.attr("size")
    alpha, beta, bias = n.attr("alpha", 1e-4), n.attr("beta", 0.75), n.attr("bias", 1.0)
    dt = x.dtype
    lo = (size - 1) // 2
    C = as_expr(x.shape[1])

    def term(i, r):
        c = i[1] - lo + r[0]
        j = list(i)
        from ..tir.expr import emax, emin, binop
        j[1] = emin(emax(c, 0), C - 1)
        v = x[j]
        return select(binop("&&", c >= 0, c < C), v * v, Const(0.0, dt))

    sq = ctx.materialize(Compute(n.name + "_sqsum", x.shape, dt, term, Reduction([size], "sum", 0)))
    return [Compute(n.name, x.shape, dt, lambda i: x[i] / call(
        "pow", Const(float(bias), dt) + Const(alpha / size, dt) * sq[i], Const(float(beta), dt)))]


register("LRN", _float_same, _lrn_lower, "opaque")


# ------------------------------------------------------------------ arg max/min
def _arg_infer(n):
    x = n.inputs[0]
    ax = norm_axis(n.attr("axis", 0), x.rank, n)
    keep = n.attr("keepdims", 1)
    return out([1 if k == ax else d for k, d in enumerate(x.shape) if keep or k != ax], "int64")


def _arg_lower(ctx, n):
    """Two passes: the extreme value, then the first (or last) index reaching it."""
    x = ctx.tensor(n.inputs[0])
    ax = norm_axis(n.attr("axis", 0), len(x.shape), n)
    is_max = n.op_type == "ArgMax"
    ext = ctx.materialize(reduce_compute(n.name + "_ext", x, [ax], True, "max" if is_max else "min",
                                         _lowest(x.dtype) if is_max else _highest(x.dtype)))
    last = n.attr("select_last_index", 0)
    D = as_expr(x.shape[ax])

    def term(v, j):
        e = list(j)
        e[ax] = Const(0)
        from ..tir.expr import binop
        hit = binop("==", v, ext[e])
        if x.dtype in ("float32", "float64"):  # the extreme is NaN when the row holds one: the first NaN wins (numpy)
            hit = binop("||", hit, binop("!=", v, v))
        if last:
            return select(hit, j[ax], Const(-1))
        return select(hit, j[ax], D)

    return [reduce_compute(n.name, x, [ax], n.attr("keepdims", 1), "max" if last else "min",
                           -1 if last else _highest("int64"), term=term, dtype="int64")]


register("ArgMax", _arg_infer, _arg_lower, "opaque")
register("ArgMin", _arg_infer, _arg_lower, "opaque")
