"""A Function back to an ONNX model, and onnx's ReferenceEvaluator over it (with the numpy references of the
gradient-only ``sdk.*`` ops): the oracle the autodiff tests evaluate forward and gradient graphs with, in any
float type (float64 for finite differences)."""
from __future__ import annotations

from typing import Dict

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir import sym
from ..ir.graph import Function, Value

DOMAIN = "sdk"


def onnx_attr(a):
    """An attribute value as helper.make_node takes it."""
    if isinstance(a, np.ndarray):
        return numpy_helper.from_array(a)
    return a


def _vi(v: Value, name: str):
    shape = [int(d) if sym.is_static(d) else sym.to_str(d) for d in v.shape]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype)), shape)


def to_onnx(f: Function, dtype=None) -> onnx.ModelProto:
    """``f`` as a model; ``dtype`` (e.g. np.float64) converts every float32 input, output and constant."""
    def conv(arr):
        return arr.astype(dtype) if dtype is not None and arr.dtype == np.float32 else arr

    def vi(v):
        t = _vi(v, v.name)
        if dtype is not None and v.dtype == "float32":
            t.type.tensor_type.elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        return t

    inits, seen, nodes = [], set(), []
    for b in f.bindings:
        for v in b.inputs:
            if v is not None and v.const is not None and id(v) not in seen:
                seen.add(id(v))
                inits.append(numpy_helper.from_array(conv(v.const), v.name))
            elif v is not None and v.const is None and v.sym_value is not None and id(v) not in seen:
                seen.add(id(v))  # a shape known symbolically: static here, or the model cannot be exported
                inits.append(numpy_helper.from_array(np.array([int(d) for d in v.sym_value], np.int64), v.name))
        domain = DOMAIN if b.op.startswith("sdk.") else ""
        op = b.op[4:] if domain else b.op
        nodes.append(helper.make_node(op, [v.name if v is not None else "" for v in b.inputs],
                                      [v.name for v in b.outputs], name=b.name, domain=domain,
                                      **{k: onnx_attr(a) for k, a in b.attrs.items()}))
    outs = []
    for v in f.outputs:
        if v.const is not None and id(v) not in seen:
            seen.add(id(v))
            inits.append(numpy_helper.from_array(conv(v.const), v.name))
        outs.append(vi(v))
    g = helper.make_graph(nodes, f.name, [vi(v) for v in f.inputs], outs, inits)
    opsets = [helper.make_opsetid("", f.opset or 17), helper.make_opsetid(DOMAIN, 1)]
    return helper.make_model(g, opset_imports=opsets, ir_version=9)


def _reference_ops():
    from onnx.reference.op_run import OpRun
    from ..ops.grad import REFERENCES

    def make(op, fn):
        def _run(self, *args, **attrs):  # the node's attributes come as keywords
            return (np.asarray(fn(*args, **{k: v for k, v in attrs.items() if v is not None})),)
        return type(op[4:], (OpRun,), {"op_domain": DOMAIN, "_run": _run})
    return [make(op, fn) for op, fn in REFERENCES.items()] + _fixed_ops()


def _fixed_ops():
    """onnx's reference where it disagrees with the spec: MaxPool's Indices (flat over N and C too) and
    ConvTranspose with group > 1 (run here one group at a time)."""
    import itertools

    from onnx.reference.ops.op_conv_transpose import ConvTranspose
    from onnx.reference.ops.op_max_pool import MaxPool

    class MaxPoolFixed(MaxPool):
        op_domain = ""

        def _run(self, x, **kw):
            res = super()._run(x, **kw)
            if len(self.onnx_node.output) < 2 or kw.get("storage_order"):
                return res
            y = res[0]
            k = len(kw["kernel_shape"])
            strides = kw.get("strides") or [1] * k
            dil = kw.get("dilations") or [1] * k
            pads = kw.get("pads") or [0] * (2 * k)
            flat = np.arange(x.size).reshape(x.shape)
            idx = np.zeros(y.shape, np.int64)
            for o in itertools.product(*[range(d) for d in y.shape[2:]]):
                best = np.full(y.shape[:2], np.iinfo(np.int64).max)
                for t in itertools.product(*[range(d) for d in kw["kernel_shape"]]):
                    p = [o[a] * strides[a] - pads[a] + t[a] * dil[a] for a in range(k)]
                    if all(0 <= p[a] < x.shape[2 + a] for a in range(k)):
                        at = (slice(None), slice(None)) + tuple(p)
                        hit = x[at] == y[(slice(None), slice(None)) + o]
                        best = np.where(hit, np.minimum(best, flat[at]), best)
                idx[(slice(None), slice(None)) + o] = best
            return (y, idx)

    class ConvTransposeFixed(ConvTranspose):
        op_domain = ""

        def _run(self, X, W, B=None, group=None, **kw):
            group = group or 1
            if group == 1:
                return super()._run(X, W, B, group=1, **kw)
            cin, cout = X.shape[1] // group, W.shape[1]
            parts = [super(ConvTransposeFixed, self)._run(
                X[:, g * cin:(g + 1) * cin], W[g * cin:(g + 1) * cin],
                None if B is None else B[g * cout:(g + 1) * cout], group=1, **kw)[0] for g in range(group)]
            return (np.concatenate(parts, axis=1),)

    MaxPoolFixed.__name__ = "MaxPool"
    ConvTransposeFixed.__name__ = "ConvTranspose"
    return [MaxPoolFixed, ConvTransposeFixed]


def evaluate(f: Function, feeds: Dict[str, np.ndarray], dtype=None) -> Dict[str, np.ndarray]:
    """Run ``f`` with onnx's ReferenceEvaluator; feeds and results keyed by IR value names."""
    from onnx.reference import ReferenceEvaluator
    model = to_onnx(f, dtype)
    ev = ReferenceEvaluator(model, new_ops=_reference_ops())
    names = [v.name for v in f.outputs]
    res = ev.run(names, {k: (a.astype(dtype) if dtype is not None and a.dtype == np.float32 else a)
                         for k, a in feeds.items()})
    return dict(zip(names, res))
