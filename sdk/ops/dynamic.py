"""Ops whose output shape depends on tensor values: each defines run-time symbols (Relax's match_cast).

The shape rule asks the node for a run-time symbol with an inferred upper bound (``n.runtime_sym``); the
lowering computes its value from the data into a small int64 temp, binds it (``ctx.bind_dims``: checked
against the bound, SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS otherwise) and only then runs the kernels that use it.
"""
from __future__ import annotations

from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import (Assign, Compute, Const, For, IfThen, Kernel, Let, Load, Reduction, Seq, Store, Var,
                        as_expr, binop, cast, emin, select)
from .common import norm_axis, out, unravel
from .registry import register


def count_into_symbol(ctx, n, role, pred, extent):
    """Materialise ``sum(pred(r) for r < extent)`` and bind it to the node's run-time symbol ``role``."""
    cnt = ctx.materialize(Compute(n.name + "_count", (), "int64",
                                  lambda i, r: cast(pred(r[0]), "int64"), Reduction([extent], "sum", 0)))
    name = n.rt[role]
    ctx.bind_dims(n.name, [(name, Load(cnt, [Const(0)], "int64"))])
    return sym.var(name, lo=0)


# ---------------------------------------------------------------- NonZero
def _nonzero_infer(n):
    x = n.inputs[0]
    return out((x.rank, n.runtime_sym("dim1", bound=x.type.numel())), "int64")


def _nonzero_lower(ctx, n):
    x = ctx.buffer(n.inputs[0])  # read twice: count, then compact
    numel = n.inputs[0].type.numel()
    nz = count_into_symbol(ctx, n, "dim1", lambda r: binop("!=", x[unravel(r, x.shape)], 0), numel)
    y = ctx.new_buffer(n.name, n.out_types[0].shape, "int64")
    i, k = Var("i0", "int64"), Var("pos", "int64")
    idx = unravel(i, x.shape) if x.shape else []
    hit = binop("&&", binop("!=", Load(x, idx, x.dtype), 0), binop("<", k, as_expr(nz)))  # k < nz: never past y
    write = Seq([Store(y, [Const(a), k], as_expr(e)) for a, e in enumerate(idx)] + [Assign(k, k + 1)])
    # sequential on purpose (a running position), so the body starts with a Let, not a parallel loop
    body = Seq([Let(k, Const(0)), For(i, as_expr(numel), IfThen(hit, write))])
    ctx.kernel(Kernel("k_" + n.name, body, [x], [y]))
    return [y]


register("NonZero", _nonzero_infer, _nonzero_lower, "opaque")


# ---------------------------------------------------------------- shapes given as run-time tensors
def runtime_shape(n, i, bound=lambda k: None, prefix="dim"):
    """Dims of a 1-D int tensor input ``i``: its compile-time values, else one run-time symbol per element
    (``{output}_{prefix}{k}``, bound ``bound(k)``: an inferred bound or None = the user gives one)."""
    v = n.input(i)
    vals = v.known_ints()
    if vals is not None:
        return list(vals), False
    if v.rank != 1 or not sym.is_static(v.shape[0]):
        raise n.unsupported(f"input {i} (a run-time shape) must be 1-D of a fixed length")
    return [n.runtime_sym(f"{prefix}{k}", bound=bound(k)) for k in range(v.shape[0])], True


def bind_runtime_shape(ctx, n, i, prefix="dim", value=lambda k, e: e):
    """Bind the run-time symbols of ``runtime_shape``: element k of input ``i`` (through ``value``)."""
    buf = ctx.buffer(n.inputs[i])
    defs = [(n.rt[f"{prefix}{k}"], value(k, cast(Load(buf, [Const(k)], buf.dtype), "int64")))
            for k in range(n.inputs[i].shape[0])]
    ctx.bind_dims(n.name, defs)


# ---------------------------------------------------------------- NonMaxSuppression
def _nms_cap(n):
    """Upper bound of the selected rows: batches * classes * min(max_output_boxes_per_class, boxes)."""
    boxes, scores = n.inputs[0], n.inputs[1]
    B, C, N = scores.shape
    per = N
    m = n.input(2)
    if m is None:
        per = 0
    elif m.known_ints() is not None:
        per = sym.smin(max(int(m.known_ints()[0]), 0), N)
    return sym.mul(sym.mul(B, C), per)


def _nms_infer(n):
    if n.inputs[0].dtype != "float32" or n.inputs[1].dtype != "float32":
        raise n.unsupported("boxes and scores must be float32")
    return out((n.runtime_sym("dim0", bound=_nms_cap(n)), 3), "int64")


