"""Compile-time evaluation of element-wise ops over small int/bool tensors.

Shape arithmetic in exported graphs (``Shape -> Gather -> Equal -> Where ->
Expand``, TorchScript's ``expand(-1)`` pattern, position-id ranges) runs on
tensors whose values are dims. These rules compute such values symbolically,
so the consumer (Expand, Reshape, Slice, ...) sees its shape at compile time.
A comparison is decided only when :mod:`sdk.ir.sym` can prove it for every
dim in range; otherwise the rule gives up (returns None) and the op stays a
run-time op.
"""
from __future__ import annotations

import numpy as np

from ..ir import sym

INTS = ("int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool")


def _flat_broadcast(n, lists):
    """Element lists of the inputs broadcast (numpy rules) to the output, or None."""
    ins = [v for v in n.inputs if v is not None][:len(lists)]
    if not all(sym.is_static(d) for v in ins for d in v.shape):
        return None
    try:
        idx = np.broadcast_arrays(*[np.arange(len(vals)).reshape(tuple(int(d) for d in v.shape))
                                    for vals, v in zip(lists, ins)])
    except ValueError:
        return None
    return [[vals[k] for k in i.reshape(-1)] for vals, i in zip(lists, idx)]


def _known(n, count):
    vals = [v.known_ints() if v is not None else None for v in n.inputs[:count]]
    if len(vals) < count or any(v is None for v in vals):
        return None
    if any(v.dtype not in INTS for v in n.inputs[:count]):
        return None
    return vals


FLOATS = ("float32", "float64", "float16", "bfloat16")


def _known_floats(n, count):
    """Values of float inputs as dims / exact ratios (``Value.known_values``), or None."""
    ins = n.inputs[:count]
    if len(ins) < count or any(v is None or v.dtype not in FLOATS for v in ins):
        return None
    vals = [v.known_values() for v in ins]
    return None if any(v is None for v in vals) else vals


def _radd(a, b, sign=1):
    (p, q), (r, s) = sym.ratio_parts(a), sym.ratio_parts(b)
    return sym.ratio(sym.add(sym.mul(p, s), sym.mul(sign, sym.mul(r, q))), q * s)


def _rmul(a, b):
    (p, q), (r, s) = sym.ratio_parts(a), sym.ratio_parts(b)
    return sym.ratio(sym.mul(p, r), q * s)


def _rdiv(a, b):
    (p, q), (r, s) = sym.ratio_parts(a), sym.ratio_parts(b)
    if not sym.is_static(r) or int(r) == 0:
        return None  # by a constant only: a symbolic divisor has no exact ratio form here
    return sym.ratio(sym.mul(p, s), q * int(r))


# float shape arithmetic (TorchScript traces math.ceil((n - k) / s + 1) as float tensor ops): exact ratios
FLOAT_BINARY = {"Add": _radd, "Sub": lambda a, b: _radd(a, b, -1), "Mul": _rmul, "Div": _rdiv}


def _rceil(a):
    p, q = sym.ratio_parts(a)
    return sym.floordiv(sym.add(p, q - 1), q) if q > 1 else p


def _rfloor(a):
    p, q = sym.ratio_parts(a)
    return sym.floordiv(p, q) if q > 1 else p


FLOAT_UNARY = {"Ceil": _rceil, "Floor": _rfloor, "Neg": lambda a: _rmul(a, -1), "Identity": lambda a: a}


def elementwise(f, count=2, float_f=None):
    """Symbolic rule for an element-wise op: ``f(*dims)`` -> dim, or None when unknown; with ``float_f``, the
    same for float inputs whose values are dims or exact ratios of them."""
    def run(n):
        vals = _known(n, count)
        if vals is None and float_f is not None:
            vals, f_ = _known_floats(n, count), float_f
        else:
            f_ = f
        if vals is None:
            return None
        vals = _flat_broadcast(n, vals)
        if vals is None:
            return None
        res = [f_(*xs) for xs in zip(*vals)]
        return None if any(r is None for r in res) else [res]
    return run


