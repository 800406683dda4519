"""Shape rules and index helpers shared by op modules."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from onnx import helper as onnx_helper

from ..errors import ShapeError, UnsupportedOp
from ..ir import sym
from ..ir.dtypes import DTYPES, dtype_name
from ..ir.graph import TensorType


def onnx_dtype(code: int) -> str:
    """ONNX TensorProto element type -> numpy dtype name."""
    try:
        dt = np.dtype(onnx_helper.tensor_dtype_to_np_dtype(code))
    except (KeyError, TypeError, ValueError):
        raise UnsupportedOp(f"dtype code {code}") from None
    name = dtype_name(dt)
    if name not in DTYPES:
        raise UnsupportedOp(f"dtype {name}")
    return name


def same_dim(a, b) -> bool:
    return sym.same_dim(a, b)


def broadcast_shapes(shapes: Sequence[Sequence], where="", node=None) -> tuple:
    """numpy broadcasting of ``shapes``. With ``node``, two symbolic dims that cannot be proved equal at compile
    time but may be equal (run-time counts of two NonZeros, or expressions that agree on part of the bounds) are
    matched by :func:`match_dim`: equal at run time, checked there."""
    rank = max(len(s) for s in shapes)
    out = []
    for k in range(rank):
        d = 1
        for s in shapes:
            j = k - (rank - len(s))
            if j < 0:
                continue
            e = s[j]
            if e == 1:
                continue
            if d == 1:
                d = e
            elif not same_dim(d, e):
                msg = f"{where}: cannot broadcast shapes " + " and ".join(str([sym.to_str(x) for x in s]) for s in shapes)
                d = match_dim(node, d, e, msg)
        out.append(d)
    return tuple(out)


def _dim_cost(d) -> tuple:
    return (not sym.is_static(d), len(sym.free_vars(d)), len(sym.to_str(d)))


def match_dim(node, a, b, error: str):
    """``a`` and ``b`` must be the same dim. Equal at compile time: ``a``. Provably different (or ``node`` None):
    ShapeError(``error``). Otherwise they are assumed equal: ``node.dim_checks`` gets ``a - b >= 0`` and ``b - a >=
    0``, which the generated code checks as soon as their symbols are known (input dims: before the run, with
    SDK_ERR_DIM_OUT_OF_BOUNDS; run-time symbols: where they are defined), and the simpler of the two is returned."""
    if same_dim(a, b):
        return a
    if node is None or (sym.is_static(a) and sym.is_static(b)) or sym.prove_ne(a, b):
        raise ShapeError(error)
    ra, rb = sym.reduce_by(a, node.equalities), sym.reduce_by(b, node.equalities)
    if same_dim(ra, rb):  # matched before (and checked there)
        return min((ra, rb), key=_dim_cost)
    keep, other = sorted((a, b), key=_dim_cost)
    return assume_equal(node, keep, other, error)


def assume_equal(node, keep, other, error: str):
    """Record ``keep == other`` as a run-time check of ``node`` and as an equality later rules reduce by
    (``sym.reduce_by``); returns ``keep``."""
    node.require_nonneg(sym.sub(keep, other), error)
    node.require_nonneg(sym.sub(other, keep), error)
    if isinstance(other, sym.Sym) and (other, keep) not in node.equalities:
        node.equalities.append((other, keep))
    return keep


def require_le(node, a, b, error: str):
    """``a <= b`` must hold: proved, or (when it may hold) checked at run time like :func:`match_dim`'s checks."""
    if sym.prove_le(a, b):
        return
    if node is None or (sym.is_static(a) and sym.is_static(b)) or sym.prove_lt(b, a):
        raise ShapeError(error)
    node.require_nonneg(sym.sub(b, a), error)


def bcast_read(t, out_shape, idx):
    """Read tensor ``t`` at output index ``idx`` with numpy broadcasting."""
    off = len(out_shape) - len(t.shape)
    return t[[0 if (t.shape[k] == 1 and out_shape[off + k] != 1) else idx[off + k]
              for k in range(len(t.shape))]]


def norm_axis(axis: int, rank: int, node=None) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise ShapeError(f"{node.op_type if node else ''} '{node.name if node else ''}': axis {axis} out of range for rank {rank}")
    return a


def out(shape, dtype) -> List[TensorType]:
    return [TensorType(tuple(shape), dtype)]


def unravel(flat, shape):
    """Index expressions for a row-major flat index into ``shape``."""
    if not shape:
        return []  # a scalar
    idx = []
    for d in reversed(shape[1:]):
        idx.append(flat % d)
        flat = flat // d
    idx.append(flat)
    return list(reversed(idx))


def ravel(idx, shape):
    flat = idx[0] if idx else 0
    for i, d in zip(idx[1:], shape[1:]):
        flat = flat * d + i
    return flat


def runtime_axes(ctx, n, idx, rank):
    """Axes given as a 1-D int tensor known only at run time (input ``idx``): per dim k < ``rank`` a bool Expr
    "k is named" (a negative axis counts from the end), and the checks for ``ctx.bind_dims``: every axis in range
    and none named twice (SDK_ERR_BAD_VALUE)."""
    from ..tir.expr import Const, Load, binop, cast, select
    buf = ctx.buffer(n.inputs[idx])
    vals = [cast(Load(buf, [Const(j)], buf.dtype), "int64") for j in range(int(n.inputs[idx].shape[0]))]
    checks = [(binop("&&", v >= -rank, v < rank), "SDK_ERR_BAD_VALUE") for v in vals]
    flags = []
    for k in range(rank):
        hit = None
        for v in vals:
            h = binop("||", binop("==", v, Const(k)), binop("==", v, Const(k - rank)))
            hit = h if hit is None else binop("||", hit, h)
        flags.append(hit)
    named = Const(0)
    for f in flags:
        named = named + select(f, Const(1), Const(0))
    checks.append((binop("==", named, Const(len(vals))), "SDK_ERR_BAD_VALUE"))
    return flags, checks


def nth_unflagged(flags, dims, j):
    """The ``j``-th of ``dims`` whose flag is false, as an Expr (0 if there is none)."""
    from ..tir.expr import Const, as_expr, binop, select
    v, before = Const(0), Const(0)
    for f, d in zip(flags, dims):
        v = v + select(binop("&&", binop("==", before, Const(j)), binop("==", select(f, Const(0), Const(1)), Const(1))),
                       as_expr(d), Const(0))
        before = before + select(f, Const(0), Const(1))
    return v
