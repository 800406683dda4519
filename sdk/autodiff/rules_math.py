"""Gradient rules of element-wise ops, reductions, softmax and the cross-entropy loss."""
from __future__ import annotations

import numpy as np

from ..ir import sym
from .registry import grad_rule


def _zero(gb, like):
    return gb.scalar(0.0, like)


# ------------------------------------------------------------------ binary element-wise (numpy broadcasting)
@grad_rule("Add", "Sub")
def _add(gb, b, gy, need):
    g = gy[0]
    a, c = b.inputs
    gc = (gb.op("Neg", [g]) if b.op == "Sub" else g) if need[1] else None
    return [gb.unbroadcast(g, a.shape) if need[0] else None, gb.unbroadcast(gc, c.shape) if need[1] else None]


@grad_rule("Sum")
def _sum(gb, b, gy, need):
    return [gb.unbroadcast(gy[0], v.shape) if n else None for v, n in zip(b.inputs, need)]


@grad_rule("Mul")
def _mul(gb, b, gy, need):
    g = gy[0]
    a, c = b.inputs
    return [gb.unbroadcast(gb.mul(g, c), a.shape) if need[0] else None,
            gb.unbroadcast(gb.mul(g, a), c.shape) if need[1] else None]


@grad_rule("Div")
def _div(gb, b, gy, need):
    g, y = gy[0], b.outputs[0]
    a, c = b.inputs
    ga = gb.op("Div", [g, c]) if need[0] else None
    gc = gb.op("Neg", [gb.op("Div", [gb.mul(g, y), c])]) if need[1] else None  # -g * a / c^2 = -g * y / c
    return [gb.unbroadcast(ga, a.shape) if need[0] else None, gb.unbroadcast(gc, c.shape) if need[1] else None]


@grad_rule("Where")
def _where(gb, b, gy, need):
    g = gy[0]
    c, x, y = b.inputs
    z = _zero(gb, g)
    return [None, gb.unbroadcast(gb.op("Where", [c, g, z]), x.shape) if need[1] else None,
            gb.unbroadcast(gb.op("Where", [c, z, g]), y.shape) if need[2] else None]


@grad_rule("Pow")
def _pow(gb, b, gy, need):
    x, p = b.inputs
    if need[1] or p.const is None:
        from ..errors import UnsupportedOp
        raise UnsupportedOp("Pow", b.name, "gradient with a non-constant exponent")
    pm1 = gb.const(np.asarray(p.const - 1, dtype=x.dtype))
    d = gb.mul(gb.mul(gy[0], gb.const(np.asarray(p.const, dtype=x.dtype))), gb.op("Pow", [x, pm1]))
    return [gb.unbroadcast(d, x.shape), None]


# ------------------------------------------------------------------ unary element-wise
def _unary(fn):
    def rule(gb, b, gy, need):
        return [fn(gb, gy[0], b.inputs[0], b.outputs[0], b)] + [None] * (len(b.inputs) - 1)
    return rule


grad_rule("Identity", "Dropout")(_unary(lambda gb, g, x, y, b: g))
grad_rule("Neg")(_unary(lambda gb, g, x, y, b: gb.op("Neg", [g])))
grad_rule("Exp")(_unary(lambda gb, g, x, y, b: gb.mul(g, y)))
grad_rule("Log")(_unary(lambda gb, g, x, y, b: gb.op("Div", [g, x])))
grad_rule("Sqrt")(_unary(lambda gb, g, x, y, b: gb.op("Div", [gb.mul(g, gb.scalar(0.5, x)), y])))
grad_rule("Reciprocal")(_unary(lambda gb, g, x, y, b: gb.op("Neg", [gb.mul(g, gb.mul(y, y))])))
# Relu and LeakyRelu (alpha > 0) read their output, not their input (y > 0 exactly where x > 0): the input then
# has one reader, so a convolution's activation stays fused into it and only the output is kept for the backward
grad_rule("Relu")(_unary(lambda gb, g, x, y, b: gb.op("Where", [gb.op("Greater", [y, _zero(gb, y)]), g,
                                                                 _zero(gb, g)])))
