"""Graph pass: branches that meet in a Concat run their pointwise convolutions last.

A Fire module (SqueezeNet) reads its squeeze output with a 1x1 and a 3x3 convolution and concatenates the two (the
Concat is free: each branch writes its slice in place). In the file's order the 1x1 branch runs first; the 3x3 (a
Winograd layer) then streams its transformed tiles through a scratch of up to ~1 MB, which pushes the 1x1's slice
out of L2 before the next module's squeeze GEMM and pools read the Concat. With the pointwise branch last (it reads
the small squeeze output and writes its slice, no scratch) both slices are in L2 when the Concat's readers start.

Matched: a Concat whose inputs are each the last binding of a chain ``Conv`` (+ single-consumer elementwise
activations) that reads one common tensor, the chains' bindings lying in one stretch right before the Concat (no
other binding between them; each intermediate value read only inside its chain). The chains are put back in their
file order with those whose Conv has a 1x1 kernel after the others. Only the order changes (the same bindings, the
same dependences), so outputs are the same floats; the memory plan is made for the new order as for any other.
The profile's ``[layout] pointwise_branches_last`` turns it on (absent / false: off; the ``[layout]`` table: every
caller of ``pipeline.front``, the tuner's included, hands it to the graph passes). Off on the host: SqueezeNet's
squeezes and pools after the Concat ran 0.83-0.92 per step but its 1x1 expands 1.10-1.20 and whole runs did not move
(bench/RESULTS_zoo.md sq50); ``sdk tune``'s whole-model walk tries it (``[tune] whole_model_knobs``)."""
from __future__ import annotations

from typing import Dict, List, Optional

from ..ir.graph import Function

ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"}


def _kernel(b) -> Optional[List[int]]:
    w = b.inputs[1] if len(b.inputs) > 1 else None
    if w is None or len(w.shape) != 4:
        return None
    return list(w.shape[2:])


def pointwise_branches_last(f: Function, layout: Optional[dict] = None) -> Function:
    if not (layout or {}).get("pointwise_branches_last"):
        return f
    producer, readers = {}, {}
    for k, b in enumerate(f.bindings):
        for v in b.outputs:
            producer[id(v)] = k
        for v in b.inputs:
            if v is not None:
                readers.setdefault(id(v), []).append(k)
    outputs = {id(v) for v in f.outputs}
    order = list(range(len(f.bindings)))
    pos: Dict[int, int] = {k: k for k in order}  # binding index -> its place in `order`
    for ci, c in enumerate(f.bindings):
        if c.op != "Concat" or len(c.inputs) < 2:
            continue
        chains, source, ok = [], None, True
        for v in c.inputs:
            k = producer.get(id(v)) if v is not None else None
            chain = []
            while ok and k is not None and f.bindings[k].op in ACTIVATIONS:
                chain.append(k)
                x = f.bindings[k].inputs[0]
                k = producer.get(id(x))
            if k is None or f.bindings[k].op not in ("Conv", "ConvNHWC") or _kernel(f.bindings[k]) is None:
                ok = False
                break
            chain.append(k)
            x = f.bindings[k].inputs[0]
            source = id(x) if source is None else source
            # the chain's inner values: each read once, by the next binding of the chain (or the Concat), not outputs
            for j in chain:
                for o in f.bindings[j].outputs:
                    if id(o) in outputs or len(readers.get(id(o), [])) != 1:
                        ok = False
            ok = ok and id(x) == source
            chains.append(sorted(chain))
        if not ok or not chains:
            continue
        members = sorted(j for ch in chains for j in ch)
        places = sorted(pos[j] for j in members)
        # one stretch, right before the Concat, in the current order
        if places != list(range(pos[ci] - len(members), pos[ci])):
            continue
        # stable: non-pointwise chains first (in their order), then the pointwise ones
        ranked = sorted(chains, key=lambda ch: (_kernel(f.bindings[ch[0]]) == [1, 1], pos[ch[0]]))
        new = [j for ch in ranked for j in ch]
        if new == [order[p] for p in places]:
            continue
        for p, j in zip(places, new):
            order[p] = j
            pos[j] = p
    if order == list(range(len(f.bindings))):
        return f
    return f.with_bindings([f.bindings[k] for k in order])
