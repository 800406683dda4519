"""Rematerialisation: recompute forward values in the backward pass instead of keeping them live (Function ->
Function, before lowering and memory planning).

A training step's forward values that the backward reads (the *stash*: a ReLU's output, a BatchNorm's input, a
convolution's input for its weight gradient) live from the forward to the backward, which is what makes a step's
arena grow with depth. ``rematerialize(f, forward, drop)`` keeps only the stashed values not in ``drop``: the
backward reads a recomputed copy of each dropped one, made by clones of the forward bindings that computed it (from
kept values, the function's inputs and constants, recursively), placed just before the first backward binding that
reads it. The forward originals then die at their last forward read. The results are the same values computed by the
same kernels, so gradients are unchanged.

Which values to drop: ``cheap_drops`` (recomputed by element-wise / view ops only: a BatchNorm + ReLU after a kept
convolution output costs a pass over memory) and ``checkpoint_drops`` (segments: keep every ``every``-th stashed
value an expensive op computed and recompute the others from it, convolutions included). ``sdk/train/remat.py``
chooses among them against a memory budget with the real planner.

``half_stash`` is mixed-precision storage of what stays stashed: each kept value is stored in 16 bits and widened
back to float32 by each backward reader.

``duplicate_broadcasts`` is the same idea as rematerialisation inside one graph: an element-wise op whose output is much larger than its
inputs (the gradient of a global average pool broadcast back over the image) is recomputed by each of its readers,
so the lowering inlines it into each and the large tensor is never stored."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Set

from ..ir import sym
from ..ir.graph import Binding, Function, Value
from ..ops import OPS

CHEAP_KINDS = ("injective", "view")
_MACS_OF = {"Conv", "ConvTranspose", "Gemm", "MatMul"}  # cost: multiply-adds, not output elements


def _nbytes(v: Value, bounds) -> int:
    try:
        return int(sym.upper_bound(v.type.nbytes(), bounds)) if bounds else int(sym.evaluate(v.type.nbytes(), {}))
    except Exception:
        return 0


def _cheap(b: Binding) -> bool:
    return b.op in OPS and OPS[b.op].kind in CHEAP_KINDS and not b.guard


def _producers(f: Function) -> Dict[int, Binding]:
    return {id(v): b for b in f.bindings for v in b.outputs}


def stashed(f: Function, forward: Set[str]) -> List[Value]:
    """Values the forward bindings (names in ``forward``) compute and a backward binding reads, in forward order."""
    out, seen = [], {id(v) for v in f.outputs}  # outputs live in the caller's memory anyway
    fwd_vals = {id(v): v for b in f.bindings if b.name in forward for v in b.outputs}
    for b in f.bindings:
        if b.name in forward:
            continue
        for v in b.inputs:
            if v is not None and id(v) in fwd_vals and id(v) not in seen and v.const is None:
                seen.add(id(v))
                out.append(v)
    order = {id(v): k for k, v in enumerate(v for b in f.bindings if b.name in forward for v in b.outputs)}
    return sorted(out, key=lambda v: order[id(v)])


def _recomputable(v: Value, producer, kept: Set[int], cheap_only: bool, seen=None) -> bool:
    """Can ``v`` be recomputed from kept values, inputs and constants (by cheap ops only, with ``cheap_only``)?"""
    if v.const is not None or id(v) in kept or id(v) not in producer:
        return True
    b = producer[id(v)]
    if (cheap_only and not _cheap(b)) or b.rt or b.guard:  # no clone of a data-dependent or guarded op
        return False
    seen = set() if seen is None else seen
    if id(b) in seen:
        return True
    seen.add(id(b))
    return all(u is None or _recomputable(u, producer, kept, cheap_only, seen) for u in b.inputs)


def cheap_drops(f: Function, forward: Set[str]) -> List[Value]:
    """Stashed values recomputable by element-wise / view ops from the other stashed values (which stay kept)."""
    producer = _producers(f)
    st = stashed(f, forward)
    drop: List[Value] = []
    kept = {id(v) for v in st}
    for v in reversed(st):  # later values first: a ReLU after a BatchNorm after a kept convolution output
        kept.discard(id(v))
        if _cheap(producer[id(v)]) and _recomputable(v, producer, kept, True):
            drop.append(v)
        else:
            kept.add(id(v))
    return drop


def checkpoint_drops(f: Function, forward: Set[str], every: int) -> List[Value]:
    """Cheap drops, plus the stashed values computed by expensive ops except every ``every``-th one (the
    checkpoints; counted from the last, whose backward comes first), where they can be recomputed."""
    producer = _producers(f)
    drop = cheap_drops(f, forward)
    dropped = {id(v) for v in drop}
    heavy = [v for v in stashed(f, forward) if id(v) not in dropped]
    kept = {id(v) for v in heavy}
    for k, v in enumerate(reversed(heavy)):
        kept.discard(id(v))
        if k % every != 0 and id(v) in producer and _recomputable(v, producer, kept, False):
            drop.append(v)
        else:
            kept.add(id(v))
    return drop


def group_drops(f: Function, forward: Set[str], groups: Set[str]) -> List[Value]:
    """Cheap drops, plus every stashed value computed by the bindings named in ``groups`` (channel groups,
    ``sdk/transform/channel_split.py``) that can be recomputed from the values kept: each group's activations are
    then made again just before that group's backward."""
    producer = _producers(f)
    drop = cheap_drops(f, forward)
    dropped = {id(v) for v in drop}
    rest = [v for v in stashed(f, forward) if id(v) not in dropped]
    kept = {id(v) for v in rest}
    for v in reversed(rest):
        if producer[id(v)].name in groups:
            kept.discard(id(v))
            if _recomputable(v, producer, kept, False):
                drop.append(v)
            else:
                kept.add(id(v))
    return drop