def _decide(true, false):
    """1 if ``true`` is proven, 0 if ``false`` is proven, else None."""
    return 1 if true else 0 if false else None


def _static(f):
    return lambda *xs: int(f(*xs)) if all(sym.is_static(x) for x in xs) else None


def _same_sign_div(a, b):
    # ONNX integer Div truncates; it equals floordiv when both are non-negative
    if sym.range_of(a)[0] >= 0 and sym.range_of(b)[0] >= 1:
        return sym.floordiv(a, b)
    if sym.is_static(b) and int(b) >= 1:
        # a numerator that may be negative, a positive constant divisor: trunc(a / b) ==
        # max(a, 0) // b - max(-a, 0) // b (the dynamo exporter writes SymInt floordivs as Div: SEW's
        # (samples // 20 - 1) / 2, -1 below 20 samples; the second term is 0 when a > -b)
        return sym.sub(sym.floordiv(sym.smax(a, 0), int(b)), sym.floordiv(sym.smax(sym.mul(-1, a), 0), int(b)))
    return None


def _mod(a, b):
    if sym.is_static(a) and sym.is_static(b):
        return int(a) % int(b)
    return sym.mod(a, b) if sym.range_of(b)[0] >= 1 else None


BINARY = {
    "Add": elementwise(sym.add, float_f=FLOAT_BINARY["Add"]),
    "Sub": elementwise(sym.sub, float_f=FLOAT_BINARY["Sub"]),
    "Mul": elementwise(sym.mul, float_f=FLOAT_BINARY["Mul"]),
    "Div": elementwise(_same_sign_div, float_f=FLOAT_BINARY["Div"]),
    "Mod": elementwise(_mod),
    "Min": elementwise(sym.smin),
    "Max": elementwise(sym.smax),
    "Equal": elementwise(lambda a, b: _decide(sym.prove_eq(a, b), sym.prove_ne(a, b))),
    "Less": elementwise(lambda a, b: _decide(sym.prove_lt(a, b), sym.prove_le(b, a))),
    "LessOrEqual": elementwise(lambda a, b: _decide(sym.prove_le(a, b), sym.prove_lt(b, a))),
    "Greater": elementwise(lambda a, b: _decide(sym.prove_lt(b, a), sym.prove_le(a, b))),
    "GreaterOrEqual": elementwise(lambda a, b: _decide(sym.prove_le(b, a), sym.prove_lt(a, b))),
    "And": elementwise(_static(lambda a, b: bool(a) and bool(b))),
    "Or": elementwise(_static(lambda a, b: bool(a) or bool(b))),
    "Xor": elementwise(_static(lambda a, b: bool(a) != bool(b))),
}

UNARY = {
    "Neg": elementwise(lambda a: sym.mul(-1, a), 1, float_f=FLOAT_UNARY["Neg"]),
    "Ceil": elementwise(None, 1, float_f=FLOAT_UNARY["Ceil"]),
    "Floor": elementwise(None, 1, float_f=FLOAT_UNARY["Floor"]),
    "Abs": elementwise(lambda a: a if sym.range_of(a)[0] >= 0 else (sym.mul(-1, a) if sym.range_of(a)[1] <= 0 else None), 1),
    "Identity": elementwise(lambda a: a, 1),
    "Not": elementwise(_static(lambda a: not a), 1),
    "Sign": elementwise(lambda a: _decide_sign(a), 1),
}


def _decide_sign(a):
    lo, hi = sym.range_of(a)
    return 1 if lo >= 1 else -1 if hi <= -1 else 0 if lo == hi == 0 else None


def where(n):
    vals = _known(n, 3)
    if vals is None:
        return None
    c, a, b = _flat_broadcast(n, vals) or (None, None, None)
    if c is None or not all(sym.is_static(x) for x in c):
        return None
    return [[x if k else y for k, x, y in zip(c, a, b)]]
