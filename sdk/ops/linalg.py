"""Det (opset 11+): the determinant of each trailing square matrix, by its cofactor (Leibniz) expansion for
matrices up to 4 x 4, evaluated in float64 for float32 inputs. Larger matrices are refused (they want a
pivoted LU, a sequential kernel)."""
from __future__ import annotations

import itertools

from ..ir import sym
from ..tir.expr import Compute, cast
from .common import out
from .registry import register

MAX_N = 4


def _perm_sign(p):
    s, seen = 1, set()
    for i in range(len(p)):
        if i in seen:
            continue
        j, k = i, 0
        while j not in seen:
            seen.add(j)
            j, k = p[j], k + 1
        s *= -1 if k % 2 == 0 else 1
    return s


def _det_infer(n):
    x = n.inputs[0]
    if x.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise n.unsupported(f"dtype {x.dtype}")
    if x.rank < 2 or not sym.is_static(x.shape[-1]) or not sym.prove_eq(x.shape[-1], x.shape[-2]):
        raise n.unsupported(f"input of shape {[sym.to_str(d) for d in x.shape]} (square, static trailing dims)")
    if x.shape[-1] > MAX_N:
        raise n.unsupported(f"{x.shape[-1]} x {x.shape[-1]} matrices (up to {MAX_N} x {MAX_N})")
    return out(x.shape[:-2], x.dtype)


def _det_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    m = int(n.inputs[0].shape[-1])
    acc_dt = "float64" if x.dtype in ("float32", "float64") else "float32"

    def body(i):
        total = None
        for p in itertools.permutations(range(m)):
            term = None
            for r, c in enumerate(p):
                v = cast(x[list(i) + [r, c]], acc_dt)
                term = v if term is None else term * v
            if _perm_sign(p) < 0:
                term = -term
            total = term if total is None else total + term
        return cast(total, x.dtype)

    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


register("Det", _det_infer, _det_lower)
