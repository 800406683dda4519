"""Fused ops that graph passes make (no ONNX op of that name).

``DwProjectNHWC`` (``sdk/transform/fuse_dw_project.py``): a depthwise convolution of an NHWC tensor, an optional
activation, and the pointwise (1x1) convolution that reads the result, as one call of ``sdk_dwpw_nhwc_f32``
(``runtime_c/src/sdk_fused.c``). Inputs: X [N, H, W, C], the depthwise weight [C, 1, KH, KW] and bias [C] (or None),
the projection weight [M, C, 1, 1] and bias [M] (or None); attributes: the depthwise Conv's (kernel_shape, strides,
pads, dilations, group), ``dw_act`` / ``dw_a`` / ``dw_b`` (the activation between them, "" for none) and the
planned ``band_rows`` / ``slots``. Output: [N, OH, OW, M]. Reference: the ops it replaces (ConvNHWC, the
activation, ConvNHWC), which the end-to-end tests compare against onnxruntime on the original model.

``PwDwNHWC`` (the same pass): a pointwise expansion (1x1 ``ConvNHWC``), an optional activation, and the depthwise
convolution that reads the result, as one call of ``sdk_pwdw_nhwc_f32``: the expanded tensor is never stored whole.
Inputs: X [N, H, W, K], the expansion weight [C, K, 1, 1] and bias [C] (or None), the depthwise weight [C, 1, KH, KW]
and bias [C] (or None); attributes: the depthwise Conv's, ``e_act`` / ``e_a`` / ``e_b`` (the activation between
them) and the planned ``band_rows`` / ``slots``. Output: [N, OH, OW, C].

``StemDwNHWC`` (``fuse_stem_dw``, the same module): a network's first convolution (the "stem" form of
``ConvNHWC``: an NCHW image, at most 64 taps an output), an optional activation, and the depthwise convolution that
reads its result, as one call of ``sdk_stemdw_nhwc_f32`` (``runtime_c/src/sdk_kernels.c``): the stem's result is
never stored whole. Inputs: X [N, C, H, W], the stem weight [M, C, SKH, SKW] and bias [M] (or None), the depthwise
weight [M, 1, KH, KW] and bias [M] (or None); attributes: the depthwise Conv's, the stem's as ``s_strides`` /
``s_pads`` / ``s_dilations``, ``e_act`` / ``e_a`` / ``e_b`` (the activation between them) and the planned
``band_rows`` / ``slots``. Output: [N, OH, OW, M]."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..transform.epilogue import ACT_CODE
from .common import out
from .nn import conv_geometry
from .registry import register

PAD = 16  # runtime_c/include/sdk_fused.h SDK_DWPW_PAD: the packed projection weight's column multiple
DW_INPUT = {"DwProjectNHWC": 1, "PwDwNHWC": 3, "StemDwNHWC": 3}  # which input is the depthwise weight [C, 1, KH, KW]


def _geometry(n):
    """N, H, W and the channels of the input X [N, H, W, K], the depthwise Conv's (OH, OW), pads_begin, strides."""
    x, wd = n.inputs[0], n.inputs[DW_INPUT[n.op_type]]
    N, H, W, K = x.shape
    outs, begin, strides, dil = conv_geometry(n, [N, wd.shape[0], H, W], list(wd.shape[2:]))
    return N, H, W, K, outs, begin, strides


def _infer(n):
    N, _, _, _, outs, _, _ = _geometry(n)
    return out([N] + outs + [n.inputs[3].shape[0]], n.inputs[0].dtype)  # M (the projection's) or C (the depthwise's)


def _dw_taps(ctx, wd, C):
    """The depthwise weight [C, 1, KH, KW] as [KH KW][C]: a tap's channels side by side."""
    return ctx.const(np.ascontiguousarray(wd.const.astype(np.float32).reshape(C, -1).T), wd.name + "_nhwc")


