"""Index ops: TopK (k constant, symbolic or from a run-time tensor), Hardmax, OneHot, ScatterElements, EyeLike.

TopK ranks each element against its row (O(n^2) per row, no sort state): the element of rank j goes to
output j, ties broken by the lower index as onnx's reference and onnxruntime do."""
from __future__ import annotations

from ..errors import ShapeError
from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, cast, emax, emin, select
from .common import norm_axis, onnx_dtype, out
from .reduce import _highest, _lowest, reduce_compute
from .registry import register


def _or(a, b):
    return binop("||", a, b)


def _and(a, b):
    return binop("&&", a, b)


def _at(i, axis, v):
    j = list(i)
    j[axis] = v
    return j


# ------------------------------------------------------------------ TopK
def _topk_params(n):
    x = n.inputs[0]
    axis = norm_axis(n.attr("axis", -1), x.rank, n)
    if n.opset >= 10 and n.inputs[1].known_ints() is None:  # k from a tensor: a run-time dim <= the axis
        return axis, n.runtime_sym(f"dim{axis}", bound=x.shape[axis])
    k = n.attr("k") if n.opset < 10 else n.const_ints(1, "k")[0]
    if not sym.is_static(k):
        # a symbolic k, e.g. the batch (TorchScript's pack_padded_sequence sorts the lengths with TopK(k = batch))
        if sym.range_of(k)[0] >= 0 and sym.prove_le(k, x.shape[axis]):
            return axis, k
        raise n.unsupported(f"k = {sym.to_str(k)} not provably within the axis ({sym.to_str(x.shape[axis])})")
    if sym.is_static(x.shape[axis]) and not 0 <= k <= x.shape[axis]:
        raise n.unsupported(f"k={k} outside [0, {x.shape[axis]}]")
    return axis, int(k)


def _topk_infer(n):
    x = n.inputs[0]
    axis, k = _topk_params(n)
    shape = tuple(k if a == axis else d for a, d in enumerate(x.shape))
    return [TensorType(shape, x.dtype), TensorType(shape, "int64")]


def _topk_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    axis, k = _topk_params(n)
    if f"dim{axis}" in n.rt:  # bind the run-time k (checked against the axis) before the kernels use it
        kt = ctx.tensor(n.inputs[1])
        ctx.bind_dims(n.name, [(n.rt[f"dim{axis}"], cast(kt[[0] * n.inputs[1].rank], "int64"))])
    largest = n.attr("largest", 1)
    D = x.shape[axis]

    def before(i, r):  # element r of i's row comes before element i[axis]
        a, b = x[_at(i, axis, r[0])], x[i]
        wins = binop(">" if largest else "<", a, b)
        return select(_or(wins, _and(binop("==", a, b), r[0] < i[axis])), Const(1), Const(0))

    rank = ctx.materialize(Compute(n.name + "_rank", x.shape, "int64", before, Reduction([D], "sum", 0)))
    shape = n.out_types[0].shape
    idx = ctx.materialize(Compute(n.name + "_indices", shape, "int64",
                                  lambda i, r: select(binop("==", rank[_at(i, axis, r[0])], i[axis]), r[0], Const(0)),
                                  Reduction([D], "sum", 0)))
    vals = Compute(n.name, shape, x.dtype, lambda i: x[_at(i, axis, emin(emax(idx[i], 0), as_expr(D) - 1))])
    return [vals, idx]


register("TopK", _topk_infer, _topk_lower, "opaque")


# ------------------------------------------------------------------ Hardmax
def _hardmax_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    # opsets 1-12: the input as 2-D [prod(dims before axis), prod(dims from axis)] (axis 1 by default)
    axes = list(range(norm_axis(n.attr("axis", 1), r, n), r)) if n.opset < 13 else [norm_axis(n.attr("axis", -1), r, n)]
    dt = x.dtype

    def at0(j):
        return [Const(0) if a in axes else j[a] for a in range(r)]

    def flat(j):  # row-major position over the reduced axes
        f = j[axes[0]]
        for a in axes[1:]:
            f = f * as_expr(x.shape[a]) + j[a]
        return f

    size = 1
    for a in axes:
        size = sym.mul(size, x.shape[a])
    m = ctx.materialize(reduce_compute(n.name + "_max", x, axes, True, "max", _lowest(dt)))
    first = ctx.materialize(reduce_compute(
        n.name + "_first", x, axes, True, "min", _highest("int64"), dtype="int64",
        term=lambda v, j: select(binop("==", v, m[at0(j)]), flat(j), as_expr(size))))
    return [Compute(n.name, x.shape, dt, lambda i: select(binop("==", first[at0(i)], flat(i)),
                                                          Const(1.0, dt), Const(0.0, dt)))]


