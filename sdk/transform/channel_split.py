"""Channel groups: a convolution and the per-channel ops after it, split into groups of output channels joined by
a Concat (Function -> Function; the result computes the same values).

A training step's largest working set is often one layer's backward: a first convolution's activation at full
resolution, its gradient, and the pooled gradient coming back (the CNN example: 2 x 200 KB of a 451 KB arena).
Keeping or recomputing that activation whole does not shrink it. Split into ``k`` groups of output channels
(before autodiff, so each group gets its own backward), each group's activation can be recomputed just before
its own backward (``sdk/transform/remat.py``): only one group's activation and gradient are live at a time.
``sdk/train/remat.py`` plans it as the candidates ``split:K`` against a memory budget.

A *segment* is a Conv (one group, static output channels) and the chain of single-reader ops after it that act on
each channel alone: element-wise activations, BatchNormalization, element-wise ops with a constant or parameter
operand broadcast per channel, MaxPool / AveragePool. Its parameters (the weight, the bias, BatchNorm's four
vectors, a per-channel operand) are sliced per group: constants folded, trainable ones by a Slice (its gradient is
a Pad, so the parameter's gradient is the sum of the groups')."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Set, Tuple

import numpy as np

from ..autodiff.builder import GraphBuilder
from ..ir import sym
from ..ir.graph import Binding, Function, Value

UNARY = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Identity", "Elu", "Selu", "Softplus",
         "Abs", "Neg", "Exp", "Clip"}
POOLS = {"MaxPool", "AveragePool"}
BINARY = {"Add", "Sub", "Mul", "Div"}


def _bytes(v: Value, bounds) -> int:
    try:
        return int(sym.upper_bound(v.type.nbytes(), bounds)) if bounds else int(sym.evaluate(v.type.nbytes(), {}))
    except Exception:
        return 0


def _per_channel(b: Binding, v: Value) -> bool:
    """Does ``b`` act on each channel (axis 1) of ``v`` alone, ``v`` being its data operand?"""
    if b.guard or b.rt or len(b.outputs) != 1:
        return False
    if b.op in UNARY:
        return b.inputs[0] is v and all(u is None or u.rank == 0 for u in b.inputs[1:])
    if b.op in POOLS:
        return b.inputs[0] is v and len(b.outputs) == 1
    if b.op == "BatchNormalization":
        return b.inputs[0] is v and len(b.outputs) == 1
    if b.op in BINARY and len(b.inputs) == 2:
        k = 0 if b.inputs[0] is v else 1
        o = b.inputs[1 - k]
        if o is v or (b.op in ("Sub", "Div") and k == 1):
            return False
        return b.outputs[0].rank == v.rank and _channel_axis(o, v.rank) is not False
    return False


def _channel_axis(o: Value, rank: int):
    """The axis of ``o`` (broadcast against a rank-``rank`` value) on the channel axis, None when it broadcasts along
    it (rank too small or size 1), False when ``o`` is not broadcast per channel (varies along another axis)."""
    lead = rank - o.rank
    ax = None
    for k, d in enumerate(o.shape):
        if not sym.is_static(d):
            return False
        if int(d) != 1:
            if k + lead != 1:
                return False
            ax = k
    return ax


def segments(f: Function) -> List[List[Binding]]:
    """Each eligible Conv with the per-channel chain after it (at least the Conv)."""
    consumers = f.consumers()
    outs = {id(v) for v in f.outputs}
    found = []
    for b in f.bindings:
        if b.op != "Conv" or int(b.attrs.get("group", 1)) != 1 or b.guard or b.rt:
            continue
        w = b.inputs[1]
        if w.rank < 3 or not sym.is_static(w.shape[0]) or id(b.outputs[0]) in outs:
            continue
        chain, v = [b], b.outputs[0]
        while True:
            users = consumers.get(id(v), [])
            if len(users) != 1 or not _per_channel(users[0], v) or id(users[0].outputs[0]) in outs:
                break
            chain.append(users[0])
            v = users[0].outputs[0]
        found.append(chain)
    return found


def split_channels(f: Function, k: int, bounds=None, min_frac: float = 0.5) -> Tuple[Function, Set[str]]:
    """``f`` with each segment whose convolution output is at least ``min_frac`` of the largest one's bytes split
    into ``k`` groups of output channels (as equal as they go; a segment with fewer channels than ``k`` is left).
    Returns (the function, names of the bindings computing the groups, not their Concats); no segment: (``f``, empty set)."""
    segs = segments(f)
    size = {id(s[0]): _bytes(s[0].outputs[0], bounds or f.bounds) for s in segs}
    top = max(size.values(), default=0)
    segs = [s for s in segs if top and size[id(s[0])] >= min_frac * top and int(s[0].inputs[1].shape[0]) >= k]
    if not segs or k < 2:
        return f, set()
    start = {id(s[0]): s for s in segs}
    member = {id(b) for s in segs for b in s}
    gb = GraphBuilder(f, bindings=[])
    swap: Dict[int, Value] = {}
    names: Set[str] = set()
    for b in f.bindings:
        if id(b) in start:
            n0 = len(gb.bindings)
            end, joined = _emit_groups(gb, start[id(b)], k, swap)
            swap[id(end)] = joined
            names |= {c.name for c in gb.bindings[n0:-1]}  # not the Concat: its output is the next layer's input
        elif id(b) not in member:
            ins = [swap.get(id(v), v) if v is not None else None for v in b.inputs]
            gb.bindings.append(dataclasses.replace(b, inputs=ins) if any(
                a is not c for a, c in zip(ins, b.inputs)) else b)
    return f.with_bindings(gb.bindings, outputs=[swap.get(id(v), v) for v in f.outputs]), names


def _emit_groups(gb: GraphBuilder, chain: List[Binding], k: int, swap) -> Tuple[Value, Value]:
    """Append the groups of one segment and their Concat; returns (the segment's last value, the Concat's)."""
    conv = chain[0]
    c = int(conv.inputs[1].shape[0])
    bounds_ = [c * g // k for g in range(k + 1)]
    pieces = []
    for g in range(k):
        lo, hi = bounds_[g], bounds_[g + 1]
        x = swap.get(id(conv.inputs[0]), conv.inputs[0])
        ins = [x] + [_slice(gb, u, 0, lo, hi) if u is not None else None for u in conv.inputs[1:]]
        v = gb.op("Conv", ins, stem=f"{conv.name}_g{g}", **conv.attrs)
        prev = conv.outputs[0]
        for b in chain[1:]:
            ins = []
            for u in b.inputs:
                if u is prev:
                    ins.append(v)
                elif u is None or b.op in UNARY:
                    ins.append(u)
                elif b.op == "BatchNormalization":
                    ins.append(_slice(gb, u, 0, lo, hi))
                else:  # an element-wise operand broadcast per channel
                    ax = _channel_axis(u, prev.rank)
                    ins.append(u if ax is None else _slice(gb, u, ax, lo, hi))
            v = gb.op(b.op, ins, stem=f"{b.name}_g{g}", **b.attrs)
            prev = b.outputs[0]
        pieces.append(v)
    end = chain[-1].outputs[0]
    return end, gb.op("Concat", pieces, stem=f"{chain[-1].name}_join", axis=1)


def _slice(gb: GraphBuilder, u: Value, axis: int, lo: int, hi: int) -> Value:
    """``u[lo:hi]`` along ``axis``: a constant for a constant, else a Slice."""
    if u.const is not None:
        return gb.const(np.ascontiguousarray(np.take(u.const, np.arange(lo, hi), axis=axis)), stem=u.name)
    return gb.op("Slice", [u, gb.const(np.array([lo], np.int64)), gb.const(np.array([hi], np.int64)),
                           gb.const(np.array([axis], np.int64))], stem=f"{u.name}_g")
