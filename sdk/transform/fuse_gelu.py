"""Graph pass: the exact GELU that exporters spell out, ``x * 0.5 * (1 + Erf(x / sqrt(2)))``, becomes one ``Gelu``.

PyTorch's ONNX export of ``nn.GELU()`` below opset 20 writes ``Div(x, 1.4142135) -> Erf -> Add(1) -> Mul(x) ->
Mul(0.5)`` (ViT, ConvNeXt, BERT). Lowered node by node the fused loop divides by sqrt(2) in every element (a C
compiler keeps a division by a constant that is not a power of two); ``Gelu``'s lowering (``sdk/ops/elementwise.py``)
multiplies by 1/sqrt(2) instead: one division per element (the erf's) instead of two, 1.5x faster on ConvNeXt-T's
GELU loops (AVX-512). Results change by an ulp or so of the erf argument.

Matched forms: the argument ``Div(x, c)`` with c = sqrt(2) or ``Mul(x, c)`` with c = 1/sqrt(2); ``Add(erf, 1)``
either way round; the product of ``x``, ``0.5`` and ``1 + erf`` as two Muls in any grouping
(``(x * (1 + erf)) * 0.5``, ``(x * 0.5) * (1 + erf)``, ``x * ((1 + erf) * 0.5)``). Every intermediate must have the
chain as its only reader and not be a graph output; the constants are float32 scalars (any rank, one element).

The tanh approximation that GPT-2's ``NewGELUActivation`` spells out (both exporters),
``0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * Pow(x, 3))))``, becomes ``Gelu(approximate="tanh")`` the same
way: ``1 + tanh`` in place of ``1 + erf``, the Tanh's argument ``Mul(Add(x, Mul(Pow(x, 3), 0.044715)), sqrt(2/pi))``
with each product and sum either way round (the cube also as ``x * x * x``). On CUDA it then folds into the GEMM's
epilogue like the exact form; on the CPU it is one loop.
"""
from __future__ import annotations

import math
from typing import Optional

from ..ir.graph import Binding, Function
from .chain import Chains, rewrite_chains, scalar as _scalar


def _close(a: Optional[float], b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-6 * abs(b)


def fuse_gelu(f: Function) -> Function:
    ch = Chains(f)
    producer, only = ch.producer, ch.only

    def prod(v, b, op):  # the binding ``op`` (two inputs) making v, read only by b
        return ch.prod(v, b, op, nargs=2)

    def cube(v, b):
        """(x, [bindings]) if v = Pow(x, 3) or x * x * x (any grouping), read only by b."""
        pw = prod(v, b, "Pow")
        if pw is not None and _close(_scalar(pw.inputs[1]), 3.0):
            return pw.inputs[0], [pw]
        m = prod(v, b, "Mul")
        if m is None:
            return None
        for p, q in (m.inputs, m.inputs[::-1]):
            sq = prod(q, m, "Mul")
            if sq is not None and sq.inputs[0] is sq.inputs[1] is p:
                return p, [sq, m]
        return None

    def tanh_arg(v, b):
        """(x, [bindings]) if v = sqrt(2/pi) * (x + 0.044715 * x^3) read only by b."""
        scale = prod(v, b, "Mul")
        if scale is None:
            return None
        for s, k in (scale.inputs, scale.inputs[::-1]):
            inner = prod(s, scale, "Add") if _close(_scalar(k), math.sqrt(2.0 / math.pi)) else None
            if inner is None:
                continue
            for x, t in (inner.inputs, inner.inputs[::-1]):
                term = prod(t, inner, "Mul")
                if term is None:
                    continue
                for c3, k3 in (term.inputs, term.inputs[::-1]):
                    got = cube(c3, term) if _close(_scalar(k3), 0.044715) else None
                    if got is not None and got[0] is x:
                        return x, got[1] + [term, inner, scale]
        return None

    def one_plus_erf(v, b):
        """(x, [bindings], approximate) if v = 1 + Erf(x / sqrt(2)) ("none") or v = 1 + Tanh(sqrt(2/pi) * (x +
        0.044715 x^3)) ("tanh"), read only by b."""
        add = prod(v, b, "Add")
        if add is None:
            return None
        for e, c in (add.inputs, add.inputs[::-1]):
            erf = producer.get(id(e)) if e is not None else None
            if not _close(_scalar(c), 1.0) or erf is None or erf.guard or not only(e, add):
                continue
            if erf.op == "Tanh":
                got = tanh_arg(erf.inputs[0], erf)
                if got is not None:
                    return got[0], got[1] + [erf, add], "tanh"
                continue
            if erf.op != "Erf":
                continue
            arg = erf.inputs[0]
            scale = prod(arg, erf, "Div")
            if scale is not None and _close(_scalar(scale.inputs[1]), math.sqrt(2.0)):
                return scale.inputs[0], [scale, erf, add], "none"
            scale = prod(arg, erf, "Mul")
            if scale is not None:
                for x, k in (scale.inputs, scale.inputs[::-1]):
                    if _close(_scalar(k), 1.0 / math.sqrt(2.0)):
                        return x, [scale, erf, add], "none"
        return None

    def match(top):
        """(x, [bindings of the chain], approximate) if ``top`` (a Mul) is the end of a GELU chain."""
        if top.op != "Mul" or len(top.inputs) != 2 or top.guard or any(v is None for v in top.inputs):
            return None
        for a, c in (top.inputs, top.inputs[::-1]):
            if _close(_scalar(c), 0.5):  # (x * (1 + erf)) * 0.5
                inner = prod(a, top, "Mul")
                if inner is not None:
                    for x, s in (inner.inputs, inner.inputs[::-1]):
                        m = one_plus_erf(s, inner)
                        if m is not None and m[0] is x:
                            return x, m[1] + [inner, top], m[2]
            inner = prod(c, top, "Mul")  # (x * 0.5) * (1 + erf) or x * ((1 + erf) * 0.5)
            if inner is None:
                continue
            for p, h in (inner.inputs, inner.inputs[::-1]):
                if not _close(_scalar(h), 0.5):
                    continue
                m = one_plus_erf(a, top)  # (x * 0.5) * (1 + erf): p is x
                if m is not None and m[0] is p:
                    return p, m[1] + [inner, top], m[2]
                m = one_plus_erf(p, inner)  # x * ((1 + erf) * 0.5): a is x
                if m is not None and m[0] is a:
                    return a, m[1] + [inner, top], m[2]
        return None

    def rewrite(b):
        m = match(b)
        if m is None or m[0].dtype != "float32":
            return None
        x, chain, approx = m
        attrs = {} if approx == "none" else {"approximate": approx}
        return Binding("Gelu", [x], list(b.outputs), attrs, name=b.name), chain

    return rewrite_chains(f, rewrite)
