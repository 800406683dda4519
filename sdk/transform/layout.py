"""Graph pass: channels-last (NHWC) regions around depthwise convolutions.

A depthwise convolution on NCHW planes vectorises along a row: a 7- or 14-wide plane fills a fraction of a
vector, and a stride-2 one needs its rows de-interleaved first. On NHWC tensors the same layer vectorises along
channels (every tap one contiguous load), and the 1x1 convolutions around it (MobileNet's expand / project) become
plain GEMMs [N*H*W, C] x [C, M]. So the pass converts, where a region pays:

1. Candidates: depthwise Convs (group = C = M), pointwise ones (1x1, stride 1, no padding, group 1), stems (a
   dense convolution with at most 64 taps per output, which reads its NCHW input and writes NHWC, so a network's
   first layer needs no transpose) and patch convolutions (group 1, kernel = stride, no padding: ConvNeXt's
   downsampling), float32, constant weights (``sdk/ops/nn.py conv_nhwc_form``).
2. Layout: a candidate's output is NHWC; so is an element-wise op's (``UNARY``, ``BINARY``) whose full-size inputs
   are all NHWC and whose other inputs broadcast over the spatial dims (a scalar, a [N, C, 1, 1] tensor such as a
   squeeze-excite scale, a constant [C, 1, 1]); a ``Transpose`` to NCHW ([0, 3, 1, 2], as ConvNeXt writes after its
   channels-last block) is NHWC storage already.
3. Regions: NHWC values connected through the ops that made them. A region goes back to NCHW unless it has a
   depthwise convolution and at most half as many full-size transposes at its border (a lone 1x1 convolution, or
   one depthwise convolution between ShuffleNet's channel split and concatenation, gains less than the transposes
   cost), or a stem and no border transpose at all, and the layout is computed again.
4. Rewrite: candidates become ``ConvNHWC``; element-wise ops of a region run on the NHWC values (their broadcast
   operands permuted); a ``Transpose`` to NHWC of an NHWC value is dropped; a reader outside the region gets the
   NCHW value back from one ``Transpose`` (which lowering inlines into a loop-nest reader). A global average
   pooling of a region's value (a squeeze-excite's) becomes ``GlobalAveragePoolNHWC``, which sums along the
   contiguous channels of each pixel instead of walking the NCHW view with a stride of C.

The pass is on where the profile says so (``[layout] nhwc = true``; ``docs/compiler.md``)."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import numpy as np

from ..ir import sym
from ..ir.graph import Binding, Function, TensorType, Value
from ..ops.nn import conv_nhwc_form
from ..ops.reduce import _reduce_axes
from ..ops.registry import Node

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
UNARY = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "Neg", "Abs", "Exp", "Erf",
         "Sqrt", "Reciprocal", "Elu", "Selu", "Softplus", "Gelu", "Mish", "Identity"}
BINARY = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"}


def _node(b: Binding) -> Node:
    return Node(b.op, b.name, b.inputs, b.attrs, len(b.outputs), None)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(sym.sub(x, y) == 0 for x, y in zip(a, b))


def _perm(b: Binding) -> Optional[List[int]]:
    p = b.attrs.get("perm")
    return None if p is None else [int(a) for a in p]


def _conv_form(b: Binding) -> Optional[str]:
    if b.op != "Conv" or len(b.outputs) != 1 or b.outputs[0].dtype != "float32" or b.inputs[0].rank != 4:
        return None
    if len(b.inputs) > 2 and b.inputs[2] is not None and b.inputs[2].const is None:
        return None
    return conv_nhwc_form(_node(b), list(b.inputs[0].shape), b.inputs[1])


def _mean_over_plane(b: Binding) -> bool:
    """A float32 global average pooling of a 4-d tensor (GlobalAveragePool, or ReduceMean over axes 2, 3 kept)."""
    x = b.inputs[0] if b.inputs else None
    if x is None or x.rank != 4 or x.dtype != "float32":
        return False
    if b.op == "GlobalAveragePool":
        return True
    if b.op != "ReduceMean" or not b.attrs.get("keepdims", 1):
        return False
    if len(b.inputs) > 1 and b.inputs[1] is not None and b.inputs[1].const is None:
        return False  # axes known at run time only
    return _reduce_axes(_node(b)) == [2, 3]  # the attribute or (opset 18) the constant input, as lowering reads them


def _spatial_broadcast(v: Value, out_shape) -> bool:
    """Does v broadcast against a rank-4 NCHW output without varying along H and W (a scalar, [N|1, C|1, 1, 1],
    a constant [C, 1, 1] / [1, 1])?"""
    if v.rank == 0 or (v.const is not None and v.const.size == 1):
        return True
    if v.rank == 4:
        return v.shape[2] == 1 and v.shape[3] == 1
    return v.const is not None and v.rank in (2, 3) and all(d == 1 for d in v.shape[-2:])


def _to_nhwc_const(v: Value) -> np.ndarray:
    a = v.const.reshape((1,) * (4 - v.rank) + tuple(v.const.shape)) if v.rank < 4 else v.const
    return np.ascontiguousarray(a.transpose(TO_NHWC))


class _Layout:
    """Which values are NHWC, given the candidate convolutions (step 2 of the module docstring)."""

    def __init__(self, f: Function, convs):
        self.forms = convs                  # id(Conv binding) -> its ConvNHWC form
        self.nhwc: Dict[int, Binding] = {}  # id(value) -> the binding that made it NHWC
        for b in f.bindings:
            if id(b) in convs:
                self.nhwc[id(b.outputs[0])] = b
            elif b.op == "Transpose" and b.inputs[0].rank == 4 and _perm(b) == TO_NCHW:
                self.nhwc[id(b.outputs[0])] = b
            elif self.elementwise(b):
                self.nhwc[id(b.outputs[0])] = b

    def elementwise(self, b: Binding) -> bool:
        if b.op not in UNARY and b.op not in BINARY or len(b.outputs) != 1 or b.outputs[0].rank != 4:
            return False
        out = b.outputs[0].shape
        full = [v for v in b.inputs if v is not None and v.rank == 4 and _same(v.shape, out)]
        if not full or not all(id(v) in self.nhwc for v in full):
            return False
        rest = [v for v in b.inputs if v is not None and all(v is not u for u in full)]
        if b.op in UNARY:  # Clip's min/max: scalars
            return all(v.const is not None and v.const.size == 1 for v in rest)
        return all(_spatial_broadcast(v, out) for v in rest)


def _regions(f: Function, lay: _Layout) -> Dict[int, int]:
    """id(binding) -> region id, over the bindings that make NHWC values."""
    parent: Dict[int, int] = {}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    makers = {id(b): b for b in lay.nhwc.values()}
    for k in makers:
        parent[k] = k
    for b in makers.values():
        for v in b.inputs:
            m = lay.nhwc.get(id(v)) if v is not None else None
            if m is not None:
                parent[find(id(b))] = find(id(m))
    return {k: find(k) for k in makers}


def _crossings(f: Function, lay: _Layout, region: Dict[int, int]) -> Dict[int, int]:
    """region id -> how many full-size tensors would be transposed at its border: NCHW values its ops read whole,
    and its NHWC values read whole outside it (a global pooling's read is inlined into its loop: not counted)."""
    seen: Dict[int, set] = {}
    makers = {id(b) for b in lay.nhwc.values()}

    def add(r, v):
        seen.setdefault(r, set()).add(id(v))

    for b in f.bindings:
        if id(b) in makers:
            if b.op == "Conv" and lay.forms.get(id(b)) == "stem":
                continue  # reads its NCHW input itself
            for v in (b.inputs[:1] if b.op == "Conv" else b.inputs):  # not a Conv's weight
                if v is not None and v.rank == 4 and id(v) not in lay.nhwc and not (v.shape[2] == 1 and v.shape[3] == 1):
                    if b.op == "Conv" or _same(v.shape, b.outputs[0].shape):
                        add(region[id(b)], v)
            continue
        if b.op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean") or (
                b.op == "Transpose" and _perm(b) == TO_NHWC):
            continue
        for v in b.inputs:
            m = lay.nhwc.get(id(v)) if v is not None else None
            if m is not None and not (v.shape[2] == 1 and v.shape[3] == 1):
                add(region[id(m)], v)
    for v in f.outputs:
        if id(v) in lay.nhwc:
            add(region[id(lay.nhwc[id(v)])], v)
    return {r: len(vs) for r, vs in seen.items()}


