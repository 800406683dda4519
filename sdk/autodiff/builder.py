"""Emit graph ops into a Function under construction: each op's output types come from its registered shape rule,
so the gradient graph is ordinary IR (lowered, fused and planned like the forward one). Ops whose inputs are all
constant are folded on the spot (the transposed frozen weight a backward MatMul reads is a constant)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..frontend.onnx import c_name
from ..ir import sym
from ..ir.dtypes import dtype_name
from ..ir.graph import Binding, Function, TensorType, Value
from ..ops import Node, get

MIN_OPSET = 13  # the forms emitted here: ReduceSum/Slice/Pad take axes and pads as inputs


class GraphBuilder:
    """Appends bindings to ``bindings``; names are unique over the function's values."""

    def __init__(self, f: Function, bindings: Optional[List[Binding]] = None):
        self.opset = f.opset or 17
        self.bindings = list(f.bindings) if bindings is None else bindings
        self.dim_checks = f.dim_checks  # a rule's run-time dim checks (ops.common.match_dim) join the function's
        self.used = set()
        for v in list(f.inputs) + list(f.outputs) + [v for b in self.bindings for v in b.inputs + b.outputs if v]:
            self.used.add(v.name)
        self._consts: Dict[tuple, Value] = {}
        self.count = 0
        self.conv_dx = "conv"  # a stride-1 convolution's input gradient: "conv" (flipped weight) or "transpose"
        self.flipped = 0       # convolutions of a flipped weight emitted

    def name(self, stem: str) -> str:
        return c_name(stem, self.used)

    # ---- constants
    def const(self, arr, dtype: Optional[str] = None, stem: str = "c") -> Value:
        a = np.asarray(arr, dtype=dtype) if dtype is not None else np.asarray(arr)
        key = (a.dtype.str, a.shape, a.tobytes()) if a.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        v = Value(self.name(f"{stem}_const"), TensorType(tuple(a.shape), dtype_name(a.dtype)), const=a)
        if key is not None:
            self._consts[key] = v
        return v

    def scalar(self, x: float, like: Value) -> Value:
        return self.const(np.array(x, dtype=like.dtype))

    def ints(self, dims: Sequence) -> Value:
        """An int64 vector of dims: a constant when every dim is static, else a value known symbolically."""
        dims = list(dims)
        if all(sym.is_static(d) for d in dims):
            return self.const(np.array([int(d) for d in dims], np.int64))
        v = Value(self.name("shape"), TensorType((len(dims),), "int64"), sym_value=dims)
        return v

    # ---- ops
    def op(self, op_type: str, inputs: Sequence[Optional[Value]], n_out: int = 1, stem: str = "", **attrs):
        """Append ``op_type(inputs, attrs)``; returns its output Value (or the list when ``n_out > 1``)."""
        ins = list(inputs)
        while ins and ins[-1] is None:
            ins.pop()
        self.count += 1
        node_name = self.name(f"{stem or 'grad'}_{op_type.replace('.', '_')}")
        opdef = get(op_type, node_name)
        nd = Node(op_type, node_name, ins, attrs, n_out, self.opset)
        if ins and all(v is None or v.const is not None for v in ins) and not op_type.startswith("sdk."):
            outs = self._fold(op_type, ins, attrs, n_out)
            return outs if n_out > 1 else outs[0]
        types = opdef.infer(nd)
        self.dim_checks.extend(c for c in nd.dim_checks if c not in self.dim_checks)
        symv = opdef.symbolic(nd) if opdef.symbolic else None
        outs = []
        for k in range(n_out):
            v = Value(self.name(f"{node_name}_out{k}" if n_out > 1 else node_name), types[k])
            if symv is not None and k < len(symv) and symv[k] is not None:
                if all(sym.is_static(d) for d in symv[k]):
                    v.const = np.array(symv[k], dtype=types[k].dtype).reshape([int(d) for d in types[k].shape])
                else:
                    v.sym_value = list(symv[k])
            outs.append(v)
        if not all(v.const is not None for v in outs):
            self.bindings.append(Binding(op_type, ins, outs, dict(attrs), node_name))
        return outs if n_out > 1 else outs[0]

    def _fold(self, op_type, ins, attrs, n_out):
        from onnx import helper
        from ..frontend.onnx import fold_node
        from .export import onnx_attr
        node = helper.make_node(op_type, [f"i{k}" for k in range(len(ins))], [f"o{k}" for k in range(n_out)],
                                **{k: onnx_attr(a) for k, a in attrs.items()})
        res = fold_node(node, [v.const if v is not None else None for v in ins], self.opset)
        return [self.const(r) for r in res]

    # ---- helpers the gradient rules share
    def reduce_sum(self, x: Value, axes: Sequence[int], keepdims: bool = True) -> Value:
        if not axes:
            return x
        return self.op("ReduceSum", [x, self.const(np.array(list(axes), np.int64))], keepdims=int(keepdims))

    def reshape(self, x: Value, shape: Sequence) -> Value:
        if len(shape) == x.rank and all(sym.sub(a, b) == 0 for a, b in zip(shape, x.shape)):
            return x
        return self.op("Reshape", [x, self.ints(shape)])

    def unbroadcast(self, g: Value, shape: Sequence) -> Value:
        """Sum ``g`` (of a broadcast result's shape) down to ``shape``, the operand's shape."""
        shape = list(shape)
        lead = g.rank - len(shape)
        axes = list(range(lead)) + [lead + k for k, d in enumerate(shape)
                                    if sym.is_static(d) and d == 1 and not (sym.is_static(g.shape[lead + k])
                                                                            and g.shape[lead + k] == 1)]
        return self.reshape(self.reduce_sum(g, axes, keepdims=True), shape)

    def add(self, a: Value, b: Value) -> Value:
        return self.op("Add", [a, b])

    def mul(self, a: Value, b: Value) -> Value:
        return self.op("Mul", [a, b])

    def swap_last(self, x: Value) -> Value:
        perm = list(range(x.rank))
        perm[-2], perm[-1] = perm[-1], perm[-2]
        return self.op("Transpose", [x], perm=perm)
