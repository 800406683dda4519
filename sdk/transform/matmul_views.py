"""Graph pass: a MatMul operand made by layout ops reads their source through strides (``a_view`` / ``b_view``).

Multi-head attention as PyTorch exports it splits one [S, 3 * E] projection into q, k and v with a chain of
Reshape / Unsqueeze / Transpose / Squeeze / Gather ops, transposes each to [heads, S, d] (k to [heads, d, S]) and
scales q and k by d^-1/4: four copies of the projection per layer before the two batched products (ViT-S: ~230 us
of ~6 ms a layer, one thread). Each head's q, k and v are plain strided matrices inside the projection's output,
and the GEMM library call reads its operands through a batch, row and column stride, so the copies are not needed.

For each MatMul operand this pass walks up the chain of Identity, Reshape, Squeeze, Unsqueeze, Flatten, Transpose,
Gather (one constant index), Mul and Div by a scalar constant, and computes the operand as a strided view of the
chain's source: an element offset and one stride per dim (a Reshape only where it needs no copy, as numpy's).
Where the view's batch dims make one strided batch (or all are 1), the MatMul reads the source directly: its input
becomes the source, ``a_view``/``b_view`` hold (operand shape, offset, strides) and the scalar factors go into
``alpha``. The chain's ops are dropped once nothing else reads them.

Applies only to float32 operands of static shape whose chain holds at least one op that copies (Transpose, Gather,
Mul, Div): a chain of reshapes alone is a view already. Off unless the profile's ``[lower] matmul_views`` is on (the
host's; the strided operands are the C library kernel's contract, ``sdk/ops/nn.py``)."""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from ..ir.graph import Binding, Function, Value

RESHAPES = ("Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten")
COPIES = ("Transpose", "Gather", "Mul", "Div")
VIEW_ATTR = ("a_view", "b_view")


def _scalar(v: Optional[Value]) -> Optional[float]:
    if v is None or v.const is None or v.const.size != 1 or v.const.dtype.name != "float32":
        return None
    return float(v.const.reshape(-1)[0])


def reshape_strides(shape: List[int], strides: List[int], new: List[int]) -> Optional[List[int]]:
    """Strides of ``new`` over the memory of a (shape, strides) view, or None where the reshape needs a copy: the
    old dims are grouped with the new ones into runs of equal size, and each run's old dims must be one strided
    block (size-1 dims ignored)."""
    old = [(d, s) for d, s in zip(shape, strides) if d != 1]
    i = 0
    keep = [k for k, d in enumerate(new) if d != 1]
    res = [0] * len(new)
    j = 0
    while i < len(old) or j < len(keep):
        if i >= len(old) or j >= len(keep):
            return None
        run_old, run_new = [old[i]], [keep[j]]
        po, pn = old[i][0], new[keep[j]]
        i, j = i + 1, j + 1
        while po != pn:
            if po < pn:
                if i >= len(old):
                    return None
                run_old.append(old[i])
                po *= old[i][0]
                i += 1
            else:
                if j >= len(keep):
                    return None
                run_new.append(keep[j])
                pn *= new[keep[j]]
                j += 1
        for (d0, s0), (d1, s1) in zip(run_old, run_old[1:]):
            if s0 != d1 * s1:  # the run is not one block
                return None
        s = run_old[-1][1]
        for k in reversed(run_new):
            res[k] = s
            s *= new[k]
    return res


def _static(v: Value) -> bool:
    return v is not None and v.dtype == "float32" and all(isinstance(d, int) for d in v.shape)


class _Chain:
    def __init__(self, f: Function):
        self.producer = {id(v): b for b in f.bindings for v in b.outputs}
        self.consumers = f.consumers()
        self.outputs = {id(v) for v in f.outputs}

    def walk(self, v: Value) -> Tuple[Value, List[Tuple[Binding, int]]]:
        """(source, the layout ops from it to v in execution order, each with the index of its data input)."""
        chain = []
        while True:
            b = self.producer.get(id(v))
            if b is None or b.guard or id(v) in self.outputs:
                break
            if b.op in RESHAPES + ("Transpose",) or (b.op == "Gather" and len(b.inputs) == 2):
                k = 0
            elif b.op in ("Mul", "Div") and len(b.inputs) == 2:
                ks = [k for k in ((0, 1) if b.op == "Mul" else (0,)) if _scalar(b.inputs[1 - k]) not in (None, 0.0)]
                if not ks:
                    break
                k = ks[0]
            else:
                break
            x = b.inputs[k]
            if not _static(x) or x.const is not None or len(x.shape) != len(v.shape) and b.op in ("Mul", "Div"):
                break
            chain.append((b, k))
            v = x
        return v, chain[::-1]


