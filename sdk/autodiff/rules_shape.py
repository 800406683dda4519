"""Gradient rules of the data-movement ops: reshape-like, Transpose, Expand, Concat, Slice, Gather."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOp
from ..ir import sym
from .registry import grad_rule


@grad_rule("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(gb, b, gy, need):
    return [gb.reshape(gy[0], b.inputs[0].shape)] + [None] * (len(b.inputs) - 1)


@grad_rule("Transpose")
def _transpose(gb, b, gy, need):
    x = b.inputs[0]
    perm = b.attrs.get("perm") or list(reversed(range(x.rank)))
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    return [gb.op("Transpose", [gy[0]], perm=inv)]


@grad_rule("Expand")
def _expand(gb, b, gy, need):
    return [gb.unbroadcast(gy[0], b.inputs[0].shape), None]


@grad_rule("Concat")
def _concat(gb, b, gy, need):
    g = gy[0]
    axis = b.attrs["axis"] % g.rank
    out, start = [], 0
    for v, n in zip(b.inputs, need):
        end = sym.add(start, v.shape[axis])
        if n:
            out.append(gb.op("Slice", [g, gb.ints([start]), gb.ints([end]), gb.ints([axis])]))
        else:
            out.append(None)
        start = end
    return out


@grad_rule("Slice")
def _slice(gb, b, gy, need):
    """Zeros around the slice: a Pad of dY (steps of 1, static dims)."""
    x, g = b.inputs[0], gy[0]
    starts = [int(s) for s in b.inputs[1].const.reshape(-1)]
    axes = ([int(a) % x.rank for a in b.inputs[3].const.reshape(-1)] if len(b.inputs) > 3 and b.inputs[3] is not None
            else list(range(len(starts))))
    steps = ([int(s) for s in b.inputs[4].const.reshape(-1)] if len(b.inputs) > 4 and b.inputs[4] is not None
             else [1] * len(starts))
    if any(s != 1 for s in steps) or not all(sym.is_static(d) for d in list(x.shape) + list(g.shape)):
        raise UnsupportedOp(b.op, b.name, "gradient of a Slice with steps other than 1 or symbolic dims")
    begin = [0] * x.rank
    for a, s in zip(axes, starts):
        d = int(x.shape[a])
        begin[a] = min(max(s + d if s < 0 else s, 0), d)
    end = [int(x.shape[a]) - begin[a] - int(g.shape[a]) for a in range(x.rank)]
    pads = gb.const(np.array(begin + end, np.int64))
    return [gb.op("Pad", [g, pads])] + [None] * (len(b.inputs) - 1)


@grad_rule("Gather")
def _gather(gb, b, gy, need):
    x, idx = b.inputs
    return [gb.op("sdk.GatherGrad", [gy[0], idx, x], axis=b.attrs.get("axis", 0) % x.rank), None]
