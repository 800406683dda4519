"""Graph pass: a projection whose output only strided MatMul operands read is split into one GEMM per column block
they read (q, k and v of attention as three tensors instead of one).

After ``matmul_views.py`` ViT's attention reads q, k and v in place from the in-projection's output ([S, 3 E]):
the copies are gone, but the whole [S, 3 E] tensor stays live until ``p v`` has read v, across the scores and the
softmax, which grew ViT-S's arena by 4 % (so the pipeline kept the copies). Where every reader of a projection's
output ``Y = X W (+ bias)`` (constant W, bias a row) is such a view, and the views fall into separate column blocks
of Y, the projection becomes one product per block (``X W[:, lo:hi] (+ bias[lo:hi])``) and each view reads its own
block's tensor: q and k die at ``q k^T``, v at ``p v``, and no copy comes back. Columns no view reads are not
computed. Each output element is the same sum as before (same K order), so results are bit-equal.

Runs after ``fold_views_into_matmul`` with its options (None: off)."""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from ..ir.graph import Binding, Function, TensorType, Value
from .matmul_views import VIEW_ATTR


def _columns(view, n: int) -> Optional[Tuple[int, int]]:
    """(first, last) column of a [rows, n] source that a view (shape, offset, strides) reads, or None when a stride
    mixes rows and columns or the view's columns wrap into the next row."""
    shape, off, strides = view
    c0, ext = off % n, 0
    for d, s in zip(shape, strides):
        if d == 1 or s == 0 or s % n == 0:
            continue
        if s < 0 or s >= n:
            return None
        ext += (d - 1) * s
    return (c0, c0 + ext) if c0 + ext < n else None


