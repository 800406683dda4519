"""Graph pass (``sdk build --weights fp16``): the weights of matrix products rounded to IEEE float16 values.

Every ``MatMul`` and ``Gemm`` whose B operand (the weight) is a float32 constant (an initializer, or one the import
computed from initializers, e.g. a transposed one) reads instead a copy rounded to the nearest float16 (ties to
even, as numpy's and onnxruntime's casts), still float32 in the IR; a constant that other ops read too (a tied
embedding's ``Gather``) keeps its exact values for them. Everything else (biases, norms, embeddings, the
activations, the sums) stays float32.

The rounding is the model's meaning from here on, wherever the product runs; what it buys is the storage: the
matrix-vector products (at most 8 rows: a decoding step, its beams; ``sdk/tune/gemv.py``) keep such a weight as
float16 in the bundle and convert it while streaming it (``sdk_gemv_f16w_f32``): half the bytes to store, load and
read per token. Products with more rows keep float32 storage of the rounded values. A weight with a finite value
beyond float16's range (|w| > 65504) is an error, not an infinity.

The profile key ``[weights] precision`` (``fp32`` or ``fp16``; ``sdk.compile(weights=)`` sets it on a copy of the
profile) turns it on; off by default."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..errors import SdkError
from ..ir.graph import Function, Value

PRECISIONS = ("fp32", "fp16")
F16_MAX = 65504.0


def weights_precision(tgt) -> str:
    """The profile's ``[weights] precision`` (default fp32)."""
    p = tgt.data.get("weights", {}).get("precision", "fp32")
    if p not in PRECISIONS:
        raise SdkError(f"target '{tgt.name}': [weights] precision = '{p}': expected {' or '.join(PRECISIONS)}")
    return p


def round_fp16(w: np.ndarray, what: str) -> np.ndarray:
    """``w`` (float32) rounded to the nearest float16 values, as float32; SdkError when a finite value overflows."""
    big = np.abs(w[np.isfinite(w)])
    if big.size and float(big.max()) > F16_MAX:
        raise SdkError(f"--weights fp16: weight '{what}' has a value of magnitude {float(big.max()):g}, beyond "
                       f"float16's {F16_MAX:g}; build it with float32 weights")
    return w.astype(np.float16).astype(np.float32)


def round_matrix_weights(f: Function, opts: Optional[str] = None) -> Function:
    """``opts``: the weights precision ("fp16": round; None or "fp32": ``f`` unchanged)."""
    if opts != "fp16":
        return f
    rounded = {}  # id(original constant) -> its rounded copy (one per weight, however many products read it)
    bindings, changed = [], False
    for b in f.bindings:
        w = b.inputs[1] if b.op in ("MatMul", "Gemm") and len(b.inputs) > 1 else None
        if w is not None and w.const is not None and w.const.dtype == np.float32:
            r = rounded.get(id(w))
            if r is None:
                r = rounded[id(w)] = Value(w.name + "_fp16", w.type, round_fp16(w.const, w.onnx_name or w.name))
            b = dataclasses.replace(b, inputs=[b.inputs[0], r, *b.inputs[2:]])
            changed = True
        bindings.append(b)
    return f.with_bindings(bindings) if changed else f


def with_weights_precision(tgt, weights: str):
    """A copy of the profile ``tgt`` with ``[weights] precision = weights`` (``sdk.compile(weights=)``,
    ``sdk build --weights``). fp16 is for the C kernels of the CPU backends (host, phones, wasm32, Cortex-M); CUDA
    builds have ``--precision fp16|bf16`` (tensor cores) instead."""
    if weights not in PRECISIONS:
        raise SdkError(f"weights '{weights}': expected {' or '.join(PRECISIONS)}")
    if weights == "fp16" and tgt.backend == "cuda":
        raise SdkError(f"--weights fp16 stores the weights of matrix-vector products (sdk/tune/gemv.py) as float16 "
                       f"for the CPU kernels; target '{tgt.name}' is CUDA: use --precision fp16 or bf16")
    return dataclasses.replace(tgt, data={**tgt.data, "weights": {**tgt.data.get("weights", {}), "precision": weights}})