def view_of(src: Value, chain: List[Tuple[Binding, int]]):
    """(shape, offset, strides, factor) of the chain's result as a view of ``src``, or None."""
    shape, off, factor = list(src.shape), 0, 1.0
    strides = [0] * len(shape)
    s = 1
    for k in reversed(range(len(shape))):
        strides[k] = s
        s *= shape[k]
    for b, x in chain:
        out = list(b.outputs[0].shape)
        if b.op in RESHAPES:
            strides = reshape_strides(shape, strides, out)
            if strides is None:
                return None
        elif b.op == "Transpose":
            perm = list(b.attrs.get("perm") or range(len(shape))[::-1])
            strides = [strides[p] for p in perm]
        elif b.op == "Gather":
            idx = b.inputs[1]
            if idx.const is None or idx.const.size != 1 or idx.const.dtype.kind not in "iu":
                return None
            ax = b.attrs.get("axis", 0) % len(shape)
            i = int(idx.const.reshape(-1)[0])
            i = i + shape[ax] if i < 0 else i
            if not 0 <= i < shape[ax]:
                return None
            off += i * strides[ax]
            strides = strides[:ax] + [0] * idx.const.ndim + strides[ax + 1:]
        else:  # Mul / Div by a scalar
            c = _scalar(b.inputs[1 - x])
            factor *= c if b.op == "Mul" else 1.0 / c
        shape = out
        if len(strides) != len(shape):
            return None
    return shape, off, strides, factor


def batch_stride(shape, strides, batch) -> Optional[int]:
    """One stride over the operand's batch dims (shape[:-2], matched against the product's ``batch``), or None."""
    lead, ls = shape[:-2], strides[:-2]
    if all(d == 1 for d in lead):
        return 0
    if len(lead) != len(batch) or any(d != e for d, e in zip(lead, batch)):
        return None
    dims = [(d, s) for d, s in zip(lead, ls) if d != 1]
    for (d0, s0), (d1, s1) in zip(dims, dims[1:]):
        if s0 != d1 * s1:
            return None
    return dims[-1][1]


def fold_views_into_matmul(f: Function, opts: Optional[dict] = None) -> Function:
    """``opts``: None (off) or {} (on)."""
    if opts is None:
        return f
    ch = _Chain(f)
    changed, dropped = {}, set()
    for b in f.bindings:
        if b.op != "MatMul" or len(b.inputs) != 2 or b.guard or "b_cap" in b.attrs or not all(map(_static, b.inputs)):
            continue
        if any(a in b.attrs for a in VIEW_ATTR) or len(b.inputs[0].shape) < 2 or len(b.inputs[1].shape) < 2:
            continue
        ins, attrs = list(b.inputs), dict(b.attrs)
        batch = _batch(b.inputs)
        for k in (0, 1):
            src, chain = ch.walk(ins[k])
            view = None
            while batch is not None and any(c.op in COPIES for c, _ in chain):  # the longest chain that is a view
                view = view_of(src, chain)
                if view is not None and _batched_well(view, k, b, batch):
                    break
                view, src, chain = None, chain[0][0].outputs[0], chain[1:]
            if view is None:
                continue
            shape, off, strides, factor = view
            ins[k] = src
            attrs[VIEW_ATTR[k]] = (tuple(shape), off, tuple(strides))
            if factor != 1.0:
                attrs["alpha"] = attrs.get("alpha", 1.0) * factor
            dropped.update(id(c) for c, _ in chain)
        if ins != list(b.inputs):
            changed[id(b)] = dataclasses.replace(b, inputs=ins, attrs=attrs)
    if not changed:
        return f
    bindings = [changed.get(id(b), b) for b in f.bindings]
    return f.with_bindings(_dead_code(bindings, dropped, f))


def has_views(f: Function) -> bool:
    """Some MatMul of ``f`` reads an operand through strides (this pass changed it)."""
    return any(b.op == "MatMul" and any(a in b.attrs for a in VIEW_ATTR) for b in f.bindings)


def _batched_well(view, k: int, b: Binding, batch) -> bool:
    """The view makes one strided batch, and times one matrix (a weight) it stays one GEMM: its batches must be
    rows of one strided matrix (as the lowering folds them into M), not many GEMMs of a few rows each."""
    shape, _, strides, _ = view
    bs = batch_stride(shape, strides, batch)
    if bs is None:
        return False
    other = b.inputs[1 - k]
    if k == 1 or not bs or any(d != 1 for d in other.shape[:-2]):
        return True
    return not b.attrs.get("transA", 0) and (shape[-2] == 1 or bs == shape[-2] * strides[-2])


def _batch(ins) -> Optional[list]:
    la, lb = list(ins[0].shape[:-2]), list(ins[1].shape[:-2])
    n = max(len(la), len(lb))
    la, lb = [1] * (n - len(la)) + la, [1] * (n - len(lb)) + lb
    out = []
    for x, y in zip(la, lb):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return out


def _dead_code(bindings: List[Binding], candidates: set, f: Function) -> List[Binding]:
    """Drop the chain ops (``candidates``) whose outputs nothing reads any more, from the last one up."""
    outputs = {id(v) for v in f.outputs}
    keep = list(bindings)
    while True:
        read = {id(v) for b in keep for v in b.inputs if v is not None} | outputs
        dead = [b for b in keep if id(b) in candidates and not any(id(v) in read for v in b.outputs)]
        if not dead:
            return keep
        gone = {id(b) for b in dead}
        keep = [b for b in keep if id(b) not in gone]
