"""Ops that only gradient graphs use (``sdk/autodiff/``): the weight gradient of a convolution, the input gradients
of MaxPool and Gather, a stashed activation stored in 16 bits. Each is a shape rule, a lowering to tir and a numpy
reference (``REFERENCES``: the oracle of the tests, and what ``sdk.autodiff.export`` gives onnx's
ReferenceEvaluator for these nodes)."""
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


PANEL_FLOATS = 2048  # the im2col panel of the library kernel: at most this many floats (or one output position)


def _cgw_lower(ctx, n):
    """dW[m, c, t] = sum over n, o of dY[n, m, o] * X[n, group(m) * C/group + c, o * stride - pad + t * dilation],
    plus ``beta`` * acc[m, c, t] given a third input ``acc`` (SGD's momentum folded in: no gradient tensor).
    2-D float32 convolutions call ``sdk_conv2d_grad_weight_f32`` (im2col panels times dY as GEMMs) unless the
    profile's ``[lower] conv_grad_weight_kernel`` is off (CUDA: no such library kernel); else a loop nest."""
    x, g = n.inputs[0], n.inputs[1]
    acc = n.inputs[2] if len(n.inputs) > 2 else None
    if len(x.shape) == 4 and x.dtype == "float32" and ctx.options.get("conv_grad_weight_kernel", True):
        return _cgw_library(ctx, n, x, g, acc)
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
    post = None
    if acc is not None:
        A, beta = ctx.tensor(acc), Const(float(n.attr("beta", 1.0)), dt)
        post = lambda s, i: s + beta * A[list(i)]  # noqa: E731
    return [Compute(n.name, tuple(shape), dt, fn, Reduction([g.shape[0]] + list(g.shape[2:2 + k]), "sum", 0, post))]


