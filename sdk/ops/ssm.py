"""Ops of state-space / linear-attention decoders (opset 27): CausalConvWithState, the depthwise causal
convolution of Mamba and Gated DeltaNet blocks with its carried state (the last k - 1 positions)."""
from __future__ import annotations

from ..ir import sym
from ..ir.dtypes import FLOATS
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Reduction, as_expr, call, cast, emax, emin, select
from .registry import register


def _clamp(e, d):
    return emin(emax(e, 0), as_expr(d) - 1)


def _ccws_infer(n):
    x, w = n.inputs[:2]
    bias, past = n.input(2), n.input(3)
    if x.dtype not in FLOATS or x.rank != 3 or w.rank != 3 or not sym.is_static(w.shape[2]):
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}], weight of rank {w.rank} (float, rank 3, static k)")
    if n.attr("activation", "none") not in ("none", "silu", "swish"):
        raise n.unsupported(f"activation {n.attr('activation')}")
    k = int(w.shape[2])
    if not (sym.prove_eq(w.shape[0], x.shape[1]) and w.shape[1] == 1):
        raise n.unsupported(f"weight of shape {[sym.to_str(d) for d in w.shape]} (depthwise: [channels, 1, k])")
    if past is not None and not (past.rank == 3 and sym.is_static(past.shape[2]) and past.shape[2] == k - 1):
        raise n.unsupported(f"past_state of shape {[sym.to_str(d) for d in past.shape]} (expected length {k - 1})")
    if bias is not None and bias.rank != 1:
        raise n.unsupported("bias of rank other than 1")
    return [TensorType(tuple(x.shape), x.dtype), TensorType((x.shape[0], x.shape[1], k - 1), x.dtype)]


def _ccws_lower(ctx, n):
    """output[b, c, t] = act(bias[c] + sum_j w[c, 0, j] * padded[b, c, t + j]), padded = past_state (zeros if
    absent) followed by the input; present_state = padded's last k - 1 positions (onnx's reference)."""
    x, w = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    bias = ctx.tensor(n.input(2)) if n.input(2) is not None else None
    past = ctx.tensor(n.input(3)) if n.input(3) is not None else None
    k = int(n.inputs[1].shape[2])
    dt = "float32" if x.dtype in ("float16", "bfloat16") else x.dtype
    T = x.shape[2]

    def padded(b, c, p):
        """padded[b, c, p] for p in [0, k - 1 + T)."""
        cur = cast(x[[b, c, _clamp(p - Const(k - 1), T)]], dt)
        if k == 1:
            return cur
        prev = cast(past[[b, c, _clamp(p, k - 1)]], dt) if past is not None else Const(0.0, dt)
        return select(p < Const(k - 1), prev, cur)

    def post(acc, i):
        v = acc if bias is None else acc + cast(bias[[i[1]]], dt)
        if n.attr("activation", "none") in ("silu", "swish"):
            v = v / (Const(1.0, dt) + call("exp", -v))
        return v

    conv = Compute(n.name, x.shape, x.dtype,
                   lambda i, r: cast(w[[i[1], Const(0), r[0]]], dt) * padded(i[0], i[1], i[2] + r[0]),
                   Reduction([k], "sum", 0.0, post=post))
    state = Compute(n.name + "_state", n.out_types[1].shape, x.dtype,
                    lambda i: cast(padded(i[0], i[1], i[2] + as_expr(T)), x.dtype))
    return [conv, state]


register("CausalConvWithState", _ccws_infer, _ccws_lower, "reduce")
