"""Multiply-adds of one inference of an ONNX model: Conv, ConvTranspose-free nets, MatMul and Gemm, from ONNX
shape inference at the given input shapes (other ops count nothing).

    python bench/model_macs.py model.onnx [name=dim ...]
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import shape_inference


def _shapes(model, dims):
    """{value name: static shape} after shape inference with the symbolic input dims fixed to ``dims``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for v in m.graph.input:
        for d in v.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                d.dim_value = int(dims.get(d.dim_param, 1))
    m = shape_inference.infer_shapes(m)
    out = {}
    for v in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dd = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dd):
            out[v.name] = [d.dim_value for d in dd]
    for t in m.graph.initializer:
        out[t.name] = list(t.dims)
    return m, out


def count_macs(model, dims=None) -> dict:
    """{"conv": n, "matmul": n, "total": n}: multiply-adds per inference (a Conv's output elements times
    its (C / group) * kernel size; MatMul/Gemm M*N*K per batch)."""
    m, shp = _shapes(model, dims or {})
    conv = mm = 0
    for node in m.graph.node:
        if node.op_type == "Conv" and node.output[0] in shp and node.input[1] in shp:
            w = shp[node.input[1]]
            conv += int(np.prod(shp[node.output[0]])) * int(np.prod(w[1:]))
        elif node.op_type in ("MatMul", "Gemm") and node.output[0] in shp and node.input[0] in shp:
            a = shp[node.input[0]]
            k = a[-1]
            if node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute):
                k = a[0]
            mm += int(np.prod(shp[node.output[0]])) * int(k)
    return {"conv": conv, "matmul": mm, "total": conv + mm}


if __name__ == "__main__":
    dims = dict(a.split("=") for a in sys.argv[2:])
    print(count_macs(onnx.load(sys.argv[1]), {k: int(v) for k, v in dims.items()}))
