"""Quantized int8 ops made by ``transform/quantize.py`` (not ONNX ops; names start with ``sdk.``).
Each lowers to a library call into ``runtime_c/src/sdk_kernels_int8.c``; the quantization
parameters travel as attrs and per-channel arrays as constant inputs."""
from __future__ import annotations

import numpy as np

from .. import kernels
from .common import out
from .registry import register


def _same(n):
    return out(n.inputs[0].shape, n.attr("dtype", "int8"))


def _given(n):
    return [n.out_types[0]] if n.out_types is not None else out(n.attr("shape"), n.attr("dtype", "int8"))


def _requant(a):
    """The output requantization arguments of the int8 conv/fc kernels, from the node's attributes."""
    return {k: a[k] for k in ("y_zp", "act_min", "act_max")}


def _numel(shape):
    from ..ir import sym
    k = 1
    for d in shape:
        k = sym.mul(k, d)
    return k


def _quantize_lower(ctx, n):
    x = n.inputs[0]
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, x.shape, "int8")
    ctx.lib(kernels.call("sdk_quantize_f32_s8", n=_numel(x.shape), x=X,
                         inv_scale=float(np.float32(1) / np.float32(n.attr("scale"))), zp=n.attr("zp"), y=Y))
    return [Y]


def _dequantize_lower(ctx, n):
    x = n.inputs[0]
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, x.shape, "float32")
    ctx.lib(kernels.call("sdk_dequantize_s8_f32", n=_numel(x.shape), x=X, scale=n.attr("scale"), zp=n.attr("zp"),
                         y=Y))
    return [Y]


def _conv_lower(ctx, n):
    x, w, b, m, s = n.inputs
    a = n.attrs
    shape = n.out_types[0].shape
    X, W, B, M, S = (ctx.buffer(v) for v in (x, w, b, m, s))
    Y = ctx.new_buffer(n.name, shape, "int8")
    K = int(np.prod(w.shape[1:]))
    scratch = ctx.new_buffer(n.name + "_col", (K + 4,), "int16")
    ctx.lib(kernels.call("sdk_conv2d_s8", N=x.shape[0], C=x.shape[1], H=x.shape[2], W=x.shape[3], M=w.shape[0],
                         OH=shape[2], OW=shape[3], KH=w.shape[2], KW=w.shape[3], SH=a["strides"][0],
                         SW=a["strides"][1], PH=a["pads"][0], PW=a["pads"][1], groups=a["group"], X=X, x_zp=a["x_zp"],
                         Wt=W, bias=B, mult=M, shift=S, **_requant(a), Y=Y, scratch=scratch))
    return [Y]


def _fc_lower(ctx, n):
    x, w, b, m, s = n.inputs
    a = n.attrs
    X, W, B, M, S = (ctx.buffer(v) for v in (x, w, b, m, s))
    Y = ctx.new_buffer(n.name, n.out_types[0].shape, "int8")
    K = w.shape[1]
    scratch = ctx.new_buffer(n.name + "_row", (K + 4,), "int16")
    ctx.lib(kernels.call("sdk_fc_s8", M=x.shape[0], N=w.shape[0], K=K, X=X, x_zp=a["x_zp"], Wt=W, bias=B, mult=M,
                         shift=S, **_requant(a), Y=Y, scratch=scratch))
    return [Y]


def _pool_lower(ctx, n):
    x = n.inputs[0]
    a = n.attrs
    shape = n.out_types[0].shape
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, shape, "int8")
    geo = dict(N=x.shape[0], C=x.shape[1], H=x.shape[2], W=x.shape[3], OH=shape[2], OW=shape[3], KH=a["kernel"][0],
               KW=a["kernel"][1], SH=a["strides"][0], SW=a["strides"][1], PH=a["pads"][0], PW=a["pads"][1])
    if n.op_type == "sdk.QMaxPool":
        ctx.lib(kernels.call("sdk_maxpool2d_s8", **geo, X=X, Y=Y))
    else:
        ctx.lib(kernels.call("sdk_avgpool2d_s8", **geo, count_include_pad=a["count_include_pad"], zp=a["zp"], X=X,
                             Y=Y))
    return [Y]


def _add_lower(ctx, n):
    A, B = ctx.buffer(n.inputs[0]), ctx.buffer(n.inputs[1])
    a = n.attrs
    Y = ctx.new_buffer(n.name, n.inputs[0].shape, "int8")
    ctx.lib(kernels.call("sdk_add_s8", n=_numel(n.inputs[0].shape), A=A, B=B, Y=Y,
                         **{k: a[k] for k in ("a_zp", "a_mult", "a_shift", "b_zp", "b_mult", "b_shift", "y_mult",
                                              "y_shift", "y_zp", "act_min", "act_max")}))
    return [Y]


register("sdk.Quantize", lambda n: out(n.inputs[0].shape, "int8"), _quantize_lower, "opaque")
register("sdk.Dequantize", lambda n: out(n.inputs[0].shape, "float32"), _dequantize_lower, "opaque")
register("sdk.QConv", _given, _conv_lower, "opaque")
register("sdk.QFC", _given, _fc_lower, "opaque")
register("sdk.QMaxPool", _given, _pool_lower, "opaque")
register("sdk.QAvgPool", _given, _pool_lower, "opaque")
register("sdk.QAdd", _same, _add_lower, "opaque")