grad_rule("LeakyRelu")(_unary(lambda gb, g, x, y, b: gb.op("Where", [
    gb.op("Greater", [y if b.attrs.get("alpha", 0.01) > 0 else x, _zero(gb, x)]), g,
    gb.mul(g, gb.scalar(b.attrs.get("alpha", 0.01), g))])))
grad_rule("Sigmoid")(_unary(lambda gb, g, x, y, b: gb.mul(g, gb.mul(y, gb.op("Sub", [gb.scalar(1.0, y), y])))))
grad_rule("Tanh")(_unary(lambda gb, g, x, y, b: gb.mul(g, gb.op("Sub", [gb.scalar(1.0, y), gb.mul(y, y)]))))
grad_rule("Abs")(_unary(lambda gb, g, x, y, b: gb.mul(g, gb.op("Sign", [x]))))
grad_rule("Softplus")(_unary(lambda gb, g, x, y, b: gb.mul(g, gb.op("Sigmoid", [x]))))


@grad_rule("Cast")
def _cast(gb, b, gy, need):
    return [gb.op("Cast", [gy[0]], to=_onnx_type(b.inputs[0].dtype))]


def _onnx_type(dtype):
    from onnx import helper
    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@grad_rule("Clip")
def _clip(gb, b, gy, need):
    """The gradient passes where min < y < max, y the output (PyTorch's clamp passes it where min <= x <= max: the
    same but on the bounds themselves); reading y keeps a fused ReLU6 fused."""
    x, g = b.outputs[0], gy[0]
    keep = None
    for k, cmp in ((1, "Greater"), (2, "Less")):
        bound = b.inputs[k] if len(b.inputs) > k else None
        if bound is None:
            continue
        c = gb.op(cmp, [x, bound])
        keep = c if keep is None else gb.op("And", [keep, c])
    out = g if keep is None else gb.op("Where", [keep, g, _zero(gb, g)])
    return [out] + [None] * (len(b.inputs) - 1)


@grad_rule("HardSigmoid")
def _hardsigmoid(gb, b, gy, need):
    x, g = b.inputs[0], gy[0]
    alpha, beta = b.attrs.get("alpha", 0.2), b.attrs.get("beta", 0.5)
    t = gb.op("Add", [gb.mul(x, gb.scalar(alpha, x)), gb.scalar(beta, x)])
    inside = gb.op("And", [gb.op("Greater", [t, _zero(gb, x)]), gb.op("Less", [t, gb.scalar(1.0, x)])])
    return [gb.op("Where", [inside, gb.mul(g, gb.scalar(alpha, g)), _zero(gb, g)])]


@grad_rule("HardSwish")
def _hardswish(gb, b, gy, need):
    """y = x * relu6(x + 3) / 6: dy/dx = 0 below -3, 1 above 3, (2x + 3) / 6 between (PyTorch's)."""
    x, g = b.inputs[0], gy[0]
    mid = gb.op("Div", [gb.op("Add", [gb.mul(x, gb.scalar(2.0, x)), gb.scalar(3.0, x)]), gb.scalar(6.0, x)])
    d = gb.op("Where", [gb.op("Less", [x, gb.scalar(-3.0, x)]), _zero(gb, x),
                        gb.op("Where", [gb.op("Greater", [x, gb.scalar(3.0, x)]), gb.scalar(1.0, x), mid])])
    return [gb.mul(g, d)]


# ------------------------------------------------------------------ reductions
def _reduce_axes(gb, b):
    x = b.inputs[0]
    axes = b.attrs.get("axes")
    if axes is None and len(b.inputs) > 1 and b.inputs[1] is not None:
        axes = [int(a) for a in b.inputs[1].const.reshape(-1)]
    if not axes:
        return [] if b.attrs.get("noop_with_empty_axes", 0) else list(range(x.rank))
    return sorted(a % x.rank for a in axes)