def _packed_pointwise(ctx, w, b, M, K):
    """The 1x1 weight [M, K, 1, 1] as [K][Mp] with Mp = M rounded up to PAD (zero columns), its bias [M] (or None)
    zero-padded to Mp: (Mp, weight, bias)."""
    Mp = -(-M // PAD) * PAD
    B = np.zeros((K, Mp), np.float32)
    B[:, :M] = w.const.astype(np.float32).reshape(M, K).T
    Bt = ctx.const(B, w.name + "_packed")
    bt = None
    if b is not None:
        bpad = np.zeros(Mp, np.float32)
        bpad[:M] = b.const.astype(np.float32).reshape(-1)
        bt = ctx.const(bpad, b.name + "_padded")
    return Mp, Bt, bt


def _act_code(n, key):
    act = n.attr(key, "")
    return ACT_CODE.get(act.decode() if isinstance(act, bytes) else act, 0)


def _lower(ctx, n):
    x, wd, bd, wp, bp = n.inputs
    N, H, W, C, (OH, OW), begin, strides = _geometry(n)
    KH, KW = (int(k) for k in wd.shape[2:])
    M = int(wp.shape[0])
    Wd = _dw_taps(ctx, wd, int(C))
    Mp, Bt, bpt = _packed_pointwise(ctx, wp, bp, M, int(C))
    BH, slots = int(n.attr("band_rows")), int(n.attr("slots"))
    Y = ctx.new_buffer(n.name, [N, OH, OW, M], "float32")
    S = ctx.new_buffer(n.name + "_band", (slots * BH * int(OW) * int(C),), "float32")
    ctx.lib(kernels.call("sdk_dwpw_nhwc_f32", N=N, H=H, W=W, C=C, OH=OH, OW=OW, KH=KH, KW=KW, SH=strides[0],
                         SW=strides[1], PH=begin[0], PW=begin[1], X=ctx.buffer(x), Wd=Wd,
                         bd=ctx.buffer(bd) if bd is not None else None, dw_act=_act_code(n, "dw_act"),
                         dw_a=float(n.attr("dw_a", 0.0)), dw_b=float(n.attr("dw_b", 0.0)), M=M, Mp=Mp, B=Bt, bp=bpt,
                         BH=BH, slots=slots, Y=Y, scratch=S))
    return [Y]


register("DwProjectNHWC", _infer, _lower, "opaque")


def _pd_lower(ctx, n):
    x, we, be, wd, bd = n.inputs
    N, H, W, K, (OH, OW), begin, strides = _geometry(n)
    KH, KW = (int(k) for k in wd.shape[2:])
    C = int(wd.shape[0])
    Cp, Bt, bet = _packed_pointwise(ctx, we, be, C, int(K))
    Wd = _dw_taps(ctx, wd, C)
    BH, slots = int(n.attr("band_rows")), int(n.attr("slots"))
    Y = ctx.new_buffer(n.name, [N, OH, OW, C], "float32")
    S = ctx.new_buffer(n.name + "_band", (slots * ((BH - 1) * strides[0] + KH) * int(W) * C,), "float32")
    ctx.lib(kernels.call("sdk_pwdw_nhwc_f32", N=N, H=H, W=W, K=K, C=C, Cp=Cp, X=ctx.buffer(x), B=Bt, be=bet,
                         e_act=_act_code(n, "e_act"), e_a=float(n.attr("e_a", 0.0)), e_b=float(n.attr("e_b", 0.0)),
                         OH=OH, OW=OW, KH=KH, KW=KW, SH=strides[0], SW=strides[1], PH=begin[0], PW=begin[1], Wd=Wd,
                         bd=ctx.buffer(bd) if bd is not None else None, BH=BH, slots=slots, Y=Y, scratch=S))
    return [Y]


register("PwDwNHWC", _infer, _pd_lower, "opaque")


class _StemAttrs:
    """The stem convolution's attributes of a ``StemDwNHWC`` node (``s_strides`` ...) as a Conv node's."""

    def __init__(self, n):
        self.n, self.op_type, self.name = n, "Conv", n.name

    def attr(self, key, default=None):
        return self.n.attr("s_" + key, default) if key in ("strides", "pads", "dilations") else default


def _stem_geometry(n):
    """(N, C, H, W, M, (EH, EW), stem pads_begin, stem strides, (OH, OW), dw pads_begin, dw strides)."""
    x, ws, wd = n.inputs[0], n.inputs[1], n.inputs[3]
    N, C, H, W = x.shape
    M = ws.shape[0]
    es, sbegin, sstrides, _ = conv_geometry(_StemAttrs(n), [N, C, H, W], list(ws.shape[2:]))
    outs, begin, strides, _ = conv_geometry(n, [N, M] + list(es), list(wd.shape[2:]))
    return N, C, H, W, M, es, sbegin, sstrides, outs, begin, strides


def _sd_infer(n):
    N, _, _, _, M, _, _, _, outs, _, _ = _stem_geometry(n)
    return out([N] + outs + [M], n.inputs[0].dtype)


def _sd_lower(ctx, n):
    x, ws, bs, wd, bd = n.inputs
    N, C, H, W, M, (EH, EW), sbegin, sstrides, (OH, OW), begin, strides = _stem_geometry(n)
    SKH, SKW = (int(k) for k in ws.shape[2:])
    KH, KW = (int(k) for k in wd.shape[2:])
    Ws = ctx.const(np.ascontiguousarray(ws.const.astype(np.float32).reshape(int(M), -1).T), ws.name + "_nhwc")
    Wd = _dw_taps(ctx, wd, int(M))
    BH, slots = int(n.attr("band_rows")), int(n.attr("slots"))
    Y = ctx.new_buffer(n.name, [N, OH, OW, M], "float32")
    S = ctx.new_buffer(n.name + "_band", (slots * ((BH - 1) * strides[0] + KH) * int(EW) * int(M),), "float32")
    ctx.lib(kernels.call("sdk_stemdw_nhwc_f32", N=N, C=C, H=H, W=W, M=M, EH=EH, EW=EW, SKH=SKH, SKW=SKW,
                         SSH=sstrides[0], SSW=sstrides[1], SPH=sbegin[0], SPW=sbegin[1], X=ctx.buffer(x), Ws=Ws,
                         bs=ctx.buffer(bs) if bs is not None else None, s_act=_act_code(n, "e_act"),
                         s_a=float(n.attr("e_a", 0.0)), s_b=float(n.attr("e_b", 0.0)), OH=OH, OW=OW, KH=KH, KW=KW,
                         SH=strides[0], SW=strides[1], PH=begin[0], PW=begin[1], Wd=Wd,
                         bd=ctx.buffer(bd) if bd is not None else None, BH=BH, slots=slots, Y=Y, scratch=S))
    return [Y]


register("StemDwNHWC", _sd_infer, _sd_lower, "opaque")
