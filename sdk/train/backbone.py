"""``--backbone int8``: the frozen layers in front of the trainable head quantised to int8 for the training step.

The model is quantised by the int8 inference pass (``sdk/transform/quantize.py``: per-output-channel symmetric
int8 weights with int32 biases, per-tensor asymmetric int8 activations from calibration ranges, the CMSIS-NN style
kernels ``sdk.QConv``/``sdk.QFC``/``sdk.QAvgPool``/``sdk.QAdd``) up to the first binding that reads a trainable
parameter: that binding and everything after it (the head) stay float32 behind one ``sdk.Dequantize``. The
quantised weights are constants (flash); the head's parameters are the step's inputs (the RAM state). The backward
starts at the loss and stops at the trainable parameters, so no gradient flows into the int8 layers (they have no
gradient rules, and none is needed)."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import numpy as np

from ..errors import SdkError
from ..ir.graph import Function, Value
from ..transform.quantize import quantize_int8
from .step import select_trainable

BACKBONES = ("fp32", "int8")
QUANTIZED_LAYERS = ("sdk.QConv", "sdk.QFC", "sdk.QSparse")


def int8_backbone(f: Function, model, calibration: Dict[str, np.ndarray], trainable,
                  names: Dict[str, str]) -> Tuple[Function, dict, List[str]]:
    """``f`` with its frozen front quantised to int8 (see the module docstring). Returns (the Function, the
    quantisation record {ONNX tensor name: [scale, zero point]}, the trainable parameters' ONNX names: the
    selection made on the float model, since the quantised layers no longer count as layers)."""
    if calibration is None:
        raise SdkError("--backbone int8 needs calibration inputs (--calibration data.npz, keyed by the ONNX input "
                       "names): the activation ranges of the int8 layers")
    chosen = select_trainable(f, trainable, names)
    q, quant = quantize_int8(f, model, calibration, keep_float=chosen)
    if not any(b.op in QUANTIZED_LAYERS for b in q.bindings):
        first = next((b for b in f.bindings if any(v is not None and any(v is c for c in chosen) for v in b.inputs)),
                     None)
        raise SdkError("--backbone int8: no layer in front of the trainable parameters could be quantised "
                       f"(the first trainable layer is {first.op if first else '?'} '{first.name if first else ''}'"
                       "; train fewer layers, e.g. --trainable last:1)")
    return q, quant, [names.get(v.name, v.name) for v in chosen]


def head_input(f: Function) -> Value:
    """The float features the head reads: the output of the last ``sdk.Dequantize`` of the int8 backbone."""
    deq = [b for b in f.bindings if b.op == "sdk.Dequantize"]
    if not deq:
        raise SdkError("no sdk.Dequantize in the function: not an int8 backbone")
    return deq[-1].outputs[0]


def backbone_function(f: Function) -> Function:
    """The int8 backbone alone: ``f``'s bindings up to the last ``sdk.Dequantize``, whose float output (the
    features) is the only output; ``sdk.transform.quantize.reference_int8`` evaluates it bit for bit."""
    feat = head_input(f)
    end = next(k for k, b in enumerate(f.bindings) if feat in b.outputs)
    return f.with_bindings(f.bindings[:end + 1], outputs=[feat], output_names=["features"])


def with_parameters(f: Function, values: Dict[str, np.ndarray], names: Dict[str, str]) -> Function:
    """``f`` with the constants whose ONNX names (``names``: {IR name: ONNX name}) are keys of ``values`` replaced
    by those arrays: the model with a trained head, for inference."""
    swap: Dict[int, Value] = {}
    for b in f.bindings:
        for v in b.inputs:
            key = None if v is None or v.const is None else names.get(v.name, v.name)
            if key in values and id(v) not in swap:
                arr = np.asarray(values[key], v.const.dtype).reshape(v.const.shape)
                swap[id(v)] = Value(v.name, v.type, const=arr, onnx_name=v.onnx_name)
    bindings = [dataclasses.replace(b, inputs=[swap.get(id(v), v) if v is not None else None for v in b.inputs])
                for b in f.bindings]
    return f.with_bindings(bindings)
