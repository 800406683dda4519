"""Quantized int8 ops made by ``transform/quantize.py`` (not ONNX ops; names start with ``sdk.``).
Each lowers to a library call into ``runtime_c/src/sdk_kernels_int8.c``; the quantization
parameters travel as attrs and per-channel arrays as constant inputs."""
from __future__ import annotations

import numpy as np

from ..tir.expr import LibCall
from .common import out
from .registry import register

H = "sdk_kernels_int8.h"


def _same(n):
    return out(n.inputs[0].shape, n.attr("dtype", "int8"))


def _given(n):
    return [n.out_types[0]] if hasattr(n, "out_types") else out(n.attr("shape"), n.attr("dtype", "int8"))


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
    ctx.lib(LibCall("sdk_quantize_f32_s8", [_numel(x.shape), X, float(np.float32(1) / np.float32(n.attr("scale"))),
                                            n.attr("zp"), Y], [Y], H))
    return [Y]


def _dequantize_lower(ctx, n):
    x = n.inputs[0]
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, x.shape, "float32")
    ctx.lib(LibCall("sdk_dequantize_s8_f32", [_numel(x.shape), X, float(n.attr("scale")), n.attr("zp"), Y], [Y], H))
    return [Y]


def _conv_lower(ctx, n):
    x, w, b, m, s = n.inputs
    a = n.attrs
    shape = n.out_types[0].shape
    X, W, B, M, S = (ctx.buffer(v) for v in (x, w, b, m, s))
    Y = ctx.new_buffer(n.name, shape, "int8")
    K = int(np.prod(w.shape[1:]))
    scratch = ctx.new_buffer(n.name + "_col", (K + 4,), "int16")
    ctx.lib(LibCall("sdk_conv2d_s8", [x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0], shape[2], shape[3],
                                      w.shape[2], w.shape[3], a["strides"][0], a["strides"][1], a["pads"][0],
                                      a["pads"][1], a["group"], X, a["x_zp"], W, B, M, S, a["y_zp"],
                                      a["act_min"], a["act_max"], Y, scratch], [Y, scratch], H))
    return [Y]


def _fc_lower(ctx, n):
    x, w, b, m, s = n.inputs
    a = n.attrs
    X, W, B, M, S = (ctx.buffer(v) for v in (x, w, b, m, s))
    Y = ctx.new_buffer(n.name, n.out_types[0].shape, "int8")
    K = w.shape[1]
    scratch = ctx.new_buffer(n.name + "_row", (K + 4,), "int16")
    ctx.lib(LibCall("sdk_fc_s8", [x.shape[0], w.shape[0], K, X, a["x_zp"], W, B, M, S, a["y_zp"], a["act_min"],
                                  a["act_max"], Y, scratch], [Y, scratch], H))
    return [Y]


def _pool_lower(ctx, n):
    x = n.inputs[0]
    a = n.attrs
    shape = n.out_types[0].shape
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, shape, "int8")
    geo = [x.shape[0], x.shape[1], x.shape[2], x.shape[3], shape[2], shape[3], a["kernel"][0], a["kernel"][1],
           a["strides"][0], a["strides"][1], a["pads"][0], a["pads"][1]]
    if n.op_type == "sdk.QMaxPool":
        ctx.lib(LibCall("sdk_maxpool2d_s8", geo + [X, Y], [Y], H))
    else:
        ctx.lib(LibCall("sdk_avgpool2d_s8", geo + [a["count_include_pad"], a["zp"], X, Y], [Y], H))
    return [Y]


def _add_lower(ctx, n):
    A, B = ctx.buffer(n.inputs[0]), ctx.buffer(n.inputs[1])
    a = n.attrs
    Y = ctx.new_buffer(n.name, n.inputs[0].shape, "int8")
    ctx.lib(LibCall("sdk_add_s8", [_numel(n.inputs[0].shape), A, a["a_zp"], a["a_mult"], a["a_shift"], B, a["b_zp"],
                                   a["b_mult"], a["b_shift"], a["y_mult"], a["y_shift"], a["y_zp"], a["act_min"],
                                   a["act_max"], Y], [Y], H))
    return [Y]


register("sdk.Quantize", lambda n: out(n.inputs[0].shape, "int8"), _quantize_lower, "opaque")
register("sdk.Dequantize", lambda n: out(n.inputs[0].shape, "float32"), _dequantize_lower, "opaque")
register("sdk.QConv", _given, _conv_lower, "opaque")
register("sdk.QFC", _given, _fc_lower, "opaque")
register("sdk.QMaxPool", _given, _pool_lower, "opaque")
register("sdk.QAvgPool", _given, _pool_lower, "opaque")
register("sdk.QAdd", _same, _add_lower, "opaque")