def _block_view(view, n: int, lo: int, w: int):
    """The view re-based on the [rows, w] tensor of columns lo .. lo + w - 1."""
    shape, off, strides = view
    st = tuple(s // n * w if s and s % n == 0 else s for s in strides)
    return tuple(shape), off // n * w + off % n - lo, st


def _groups(spans: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Overlapping column spans merged: the blocks, in column order."""
    out: List[List[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _bias_row(c: Optional[Value], n: int) -> Optional[np.ndarray]:
    if c is None or c.const is None or c.dtype != "float32" or c.const.size != n or c.const.shape[-1:] != (n,):
        return None
    return c.const.reshape(n)


class _Projection:
    """``Y = X W (+ bias)``: the MatMul with a constant 2-D W (transB allowed) and the optional bias Add."""

    def __init__(self, mm: Binding, add: Optional[Binding], bias_k: int):
        self.mm, self.add, self.bias_k = mm, add, bias_k
        self.out = (add or mm).outputs[0]

    def part(self, lo: int, hi: int, j: int) -> Tuple[List[Binding], Value]:
        mm, w = self.mm, hi - lo + 1
        W = mm.inputs[1].const
        Wj = W[lo:hi + 1, :] if mm.attrs.get("transB") else W[:, lo:hi + 1]
        wv = Value(f"{mm.inputs[1].name}_cols{lo}", TensorType(Wj.shape, "float32"), np.ascontiguousarray(Wj))
        y = mm.outputs[0]
        yv = Value(f"{y.name}_cols{lo}", TensorType(tuple(y.shape[:-1]) + (w,), "float32"))
        out = [dataclasses.replace(mm, inputs=[mm.inputs[0], wv], outputs=[yv], attrs=dict(mm.attrs),
                                   name=f"{mm.name}_cols{lo}")]
        if self.add is None:
            return out, yv
        a = self.add
        c = a.inputs[self.bias_k]
        bj = np.ascontiguousarray(_bias_row(c, self.out.shape[-1])[lo:hi + 1])
        cv = Value(f"{c.name}_cols{lo}", TensorType((w,), "float32"), bj)
        ov = Value(f"{self.out.name}_cols{lo}", TensorType(tuple(self.out.shape[:-1]) + (w,), "float32"))
        ins = [yv, cv] if self.bias_k == 1 else [cv, yv]
        out.append(dataclasses.replace(a, inputs=ins, outputs=[ov], attrs=dict(a.attrs), name=f"{a.name}_cols{lo}"))
        return out, ov


def _projection(b: Binding, producer, consumers, outputs) -> Optional[_Projection]:
    """``b`` as the last op of a projection (its MatMul, or the bias Add after it), or None."""
    mm, add, bias_k = b, None, 0
    if b.op == "Add" and len(b.inputs) == 2:
        for k in (0, 1):
            p = producer.get(id(b.inputs[1 - k]))
            if p is not None and p.op == "MatMul" and b.inputs[k] is not None:
                mm, add, bias_k = p, b, k
                break
        else:
            return None
        y = mm.outputs[0]
        if id(y) in outputs or [id(c) for c in consumers.get(id(y), [])] != [id(add)]:
            return None
        if add.outputs[0].shape != y.shape or _bias_row(add.inputs[bias_k], y.shape[-1]) is None:
            return None
    if mm.op != "MatMul" or len(mm.inputs) != 2 or mm.guard or (add is not None and add.guard):
        return None
    w = mm.inputs[1]
    if w is None or w.const is None or w.const.ndim != 2 or w.dtype != "float32" or "b_view" in mm.attrs:
        return None
    if mm.attrs.get("transA") or not isinstance(mm.outputs[0].shape[-1], int):
        return None
    return _Projection(mm, add, bias_k)


def split_viewed_projection(f: Function, opts: Optional[dict] = None) -> Function:
    """``opts``: None (off) or {} (on): the strided-operand pass's options."""
    if opts is None:
        return f
    producer = {id(v): b for b in f.bindings for v in b.outputs}
    consumers = f.consumers()
    outputs = {id(v) for v in f.outputs}
    replace, new_attrs, before, placed = {}, {}, {}, set()
    for b in f.bindings:
        if b.op not in ("MatMul", "Add"):
            continue
        p = _projection(b, producer, consumers, outputs)
        if p is None or id(p.out) in outputs or id(p.mm) in new_attrs:  # (a reader of a split one: left as is)
            continue
        n = int(p.out.shape[-1])
        readers = consumers.get(id(p.out), [])
        spans, uses = [], []  # uses: (reader, input index, view, span)
        for r in readers:
            if r.op != "MatMul":
                break
            ks = [k for k in (0, 1) if r.inputs[k] is p.out]
            if not all(VIEW_ATTR[k] in r.attrs for k in ks):
                break
            for k in ks:
                span = _columns(r.attrs[VIEW_ATTR[k]], n)
                if span is None:
                    break
                spans.append(span)
                uses.append((r, k, span))
            else:
                continue
            break
        else:
            blocks = _groups(spans)
            if not readers or len(blocks) < 2:
                continue
            vals = []
            for j, (lo, hi) in enumerate(blocks):
                bs, v = p.part(lo, hi, j)
                vals.append((lo, hi, v, bs))
            replace[id(p.mm)] = []
            if p.add is not None:
                replace[id(p.add)] = []
            for r, k, (a, _) in uses:  # each block's product just before its first reader (hot in cache there)
                lo, hi, v, bs = next(t for t in vals if t[0] <= a <= t[1])
                if not any(id(b) in placed for b in bs):
                    before.setdefault(id(r), []).extend(bs)
                    placed.update(id(b) for b in bs)
                ins, attrs = new_attrs.get(id(r), (list(r.inputs), dict(r.attrs)))
                ins[k] = v
                attrs[VIEW_ATTR[k]] = _block_view(r.attrs[VIEW_ATTR[k]], n, lo, hi - lo + 1)
                new_attrs[id(r)] = (ins, attrs)
    if not replace:
        return f
    bindings = []
    for b in f.bindings:
        bindings += before.get(id(b), [])
        if id(b) in replace:
            bindings += replace[id(b)]
        elif id(b) in new_attrs:
            ins, attrs = new_attrs[id(b)]
            bindings.append(dataclasses.replace(b, inputs=ins, attrs=attrs))
        else:
            bindings.append(b)
    return f.with_bindings(bindings)
