"""Models of ai.onnx opsets 1-6 (the ONNX Model Zoo's oldest files, Caffe2 / CNTK-era converters) as opset 7.

Opset 7 changed two things at once: the binary ops' ``broadcast`` / ``axis`` attributes gave way to numpy
broadcasting, and a handful of ops dropped attribute forms. ``upgrade`` rewrites the forms that need no shapes
(a copy of the model; opset 7 in its opset_import):
- Reshape's ``shape`` attribute (opsets 1-4) -> a constant input; Concat without ``axis`` (1-3) -> axis 1;
- Cast's ``to`` as a type name (1-5) -> its code; Pad's ``paddings`` (1) -> ``pads``;
- Upsample-1's ``height_scale`` / ``width_scale`` / ``BILINEAR`` -> ``scales`` / ``linear``; Split-1's ``split`` input -> the attribute;
- ``consumed_inputs`` (1-5), Dropout's / BatchNormalization's ``is_test``, BatchNormalization's ``spatial=1``,
  Gemm's ``broadcast`` dropped (inference-time no-ops). BatchNormalization with ``spatial=0`` is refused.
``align_broadcast`` is applied by the importer, which knows the ranks: a binary op with ``broadcast=1`` and an
``axis`` that does not align B with A's last dims gets B unsqueezed on its right, so numpy broadcasting lines it
up at ``axis`` (opset 6's rule; e.g. a [C] bias added to NCHW at axis 1 -> [C, 1, 1]).
"""
from __future__ import annotations

from typing import Callable, List, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import UnsupportedOp

LEGACY_OPSET = 7
BROADCAST_OPS = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"}


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _set_attrs(node, drop=(), **new):
    keep = [a for a in node.attribute if a.name not in drop and a.name not in new]
    del node.attribute[:]
    node.attribute.extend(keep)
    for k, v in new.items():
        node.attribute.append(helper.make_attribute(k, v))


def upgrade(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """``model`` (ai.onnx opset < 7) with its old attribute forms rewritten to opset 7's (a copy)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        a = _attrs(node)
        name = node.name or node.op_type
        op = node.op_type
        drop = ["consumed_inputs"]
        new = {}
        if op == "Reshape" and "shape" in a:
            shp = f"{node.output[0]}__shape"
            g.initializer.append(numpy_helper.from_array(np.array(a["shape"], np.int64), shp))
            del node.input[1:]
            node.input.append(shp)
            drop.append("shape")
        elif op == "Concat" and "axis" not in a:
            new["axis"] = 1
        elif op == "Cast" and isinstance(a.get("to"), bytes):
            s = a["to"].decode().upper()
            code = {"FLOAT32": "FLOAT", "FLOAT64": "DOUBLE"}.get(s, s)
            if code not in onnx.TensorProto.DataType.keys():
                raise UnsupportedOp("Cast", name, f"to '{s}'")
            new["to"] = onnx.TensorProto.DataType.Value(code)
        elif op == "Pad" and "paddings" in a:
            new["pads"] = list(a["paddings"])
            drop.append("paddings")
        elif op == "Upsample" and ("height_scale" in a or "width_scale" in a):
            new["scales"] = [1.0, 1.0, float(a.get("height_scale", 1.0)), float(a.get("width_scale", 1.0))]
            mode = a.get("mode", b"NEAREST").decode().lower()  # opset 1: NEAREST / BILINEAR
            new["mode"] = "linear" if mode == "bilinear" else mode
            drop += ["height_scale", "width_scale"]
        elif op == "Split" and len(node.input) > 1:
            if node.input[1] not in inits:
                raise UnsupportedOp("Split", name, "opset-1 split sizes from a tensor computed at run time")
            new["split"] = [int(v) for v in numpy_helper.to_array(inits[node.input[1]]).reshape(-1)]
            del node.input[1:]
        elif op == "Tile" and len(node.input) > 2:
            raise UnsupportedOp("Tile", name, "opset-1 Tile (tiles and axis inputs)")
        elif op == "BatchNormalization":
            if a.get("spatial", 1) != 1:
                raise UnsupportedOp(op, name, "spatial=0 (statistics per activation, opsets 1-8)")
            drop += ["is_test", "spatial"]
        elif op == "Dropout":
            drop.append("is_test")
        elif op == "Gemm":
            drop.append("broadcast")
        _set_attrs(node, drop, **new)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = LEGACY_OPSET
    return m


def align_broadcast(node: onnx.NodeProto, rank: Callable[[str], int], fresh: Callable[[str], str]
                    ) -> Tuple[List[onnx.NodeProto], onnx.NodeProto]:
    """(nodes to import first, the node) for a binary op of opsets 1-6: with ``broadcast=1`` and an ``axis``,
    B's dims start at A's ``axis``; an Unsqueeze on B's right makes that numpy's alignment."""
    a = _attrs(node)
    if node.op_type not in BROADCAST_OPS or ("broadcast" not in a and "axis" not in a):
        return [], node
    out = onnx.NodeProto()
    out.CopyFrom(node)
    _set_attrs(out, ("broadcast", "axis"))
    if not a.get("broadcast", 0) or "axis" not in a or len(node.input) < 2:
        return [], out
    ra, rb = rank(node.input[0]), rank(node.input[1])
    axis = a["axis"] + ra if a["axis"] < 0 else a["axis"]
    pad = ra - axis - rb
    if pad < 0:
        raise UnsupportedOp(node.op_type, node.name, f"broadcast axis {a['axis']} with B of rank {rb} past A's rank {ra}")
    if pad == 0:
        return [], out
    b = fresh(f"{node.input[1]}__at_axis{axis}")
    unsq = helper.make_node("Unsqueeze", [node.input[1]], [b], name=b, axes=list(range(rb, rb + pad)))
    out.input[1] = b
    return [unsq], out
