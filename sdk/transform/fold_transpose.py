"""Graph pass: fold a transpose of the last two axes into the MatMul that reads it
(``MatMul(a, Transpose(x, perm=[..., r-1, r-2]))`` -> ``MatMul(a, x, transB=1)``, and ``transA`` for the first operand).

Attention computes ``q @ Transpose(k)``; with a key/value cache that transpose copies the whole cache every decoding
step. The GEMM library call reads an operand through its row and column strides, so the transposed operand costs
nothing there. ``transA``/``transB`` are internal attributes of our MatMul bindings (ONNX's MatMul has none; the
names follow Gemm's): operand k is then stored with its last two axes swapped. Only a transpose whose one consumer
is the MatMul and whose input is not a constant is folded (a constant weight is transposed once at build time by the
GEMV/GEMM paths anyway).
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Function

TRANS_ATTR = ("transA", "transB")


def _swaps_last_two(perm, rank) -> bool:
    return rank >= 2 and list(perm) == list(range(rank - 2)) + [rank - 1, rank - 2]


def fold_transpose_into_matmul(f: Function) -> Function:
    producer = {id(v): b for b in f.bindings for v in b.outputs}
    consumers = f.consumers()
    outputs = {id(v) for v in f.outputs}
    drop, folded = set(), {}
    for b in f.bindings:
        if b.op != "MatMul" or len(b.inputs) != 2 or b.guard:
            continue
        ins, attrs = list(b.inputs), dict(b.attrs)
        for k in (0, 1):
            v = ins[k]
            t = producer.get(id(v)) if v is not None else None
            if (t is None or t.op != "Transpose" or t.guard or id(v) in outputs or len(consumers.get(id(v), [])) != 1
                    or attrs.get(TRANS_ATTR[k], 0) or id(t) in drop):
                continue
            x = t.inputs[0]
            perm = t.attrs.get("perm")
            if perm is None and x is not None and len(x.shape) == 2:  # ONNX's default: the axes reversed
                perm = [1, 0]
            if x is None or x.const is not None or perm is None or not _swaps_last_two(perm, len(x.shape)):
                continue
            ins[k] = x
            attrs[TRANS_ATTR[k]] = 1
            drop.add(id(t))
        if ins != list(b.inputs):
            folded[id(b)] = dataclasses.replace(b, inputs=ins, attrs=attrs)
    if not drop:
        return f
    return f.with_bindings([folded.get(id(b), b) for b in f.bindings if id(b) not in drop])
