"""Fused ops that graph passes make (no ONNX op of that name).

``DwProjectNHWC`` (``sdk/transform/fuse_dw_project.py``): a depthwise convolution of an NHWC tensor, an optional
activation, and the pointwise (1x1) convolution that reads the result, as one call of ``sdk_dwpw_nhwc_f32``
(``runtime_c/src/sdk_fused.c``). Inputs: X [N, H, W, C], the depthwise weight [C, 1, KH, KW] and bias [C] (or None),
the projection weight [M, C, 1, 1] and bias [M] (or None); attributes: the depthwise Conv's (kernel_shape, strides,
pads, dilations, group), ``dw_act`` / ``dw_a`` / ``dw_b`` (the activation between them, "" for none) and the
planned ``band_rows`` / ``slots``. Output: [N, OH, OW, M]. Reference: the ops it replaces (ConvNHWC, the
activation, ConvNHWC), which the end-to-end tests compare against onnxruntime on the original model."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..transform.epilogue import ACT_CODE
from .common import out
from .nn import conv_geometry
from .registry import register

PAD = 16  # runtime_c/include/sdk_fused.h SDK_DWPW_PAD: the packed projection weight's column multiple


def _geometry(n):
    x, wd = n.inputs[0], n.inputs[1]
    N, H, W, C = x.shape
    outs, begin, strides, dil = conv_geometry(n, [N, C, H, W], list(wd.shape[2:]))
    return N, H, W, C, outs, begin, strides


def _infer(n):
    N, _, _, _, outs, _, _ = _geometry(n)
    return out([N] + outs + [n.inputs[3].shape[0]], n.inputs[0].dtype)


def _lower(ctx, n):
    x, wd, bd, wp, bp = n.inputs
    N, H, W, C, (OH, OW), begin, strides = _geometry(n)
    KH, KW = (int(k) for k in wd.shape[2:])
    M = int(wp.shape[0])
    Mp = -(-M // PAD) * PAD
    Wd = ctx.const(np.ascontiguousarray(wd.const.astype(np.float32).reshape(int(C), -1).T), wd.name + "_nhwc")
    B = np.zeros((int(C), Mp), np.float32)
    B[:, :M] = wp.const.astype(np.float32).reshape(M, int(C)).T
    Bt = ctx.const(B, wp.name + "_packed")
    bpt = None
    if bp is not None:
        bpad = np.zeros(Mp, np.float32)
        bpad[:M] = bp.const.astype(np.float32).reshape(-1)
        bpt = ctx.const(bpad, bp.name + "_padded")
    BH, slots = int(n.attr("band_rows")), int(n.attr("slots"))
    Y = ctx.new_buffer(n.name, [N, OH, OW, M], "float32")
    S = ctx.new_buffer(n.name + "_band", (slots * BH * int(OW) * int(C),), "float32")
    act = n.attr("dw_act", "")
    act = act.decode() if isinstance(act, bytes) else act
    ctx.lib(kernels.call("sdk_dwpw_nhwc_f32", N=N, H=H, W=W, C=C, OH=OH, OW=OW, KH=KH, KW=KW, SH=strides[0],
                         SW=strides[1], PH=begin[0], PW=begin[1], X=ctx.buffer(x), Wd=Wd,
                         bd=ctx.buffer(bd) if bd is not None else None, dw_act=ACT_CODE.get(act, 0),
                         dw_a=float(n.attr("dw_a", 0.0)), dw_b=float(n.attr("dw_b", 0.0)), M=M, Mp=Mp, B=Bt, bp=bpt,
                         BH=BH, slots=slots, Y=Y, scratch=S))
    return [Y]


register("DwProjectNHWC", _infer, _lower, "opaque")