def recompute_cost(f: Function, drop: Sequence[Value], forward: Set[str]) -> int:
    """Elements (multiply-adds for convolutions and matrix products) the forward bindings recomputing ``drop``
    compute: the extra work of the step."""
    producer = _producers(f)
    dropped = {id(v) for v in drop}
    kept = {id(v) for v in stashed(f, forward)} - dropped
    todo, done, cost = list(drop), set(), 0
    while todo:
        v = todo.pop()
        b = producer.get(id(v))
        if b is None or id(b) in done or v.const is not None or (id(v) in kept):
            continue
        done.add(id(b))
        n = sum(_numel(o) for o in b.outputs)
        if b.op in _MACS_OF and len(b.inputs) > 1 and b.inputs[1] is not None:
            w = b.inputs[1]
            n *= max(1, _numel(w) // max(1, int(w.shape[0]) if sym.is_static(w.shape[0]) else 1))
        cost += n
        todo.extend(u for u in b.inputs if u is not None)
    return cost


def _numel(v: Value) -> int:
    n = 1
    for d in v.shape:
        n *= int(d) if sym.is_static(d) else 1
    return n


def rematerialize(f: Function, forward: Set[str], drop: Sequence[Value], name=None) -> Function:
    """``f`` with the backward's reads of each value in ``drop`` served by a recomputation placed just before the
    first backward binding needing it (see the module docstring). ``forward``: names of the forward bindings (they
    precede every backward one in ``f``). ``name(stem)`` makes unique value names (default: ``stem_re<k>``)."""
    if not drop:
        return f
    producer = _producers(f)
    dropped = {id(v) for v in drop}
    kept = {id(v) for v in stashed(f, forward)} - dropped
    used = {v.name for b in f.bindings for v in b.inputs + b.outputs if v is not None} | \
        {v.name for v in f.inputs + f.outputs}
    name = name or _namer(used)
    clone_of: Dict[int, Value] = {}  # id(forward value) -> its recomputed copy
    out: List[Binding] = []

    def recompute(v: Value) -> Value:
        """The backward's copy of ``v``: ``v`` itself when kept, an input or a constant; else a clone of its
        producer (appended to ``out``) reading the copies of its inputs."""
        if v.const is not None or id(v) in kept or id(v) not in producer or producer[id(v)].name not in forward:
            return v
        if id(v) in clone_of:
            return clone_of[id(v)]
        b = producer[id(v)]
        ins = [recompute(u) if u is not None else None for u in b.inputs]
        outs = [_copy(o, name) for o in b.outputs]
        for o, c in zip(b.outputs, outs):
            clone_of[id(o)] = c
        out.append(Binding(b.op, ins, outs, dict(b.attrs), name(b.name), rt=dict(b.rt)))
        return clone_of[id(v)]

    for b in f.bindings:
        if b.name in forward or not any(v is not None and id(v) in dropped for v in b.inputs):
            out.append(b)
            continue
        ins = [recompute(v) if v is not None and id(v) in dropped else v for v in b.inputs]
        out.append(dataclasses.replace(b, inputs=ins))
    return f.with_bindings(out)


def _copy(v: Value, name) -> Value:
    """A new value of ``v``'s type (and known contents), under a new name."""
    return dataclasses.replace(v, name=name(v.name), onnx_name=None)


def _namer(used: Set[str]):
    def name(stem: str) -> str:
        k = 1
        while f"{stem}_re{k}" in used:
            k += 1
        used.add(f"{stem}_re{k}")
        return f"{stem}_re{k}"
    return name


def duplicate_broadcasts(f: Function, bounds, ratio: int = 4) -> Function:
    """Each reader of an element-wise op's output gets its own copy of the op (and of the element-wise ops before it
    that the lowering would inline into it) when the output is at least ``ratio`` times the bytes those ops read (a
    broadcast) and every reader inlines element-wise producers: the lowering then computes it inside each reader and
    never stores it."""
    from ..transform.lower_to_tir import INLINE_INTO
    consumers = f.consumers()
    producer = _producers(f)
    outs = {id(v) for v in f.outputs}

    def inlinable(b: Binding) -> bool:
        return (_cheap(b) and OPS[b.op].kind == "injective" and len(b.outputs) == 1 and not b.rt
                and id(b.outputs[0]) not in outs)

    def chain(b: Binding):
        """(the bindings computing b's output that would be inlined into its readers, in order; bytes they read)"""
        bs, leaf = [], 0
        for u in {id(u): u for u in b.inputs if u is not None and u.const is None}.values():
            p = producer.get(id(u))
            if p is not None and inlinable(p) and len(consumers.get(id(u), [])) == 1:
                sub, lb = chain(p)
                bs += sub
                leaf += lb
            else:
                leaf += _nbytes(u, bounds)
        return bs + [b], leaf

    chains: Dict[int, List[Binding]] = {}  # id(duplicated output) -> the bindings each reader gets a copy of
    removed: Set[int] = set()
    for b in f.bindings:
        if not inlinable(b) or id(b) in removed:
            continue
        users = consumers.get(id(b.outputs[0]), [])
        bs, leaf = chain(b)
        if (len(users) > 1 and all(OPS[u.op].kind in INLINE_INTO for u in users)
                and _nbytes(b.outputs[0], bounds) >= ratio * max(leaf, 1)
                and not any(id(u) in chains for c in bs for u in c.inputs if u is not None)):
            chains[id(b.outputs[0])] = bs
            removed.update(id(c) for c in bs)
    if not chains:
        return f
    used = {v.name for c in f.bindings for v in c.inputs + c.outputs if v is not None} | \
        {v.name for v in f.inputs + f.outputs}
    name = _namer(used)
    result: List[Binding] = []
    for b in f.bindings:
        if id(b) in removed:
            continue
        ins = list(b.inputs)
        for k, v in enumerate(ins):
            if v is None or id(v) not in chains:
                continue
            copy: Dict[int, Value] = {}
            for c in chains[id(v)]:
                o = _copy(c.outputs[0], name)
                result.append(Binding(c.op, [copy.get(id(u), u) if u is not None else None for u in c.inputs], [o],
                                      dict(c.attrs), name(c.name)))
                copy[id(c.outputs[0])] = o
            ins[k] = copy[id(v)]
        result.append(dataclasses.replace(b, inputs=ins) if any(a is not c for a, c in zip(ins, b.inputs)) else b)
    return f.with_bindings(result)


def half_stash(f: Function, forward: Set[str], bounds, dtype: str = "float16", min_bytes: int = 1024) -> Function:
    """Mixed-precision storage of the stash: each float32 stashed value of at least ``min_bytes`` is stored in
    ``dtype`` (``sdk.StoreHalf`` right after its producer) and each backward reader reads it widened back to float32
    (a Cast, inlined into element-wise readers). The forward computes in float32 and its original dies at its last
    forward read; the gradients are computed in float32 from the rounded activations (so no loss scaling: no
    gradient is stored in 16 bits)."""
    producer = _producers(f)
    values = [v for v in stashed(f, forward) if v.dtype == "float32" and _nbytes(v, bounds) >= min_bytes]
    if not values:
        return f
    narrow = {id(v) for v in values}
    used = {v.name for b in f.bindings for v in b.inputs + b.outputs if v is not None} | \
        {v.name for v in f.inputs + f.outputs}
    name = _namer(used)
    half: Dict[int, Value] = {}
    after_producer: Dict[int, List[Binding]] = {}
    for v in values:
        h = dataclasses.replace(v, name=name(v.name), onnx_name=None, type=dataclasses.replace(v.type, dtype=dtype))
        half[id(v)] = h
        after_producer.setdefault(id(producer[id(v)]), []).append(
            Binding("sdk.StoreHalf", [v], [h], {"dtype": dtype}, name(f"{v.name}_store")))
    to = 1  # onnx's FLOAT
    out: List[Binding] = []
    for b in f.bindings:
        if b.name in forward or not any(v is not None and id(v) in narrow for v in b.inputs):
            out.append(b)
            out.extend(after_producer.get(id(b), []))
            continue
        ins = list(b.inputs)
        for k, v in enumerate(ins):
            if v is not None and id(v) in narrow:
                wide = _copy(v, name)
                out.append(Binding("Cast", [half[id(v)]], [wide], {"to": to}, name(f"{v.name}_load")))
                ins[k] = wide
        out.append(dataclasses.replace(b, inputs=ins))
    return f.with_bindings(out)
