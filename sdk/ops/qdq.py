"""ONNX QuantizeLinear / DequantizeLinear: per-tensor, per-axis and blocked scales, for 8- and 16-bit integers and
the low-bit types (int4 / uint4 / int2 / uint2, float8, float4: their bytes read and written by ``lowbit.py``), e.g.
the 4-bit weights with blocked scales that onnxruntime's quantizer writes in QDQ form."""
from __future__ import annotations

import numpy as np

from ..ir import sym
from ..ir.dtypes import INTS, LOWBIT, LOWBIT_FLOATS, LOWBIT_INTS
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, call, cast, emax, emin, select
from .common import norm_axis, onnx_dtype, out
from .lowbit import INT_BITS, float_byte, value_of, int_byte
from .registry import register


def _scale_reader(n, t, x_rank):
    """scale/zero point at output index i: scalar, per-axis (1-D) or blocked (same rank as x)."""
    if t is None:
        return None
    rank = len(t.shape)
    if rank == 0 or (rank == 1 and t.shape[0] == 1):
        return lambda i: t[[0] * rank]
    axis = norm_axis(n.attr("axis", 1), x_rank, n)
    if rank == 1:
        return lambda i: t[[i[axis]]]
    block = n.attr("block_size", 0)
    if not block:
        raise n.unsupported("a scale of the input's rank needs block_size")
    return lambda i: t[[i[k] // block if k == axis else i[k] for k in range(x_rank)]]


def _q_dtype(n):
    zp = n.input(2)
    if zp is not None:
        return zp.dtype
    if n.attr("output_dtype"):
        return onnx_dtype(n.attr("output_dtype"))
    return "uint8"


def _q_infer(n):
    dt = _q_dtype(n)
    if dt not in INTS + LOWBIT or dt == "float8_e8m0fnu":
        raise n.unsupported(f"dtype {dt}")
    return out(n.inputs[0].shape, dt)


def _int_range(dt):
    if dt in LOWBIT_INTS:
        bits, signed = INT_BITS[dt]
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    info = np.iinfo(np.dtype(dt))
    return int(info.min), int(info.max)


def _q_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    sc = _scale_reader(n, ctx.tensor(n.inputs[1]), r)
    zp = _scale_reader(n, ctx.tensor(n.input(2)) if n.input(2) is not None else None, r)
    dt = n.out_types[0].dtype
    zdt = n.input(2).dtype if n.input(2) is not None else None
    ft = "float64" if x.dtype == "float64" else "float32"
    saturate = bool(n.attr("saturate", 1))

    def zero(i):
        return value_of(zp(i), zdt) if zdt in LOWBIT else zp(i)

    def body(i):
        v = cast(x[i], ft) / cast(sc(i), ft)
        if dt in LOWBIT_FLOATS:  # as the reference: float8 zero points are 0 and ignored; float4's is added
            if zp is not None and dt == "float4_e2m1fn":
                v = v + cast(zero(i), ft)
            return float_byte(cast(v, "float32"), dt, saturate)
        v = call("rint", v)  # round half to even
        if zp is not None:
            v = v + cast(zero(i), ft)
        lo, hi = _int_range(dt)
        v = emin(emax(v, Const(float(lo), ft)), Const(float(hi), ft))
        return int_byte(cast(v, "int32"), dt) if dt in LOWBIT_INTS else cast(v, dt)

    return [Compute(n.name, x.shape, dt, body)]


def _dq_infer(n):
    x = n.inputs[0]
    if x.dtype not in INTS + LOWBIT or x.dtype == "float8_e8m0fnu":
        raise n.unsupported(f"dtype {x.dtype}")
    return out(x.shape, onnx_dtype(n.attr("output_dtype")) if n.attr("output_dtype") else n.inputs[1].dtype)


def _dq_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    sc = _scale_reader(n, ctx.tensor(n.inputs[1]), r)
    zp = _scale_reader(n, ctx.tensor(n.input(2)) if n.input(2) is not None else None, r)
    dt = n.out_types[0].dtype
    src = n.inputs[0].dtype
    ft = "float64" if dt == "float64" else "float32"

    def body(i):
        if src in LOWBIT_FLOATS:  # float8 / float4 zero points are ignored, as the reference does
            return cast(cast(value_of(x[i], src), ft) * cast(sc(i), ft), dt)
        v = cast(value_of(x[i], src) if src in LOWBIT else x[i], "int64")
        if zp is not None:
            v = v - cast(value_of(zp(i), src) if src in LOWBIT else zp(i), "int64")
        return cast(cast(v, ft) * cast(sc(i), ft), dt)

    return [Compute(n.name, x.shape, dt, body)]


register("QuantizeLinear", _q_infer, _q_lower)
register("DequantizeLinear", _dq_infer, _dq_lower)


# ------------------------------------------------------------------ integer matmuls
def _int_matmul(ctx, n, a_v, b_v, azp_v, bzp_v):
    """int32 sum of (a - a_zero_point) * (b - b_zero_point), numpy matmul broadcasting; a zero point is a scalar,
    or per row of a (1-D [M]) / per column of b (1-D [N])."""
    from .nn import _bcast_batch, _matmul_shapes
    sa, sb, batch, shape = _matmul_shapes(a_v.shape, b_v.shape, n.name)
    if len(a_v.shape) < 2 or len(b_v.shape) < 2:
        raise n.unsupported("1-D operands")
    for zv, along in ((azp_v, a_v.shape[-2]), (bzp_v, b_v.shape[-1])):  # found by bench/fuzz.py (assertion)
        if zv is not None and (len(zv.shape) > 1 or (len(zv.shape) == 1 and isinstance(zv.shape[0], int)
                                                     and isinstance(along, int) and zv.shape[0] not in (1, along))):
            raise n.unsupported(f"zero point of shape {list(zv.shape)} (a scalar, or 1-D per row of A / column of B)")
    A, B = ctx.tensor(a_v), ctx.tensor(b_v)
    azp = ctx.tensor(azp_v) if azp_v is not None else None
    bzp = ctx.tensor(bzp_v) if bzp_v is not None else None
    r = len(batch)

    def zp(t, k):
        if t is None:
            return Const(0, "int32")
        if len(t.shape) == 0 or (len(t.shape) == 1 and t.shape[0] == 1):
            return cast(t[[0] * len(t.shape)], "int32")
        return cast(t[[k]], "int32")

    def fn(i, kk):
        bi = list(i[:r])
        av = cast(A[_bcast_batch(bi, a_v.shape[:-2], batch) + [i[r], kk[0]]], "int32") - zp(azp, i[r])
        bv = cast(B[_bcast_batch(bi, b_v.shape[:-2], batch) + [kk[0], i[r + 1]]], "int32") - zp(bzp, i[r + 1])
        return av * bv

    return Compute(n.name + "_acc", tuple(shape), "int32", fn, Reduction([sa[-1]], "sum", 0)), shape


def _mmi_infer(n):
    from .nn import _matmul_shapes
    return out(_matmul_shapes(n.inputs[0].shape, n.inputs[1].shape, n.name)[3], "int32")


def _mmi_lower(ctx, n):
    c, _ = _int_matmul(ctx, n, n.inputs[0], n.inputs[1], n.input(2), n.input(3))
    return [Compute(n.name, c.shape, "int32", c.fn, c.reduce)]


register("MatMulInteger", _mmi_infer, _mmi_lower, "opaque")


def _qlmm_infer(n):
    from .nn import _matmul_shapes
    a, b = n.inputs[0].shape, n.inputs[3].shape
    for k, along, what in ((1, a[-2] if len(a) >= 2 else 1, "row of A"), (4, b[-1] if len(b) >= 2 else 1, "column of B"),
                           (6, a[-2] if len(a) >= 2 else 1, "row of A")):
        t = n.inputs[k].shape
        if len(t) > 1 or (len(t) == 1 and not (t[0] == 1 or sym.same_dim(t[0], along))):
            raise n.unsupported(f"scale of shape {list(t)} (a scalar, or 1-D per {what})")
    dt = n.input(7).dtype if n.input(7) is not None else n.inputs[0].dtype
    if dt not in INTS:
        raise n.unsupported(f"dtype {dt}")
    return out(_matmul_shapes(n.inputs[0].shape, n.inputs[3].shape, n.name)[3], dt)


def _qlmm_lower(ctx, n):
    """rint(int32 product * (a_scale * b_scale / y_scale)) + y_zero_point, saturated, as onnx's reference."""
    c, shape = _int_matmul(ctx, n, n.inputs[0], n.inputs[3], n.input(2), n.input(5))
    acc = ctx.materialize(c)
    sa, sb, sy = (ctx.tensor(n.inputs[k]) for k in (1, 4, 6))
    yzp = ctx.tensor(n.input(7)) if n.input(7) is not None else None
    dt = n.out_types[0].dtype
    info = np.iinfo(np.dtype(dt))

    r = len(shape) - 2

    def s(t, k):  # a scalar, or 1-D: per row (a, y) or per column (b) of the product
        if len(t.shape) == 0 or t.shape[0] == 1:
            return cast(t[[0] * len(t.shape)], "float32")
        return cast(t[[k]], "float32")

    def body(i):
        m = cast(s(sa, i[r]) * s(sb, i[r + 1]) / s(sy, i[r]), "float64")
        v = call("rint", cast(acc[i], "float64") * m)
        if yzp is not None:
            v = v + cast(yzp[[0] * len(yzp.shape)], "float64")
        return cast(emin(emax(v, Const(float(info.min), "float64")), Const(float(info.max), "float64")), dt)

    return [Compute(n.name, tuple(shape), dt, body)]


register("QLinearMatMul", _qlmm_infer, _qlmm_lower, "opaque")


# ------------------------------------------------------------------ DynamicQuantizeLinear
def _dql_infer(n):
    x = n.inputs[0]
    return [TensorType(x.shape, "uint8"), TensorType((), x.dtype), TensorType((), "uint8")][:n.n_outputs]


def _dql_lower(ctx, n):
    """uint8 with scale (max(0, max x) - min(0, min x)) / 255 and zero point rint(clamp(-min / scale)), as the
    reference."""
    from .reduce import _highest, _lowest, reduce_compute
    x = ctx.tensor(n.inputs[0])
    dt = x.dtype
    axes = list(range(len(x.shape)))
    hi = ctx.materialize(reduce_compute(n.name + "_max", x, axes, False, "max", _lowest(dt)))
    lo = ctx.materialize(reduce_compute(n.name + "_min", x, axes, False, "min", _highest(dt)))
    f = lambda v: Const(float(v), "float32")  # noqa: E731

    def scale(_=None):
        mx, mn = emax(cast(hi[[]], "float32"), f(0)), emin(cast(lo[[]], "float32"), f(0))
        return select(binop("==", mx, mn), f(1), mx - mn) / f(255)

    sc = ctx.materialize(Compute(n.name + "_scale", (), "float32", lambda i: scale()))

    def zp(_=None):
        mn = emin(cast(lo[[]], "float32"), f(0))
        return call("rint", emax(f(0), emin(f(255), f(0) - mn / sc[[]])))

    zpt = ctx.materialize(Compute(n.name + "_zp", (), "float32", lambda i: zp()))
    y = Compute(n.name, x.shape, "uint8", lambda i: cast(emin(emax(
        call("rint", cast(x[i], "float32") / sc[[]]) + zpt[[]], f(0)), f(255)), "uint8"))
    outs = [y, Compute(n.name + "_y_scale", (), dt, lambda i: cast(sc[[]], dt)),
            Compute(n.name + "_y_zp", (), "uint8", lambda i: cast(zpt[[]], "uint8"))]
    return outs[:n.n_outputs]


register("DynamicQuantizeLinear", _dql_infer, _dql_lower, "opaque")


# ------------------------------------------------------------------ integer convolutions
def _int_conv(ctx, n, x_v, w_v, xzp_v, wzp_v, b_v=None):
    """int32 convolution of (x - x_zero_point) and (w - w_zero_point[per output channel or scalar]) (+ B)."""
    from .nn import conv_geometry
    kernel = list(w_v.shape[2:])
    outs, begin, strides, dil = conv_geometry(n, x_v.shape, kernel)
    groups = n.attr("group", 1)
    X, W = ctx.tensor(x_v), ctx.tensor(w_v)
    xzp = ctx.tensor(xzp_v) if xzp_v is not None else None
    wzp = ctx.tensor(wzp_v) if wzp_v is not None else None
    Bt = ctx.tensor(b_v) if b_v is not None else None
    k = len(kernel)
    cin_g, cout_g = w_v.shape[1], sym.floordiv(w_v.shape[0], groups)
    spatial = x_v.shape[2:]

    def zp(t, oc):
        if t is None:
            return Const(0, "int32")
        if len(t.shape) == 1 and t.shape[0] != 1:
            return cast(t[[oc]], "int32")
        return cast(t[[0] * len(t.shape)], "int32")

    def fn(i, r):
        c = (i[1] // as_expr(cout_g)) * as_expr(cin_g) + r[0]
        pos, inside = [], None
        for a in range(k):
            p = i[2 + a] * strides[a] - begin[a] + r[1 + a] * dil[a]
            ok = binop("&&", p >= 0, p < as_expr(spatial[a]))
            inside = ok if inside is None else binop("&&", inside, ok)
            pos.append(emin(emax(p, 0), as_expr(spatial[a]) - 1))
        xv = cast(X[[i[0], c] + pos], "int32") - zp(xzp, 0)
        wv = cast(W[[i[1], r[0]] + list(r[1:])], "int32") - zp(wzp, i[1])
        return select(inside, xv * wv, Const(0, "int32"))

    post = (lambda acc, i: acc + cast(Bt[[i[1]]], "int32")) if Bt is not None else None
    shape = tuple([x_v.shape[0], w_v.shape[0]] + outs)
    return Compute(n.name + "_acc", shape, "int32", fn, Reduction([cin_g] + kernel, "sum", 0, post))


def _convint_infer(n):
    from .nn import check_conv_weight, conv_geometry
    x, w = n.inputs[0], n.inputs[1]
    check_conv_weight(n, x, w)
    return out([x.shape[0], w.shape[0]] + conv_geometry(n, x.shape, list(w.shape[2:]))[0], "int32")


def _convint_lower(ctx, n):
    c = _int_conv(ctx, n, n.inputs[0], n.inputs[1], n.input(2), n.input(3))
    return [Compute(n.name, c.shape, "int32", c.fn, c.reduce)]


register("ConvInteger", _convint_infer, _convint_lower, "opaque")


def _qlconv_infer(n):
    from .nn import check_conv_weight, conv_geometry
    x, w = n.inputs[0], n.inputs[3]
    check_conv_weight(n, x, w)
    dt = n.input(7).dtype if n.input(7) is not None else x.dtype
    return out([x.shape[0], w.shape[0]] + conv_geometry(n, x.shape, list(w.shape[2:]))[0], dt)


def _qlconv_lower(ctx, n):
    """rint(int32 conv * (x_scale * w_scale[oc] / y_scale) + y_zero_point), saturated, as the reference."""
    acc = ctx.materialize(_int_conv(ctx, n, n.inputs[0], n.inputs[3], n.input(2), n.input(5), n.input(8)))
    xs, ws, ys = (ctx.tensor(n.inputs[k]) for k in (1, 4, 6))
    yzp = ctx.tensor(n.input(7)) if n.input(7) is not None else None
    dt = n.out_types[0].dtype
    info = np.iinfo(np.dtype(dt))

    def s(t, oc=None):
        if oc is not None and len(t.shape) == 1 and t.shape[0] != 1:
            return cast(t[[oc]], "float64")
        return cast(t[[0] * len(t.shape)], "float64")

    def body(i):
        v = cast(acc[i], "float64") * cast(cast(s(xs) * s(ws, i[1]) / s(ys), "float32"), "float64")
        if yzp is not None:
            v = v + cast(yzp[[0] * len(yzp.shape)], "float64")
        return cast(call("rint", emin(emax(v, Const(float(info.min), "float64")), Const(float(info.max), "float64"))), dt)

    return [Compute(n.name, acc.shape, dt, body)]


register("QLinearConv", _qlconv_infer, _qlconv_lower, "opaque")