def _cgw_library(ctx, n, x, g, acc):
    from ..kernels import call
    kernel, strides, dil, begin = (_ints(n.attr(k)) for k in ("kernel_shape", "strides", "dilations", "begin"))
    groups = n.attr("group", 1)
    shape = n.out_types[0].shape
    K = int(shape[1]) * kernel[0] * kernel[1]
    plane = sym.mul(g.shape[2], g.shape[3])
    P = max(1, min(PANEL_FLOATS // K, int(plane) if sym.is_static(plane) else PANEL_FLOATS))
    cout = sym.floordiv(g.shape[1], groups)
    X, G = ctx.buffer(x), ctx.buffer(g)
    A = ctx.buffer(acc) if acc is not None else None
    Y = ctx.new_buffer(n.name, shape, "float32")
    scratch = ctx.new_buffer(n.name + "_panel", (sym.add(P * K, sym.mul(sym.add(shape[0], cout), K)),), "float32")
    ctx.lib(call("sdk_conv2d_grad_weight_f32", N=x.shape[0], C=x.shape[1], H=x.shape[2], W=x.shape[3],
                 M=g.shape[1], OH=g.shape[2], OW=g.shape[3], KH=kernel[0], KW=kernel[1], SH=strides[0],
                 SW=strides[1], PH=begin[0], PW=begin[1], DH=dil[0], DW=dil[1], groups=groups, P=P, X=X, dY=G,
                 acc=A, beta=float(n.attr("beta", 1.0)) if acc is not None else 0.0, dW=Y, scratch=scratch))
    return [Y]


def _cgw_ref(x, g, acc=None, kernel_shape=None, strides=None, dilations=None, begin=None, group=1, beta=1.0):
    dw = _cgw_sum(x, g, kernel_shape, strides, dilations, begin, group)
    return dw if acc is None else dw + beta * acc


def _cgw_sum(x, g, kernel_shape, strides, dilations, begin, group=1):
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
    whole and inside the output, of dY[n, c, o] where this position is the window's maximum: MaxPool's index of the
    window, or, without indices, the first position of the window whose value is the largest (the window's other
    taps compared again here, so no index tensor is stored)."""
    g, idx, x = n.inputs
    G = ctx.tensor(g)
    I = ctx.tensor(idx) if idx is not None else None
    X = ctx.tensor(x) if idx is None else None
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
        if I is not None:
            flat = i[0] * as_expr(x.shape[1]) + i[1]
            for h, d in zip(i[2:], spatial):
                flat = flat * as_expr(d) + h
            hit = binop("&&", ok, binop("==", I[list(i[:2]) + pos], cast(flat, "int64")))
        else:
            hit = binop("&&", ok, _first_max(X, i, r, pos, kernel, strides, dil, begin, spatial))
        return select(hit, G[list(i[:2]) + pos], Const(0.0, dt))

    return [Compute(n.name, tuple(x.shape), dt, fn, Reduction(kernel, "sum", 0))]


def _first_max(X, i, r, o, kernel, strides, dil, begin, spatial):
    """Is X[i] (tap ``r`` of window ``o``) the window's first maximum? Every tap t of the window inside the input
    holds less (t before r in row-major order) or no more (t after r)."""
    xh = X[list(i)]
    lin_r = r[0]
    for a in range(1, len(kernel)):
        lin_r = lin_r * kernel[a] + r[a]
    cond = None
    for lin_t, t in enumerate(itertools.product(*[range(k) for k in kernel])):
        q, outside = [], None
        for a in range(len(kernel)):
            p = o[a] * strides[a] - begin[a] + t[a] * dil[a]
            out_a = binop("||", p < 0, p >= as_expr(spatial[a]))
            outside = out_a if outside is None else binop("||", outside, out_a)
            q.append(emin(emax(p, 0), as_expr(spatial[a]) - 1))
        xt = X[list(i[:2]) + q]
        below = binop("||", binop("&&", lin_r > lin_t, xt < xh), binop("&&", lin_r <= lin_t, xt <= xh))
        c = binop("||", outside, below)
        cond = c if cond is None else binop("&&", cond, c)
    return cond


def _mpg_ref(g, idx, x, kernel_shape=None, strides=None, dilations=None, begin=None):
    if idx is not None:
        dx = np.zeros(x.size, dtype=g.dtype)
        np.add.at(dx, idx.reshape(-1), g.reshape(-1))
        return dx.reshape(x.shape)
    dx = np.zeros(x.shape, dtype=g.dtype)  # no indices: to each window's first maximum (row-major taps)
    k = len(kernel_shape)
    nn, cc = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    for o in itertools.product(*[range(d) for d in g.shape[2:]]):
        best = np.full(x.shape[:2], -np.inf, x.dtype)
        where = [np.zeros(x.shape[:2], np.int64) for _ in range(k)]
        for t in itertools.product(*[range(d) for d in kernel_shape]):
            p = [o[a] * strides[a] - begin[a] + t[a] * dilations[a] for a in range(k)]
            if not all(0 <= p[a] < x.shape[2 + a] for a in range(k)):
                continue
            v = x[(slice(None), slice(None)) + tuple(p)]
            better = v > best
            best = np.where(better, v, best)
            for a in range(k):
                where[a] = np.where(better, p[a], where[a])
        np.add.at(dx, (nn, cc) + tuple(where), g[(slice(None), slice(None)) + o])
    return dx


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


# ------------------------------------------------------------------ a stashed activation in 16 bits
def _sh_infer(n):
    return out(n.inputs[0].shape, n.attr("dtype", "float16"))


def _sh_lower(ctx, n):
    """x rounded to a 16-bit float, always stored (a Cast would be inlined into its reader, which would then read
    the float32 original: the stash would not shrink)."""
    x = ctx.tensor(n.inputs[0])
    dt = n.out_types[0].dtype
    return [ctx.materialize(Compute(n.name, x.shape, dt, lambda i: cast(x[i], dt)))]


def _sh_ref(x, dtype="float16"):
    return x.astype(np.float16) if dtype == "float16" else x


register("sdk.StoreHalf", _sh_infer, _sh_lower, "opaque")
register("sdk.ConvGradWeight", _cgw_infer, _cgw_lower, "opaque")
register("sdk.MaxPoolGrad", _mpg_infer, _mpg_lower, "opaque")
register("sdk.GatherGrad", _gg_infer, _gg_lower, "opaque")

# numpy references, {op: fn(*inputs, **attrs) -> output}
REFERENCES = {"sdk.StoreHalf": _sh_ref, "sdk.ConvGradWeight": _cgw_ref, "sdk.MaxPoolGrad": _mpg_ref,
              "sdk.GatherGrad": _gg_ref}
