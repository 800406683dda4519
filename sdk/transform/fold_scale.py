"""Graph pass: fold a multiplication by a scalar constant into the MatMul that
produces its operand (``Mul(MatMul(a, b), c)`` -> ``MatMul(a, b, alpha=c)``).

Attention computes ``MatMul(q, k) * 1/sqrt(d)``; as a separate op that is a
full extra pass over the [batch, heads, seq, seq] scores. The GEMM library call
takes the factor as its ``alpha`` for free. ``alpha`` is an internal attribute
of our MatMul bindings (ONNX's MatMul has none).
"""
from __future__ import annotations

import dataclasses

from ..ir import sym
from ..ir.graph import Function


def fold_scalar_into_matmul(f: Function) -> Function:
    producer = {id(v): b for b in f.bindings for v in b.outputs}
    consumers = f.consumers()
    outputs = {id(v) for v in f.outputs}
    drop, folded = set(), {}  # folded: id(MatMul) -> its copy with alpha and the Mul's output (f is not edited)
    for b in f.bindings:
        if b.op not in ("Mul", "Div") or len(b.inputs) != 2:
            continue
        for k in ((0, 1) if b.op == "Mul" else (0,)):
            v, c = b.inputs[k], b.inputs[1 - k]
            if v is None or c is None or c.const is None or c.const.size != 1 or id(v) in outputs:
                continue
            mm = producer.get(id(v))
            if (mm is None or mm.op != "MatMul" or v.dtype not in ("float32", "float64") or c.const.dtype.name != v.dtype
                    or len(consumers.get(id(v), [])) != 1 or id(mm) in folded):
                continue
            out = b.outputs[0]
            if len(out.shape) != len(v.shape) or any(sym.sub(x, y) != 0 for x, y in zip(out.shape, v.shape)):
                continue  # the scalar broadcast adds dims: keep the Mul
            factor = float(c.const.reshape(-1)[0])
            if b.op == "Div":
                if factor == 0.0:
                    continue
                factor = 1.0 / factor
            folded[id(mm)] = dataclasses.replace(mm, attrs=dict(mm.attrs, alpha=mm.attrs.get("alpha", 1.0) * factor),
                                                 outputs=[out])
            drop.add(id(b))
            break
    if not drop:
        return f
    return f.with_bindings([folded.get(id(b), b) for b in f.bindings if id(b) not in drop])
