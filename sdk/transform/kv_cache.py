"""Graph pass (generation steps): the key/value cache appended in place instead of copied every step.

A decoder step exported with past key/values makes each present as ``Concat(past, new, axis=2)`` ([batch, heads,
past + 1, head size]): a copy of the whole cache per step (with beams, through ``generate/gather.py``'s
``Gather(past, sdk_beam_parent)``), which on the 3.7 M-parameter GPT step of ``bench/generate.py`` was 10% of a
4-beam generation. With this pass the cache tensors are stored with room for ``cap`` rows (the compiled max_len)
per (batch, head) block: ``KVCacheAppend(past, new, parent)`` (``sdk/ops/kv_cache.py``, ``sdk_kv_append_f32``)
writes the new row after the past ones, in the same memory when the generation loop passes the same buffer as past
and present (``generate/codegen.py``: unless a beam reorder would read a block after rewriting it, e.g. two
beams swapped), and copies only the blocks a beam reorder moves. The attention products that read a present
(``MatMul`` with it as B: q K^T and probabilities V) get the attribute ``b_cap``: their batch matrices are ``cap``
rows apart.

It applies to a step whose every cache input (a graph input read through ``Gather(., sdk_beam_parent, axis=0)``)
feeds one rank-4 ``Concat`` along axis 2 (or -2) with a float32 new row [batch, heads, 1, head size], whose output
is a graph output read only by ``Shape`` and by ``MatMul``s as their B operand (with A's batch dims the same);
otherwise the function is left as it is (all caches or none: the loop has one layout). Then ``<name>_run`` reads
and writes the caches in that layout: a generate build's step is for its loop (``docs/generation.md``)."""
from __future__ import annotations

import dataclasses
from typing import Optional

from ..ir import sym
from ..ir.graph import Binding, Function

PARENT = "sdk_beam_parent"  # generate/gather.py


def _same(a, b) -> bool:
    return sym.sub(a, b) == 0


def kv_cache_in_place(f: Function, opts: Optional[dict] = None) -> Function:
    """``opts``: None (off) or {"cap": rows per block} (a generate build for a C target, float32)."""
    if opts is None:
        return f
    cap = int(opts["cap"])
    names = list(f.input_names) if f.input_names else [v.name for v in f.inputs]
    parent = next((v for v, n in zip(f.inputs, names) if n == PARENT), None)
    if parent is None:
        return f
    consumers = f.consumers()
    outputs = {id(v) for v in f.outputs}
    inputs = {id(v) for v in f.inputs}
    caches = [b for b in f.bindings if b.op == "Gather" and len(b.inputs) == 2 and b.inputs[1] is parent]
    if not caches:
        return f
    replace, drop, matmuls = {}, set(), {}
    for g in caches:
        raw, gathered = g.inputs[0], g.outputs[0]
        users = consumers.get(id(gathered), [])
        if (id(raw) not in inputs or g.attrs.get("axis", 0) != 0 or g.guard or raw.dtype != "float32"
                or len(raw.shape) != 4 or id(gathered) in outputs or len(users) != 1):
            return f
        cat = users[0]
        if cat.op != "Concat" or len(cat.inputs) != 2 or cat.inputs[0] is not gathered or cat.guard:
            return f
        if cat.attrs.get("axis") not in (2, -2):
            return f
        new, present = cat.inputs[1], cat.outputs[0]
        B, H, P, D = raw.shape
        if (new is None or new.dtype != "float32" or len(new.shape) != 4 or not sym.is_static(H)
                or not sym.is_static(D) or not all(_same(x, y) for x, y in zip(new.shape, (B, H, 1, D)))):
            return f
        if id(present) not in outputs or id(new) in inputs:
            return f
        for u in consumers.get(id(present), []):
            if u.op == "Shape":
                continue
            a = u.inputs[0] if u.inputs else None
            if (u.op != "MatMul" or len(u.inputs) != 2 or u.inputs[1] is not present or a is present or u.guard
                    or a is None or a.dtype != "float32" or len(a.shape) != 4
                    or not (_same(a.shape[0], B) and _same(a.shape[1], H)) or "b_cap" in u.attrs):
                return f
            matmuls[id(u)] = u
        drop.add(id(g))
        replace[id(cat)] = Binding("KVCacheAppend", [raw, new, parent], [present], {"cap": cap},
                                   name=cat.name + "_kv_append")
    out = []
    for b in f.bindings:
        if id(b) in drop:
            continue
        if id(b) in matmuls:
            b = dataclasses.replace(b, attrs={**b.attrs, "b_cap": cap})
        out.append(replace.get(id(b), b))
    return f.with_bindings(out)


def applied(f: Function) -> int:
    """How many caches ``kv_cache_in_place`` laid out with room (its KVCacheAppend bindings)."""
    return sum(b.op == "KVCacheAppend" for b in f.bindings)
