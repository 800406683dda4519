"""Graph pass: a two-input Einsum that is a batched matrix product becomes Transpose -> Reshape -> MatMul -> Reshape ->
Transpose, so the MatMul lowering (GEMM library call, transposes folded into its operands, batch dims into M) runs
it instead of the Einsum's one generic loop nest (``sdk/ops/einsum.py``).

Attention as some exporters write it (MaxViT's q.k^T and p.v, HF models) is ``Einsum("bhid,bhjd->bhij")`` and
``Einsum("bhij,bhjd->bhid")``. The equation's letters fall into four groups: batch (both inputs and the output),
contracted (both inputs, not the output), left-free (first input and output) and right-free (second input and
output). The first input is transposed to [batch, left-free, contracted] and reshaped to [batch, M, K], the second
to [batch, contracted, right-free] -> [batch, K, N]; the product [batch, M, N] is reshaped to [batch, left-free,
right-free] and transposed to the output's order. Batch dims stay separate (size-1 batch dims broadcast as in
MatMul); the free and contracted letters keep the order they have in the output (contracted: in the first input).
Transposes and reshapes that change nothing are left out; a constant input is transposed and reshaped here.

Applies only to float32 Einsums without '...', with no letter repeated within a term, no letter summed from one
input alone, contracted letters of equal size in both inputs, no dim of size 0, and reshapes whose target is
expressible as an ONNX shape (each symbolic dim either copied from the same position (0) or the one inferred
(-1)). Everything else stays on the generic lowering.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from ..ir import sym
from ..ir.graph import Binding, Function, TensorType, Value


def _equation(eq: str, ranks):
    """(left term, right term, output term) or None."""
    eq = eq.replace(" ", "")
    if "..." in eq:
        return None
    lhs, arrow, res = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != 2 or any(len(t) != r for t, r in zip(terms, ranks)):
        return None
    if not arrow:
        letters = "".join(terms)
        res = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    a, b = terms
    if not all(c.isalpha() for c in a + b + res) or any(len(set(t)) != len(t) for t in (a, b, res)):
        return None
    if not set(res) <= set(a) | set(b) or not set(a) <= set(b) | set(res) or not set(b) <= set(a) | set(res):
        return None
    return a, b, res


def _reshape_target(src, dst) -> Optional[List[int]]:
    """ONNX Reshape's shape input taking ``src`` to ``dst``: static dims as themselves, a symbolic dim equal to the
    source's at the same position as 0, at most one other symbolic dim as -1; None if not expressible."""
    t, inferred = [], 0
    for k, d in enumerate(dst):
        if sym.is_static(d):
            t.append(int(d))
        elif k < len(src) and sym.sub(d, src[k]) == 0:
            t.append(0)
        else:
            t.append(-1)
            inferred += 1
    return t if inferred <= 1 else None


def _prod(dims):
    p = 1
    for d in dims:
        p = sym.mul(p, d)
    return p


class _Builder:
    def __init__(self, b: Binding):
        self.b, self.out = b, []
        self.base = b.outputs[0].name

    def value(self, tag, shape, dtype):
        return Value(f"{self.base}_{tag}", TensorType(tuple(shape), dtype))

    def transpose(self, v: Value, perm, tag, into: Value = None) -> Value:
        if list(perm) == list(range(len(perm))):
            return v
        shape = [v.shape[k] for k in perm]
        if v.const is not None and into is None:
            arr = np.ascontiguousarray(np.transpose(v.const, perm))
            return Value(f"{self.base}_{tag}", TensorType(tuple(arr.shape), v.dtype), const=arr)
        o = into or self.value(tag, shape, v.dtype)
        self.out.append(Binding("Transpose", [v], [o], {"perm": list(perm)}, name=f"{self.b.name}_{tag}"))
        return o

    def reshape(self, v: Value, shape, tag, into: Value = None) -> Optional[Value]:
        if len(shape) == v.rank and all(sym.sub(d, e) == 0 for d, e in zip(shape, v.shape)):
            return v
        target = _reshape_target(v.shape, shape)
        if target is None:
            return None
        if v.const is not None and into is None:
            arr = v.const.reshape([int(d) for d in shape])
            return Value(f"{self.base}_{tag}", TensorType(tuple(arr.shape), v.dtype), const=arr)
        s = np.array(target, np.int64)
        sv = Value(f"{self.base}_{tag}_shape", TensorType((len(target),), "int64"), const=s)
        o = into or self.value(tag, shape, v.dtype)
        self.out.append(Binding("Reshape", [v, sv], [o], {}, name=f"{self.b.name}_{tag}"))
        return o


