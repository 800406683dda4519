"""Reverse-mode differentiation of a Function: the gradient graph is appended to the forward bindings as ordinary
ops (``GraphBuilder``), walking the bindings backwards from the loss and adding up the gradients of values read
twice. Only the values between the parameters asked for and the loss get gradients (frozen layers before the first
trainable one cost nothing)."""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from ..errors import SdkError
from ..ir.graph import Function, Value
from .builder import MIN_OPSET, GraphBuilder
from .registry import rule_of


def gradients(f: Function, loss: Value, wrt: List[Value],
              conv_dx: str = "conv") -> Tuple[GraphBuilder, Dict[int, Value]]:
    """Append to a copy of ``f``'s bindings the ops computing d loss / d w for each ``w`` in ``wrt`` (inputs of
    ``f``, or values it computes). Returns (the builder holding the bindings, {id(w): gradient value}); a ``w`` the
    loss does not depend on gets a zero constant. ``conv_dx``: a stride-1 convolution's input gradient as a
    convolution with the flipped weight ("conv") or as a ConvTranspose ("transpose"); ``GraphBuilder.flipped``
    counts the former."""
    if (f.opset or 17) < MIN_OPSET:
        raise SdkError(f"training needs ai.onnx opset >= {MIN_OPSET} (the model has {f.opset})")
    if loss.rank != 0 and not all(d == 1 for d in loss.shape):
        raise SdkError(f"the loss must be a scalar, got shape {loss.type}")
    gb = GraphBuilder(f)
    gb.conv_dx = conv_dx
    forward = list(gb.bindings)
    # values that depend on a parameter (forward) ...
    live = {id(w) for w in wrt}
    for b in forward:
        if any(v is not None and id(v) in live for v in b.inputs):
            live.update(id(v) for v in b.outputs)
    grads: Dict[int, Value] = {id(loss): gb.const(np.ones([int(d) for d in loss.shape], loss.dtype), stem="seed")}
    # ... and reach the loss (backward)
    for b in reversed(forward):
        gy = [grads.get(id(v)) for v in b.outputs]
        if all(g is None for g in gy):
            continue
        need = [v is not None and id(v) in live and v.dtype in ("float32", "float64") for v in b.inputs]
        if not any(need):
            continue
        gx = rule_of(b.op, b.name)(gb, b, gy, need)
        for v, g, n in zip(b.inputs, gx, need):
            if not n or g is None:
                continue
            if tuple(g.shape) != tuple(v.shape) and not (g.rank == v.rank and all(
                    _same(a, c) for a, c in zip(g.shape, v.shape))):
                raise SdkError(f"gradient rule of {b.op} '{b.name}': gradient {g.type} for input {v.name} {v.type}")
            grads[id(v)] = gb.add(grads[id(v)], g) if id(v) in grads else g
    out = {}
    for w in wrt:
        out[id(w)] = grads.get(id(w)) or gb.const(np.zeros([int(d) for d in w.shape], w.dtype), stem="zero_grad")
    return gb, out


def _same(a, b):
    from ..ir import sym
    return sym.sub(a, b) == 0


def grad_function(f: Function, loss: Value, wrt: List[Value]) -> Function:
    """``f`` with the gradients of ``loss`` with respect to ``wrt`` as its outputs (after ``f``'s own): what the
    tests check against finite differences."""
    gb, g = gradients(f, loss, wrt)
    outs = list(f.outputs) + [g[id(w)] for w in wrt]
    return f.with_bindings(gb.bindings, outputs=outs,
                           output_names=list(f.output_names) + [f"grad_{w.name}" for w in wrt])
