"""Gradient rules of MatMul, Gemm, Conv, pooling and the normalisations (BatchNormalization in its inference form:
the running statistics stay frozen; scale and bias may train)."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOp
from ..ir import sym
from ..ops.nn import conv_geometry
from ..ops.registry import Node
from .registry import grad_rule


@grad_rule("MatMul")
def _matmul(gb, b, gy, need):
    a, c = b.inputs
    g = gy[0]
    if a.rank < 2 or c.rank < 2:
        raise UnsupportedOp(b.op, b.name, "gradient of a MatMul with a 1-D operand")
    ga = gb.unbroadcast(gb.op("MatMul", [g, gb.swap_last(c)]), a.shape) if need[0] else None
    gc = gb.unbroadcast(gb.op("MatMul", [gb.swap_last(a), g]), c.shape) if need[1] else None
    return [ga, gc]


@grad_rule("Gemm")
def _gemm(gb, b, gy, need):
    """Y = alpha * A' B' + beta * C with A' = A or A^T (transA), B' likewise; each gradient is one Gemm."""
    A, B = b.inputs[0], b.inputs[1]
    C = b.inputs[2] if len(b.inputs) > 2 else None
    g = gy[0]
    alpha, beta = float(b.attrs.get("alpha", 1.0)), float(b.attrs.get("beta", 1.0))
    ta, tb = int(b.attrs.get("transA", 0)), int(b.attrs.get("transB", 0))
    out = [None, None, None]
    if need[0]:  # dA' = alpha g B'^T
        out[0] = (gb.op("Gemm", [B, g], alpha=alpha, transA=tb, transB=1) if ta else
                  gb.op("Gemm", [g, B], alpha=alpha, transB=1 - tb))
    if need[1]:  # dB' = alpha A'^T g
        out[1] = (gb.op("Gemm", [g, A], alpha=alpha, transA=1, transB=ta) if tb else
                  gb.op("Gemm", [A, g], alpha=alpha, transA=1 - ta))
    if C is not None and need[2]:
        gc = g if beta == 1.0 else gb.mul(g, gb.scalar(beta, g))
        out[2] = gb.unbroadcast(gc, C.shape)
    return out[:len(b.inputs)]


def _geometry(b, kernel):
    nd = Node(b.op, b.name, b.inputs, b.attrs, len(b.outputs), None)
    outs, begin, strides, dil = conv_geometry(nd, b.inputs[0].shape, kernel, b.attrs.get("ceil_mode", 0))
    return outs, begin, strides, dil


def _transpose_conv(gb, g, w, x, b, kernel, group):
    """dX of a convolution with weight ``w`` ([M, C/group, k...]): the transposed convolution of dY, with the end
    pads / output_padding that give back X's spatial size."""
    outs, begin, strides, dil = _geometry(b, kernel)
    spatial = x.shape[2:]
    if not all(sym.is_static(d) for d in list(spatial) + list(outs)):
        raise UnsupportedOp(b.op, b.name, "gradient with symbolic spatial dims")
    end, opad = [], []
    for a in range(len(kernel)):
        e = strides[a] * (outs[a] - 1) + (kernel[a] - 1) * dil[a] + 1 - begin[a] - int(spatial[a])
        end.append(max(e, 0))
        opad.append(max(-e, 0))
    flipped = _flipped_conv(gb, g, w, x, kernel, group, strides, dil, begin, end, opad)
    if flipped is not None:
        return flipped
    return gb.op("ConvTranspose", [g, w], strides=strides, dilations=dil, pads=list(begin) + end,
                 output_padding=opad, group=group, kernel_shape=list(kernel))