# a region keeps its convolutions if it has at most this many border transposes per depthwise convolution
BORDER_PER_DEPTHWISE = 0.5


def choose_layout(f: Function) -> _Layout:
    """The NHWC values after dropping the regions that do not pay (steps 1-3): a region keeps its convolutions if
    it has a depthwise one and at most half as many border transposes as depthwise convolutions (ShuffleNet's
    branches, one depthwise convolution between a channel split and a concatenation, do not)."""
    convs = {id(b): form for b in f.bindings for form in [_conv_form(b)] if form is not None}
    while True:
        lay = _Layout(f, convs)
        region = _regions(f, lay)
        n_dw: Dict[int, int] = {}
        for b in lay.nhwc.values():
            if convs.get(id(b)) == "dw":
                n_dw[region[id(b)]] = n_dw.get(region[id(b)], 0) + 1
        cross = _crossings(f, lay, region)
        # and a stem's region without border transposes costs nothing (ConvNeXt's stem, read only through a Transpose
        # to NHWC: its LayerNorm then reads the stem's output in place)
        keep = {r for r, k in n_dw.items() if cross.get(r, 0) <= BORDER_PER_DEPTHWISE * k}
        keep |= {region[k] for k, form in convs.items() if form == "stem" and k in region
                 and cross.get(region[k], 0) == 0}
        drop = {k for k, r in region.items() if k in convs and r not in keep}
        if not drop:
            return lay
        convs = {k: v for k, v in convs.items() if k not in drop}


