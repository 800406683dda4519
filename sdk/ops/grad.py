"""Ops that only gradient graphs use (``sdk/autodiff/``): the weight gradient of a convolution, the input gradients
of MaxPool and Gather. Each is a shape rule, a lowering to a tir reduction and a numpy reference (``REFERENCES``:
the oracle of the tests, and what ``sdk.autodiff.export`` gives onnx's ReferenceEvaluator for these nodes)."""
from __future__ import annotations

import itertools

import numpy as np

from ..ir import sym
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, cast, emax, emin, select
from .common import out, unravel
from .registry import register


def _ints(v):
    return [int(a) for a in v]


def _taps(i_out, r_tap, begin, strides, dil, spatial):
    """Input positions of output position ``i_out`` at kernel tap ``r_tap``, clamped, and whether they are inside."""
    pos, inside = [], None
    for a in range(len(spatial)):
        p = i_out[a] * strides[a] - begin[a] + r_tap[a] * dil[a]
        ok = binop("&&", p >= 0, p < as_expr(spatial[a]))
        inside = ok if inside is None else binop("&&", inside, ok)
        pos.append(emin(emax(p, 0), as_expr(spatial[a]) - 1))
    return pos, inside


# ------------------------------------------------------------------ dW of Conv
def _cgw_infer(n):
    x, g = n.inputs[0], n.inputs[1]
    groups = n.attr("group", 1)
    return out([g.shape[1], sym.floordiv(x.shape[1], groups)] + _ints(n.attr("kernel_shape")), x.dtype)


def _cgw_lower(ctx, n):
    """dW[m, c, t] = sum over n, o of dY[n, m, o] * X[n, group(m) * C/group + c, o * stride - pad + t * dilation]."""
    x, g = n.inputs[0], n.inputs[1]
    X, G = ctx.tensor(x), ctx.tensor(g)
    kernel, strides, dil, begin = (_ints(n.attr(k)) for k in ("kernel_shape", "strides", "dilations", "begin"))
    groups = n.attr("group", 1)
    cin_g = sym.floordiv(x.shape[1], groups)
    cout_g = sym.floordiv(g.shape[1], groups)
    k = len(kernel)
    dt = x.dtype

    def fn(i, r):
        ch = (i[0] // as_expr(cout_g)) * as_expr(cin_g) + i[1]
        pos, inside = _taps(r[1:], i[2:], begin, strides, dil, x.shape[2:])
        return select(inside, G[[r[0], i[0]] + list(r[1:])] * X[[r[0], ch] + pos], Const(0.0, dt))

    shape = n.out_types[0].shape
    return [Compute(n.name, tuple(shape), dt, fn, Reduction([g.shape[0]] + list(g.shape[2:2 + k]), "sum", 0))]


def _cgw_ref(x, g, kernel_shape, strides, dilations, begin, group=1):
    N, C = x.shape[:2]
    M = g.shape[1]
    cin_g, cout_g = C // group, M // group
    dw = np.zeros([M, cin_g] + list(kernel_shape), dtype=x.dtype)
    outs = g.shape[2:]
    for t in itertools.product(*[range(k) for k in kernel_shape]):
        for o in itertools.product(*[range(d) for d in outs]):
            p = [o[a] * strides[a] - begin[a] + t[a] * dilations[a] for a in range(len(t))]
            if not all(0 <= p[a] < x.shape[2 + a] for a in range(len(t))):
                continue
            for m in range(M):
                ch = (m // cout_g) * cin_g
                xs = x[(slice(None), slice(ch, ch + cin_g)) + tuple(p)]  # [N, cin_g]
                dw[(m, slice(None)) + t] += g[(slice(None), m) + o] @ xs
    return dw


# ------------------------------------------------------------------ dX of MaxPool
def _mpg_infer(n):
    return out(n.inputs[2].shape, n.inputs[0].dtype)


def _mpg_lower(ctx, n):
    """Gather form: dX[n, c, h] = sum over the kernel taps t whose window o = (h + pad - t * dilation) / stride is
    whole and inside the output, of dY[n, c, o] where MaxPool's index of that window is this position."""
    g, idx, x = n.inputs
    G, I = ctx.tensor(g), ctx.tensor(idx)
    kernel, strides, dil, begin = (_ints(n.attr(k)) for k in ("kernel_shape", "strides", "dilations", "begin"))
    spatial, outs = x.shape[2:], g.shape[2:]
    dt = g.dtype

    def fn(i, r):
        pos, ok = [], None
        for a in range(len(kernel)):
            p = i[2 + a] + begin[a] - r[a] * dil[a]
            q = p // strides[a] if strides[a] != 1 else p
            c = binop("&&", p >= 0, q < as_expr(outs[a]))
            if strides[a] != 1:
                c = binop("&&", c, binop("==", p % strides[a], 0))
            ok = c if ok is None else binop("&&", ok, c)
            pos.append(emin(emax(q, 0), as_expr(outs[a]) - 1))
        flat = i[0] * as_expr(x.shape[1]) + i[1]
        for h, d in zip(i[2:], spatial):
            flat = flat * as_expr(d) + h
        hit = binop("&&", ok, binop("==", I[list(i[:2]) + pos], cast(flat, "int64")))
        return select(hit, G[list(i[:2]) + pos], Const(0.0, dt))

    return [Compute(n.name, tuple(x.shape), dt, fn, Reduction(kernel, "sum", 0))]


def _mpg_ref(g, idx, x, **_):
    dx = np.zeros(x.size, dtype=g.dtype)
    np.add.at(dx, idx.reshape(-1), g.reshape(-1))
    return dx.reshape(x.shape)


# ------------------------------------------------------------------ dX of Gather
def _gg_infer(n):
    return out(n.inputs[2].shape, n.inputs[0].dtype)


def _gg_lower(ctx, n):
    """dX[.., j, ..] = sum over the indices k with idx[k] == j of dY[.., k, ..] (repeated indices add up)."""
    g, idx, x = n.inputs
    G, I = ctx.tensor(g), ctx.tensor(idx)
    axis = n.attr("axis", 0)
    D = x.shape[axis]
    ishape = list(idx.shape)
    count = 1
    for d in ishape:
        count = sym.mul(count, d)
    dt = g.dtype

    def fn(i, r):
        k = unravel(r[0], ishape)
        j = cast(I[k], "int64")
        j = select(j < Const(0), j + cast(as_expr(D), "int64"), j)
        v = G[list(i[:axis]) + k + list(i[axis + 1:])]
        return select(binop("==", j, cast(i[axis], "int64")), v, Const(0.0, dt))

    return [Compute(n.name, tuple(x.shape), dt, fn, Reduction([count], "sum", 0))]


def _gg_ref(g, idx, x, axis=0):
    axis = axis % x.ndim
    dx = np.zeros(x.shape, dtype=g.dtype)
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    gm = np.moveaxis(g.reshape(x.shape[:axis] + (idx.size,) + x.shape[axis + 1:]), axis, 0)
    dxm = np.moveaxis(dx, axis, 0)
    np.add.at(dxm, idx.reshape(-1), gm)
    return dx


register("sdk.ConvGradWeight", _cgw_infer, _cgw_lower, "opaque")
register("sdk.MaxPoolGrad", _mpg_infer, _mpg_lower, "opaque")
register("sdk.GatherGrad", _gg_infer, _gg_lower, "opaque")

# numpy references, {op: fn(*inputs, **attrs) -> output}
REFERENCES = {"sdk.ConvGradWeight": _cgw_ref, "sdk.MaxPoolGrad": _mpg_ref, "sdk.GatherGrad": _gg_ref}
