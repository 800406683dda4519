"""Graph pass: the RMSNorm that exporters spell out becomes one ``RMSNormalization`` (ONNX opset 23's op).

T5's ``T5LayerNorm`` and the LLaMA-family ``*RMSNorm`` modules export as ``x * rsqrt(mean(x^2) + eps) * weight``:
``Pow(x, 2)`` (or ``Mul(x, x)``) -> ``ReduceMean`` over the last axis, kept -> ``Add(eps)`` -> ``Sqrt`` ->
``Reciprocal`` (torch.export) or ``Div(1, .)`` (TorchScript) -> ``Mul(x, .)`` -> ``Mul(weight, .)``; onnxruntime's
``SimplifiedLayerNormalization`` as the contrib rewrite writes it (``sdk/frontend/contrib.py``): ``Div(x, Sqrt(.))``
-> ``Mul(., scale)``. Lowered node by node, the element-wise tail computes ``1 / sqrt(mean + eps)`` in **every
element** of the row (one fused loop over x; the C compiler cannot hoist the row's value: the kernel's pointers may
alias, and ``sqrtf`` sets errno, which keeps that loop scalar on gcc): T5-small's 13 norms took 1.19 ms of 33 ms at
seq 128 against onnxruntime's 0.39 ms (bench/RESULTS_text.md). ``RMSNormalization``'s lowering
(``sdk/ops/reduce.py``) takes the reciprocal square root once per row in the reduction and multiplies the row by it.

Matched: the square as ``Pow(x, 2)`` or ``Mul(x, x)``; ``ReduceMean`` over the last axis only (attribute or input
axes), keepdims 1; ``Add`` of a float32 scalar eps either way round; ``Sqrt``; the reciprocal as ``Reciprocal`` or
``Div(1, .)`` then ``Mul`` with x either way round, or ``Div(x, .)``; an optional ``Cast`` to float32 (the LLaMA
form's ``.to(input_dtype)``); the last ``Mul`` by a float32 1-D constant weight of the row's length, either way
round. x is float32. Every intermediate must have the chain as its only reader and not be a graph output (x itself
may have other readers: the residual). Results: the same operations per element except that ``Div(x, rms)`` becomes
``x * (1 / rms)`` (an ulp or so).
"""
from __future__ import annotations

import numpy as np

from ..ir import sym
from ..ir.graph import Binding, Function
from .chain import Chains, rewrite_chains, scalar as _scalar


def fuse_rmsnorm(f: Function) -> Function:
    ch = Chains(f)
    producer, only, prod = ch.producer, ch.only, ch.prod

    def last_axis_mean(m, x) -> bool:
        """m is ReduceMean over x's last axis only, kept."""
        if m.op != "ReduceMean" or not m.attrs.get("keepdims", 1) or x.rank < 1:
            return False
        axes = m.attrs.get("axes")
        if axes is None and len(m.inputs) > 1 and m.inputs[1] is not None:
            axes = m.inputs[1].known_ints()
        return axes is not None and len(axes) == 1 and int(axes[0]) in (-1, x.rank - 1)

    def square_of(v, b):
        """(x, [bindings]) if v = x^2 (Pow(x, 2) or Mul(x, x)), read only by b."""
        p = prod(v, b, "Pow", "Mul")
        if p is None or len(p.inputs) != 2:
            return None
        if p.op == "Pow" and _scalar(p.inputs[1]) == 2.0:
            return p.inputs[0], [p]
        if p.op == "Mul" and p.inputs[0] is p.inputs[1]:
            return p.inputs[0], [p]
        return None

    def rms_of(v, b):
        """(x, eps, [bindings]) if v = Sqrt(mean(x^2 over the last axis) + eps), read only by b."""
        s = prod(v, b, "Sqrt")
        a = prod(s.inputs[0], s, "Add") if s is not None else None
        if a is None or len(a.inputs) != 2:
            return None
        for m_v, e_v in (a.inputs, a.inputs[::-1]):
            eps = _scalar(e_v)
            m = prod(m_v, a, "ReduceMean")
            if eps is None or m is None:
                continue
            sq = square_of(m.inputs[0], m)
            if sq is not None and last_axis_mean(m, sq[0]):
                return sq[0], eps, sq[1] + [m, a, s]
        return None

    def normed(v, b):
        """(x, eps, [bindings]) if v = x / rms(x) (as x * Reciprocal(rms), x * Div(1, rms) or Div(x, rms)),
        optionally through a Cast to float32, read only by b."""
        c = prod(v, b, "Cast")
        if c is not None:
            if c.attrs.get("to") != 1 or c.inputs[0] is None or c.inputs[0].dtype != "float32":
                return None
            got = normed(c.inputs[0], c)
            return None if got is None else (got[0], got[1], got[2] + [c])
        p = prod(v, b, "Mul", "Div")
        if p is None or len(p.inputs) != 2:
            return None
        if p.op == "Div":
            got = rms_of(p.inputs[1], p)
            return (got[0], got[1], got[2] + [p]) if got is not None and got[0] is p.inputs[0] else None
        for x, r_v in (p.inputs, p.inputs[::-1]):
            r = prod(r_v, p, "Reciprocal", "Div")
            if r is None:
                continue
            if r.op == "Reciprocal":
                got = rms_of(r.inputs[0], r)
            elif len(r.inputs) == 2 and _scalar(r.inputs[0]) == 1.0:
                got = rms_of(r.inputs[1], r)
            else:
                continue
            if got is not None and got[0] is x:
                return x, got[1], got[2] + [r, p]
        return None

    def match(top):
        """(x, weight, eps, [bindings of the chain]) if ``top`` (a Mul by a 1-D weight) ends an RMSNorm."""
        if top.op != "Mul" or len(top.inputs) != 2 or top.guard or any(v is None for v in top.inputs):
            return None
        for y, w in (top.inputs, top.inputs[::-1]):
            if w.const is None or w.const.dtype != np.float32 or w.rank != 1:
                continue
            got = normed(y, top)
            if got is None:
                continue
            x = got[0]
            if x.dtype != "float32" or x.rank < 1 or sym.sub(x.shape[-1], w.shape[0]) != 0:
                continue
            if tuple(top.outputs[0].shape) != tuple(x.shape):
                continue
            return x, w, got[1], got[2]
        return None

    def rewrite(b):
        m = match(b)
        if m is None:
            return None
        x, w, eps, chain = m
        return Binding("RMSNormalization", [x, w], list(b.outputs), {"axis": -1, "epsilon": eps}, name=b.name), chain

    return rewrite_chains(f, rewrite)
