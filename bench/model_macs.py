"""Multiply-adds of one inference of an ONNX model: Conv, MatMul and Gemm (other ops count nothing), from the shapes
sdk's importer gives every value at the given dims (ONNX shape inference loses them after the Reshape/Transpose
of a channel shuffle).

    python bench/model_macs.py model.onnx [name=dim ...]
"""
from __future__ import annotations

import sys

import numpy as np
import onnx


def count_macs(model, dims=None) -> dict:
    """{"conv": n, "matmul": n, "total": n}: multiply-adds per inference (a Conv's output elements times
    its (C / group) * kernel size; MatMul/Gemm output elements times K)."""
    from sdk.frontend.onnx import import_onnx
    from sdk.ir import sym
    f = import_onnx(model, dims or {})

    def numel(v):
        n = sym.simplify(v.type.numel()) if hasattr(sym, "simplify") else v.type.numel()
        return int(n)

    conv = mm = 0
    for b in f.bindings:
        if b.op == "Conv":
            w = [int(d) for d in b.inputs[1].shape]
            conv += numel(b.outputs[0]) * int(np.prod(w[1:]))
        elif b.op in ("MatMul", "Gemm"):
            a = [int(d) for d in b.inputs[0].shape]
            k = a[0] if b.op == "Gemm" and b.attrs.get("transA") else a[-1]
            mm += numel(b.outputs[0]) * k
    return {"conv": conv, "matmul": mm, "total": conv + mm}


if __name__ == "__main__":
    dims = dict(a.split("=") for a in sys.argv[2:])
    print(count_macs(onnx.load(sys.argv[1]), {k: int(v) for k, v in dims.items()}))