def _expand_back(gb, g, x, axes, keepdims):
    """The gradient of a reduction over ``axes``, broadcast back to ``x``'s shape."""
    kept = [1 if k in axes else d for k, d in enumerate(x.shape)]
    g = gb.reshape(g, kept) if not keepdims else g
    return gb.op("Expand", [g, gb.ints(x.shape)])


@grad_rule("ReduceSum", "ReduceMean")
def _reduce(gb, b, gy, need):
    x = b.inputs[0]
    axes = _reduce_axes(gb, b)
    g = _expand_back(gb, gy[0], x, axes, b.attrs.get("keepdims", 1))
    if b.op == "ReduceMean":
        count = 1
        for a in axes:
            count = sym.mul(count, x.shape[a])
        if not sym.is_static(count):
            from ..errors import UnsupportedOp
            raise UnsupportedOp(b.op, b.name, "gradient of a mean over a symbolic dim")
        g = gb.mul(g, gb.scalar(1.0 / int(count), g))
    return [g] + [None] * (len(b.inputs) - 1)


@grad_rule("GlobalAveragePool")
def _gap(gb, b, gy, need):
    x = b.inputs[0]
    count = 1
    for d in x.shape[2:]:
        count = sym.mul(count, d)
    return [gb.mul(gb.op("Expand", [gy[0], gb.ints(x.shape)]), gb.scalar(1.0 / int(count), x))]


# ------------------------------------------------------------------ softmax, log-softmax, cross-entropy
def _softmax_axis(b):
    return b.attrs.get("axis", -1) % b.inputs[0].rank


@grad_rule("Softmax")
def _softmax(gb, b, gy, need):
    y, g = b.outputs[0], gy[0]
    s = gb.reduce_sum(gb.mul(g, y), [_softmax_axis(b)])
    return [gb.mul(y, gb.op("Sub", [g, s]))]


@grad_rule("LogSoftmax")
def _log_softmax(gb, b, gy, need):
    y, g = b.outputs[0], gy[0]
    s = gb.reduce_sum(g, [_softmax_axis(b)])
    return [gb.op("Sub", [g, gb.mul(gb.op("Exp", [y]), s)])]


@grad_rule("SoftmaxCrossEntropyLoss")
def _sce(gb, b, gy, need):
    """d loss / d logits = (softmax(x) - onehot(target)) * g, divided by N for the mean (no class weights, no
    ignore_index: those raise)."""
    from ..errors import UnsupportedOp
    x, t = b.inputs[0], b.inputs[1]
    if len(b.inputs) > 2 and b.inputs[2] is not None or b.attrs.get("ignore_index") is not None:
        raise UnsupportedOp(b.op, b.name, "gradient with class weights or ignore_index")
    if x.rank != 2 or not sym.is_static(x.shape[1]):
        raise UnsupportedOp(b.op, b.name, "gradient for [N, C] logits with a static C")
    if len(gy) > 1 and gy[1] is not None:
        raise UnsupportedOp(b.op, b.name, "gradient through the log-probability output")
    C = int(x.shape[1])
    p = gb.op("Softmax", [x], axis=1)
    iota = gb.const(np.arange(C, dtype=np.int64))
    tcol = gb.reshape(gb.op("Cast", [t], to=7) if t.dtype != "int64" else t, [x.shape[0], 1])
    onehot = gb.op("Cast", [gb.op("Equal", [tcol, iota])], to=_onnx_type(x.dtype))
    d = gb.op("Sub", [p, onehot])
    red = b.attrs.get("reduction", "mean")
    g = gy[0]
    if red == "none":
        g = gb.reshape(g, [x.shape[0], 1])
    elif red == "mean":
        if not sym.is_static(x.shape[0]):  # the actual batch, read at run time
            n = gb.op("Gather", [gb.op("Shape", [x]), gb.const(np.array(0, np.int64))], axis=0)
            g = gb.op("Div", [g, gb.op("Cast", [n], to=_onnx_type(x.dtype))])
        else:
            g = gb.mul(g, gb.scalar(1.0 / int(x.shape[0]), g))
    return [gb.mul(d, g)] + [None] * (len(b.inputs) - 1)