register("Hardmax", lambda n: out(n.inputs[0].shape, n.inputs[0].dtype), _hardmax_lower, "opaque")


# ------------------------------------------------------------------ OneHot
def _onehot_params(n):
    ind = n.inputs[0]
    d = n.input(1)
    axis = norm_axis(n.attr("axis", -1), ind.rank + 1, n)
    known = d.known_ints() if d.const is None else None
    if known is not None and len(known) == 1 and sym.range_of(known[0])[0] >= 0:
        return known[0], axis  # a dim made from the input's dims (LongT5's seq // 4 + 1 global blocks)
    if d.const is None:  # depth known at run time: a run-time dim, bounded by the user (--dim)
        if d.type.numel() != 1:
            raise n.unsupported("depth must hold one value")
        return n.runtime_sym(f"dim{axis}"), axis
    return int(d.const.reshape(-1)[0]), axis


def _onehot_infer(n):
    depth, axis = _onehot_params(n)
    shape = list(n.inputs[0].shape)
    shape.insert(axis, depth)
    return out(shape, n.inputs[2].dtype)


def _onehot_lower(ctx, n):
    ind, vals = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[2])
    depth, axis = _onehot_params(n)
    idt = ind.dtype
    if f"dim{axis}" in n.rt:
        dv = ctx.tensor(n.inputs[1])
        ctx.bind_dims(n.name, [(n.rt[f"dim{axis}"], cast(dv[[0] * n.inputs[1].rank], "int64"))])
    depth = as_expr(depth)

    def body(i):
        j = list(i[:axis]) + list(i[axis + 1:])
        v = ind[j]
        if idt.startswith("float") or idt.startswith("bfloat"):
            v = cast(v, "int64")  # onnx's reference truncates float indices
        v = cast(v, "int64")
        v = select(v < 0, v + depth, v)
        return select(binop("==", v, i[axis]), vals[[Const(1)]], vals[[Const(0)]])

    return [Compute(n.name, n.out_types[0].shape, vals.dtype, body)]


register("OneHot", _onehot_infer, _onehot_lower)


# ------------------------------------------------------------------ ScatterElements
def _scatter_lower(ctx, n):
    """out[i] = data[i] combined with every update whose index along the axis is i[axis] (the same position
    in the other axes): one reduction over the indices' extent along the axis."""
    data, ind, upd = (ctx.tensor(v) for v in n.inputs[:3])
    r = len(data.shape)
    axis = norm_axis(n.attr("axis", 0), r, n)
    mode = n.attr("reduction", "none")
    dt = data.dtype
    E = ind.shape[axis]

    def pos(i, rr):  # the update position for output i and reduction step rr, clamped, and whether it exists
        j, inside = [], None
        for a in range(r):
            if a == axis:
                j.append(rr)
                continue
            ok = i[a] < as_expr(ind.shape[a])
            inside = ok if inside is None else _and(inside, ok)
            j.append(emin(i[a], as_expr(ind.shape[a]) - 1))
        k = cast(ind[j], "int64")
        k = select(k < 0, k + as_expr(data.shape[axis]), k)
        hit = binop("==", k, i[axis])
        return j, hit if inside is None else _and(inside, hit)

    if mode == "none":  # the last update wins
        last = ctx.materialize(Compute(n.name + "_last", data.shape, "int64",
                                       lambda i, rr: select(pos(i, rr[0])[1], rr[0], Const(-1)),
                                       Reduction([E], "max", -1)))

        def body(i):
            j, _ = pos(i, emax(last[i], 0))
            return select(last[i] >= 0, upd[j], data[i])
        return [Compute(n.name, data.shape, dt, body)]
    comb, init = {"add": ("sum", 0), "mul": ("prod", 1), "max": ("max", _lowest(dt)),
                  "min": ("min", _highest(dt))}[mode]

    def term(i, rr):
        j, hit = pos(i, rr[0])
        return select(hit, upd[j], Const(init, dt))

    acc = ctx.materialize(Compute(n.name + "_acc", data.shape, dt, term, Reduction([E], comb, init)))
    if mode == "add":
        return [Compute(n.name, data.shape, dt, lambda i: data[i] + acc[i])]
    if mode == "mul":
        return [Compute(n.name, data.shape, dt, lambda i: data[i] * acc[i])]
    op = ">" if mode == "max" else "<"
    return [Compute(n.name, data.shape, dt, lambda i: select(binop(op, acc[i], data[i]), acc[i], data[i]))]


