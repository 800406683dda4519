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


def broadcast_shapes(shapes: Sequence[Sequence], where="") -> tuple:
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
                raise ShapeError(f"{where}: cannot broadcast shapes "
                                 + " and ".join(str([sym.to_str(x) for x in s]) for s in shapes))
        out.append(d)
    return tuple(out)


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