def nhwc_layout(f: Function, layout: Optional[dict] = None) -> Function:
    """The pass (see the module docstring); ``layout``: the profile's ``[layout]`` table (off unless nhwc)."""
    if not (layout or {}).get("nhwc", False):
        return f
    lay = choose_layout(f)
    if not any(b.op == "Conv" for b in lay.nhwc.values()):
        return f
    out: List[Binding] = []
    store: Dict[int, Value] = {}    # id(NCHW value of the region) -> its NHWC storage value
    back: Dict[int, Value] = {}     # id(NCHW value) -> itself, once a Transpose back has been emitted
    alias: Dict[int, Value] = {}    # id(dropped Transpose-to-NHWC output) -> the storage it equals

    def nhwc_type(v: Value) -> TensorType:
        return TensorType(tuple(v.shape[k] for k in TO_NHWC), v.dtype)

    def new_value(v: Value, suffix="_nhwc") -> Value:
        return Value(v.name + suffix, nhwc_type(v))

    def as_nhwc(v: Value, at: str) -> Value:
        """The NHWC form of a full-size NCHW value (a Transpose in if it is not one)."""
        if id(v) in store:
            return store[id(v)]
        t = new_value(v)
        out.append(Binding("Transpose", [v], [t], {"perm": list(TO_NHWC)}, name=f"{at}_to_nhwc"))
        store[id(v)] = t
        return t

    def as_nchw(v: Value) -> Value:
        """v itself for a reader outside the regions (a Transpose back from its storage the first time)."""
        if id(v) in lay.nhwc and id(v) not in back:
            out.append(Binding("Transpose", [store[id(v)]], [v], {"perm": list(TO_NCHW)}, name=f"{v.name}_to_nchw"))
            back[id(v)] = v
        return v

    def operand(v: Optional[Value], full: bool, at: str) -> Optional[Value]:
        if v is None:
            return None
        if full:
            return as_nhwc(v, at)
        if v.rank == 4 and id(v) in store:  # an NHWC [N, 1, 1, C] of the region (a squeeze-excite scale)
            return store[id(v)]
        if v.rank == 4 and v.const is None:  # [N|1, C|1, 1, 1]: the permute is a reshape (lowering inlines it)
            t = new_value(v)
            out.append(Binding("Transpose", [as_nchw(v)], [t], {"perm": list(TO_NHWC)}, name=f"{at}_{v.name}_nhwc"))
            return t
        if v.const is not None and v.const.size > 1:
            return Value(v.name + "_nhwc", TensorType(tuple(_to_nhwc_const(v).shape), v.dtype), const=_to_nhwc_const(v))
        return v

    for b in f.bindings:
        ins = [alias.get(id(v), v) if v is not None else None for v in b.inputs]
        made = lay.nhwc.get(id(b.outputs[0])) is b if b.outputs else False
        if made and b.op == "Conv":
            y = b.outputs[0]
            t = new_value(y)
            if lay.forms[id(b)] == "stem":  # reads NCHW
                out.append(Binding("ConvNHWC", [as_nchw(ins[0])] + ins[1:], [t], dict(b.attrs, nchw_input=1),
                                   name=b.name))
            else:
                out.append(Binding("ConvNHWC", [as_nhwc(ins[0], b.name)] + ins[1:], [t], dict(b.attrs), name=b.name))
            store[id(y)] = t
        elif made and b.op == "Transpose":
            store[id(b.outputs[0])] = ins[0]  # already channels-last: no op
        elif made:
            y = b.outputs[0]
            full = [v is not None and v.rank == 4 and _same(v.shape, y.shape) and id(v) in lay.nhwc for v in ins]
            t = new_value(y)
            out.append(Binding(b.op, [operand(v, fl, b.name) for v, fl in zip(ins, full)], [t], dict(b.attrs),
                               name=b.name))
            store[id(y)] = t
        elif (b.op == "Transpose" and ins[0] is not None and id(ins[0]) in lay.nhwc and _perm(b) == TO_NHWC
              and id(b.outputs[0]) not in {id(o) for o in f.outputs}):
            alias[id(b.outputs[0])] = store[id(ins[0])]  # back to NHWC: the storage itself
        elif _mean_over_plane(b) and id(ins[0]) in lay.nhwc:  # pooled along the NHWC rows, no transpose back
            out.append(Binding("GlobalAveragePoolNHWC", [store[id(ins[0])]], list(b.outputs), {}, name=b.name))
        else:
            new_ins = [as_nchw(v) if v is not None and id(v) in lay.nhwc else v for v in ins]
            out.append(dataclasses.replace(b, inputs=new_ins))
    for v in f.outputs:
        if id(v) in lay.nhwc:
            as_nchw(v)
    outputs = [alias.get(id(v), v) for v in f.outputs]
    return f.with_bindings(out, outputs=outputs)
