"""ONNX QuantizeLinear / DequantizeLinear for integer types: per-tensor, per-axis and blocked scales
(float8 / 4-bit types are not supported)."""
from __future__ import annotations

import numpy as np

from ..ir.dtypes import INTS
from ..tir.expr import Compute, Const, call, cast, emax, emin
from .common import norm_axis, onnx_dtype, out
from .registry import register


def _scale_reader(n, t, x_rank):
    """scale/zero point at output index i: scalar, per-axis (1-D) or blocked (same rank as x)."""
    if t is None:
        return None
    rank = len(t.shape)
    if rank == 0 or (rank == 1 and t.shape[0] == 1):
        return lambda i: t[[0] * rank]
    axis = norm_axis(n.attr("axis", 1), x_rank, n)
    if rank == 1:
        return lambda i: t[[i[axis]]]
    block = n.attr("block_size", 0)
    if not block:
        raise n.unsupported("a scale of the input's rank needs block_size")
    return lambda i: t[[i[k] // block if k == axis else i[k] for k in range(x_rank)]]


def _q_dtype(n):
    zp = n.input(2)
    if zp is not None:
        return zp.dtype
    if n.attr("output_dtype"):
        return onnx_dtype(n.attr("output_dtype"))
    return "uint8"


def _q_infer(n):
    dt = _q_dtype(n)
    if dt not in INTS:
        raise n.unsupported(f"dtype {dt}")
    return out(n.inputs[0].shape, dt)


def _q_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    sc = _scale_reader(n, ctx.tensor(n.inputs[1]), r)
    zp = _scale_reader(n, ctx.tensor(n.input(2)) if n.input(2) is not None else None, r)
    dt = n.out_types[0].dtype
    info = np.iinfo(np.dtype(dt))
    ft = "float64" if x.dtype == "float64" else "float32"

    def body(i):
        v = call("rint", cast(x[i], ft) / cast(sc(i), ft))  # round half to even
        if zp is not None:
            v = v + cast(zp(i), ft)
        v = emin(emax(v, Const(float(info.min), ft)), Const(float(info.max), ft))
        return cast(v, dt)

    return [Compute(n.name, x.shape, dt, body)]


def _dq_infer(n):
    x = n.inputs[0]
    if x.dtype not in INTS:
        raise n.unsupported(f"dtype {x.dtype}")
    return out(x.shape, n.inputs[1].dtype)


def _dq_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    r = len(x.shape)
    sc = _scale_reader(n, ctx.tensor(n.inputs[1]), r)
    zp = _scale_reader(n, ctx.tensor(n.input(2)) if n.input(2) is not None else None, r)
    dt = n.out_types[0].dtype
    ft = "float64" if dt == "float64" else "float32"

    def body(i):
        v = cast(x[i], "int64")
        if zp is not None:
            v = v - cast(zp(i), "int64")
        return cast(cast(v, ft) * cast(sc(i), ft), dt)

    return [Compute(n.name, x.shape, dt, body)]


register("QuantizeLinear", _q_infer, _q_lower)
register("DequantizeLinear", _dq_infer, _dq_lower)
