"""Graph pass: a Concat's only reader is split over its parts, each part consumed right after it is written.

SqueezeNet's Fire modules end in Concat(expand 1x1, expand 3x3); the Concat is free (each branch writes its slice in
place), but its reader runs only after both branches: the next module's squeeze (a 1x1 convolution) or a max pool
reads the whole Concat from beyond L2, the 3x3 branch (a Winograd layer with a scratch of up to ~1 MB) having run
between the 1x1 branch's write and that read (bench/RESULTS_zoo.md sq49: the 8 squeezes ~654 us in the model
against ~527 us alone). Split over the parts, each part's share runs right after the part is written:

- ``Conv(Concat(a, b, ...), W, bias)`` (a pointwise, ungrouped convolution) becomes ``Conv(a, W[:, A])`` placed right
  after ``a``'s producer, ... and ``Add(Conv(last, W[:, LAST], bias), partial)`` where the Conv stood (the lowering
  fuses the Add as the last convolution's residual and the activation after it in its epilogue). Floats: the sum over
  input channels is taken part by part (rounding differs from one sum, ~1 ulp of the partial sums).
- ``MaxPool(Concat(a, b, ...), axis 1)`` becomes ``Concat(MaxPool(a), MaxPool(b), ...)``, each pool right after its
  part (same floats: the pool acts on each channel alone); the new Concat is free as before.

Matched: a Concat on axis 1 of >= 2 parts and at least ``[layout] split_concat_readers_min_bytes``, each part the
output of a binding whose only reader is the Concat (the Concat not a graph output), the Concat's only reader that
Conv / MaxPool. Each part's share goes right after its part's producer (parts in their producers' order); an
unchanged binding keeps its place. The profile's ``[layout] split_concat_readers`` turns it on: a list of the readers
to split, ``"conv"`` and / or ``"pool"`` (absent / empty: off). Off on the host: SqueezeNet's 55x55 squeeze read
0.91-0.97 of its time per step, the pools ~1.0, the 13x13 squeezes and the head 1.05-1.10, and whole runs moved
within the noise of a machine at load 12-23 (bench/RESULTS_zoo.md sq51); ``sdk tune``'s whole-model walk tries it
(``[tune] whole_model_knobs``)."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ..autodiff.builder import GraphBuilder
from ..errors import SdkError
from ..ir import sym
from ..ir.graph import Binding, Function, Value

READERS = ("conv", "pool")


def _static(v: Value) -> bool:
    return all(sym.is_static(d) for d in v.shape)


def _pointwise(c: Binding) -> bool:
    w = c.inputs[1] if len(c.inputs) > 1 else None
    if w is None or w.const is None or w.rank != 4 or tuple(w.shape[2:]) != (1, 1):
        return False
    if int(c.attrs.get("group", 1)) != 1 or any(int(s) != 1 for s in c.attrs.get("strides", [1, 1])):
        return False
    if any(int(p) != 0 for p in c.attrs.get("pads", [])) or c.attrs.get("auto_pad", "NOTSET") not in ("NOTSET",
                                                                                                       "VALID"):
        return False
    return len(c.inputs) < 3 or c.inputs[2] is None or c.inputs[2].const is not None


def split_concat_readers(f: Function, layout: Optional[dict] = None) -> Function:
    which = set((layout or {}).get("split_concat_readers") or ())
    if not which:
        return f
    if not which <= set(READERS):
        raise SdkError(f"[layout] split_concat_readers = {sorted(which)}: expected a list of {list(READERS)}")
    min_bytes = int((layout or {}).get("split_concat_readers_min_bytes", 0))
    producer: Dict[int, int] = {}
    for k, b in enumerate(f.bindings):
        for v in b.outputs:
            producer[id(v)] = k
    consumers = f.consumers()
    outputs = {id(v) for v in f.outputs}
    after: Dict[int, List[Binding]] = {}   # binding index -> bindings to emit right after it
    instead: Dict[int, List[Binding]] = {}  # binding index -> bindings replacing it (the reader)
    dropped = set()
    gb = GraphBuilder(f)  # its names: unique over every value of f
    for ci, c in enumerate(f.bindings):
        if c.op != "Concat" or len(c.inputs) < 2 or c.guard or id(c.outputs[0]) in outputs:
            continue
        x = c.outputs[0]
        if x.rank != 4 or int(c.attrs.get("axis", 1)) not in (1, -3) or not _static(x):
            continue
        if int(sym.evaluate(x.type.nbytes(), {})) < min_bytes:
            continue
        users = consumers.get(id(x), [])
        if len(users) != 1 or users[0].guard:
            continue
        r = users[0]
        parts = list(c.inputs)
        if any(v is None or id(v) not in producer or len(consumers.get(id(v), [])) != 1 or id(v) in outputs
               or f.bindings[producer[id(v)]].guard for v in parts):
            continue
        ri = next(k for k, b in enumerate(f.bindings) if b is r)
        if r.op == "Conv" and "conv" in which and r.inputs[0] is x and _pointwise(r):
            new = _split_conv(gb, r, parts, producer)
        elif r.op == "MaxPool" and "pool" in which and len(r.outputs) == 1 and r.inputs[0] is x:
            new = _split_pool(gb, r, parts, producer)
        else:
            continue
        for k, bs in new["after"].items():
            after.setdefault(k, []).extend(bs)
        instead[ri] = new["instead"]
        dropped.add(ci)
    if not instead:
        return f
    out: List[Binding] = []
    for k, b in enumerate(f.bindings):
        if k in dropped:
            continue
        out.extend(instead.get(k, [b]))
        out.extend(after.get(k, []))
    return f.with_bindings(out)


def _emitted(gb: GraphBuilder, op: str, ins, stem: str, **attrs) -> Binding:
    n = len(gb.bindings)
    gb.op(op, ins, stem=stem, **attrs)
    assert len(gb.bindings) == n + 1, op  # a folded op would leave nothing to place
    return gb.bindings[-1]


def _split_conv(gb: GraphBuilder, r: Binding, parts: List[Value], producer) -> dict:
    w = r.inputs[1].const
    bias = r.inputs[2] if len(r.inputs) > 2 else None
    lo, cuts = 0, []
    for v in parts:
        n = int(v.shape[1])
        cuts.append((lo, lo + n))
        lo += n
    order = sorted(range(len(parts)), key=lambda j: producer[id(parts[j])])
    attrs = dict(r.attrs)
    after: Dict[int, List[Binding]] = {}
    partial: Optional[Value] = None
    for j in order[:-1]:
        a, e = cuts[j]
        wj = gb.const(np.ascontiguousarray(w[:, a:e]), stem=f"{r.inputs[1].name}_c{a}")
        cj = _emitted(gb, "Conv", [parts[j], wj], f"{r.name}_c{a}", **attrs)
        bs = [cj]
        if partial is not None:  # the sum so far, as this part's residual
            bs.append(_emitted(gb, "Add", [cj.outputs[0], partial], f"{r.name}_sum{a}"))
        partial = bs[-1].outputs[0]
        after.setdefault(producer[id(parts[j])], []).extend(bs)
    j = order[-1]
    a, e = cuts[j]
    wj = gb.const(np.ascontiguousarray(w[:, a:e]), stem=f"{r.inputs[1].name}_c{a}")
    last = _emitted(gb, "Conv", [parts[j], wj, bias], f"{r.name}_c{a}", **attrs)
    add = _emitted(gb, "Add", [last.outputs[0], partial], f"{r.name}_sum")
    add.outputs[0] = r.outputs[0]  # the reader's readers keep their input
    return {"after": after, "instead": [last, add]}


def _split_pool(gb: GraphBuilder, r: Binding, parts: List[Value], producer) -> dict:
    after: Dict[int, List[Binding]] = {}
    last = None
    order = sorted(range(len(parts)), key=lambda j: producer[id(parts[j])])
    outs: Dict[int, Value] = {}
    for j in order:
        p = _emitted(gb, "MaxPool", [parts[j]], f"{r.name}_p{j}", **r.attrs)
        outs[j] = p.outputs[0]
        if j != order[-1]:
            after.setdefault(producer[id(parts[j])], []).append(p)
        else:
            last = p
    pooled = [outs[j] for j in range(len(parts))]
    cat = _emitted(gb, "Concat", pooled, f"{r.name}_join", axis=1)
    cat.outputs[0] = r.outputs[0]
    return {"after": after, "instead": [last, cat]}