def _flipped_conv(gb, g, w, x, kernel, group, strides, dil, begin, end, opad):
    """dX of a stride-1 convolution as a convolution of dY with the weight flipped in space (and its two channel
    axes swapped), so it runs through the scheduled convolution kernels instead of ConvTranspose's loop nest; None
    when that does not apply (strides, grouped but not depthwise, pads beyond the kernel's reach)."""
    reach = [(k - 1) * d for k, d in zip(kernel, dil)]
    if gb.conv_dx != "conv" or any(s != 1 for s in strides) or any(opad) or \
            any(b > r or e > r for b, e, r in zip(begin, end, reach)):
        return None
    depthwise = group > 1 and w.shape[1] == 1 and w.shape[0] == group and x.shape[1] == group
    if group != 1 and not depthwise:
        return None
    wf = w if depthwise else gb.op("Transpose", [w], perm=[1, 0] + list(range(2, w.rank)))
    for a, k in enumerate(kernel):
        if k > 1:
            wf = gb.op("Gather", [wf, gb.const(np.arange(k - 1, -1, -1, dtype=np.int64))], axis=2 + a)
    pads = [r - b for r, b in zip(reach, begin)] + [r - e for r, e in zip(reach, end)]
    gb.flipped += 1
    return gb.op("Conv", [g, wf], kernel_shape=list(kernel), strides=[1] * len(kernel), dilations=list(dil),
                 pads=pads, group=group)


@grad_rule("Conv")
def _conv(gb, b, gy, need):
    x, w = b.inputs[0], b.inputs[1]
    bias = b.inputs[2] if len(b.inputs) > 2 else None
    g = gy[0]
    kernel = [int(k) for k in w.shape[2:]]
    group = int(b.attrs.get("group", 1))
    out = [None, None, None]
    if need[0]:
        out[0] = _transpose_conv(gb, g, w, x, b, kernel, group)
    if need[1]:
        _, begin, strides, dil = _geometry(b, kernel)
        out[1] = gb.op("sdk.ConvGradWeight", [x, g], kernel_shape=kernel, strides=strides, dilations=dil,
                       begin=list(begin), group=group)
    if bias is not None and need[2]:
        out[2] = gb.reshape(gb.reduce_sum(g, [0] + list(range(2, g.rank)), keepdims=True), bias.shape)
    return out[:len(b.inputs)]


@grad_rule("AveragePool")
def _avgpool(gb, b, gy, need):
    """dY / count spread over each window: a depthwise transposed convolution with a kernel of ones (per-window
    counts when padding is not counted)."""
    x, g = b.inputs[0], gy[0]
    kernel = list(b.attrs["kernel_shape"])
    outs, begin, strides, dil = _geometry(b, kernel)
    C = x.shape[1]
    if not sym.is_static(C):
        raise UnsupportedOp(b.op, b.name, "gradient with a symbolic channel count")
    include = b.attrs.get("count_include_pad", 0)
    spatial = [int(d) for d in x.shape[2:]]
    outs = [int(o) for o in outs]
    if include:
        cnt = np.full(outs, float(np.prod(kernel)))
    else:  # window sizes inside the input
        cnt = np.ones(outs)
        for a in range(len(kernel)):
            o = np.arange(outs[a])[:, None] * strides[a] - begin[a] + np.arange(kernel[a])[None, :] * dil[a]
            n = ((o >= 0) & (o < spatial[a])).sum(1).astype(float)
            cnt = cnt * n.reshape([-1 if k == a else 1 for k in range(len(kernel))])
    gs = gb.mul(g, gb.const((1.0 / cnt).astype(g.dtype)))
    ones = gb.const(np.ones([int(C), 1] + kernel, dtype=g.dtype))
    return [_transpose_conv(gb, gs, ones, x, b, kernel, int(C))]


FIRST_MAX_TAPS = 16  # the index-free MaxPoolGrad compares each tap with the window's others: taps^2 loads


@grad_rule("MaxPool")
def _maxpool(gb, b, gy, need):
    """To the first maximum of each window (PyTorch's): MaxPool's Indices output when the forward asked for it;
    else ``sdk.MaxPoolGrad`` finds the window's first maximum in the input again (no int64 index tensor kept),
    up to ``FIRST_MAX_TAPS`` taps a window (larger windows recompute the Indices)."""
    x, g = b.inputs[0], gy[0]
    if len(gy) > 1 and gy[1] is not None:
        raise UnsupportedOp(b.op, b.name, "gradient through Indices")
    if b.attrs.get("storage_order", 0):
        raise UnsupportedOp(b.op, b.name, "gradient with storage_order 1")
    kernel = list(b.attrs["kernel_shape"])
    _, begin, strides, dil = _geometry(b, kernel)
    if len(b.outputs) > 1:
        idx = b.outputs[1]
    elif int(np.prod(kernel)) <= FIRST_MAX_TAPS:
        idx = None
    else:
        idx = gb.op("MaxPool", [x], n_out=2, **b.attrs)[1]
    return [gb.op("sdk.MaxPoolGrad", [g, idx, x], kernel_shape=kernel, strides=strides, dilations=dil,
                  begin=list(begin))]


