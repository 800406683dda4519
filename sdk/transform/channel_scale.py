"""Graph pass: a per-channel scale of a pointwise convolution's input moves into that convolution's weight.

A squeeze-excite block (EfficientNet, MobileNetV3, RegNetY) multiplies the depthwise result ``X [1, H, W, C]`` by
its channel gates ``s [1, 1, 1, C]`` and hands the product to the block's projection (``ConvNHWC`` 1x1, weight
``[M, C]``). As two steps the product is a whole pass over the block's widest tensor (read ``X``, write ``X * s``,
which the projection's GEMM reads again). Since ``(X * s) W^T = X (s W^T)``, the projection can read ``X`` and a
weight scaled per run instead: ``C * M`` multiplies in place of ``H * W * C``. Worth it where the plane has more
pixels than the projection has outputs (EfficientNet-B0's 112 x 112 x 32 -> 16: 401 k multiplies and 3.2 MB of
traffic against 512 multiplies); not on 7 x 7 planes with wide projections (49 pixels, 192 outputs).

Matched, after the layout pass (``nhwc_layout``): ``Mul(s, X)`` (either order) with ``X`` float32 ``[1, H, W, C]``
(one image: each image has its own gates), ``s`` float32 ``[1, 1, 1, C]``, the product read only by a pointwise
``ConvNHWC`` (constant weight, no scale yet) as its input and not a graph output, and ``H * W >= ratio * M``
(``ratio``: the profile's ``[layout] scale_into_weights``; absent or 0: the pass is off). The convolution becomes
``ConvNHWC(X, W, bias, s)``: its fourth input, the channel scale, which its lowering (``sdk/ops/nn.py``) applies
to the ``[C, M]`` weight in a small kernel before the GEMM. Floats: each product ``x * (s * w)`` instead of
``(x * s) * w`` (rounding differs in the last bits)."""
from __future__ import annotations

import dataclasses
from typing import Optional

from ..ir import sym
from ..ir.graph import Function


def _pointwise(b) -> bool:
    a = b.attrs
    w = b.inputs[1] if len(b.inputs) > 1 else None
    return (b.op == "ConvNHWC" and not a.get("nchw_input", 0) and w is not None and w.const is not None
            and list(w.shape[2:]) == [1, 1] and a.get("group", 1) == 1 and list(a.get("strides") or [1, 1]) == [1, 1]
            and not any(a.get("pads") or []) and list(a.get("dilations") or [1, 1]) == [1, 1]
            and a.get("auto_pad", "NOTSET") in ("NOTSET", b"NOTSET") and len(b.inputs) <= 3)


def _static(shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def scale_into_weights(f: Function, layout: Optional[dict] = None) -> Function:
    """The pass (see the module docstring); ``layout``: the profile's ``[layout]`` table."""
    ratio = float((layout or {}).get("scale_into_weights", 0) or 0)
    if ratio <= 0:
        return f
    consumers = f.consumers()
    outputs = {id(v) for v in f.outputs}
    drop, moved = set(), {}  # moved: id(ConvNHWC) -> its copy reading X with the scale as its fourth input
    for b in f.bindings:
        if b.op != "Mul" or len(b.inputs) != 2 or any(v is None for v in b.inputs) or b.guard:
            continue
        y = b.outputs[0]
        users = consumers.get(id(y), [])
        if id(y) in outputs or len(users) != 1 or not _pointwise(users[0]) or users[0].inputs[0] is not y:
            continue
        conv = users[0]
        if id(conv) in moved or conv.guard:
            continue
        for x, s in (b.inputs, b.inputs[::-1]):
            if (x.dtype != "float32" or s.dtype != "float32" or x.rank != 4 or s.rank != 4 or not _static(x.shape)
                    or not _static(s.shape) or x.shape[0] != 1 or list(s.shape) != [1, 1, 1, x.shape[3]]
                    or any(sym.sub(p, q) != 0 for p, q in zip(y.shape, x.shape))):
                continue
            M = conv.inputs[1].shape[0]
            if x.shape[1] * x.shape[2] < ratio * M:
                continue
            ins = list(conv.inputs) + [None] * (3 - len(conv.inputs))
            moved[id(conv)] = dataclasses.replace(conv, inputs=[x] + ins[1:3] + [s])
            drop.add(id(b))
            break
    if not drop:
        return f
    return f.with_bindings([moved.get(id(b), b) for b in f.bindings if id(b) not in drop])
