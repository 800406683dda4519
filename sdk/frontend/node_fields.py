"""Reading an ONNX NodeProto's optional fields, as the graph rewrites of the frontend (contrib, contrib_attention,
signal, sequences) do before the op registry sees the node."""
from __future__ import annotations

from onnx import helper


def node_input(node, k: int) -> str:
    """The name of input ``k``, "" where the node has fewer inputs (an optional input left out)."""
    return node.input[k] if k < len(node.input) else ""


def node_attr(node, name, default=None):
    """The value of attribute ``name`` (onnx.helper's reading: bytes for strings, TensorProto for tensors), else
    ``default``."""
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default