@grad_rule("GlobalMaxPool")
def _gmaxpool(gb, b, gy, need):
    x = b.inputs[0]
    kernel = [int(d) for d in x.shape[2:]]
    idx = gb.op("MaxPool", [x], n_out=2, kernel_shape=kernel)[1]
    return [gb.op("sdk.MaxPoolGrad", [gy[0], idx, x], kernel_shape=kernel, strides=[1] * len(kernel),
                  dilations=[1] * len(kernel), begin=[0] * len(kernel))]


def _channel(gb, v, rank):
    """A per-channel [C] value shaped to broadcast over [N, C, ...]."""
    return gb.reshape(v, [v.shape[0]] + [1] * (rank - 2))


@grad_rule("BatchNormalization")
def _batchnorm(gb, b, gy, need):
    """Inference form: y = (x - mean) * scale / sqrt(var + eps) + bias, mean and var constants of the model."""
    if b.attrs.get("training_mode", 0) or len(b.outputs) > 1:
        raise UnsupportedOp(b.op, b.name, "gradient of training-mode BatchNormalization")
    x, scale, bias, mean, var = b.inputs
    g = gy[0]
    if need[3] or need[4]:
        raise UnsupportedOp(b.op, b.name, "gradient to the running mean / variance")
    eps = float(b.attrs.get("epsilon", 1e-5))
    inv = gb.op("Div", [gb.scalar(1.0, var), gb.op("Sqrt", [gb.op("Add", [var, gb.scalar(eps, var)])])])
    r = x.rank
    axes = [0] + list(range(2, r))
    out = [None] * 5
    if need[0]:
        out[0] = gb.mul(g, _channel(gb, gb.mul(scale, inv), r))
    if need[1]:
        xhat = gb.mul(gb.op("Sub", [x, _channel(gb, mean, r)]), _channel(gb, inv, r))
        out[1] = gb.reshape(gb.reduce_sum(gb.mul(g, xhat), axes), scale.shape)
    if need[2]:
        out[2] = gb.reshape(gb.reduce_sum(g, axes), bias.shape)
    return out


@grad_rule("LayerNormalization")
def _layernorm(gb, b, gy, need):
    """y = xhat * scale + bias over the axes from ``axis``: dx = inv * (gh - mean(gh) - xhat * mean(gh * xhat)),
    gh = g * scale (statistics recomputed)."""
    x, scale = b.inputs[0], b.inputs[1]
    bias = b.inputs[2] if len(b.inputs) > 2 else None
    if any(v is not None for v in gy[1:]):
        raise UnsupportedOp(b.op, b.name, "gradient through Mean / InvStdDev")
    g = gy[0]
    axis = b.attrs.get("axis", -1) % x.rank
    axes = list(range(axis, x.rank))
    n = 1
    for a in axes:
        n = sym.mul(n, x.shape[a])
    if not sym.is_static(n):
        raise UnsupportedOp(b.op, b.name, "gradient over a symbolic normalised size")
    k = gb.scalar(1.0 / int(n), x)
    mean = gb.mul(gb.reduce_sum(x, axes), k)
    xc = gb.op("Sub", [x, mean])
    var = gb.mul(gb.reduce_sum(gb.mul(xc, xc), axes), k)
    inv = gb.op("Div", [gb.scalar(1.0, x), gb.op("Sqrt", [gb.op("Add", [var, gb.scalar(
        float(b.attrs.get("epsilon", 1e-5)), x)])])])
    xhat = gb.mul(xc, inv)
    out = [None] * len(b.inputs)
    if need[0]:
        gh = gb.mul(g, scale)
        m1 = gb.mul(gb.reduce_sum(gh, axes), k)
        m2 = gb.mul(gb.reduce_sum(gb.mul(gh, xhat), axes), k)
        out[0] = gb.mul(inv, gb.op("Sub", [gb.op("Sub", [gh, m1]), gb.mul(xhat, m2)]))
    if need[1]:
        out[1] = gb.unbroadcast(gb.mul(g, xhat), scale.shape)
    if bias is not None and need[2]:
        out[2] = gb.unbroadcast(g, bias.shape)
    return out