def _rewrite(b: Binding) -> Optional[List[Binding]]:
    ins = [v for v in b.inputs if v is not None]
    if len(ins) != 2 or len(b.outputs) != 1 or b.guard or any(v.dtype != "float32" for v in ins):
        return None
    x, y = ins
    terms = _equation(str(b.attrs.get("equation", "")), (x.rank, y.rank))
    if terms is None:
        return None
    a, c, res = terms
    da, dc = dict(zip(a, x.shape)), dict(zip(c, y.shape))
    if any(sym.is_static(d) and int(d) == 0 for d in list(x.shape) + list(y.shape)):
        return None
    batch = [l for l in res if l in a and l in c]
    left = [l for l in res if l in a and l not in c]
    right = [l for l in res if l in c and l not in a]
    con = [l for l in a if l not in res]
    for l in con:
        if sym.sub(da[l], dc[l]) != 0:
            return None
    for l in batch:
        if sym.sub(da[l], dc[l]) != 0 and not any(sym.is_static(d) and int(d) == 1 for d in (da[l], dc[l])):
            return None
    bx = [da[l] for l in batch]
    by = [dc[l] for l in batch]
    bo = [dc[l] if sym.is_static(da[l]) and int(da[l]) == 1 else da[l] for l in batch]
    m, k, n = _prod(da[l] for l in left), _prod(da[l] for l in con), _prod(dc[l] for l in right)

    out = b.outputs[0]
    bld = _Builder(b)
    lhs = bld.transpose(x, [a.index(l) for l in batch + left + con], "lhs_t")
    lhs = bld.reshape(lhs, bx + [m, k], "lhs_r")
    rhs = bld.transpose(y, [c.index(l) for l in batch + con + right], "rhs_t")
    rhs = bld.reshape(rhs, by + [k, n], "rhs_r") if lhs is not None else None
    if lhs is None or rhs is None:
        return None
    grouped = batch + left + right
    sizes = {**dc, **da, **dict(zip(batch, bo))}
    perm = [grouped.index(l) for l in res]
    identity_t = perm == list(range(len(perm)))
    mm_shape = bo + [m, n]
    g_shape = [sizes[l] for l in grouped]
    same = len(g_shape) == len(mm_shape) and all(sym.sub(p, q) == 0 for p, q in zip(g_shape, mm_shape))
    if identity_t and same:
        mm = out
    else:
        mm = bld.value("mm", mm_shape, out.dtype)
    bld.out.append(Binding("MatMul", [lhs, rhs], [mm], {}, name=b.name))
    if mm is out:
        return bld.out
    g = mm if same else (out if identity_t else bld.value("mm_r", g_shape, out.dtype))
    if not same and bld.reshape(mm, g_shape, "mm_r", into=g) is None:
        return None
    if not identity_t:
        bld.transpose(g, perm, "out_t", into=out)
    return bld.out


def einsum_as_matmul(f: Function) -> Function:
    res, changed = [], False
    for b in f.bindings:
        new = _rewrite(b) if b.op == "Einsum" else None
        if new is None:
            res.append(b)
        else:
            res.extend(new)
            changed = True
    return f.with_bindings(res) if changed else f