def _nms_lower(ctx, n):
    from .. import kernels
    from ..tir.expr import Buffer
    boxes, scores = ctx.buffer(n.inputs[0]), ctx.buffer(n.inputs[1])
    B, C, N = n.inputs[1].shape
    cap = _nms_cap(n)
    max_out, iou_thr, score_thr = (ctx.buffer(n.inputs[k]) if n.input(k) is not None else None for k in (2, 3, 4))
    alive = ctx.new_buffer(n.name + "_alive", (N,), "uint8")
    full = ctx.new_buffer(n.name + "_rows", (cap, 3), "int64")
    count = ctx.new_buffer(n.name + "_count", (1,), "int64")
    ctx.lib(kernels.call("sdk_nms_f32", boxes=boxes, scores=scores, B=B, C=C, N=N, max_out=max_out, iou_thr=iou_thr,
                         score_thr=score_thr, center_point_box=int(n.attr("center_point_box", 0)), alive=alive,
                         selected=full, cap=cap, count=count))
    ctx.bind_dims(n.name, [(n.rt["dim0"], Load(count, [Const(0)], "int64"))])
    rows = Buffer(ctx._uniq("v_" + n.name), n.out_types[0].shape, "int64")  # the first rows: a prefix view
    ctx.prog.alias[id(rows)] = full
    return [rows]


register("NonMaxSuppression", _nms_infer, _nms_lower, "opaque")


# ---------------------------------------------------------------- Unique (flattened, or slices along an axis)
def _unique_infer(n):
    x = n.inputs[0]
    if n.attr("axis") is not None:
        a = norm_axis(n.attr("axis"), x.rank, n)
        A = x.shape[a]
        u = n.runtime_sym(f"dim{a}", bound=A)
        y = tuple(u if k == a else d for k, d in enumerate(x.shape))
        return [TensorType(y, x.dtype), TensorType((u,), "int64"), TensorType((A,), "int64"),
                TensorType((u,), "int64")][:n.n_outputs]
    N = x.type.numel()
    u = n.runtime_sym("dim0", bound=N)
    return [TensorType((u,), x.dtype), TensorType((u,), "int64"), TensorType((N,), "int64"),
            TensorType((u,), "int64")][:n.n_outputs]


def _unique_axis_lower(ctx, n):
    """Unique slices along ``axis``, as the flattened form but comparing whole slices: firstdiff[i, j] = the first
    position (row-major over the other axes) where slices i and j differ (M: none); sorted order is lexicographic
    there (numpy's np.unique with an axis)."""
    xb = ctx.buffer(n.inputs[0])
    a = norm_axis(n.attr("axis"), len(xb.shape), n)
    A = xb.shape[a]
    rest = [d for k, d in enumerate(xb.shape) if k != a]
    M = 1
    for d in rest:
        M = sym.mul(M, d)

    def at(i, m):  # element m of slice i
        r = unravel(m, rest) if rest else []
        return xb[r[:a] + [i] + r[a:]]

    one, zero = Const(1), Const(0)
    fd = ctx.materialize(Compute(n.name + "_firstdiff", (A, A), "int64", lambda i, r: select(
        binop("!=", at(i[0], r[0]), at(i[1], r[0])), r[0], as_expr(M)), Reduction([M], "min", 2 ** 62)))

    def same(i, j):
        return binop("==", fd[[i, j]], as_expr(M))

    fidx = ctx.materialize(Compute(n.name + "_first", (A,), "int64",
                                   lambda i, r: select(same(r[0], i[0]), r[0], as_expr(A)),
                                   Reduction([A], "min", 2 ** 62)))

    def first(j):
        return binop("==", fidx[[j]], j)

    if n.attr("sorted", 1):
        def before(i, j):  # slice j sorts before slice i
            d = fd[[j, i]]
            dd = emin(d, as_expr(M) - 1)
            return binop("&&", binop("<", d, as_expr(M)), binop("<", at(j, dd), at(i, dd)))
    else:
        def before(i, j):
            return binop("<", j, fidx[[i]])
    pos = ctx.materialize(Compute(n.name + "_pos", (A,), "int64",
                                  lambda i, r: select(binop("&&", first(r[0]), before(i[0], r[0])), one, zero),
                                  Reduction([A], "sum", 0)))
    u = count_into_symbol(ctx, n, f"dim{a}", lambda r: first(r), A)
    yshape = tuple(u if k == a else d for k, d in enumerate(xb.shape))
    dt = xb.dtype

    def pick(p, r, value, vdt):
        return select(binop("&&", first(r), binop("==", pos[[r]], p)), value, Const(0, vdt))
    values = Compute(n.name + "_values", yshape, dt, lambda i, r: pick(
        i[a], r[0], xb[list(i[:a]) + [r[0]] + list(i[a + 1:])], dt), Reduction([A], "sum", 0))
    outs = [values,
            Compute(n.name + "_indices", (u,), "int64", lambda p, r: pick(p[0], r[0], r[0], "int64"),
                    Reduction([A], "sum", 0)),
            Compute(n.name + "_inverse", (A,), "int64", lambda i: pos[[i[0]]]),
            Compute(n.name + "_counts", (u,), "int64", lambda p, r: select(binop("==", pos[[r[0]]], p[0]), one, zero),
                    Reduction([A], "sum", 0))]
    return outs[:n.n_outputs]