def _scatter_infer(n):
    if n.attr("reduction", "none") not in ("none", "add", "mul", "max", "min"):
        raise n.unsupported(f"reduction {n.attr('reduction')}")
    if len(n.inputs) < 3 or any(v is None or len(v.shape) != len(n.inputs[0].shape) for v in n.inputs[1:3]):
        raise ShapeError(f"{n.op_type} '{n.name}': data, indices and updates must have the same rank")  # fuzz finding
    return out(n.inputs[0].shape, n.inputs[0].dtype)


register("ScatterElements", _scatter_infer, _scatter_lower, "opaque")
register("Scatter", _scatter_infer, _scatter_lower, "opaque")


# ------------------------------------------------------------------ EyeLike
def _eyelike_infer(n):
    x = n.inputs[0]
    if x.rank != 2:
        raise n.unsupported(f"rank {x.rank} input")
    dt = onnx_dtype(n.attr("dtype")) if n.attr("dtype") is not None else x.dtype
    return out(x.shape, dt)


def _eyelike_lower(ctx, n):
    dt = n.out_types[0].dtype
    k = n.attr("k", 0)
    one = Const(1.0, dt) if dt.startswith("float") or dt == "bfloat16" else Const(1, dt)
    zero = Const(0.0, dt) if dt.startswith("float") or dt == "bfloat16" else Const(0, dt)
    return [Compute(n.name, n.out_types[0].shape, dt, lambda i: select(binop("==", i[1] - i[0], k), one, zero))]


register("EyeLike", _eyelike_infer, _eyelike_lower)


# ------------------------------------------------------------------ ReverseSequence
def _revseq_lower(ctx, n):
    """Each batch entry's first seq_lens[b] steps reversed; the rest copied."""
    x, lens = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    ta, ba = n.attr("time_axis", 0), n.attr("batch_axis", 1)
    T = as_expr(x.shape[ta])

    def body(i):
        k = emin(emax(cast(lens[[i[ba]]], "int64"), 0), T)
        return x[_at(i, ta, select(i[ta] < k, k - 1 - i[ta], i[ta]))]

    return [Compute(n.name, x.shape, x.dtype, body)]


def _revseq_infer(n):
    x, lens = n.inputs[0], n.input(1)
    ta, ba = n.attr("time_axis", 0), n.attr("batch_axis", 1)
    if lens is None or x.rank < 2 or {ta, ba} != {0, 1} or lens.rank != 1 or lens.dtype not in ("int32", "int64"):
        raise ShapeError(f"ReverseSequence '{n.name}': needs an input of rank >= 2, time_axis/batch_axis 0 and 1 "
                         f"(got {ta}, {ba}) and a 1-D int sequence_lens (got {lens.type if lens else 'none'})")
    if sym.is_static(lens.shape[0]) and sym.is_static(x.shape[ba]) and lens.shape[0] != x.shape[ba]:
        raise ShapeError(f"ReverseSequence '{n.name}': {lens.shape[0]} sequence_lens for a batch of {x.shape[ba]}")
    return out(x.shape, x.dtype)


register("ReverseSequence", _revseq_infer, _revseq_lower)


# ------------------------------------------------------------------ TensorScatter (KV cache update)
def _tscatter_lower(ctx, n):
    """past_cache with update written at write_indices[b] along axis (mod the cache length in circular mode)."""
    past, upd = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    wi = ctx.tensor(n.input(2)) if n.input(2) is not None else None
    r = len(past.shape)
    axis = norm_axis(n.attr("axis", -2), r, n)
    M, L = as_expr(past.shape[axis]), as_expr(upd.shape[axis])
    circular = n.attr("mode", "linear") == "circular"
    if n.attr("mode", "linear") not in ("linear", "circular"):
        raise n.unsupported(f"mode {n.attr('mode')}")

    def body(i):
        w = cast(wi[[i[0]]], "int64") if wi is not None else Const(0)
        j = i[axis] - w
        if circular:
            j = ((j % M) + M) % M
        hit = _and(j >= 0, j < L)
        return select(hit, upd[_at(i, axis, emin(emax(j, 0), L - 1))], past[i])

    return [Compute(n.name, past.shape, past.dtype, body)]


register("TensorScatter", lambda n: out(n.inputs[0].shape, n.inputs[0].dtype), _tscatter_lower)