def _unique_lower(ctx, n):
    """O(numel^2) and sort-free: first[i] = x[i] occurs first at i; pos[i] = its slot in Y (the number of
    distinct smaller values, or of distinct values seen earlier when sorted=0); Y and friends gather by pos."""
    if n.attr("axis") is not None:
        return _unique_axis_lower(ctx, n)
    xb = ctx.buffer(n.inputs[0])
    N = n.inputs[0].type.numel()
    flat = (lambda i: xb[unravel(i, xb.shape)]) if xb.shape else (lambda i: xb[[]])
    one, zero = Const(1), Const(0)
    fidx = ctx.materialize(Compute(n.name + "_first", (N,), "int64",
                                   lambda i, r: select(binop("==", flat(r[0]), flat(i[0])), r[0], as_expr(N)),
                                   Reduction([N], "min", 2 ** 62)))

    def first(j):
        return binop("==", fidx[[j]], j)

    if n.attr("sorted", 1):
        before = lambda i, j: binop("<", flat(j), flat(i))
    else:
        before = lambda i, j: binop("<", j, fidx[[i]])
    pos = ctx.materialize(Compute(n.name + "_pos", (N,), "int64",
                                  lambda i, r: select(binop("&&", first(r[0]), before(i[0], r[0])), one, zero),
                                  Reduction([N], "sum", 0)))
    u = count_into_symbol(ctx, n, "dim0", lambda r: first(r), N)

    def gather(name, dt, value):  # the one first occurrence whose slot is p
        return Compute(f"{n.name}_{name}", (u,), dt, lambda p, r: select(
            binop("&&", first(r[0]), binop("==", pos[[r[0]]], p[0])), value(r[0]), Const(0, dt)),
            Reduction([N], "sum", 0))
    outs = [gather("values", xb.dtype, flat), gather("indices", "int64", lambda i: i),
            Compute(n.name + "_inverse", (N,), "int64", lambda i: pos[[i[0]]]),
            Compute(n.name + "_counts", (u,), "int64", lambda p, r: select(binop("==", pos[[r[0]]], p[0]), one, zero),
                    Reduction([N], "sum", 0))]
    return outs[:n.n_outputs]


register("Unique", _unique_infer, _unique_lower, "opaque")


# ---------------------------------------------------------------- Compress
def _compress_geom(n):
    x, c = n.inputs[0], n.inputs[1]
    axis = n.attr("axis")
    if axis is not None:
        axis = axis + x.rank if axis < 0 else axis
    d = x.type.numel() if axis is None else x.shape[axis]
    length = sym.smin(c.shape[0], d) if not (sym.is_static(c.shape[0]) and sym.is_static(d)) else min(c.shape[0], d)
    return axis, d, length


def _compress_infer(n):
    x = n.inputs[0]
    axis, d, _ = _compress_geom(n)
    k = n.runtime_sym("dim0" if axis is None else f"dim{axis}", bound=d)
    shape = (k,) if axis is None else tuple(k if a == axis else s for a, s in enumerate(x.shape))
    return out(shape, x.dtype)


def _compress_lower(ctx, n):
    """Indices of the true conditions (a sequential compaction into an int64 temp), then a gather."""
    x = ctx.tensor(n.inputs[0])
    cb = ctx.buffer(n.inputs[1])
    axis, d, length = _compress_geom(n)
    role = "dim0" if axis is None else f"dim{axis}"
    k = count_into_symbol(ctx, n, role, lambda r: binop("!=", cb[[r]], 0), length)
    sel = ctx.new_buffer(n.name + "_selected", (d,), "int64")
    j, pos = Var("i0", "int64"), Var("pos", "int64")
    hit = binop("&&", binop("!=", Load(cb, [j], cb.dtype), 0), binop("<", pos, as_expr(k)))
    body = Seq([Let(pos, Const(0)), For(j, as_expr(length), IfThen(hit, Seq([Store(sel, [pos], j),
                                                                              Assign(pos, pos + 1)])))])
    ctx.kernel(Kernel("k_" + n.name + "_select", body, [cb], [sel]))
    shape = n.out_types[0].shape
    if axis is None:
        return [Compute(n.name, shape, x.dtype, lambda i: x[unravel(sel[[i[0]]], x.shape)] if x.shape else x[[]])]
    return [Compute(n.name, shape, x.dtype,
                    lambda i: x[list(i[:axis]) + [sel[[i[axis]]]] + list(i[axis + 1:])])]


register("Compress", _compress_infer, _compress_lower, "opaque")
