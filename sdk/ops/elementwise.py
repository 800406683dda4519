"""Element-wise ops: unary math, binary/variadic with broadcasting, Where, Cast, Clip."""
from __future__ import annotations

import math

import numpy as np

from ..ir import sym
from ..ir.dtypes import FLOATS
from ..tir.expr import Compute, Const, binop, call, cast, emax, emin, select
from . import lowbit
from .common import bcast_read, broadcast_shapes, onnx_dtype, out
from .registry import register
from .symbolic import BINARY as _SYM_BINARY, INTS, UNARY as _SYM_UNARY, where as _sym_where

F = FLOATS  # half types compute in float32 (sdk/ir/dtypes.py)


def _c(v, dtype):
    return Const(float(v) if dtype in F else int(v), dtype)


# ------------------------------------------------------------------ unary
def _unary(name, fn, dtypes=None, out_dtype=None):
    def infer(n):
        x = n.inputs[0]
        if dtypes and x.dtype not in dtypes:
            raise n.unsupported(f"dtype {x.dtype}")
        return out(x.shape, out_dtype or x.dtype)

    def lower(ctx, n):
        x = ctx.tensor(n.inputs[0])
        dt = x.dtype
        return [Compute(n.name, x.shape, out_dtype or dt, lambda i: fn(x[i], n, dt))]

    register(name, infer, lower, "injective", symbolic=_SYM_UNARY.get(name))


def _nan_through(x, e):
    """``e``, or x where x is NaN (for formulas built on fmax/fmin, which drop NaN)."""
    return select(binop("!=", x, x), x, e)


def _sigmoid(x, n, dt):
    return _c(1, dt) / (_c(1, dt) + call("exp", -x))


_UNARY = {
    "Relu": lambda x, n, dt: select(x < _c(0, dt), _c(0, dt), x),  # NaN passes through (onnxruntime)
    "Neg": lambda x, n, dt: -x,
    "Abs": lambda x, n, dt: call("abs", x) if dt in F else select(x < _c(0, dt), -x, x),
    "Exp": lambda x, n, dt: call("exp", x),
    "Log": lambda x, n, dt: call("log", x),
    "Sqrt": lambda x, n, dt: call("sqrt", x),
    "Tanh": lambda x, n, dt: call("tanh", x),
    "Erf": lambda x, n, dt: call("erf", x),
    "Sin": lambda x, n, dt: call("sin", x),
    "Cos": lambda x, n, dt: call("cos", x),
    "Tan": lambda x, n, dt: call("tan", x),
    "Asin": lambda x, n, dt: call("asin", x),
    "Acos": lambda x, n, dt: call("acos", x),
    "Atan": lambda x, n, dt: call("atan", x),
    "Sinh": lambda x, n, dt: call("sinh", x),
    "Cosh": lambda x, n, dt: call("cosh", x),
    "Asinh": lambda x, n, dt: call("asinh", x),
    "Acosh": lambda x, n, dt: call("acosh", x),
    "Atanh": lambda x, n, dt: call("atanh", x),
    "Floor": lambda x, n, dt: call("floor", x),
    "Ceil": lambda x, n, dt: call("ceil", x),
    "Round": lambda x, n, dt: call("rint", x),
    "Reciprocal": lambda x, n, dt: _c(1, dt) / x,
    "Sigmoid": _sigmoid,
    "Softplus": lambda x, n, dt: call("log", _c(1, dt) + call("exp", x)),
    "Softsign": lambda x, n, dt: x / (_c(1, dt) + call("abs", x)),
    "LeakyRelu": lambda x, n, dt: select(x < _c(0, dt), x * _c(n.attr("alpha", 0.01), dt), x),
    "Elu": lambda x, n, dt: select(x < _c(0, dt), _c(n.attr("alpha", 1.0), dt) * (call("exp", x) - _c(1, dt)), x),
    "Celu": lambda x, n, dt: _nan_through(x, emax(_c(0, dt), x) + emin(_c(0, dt), _c(n.attr("alpha", 1.0), dt) * (
        call("exp", x / _c(n.attr("alpha", 1.0), dt)) - _c(1, dt)))),
    "Selu": lambda x, n, dt: _c(n.attr("gamma", 1.0507009873554805), dt) * select(
        x <= _c(0, dt), _c(n.attr("alpha", 1.6732632423543772), dt) * (call("exp", x) - _c(1, dt)), x),
    "ThresholdedRelu": lambda x, n, dt: select(x > _c(n.attr("alpha", 1.0), dt), x, _c(0, dt)),
    "HardSigmoid": lambda x, n, dt: _nan_through(x, emax(_c(0, dt), emin(_c(1, dt), x * _c(n.attr("alpha", 0.2), dt) + _c(n.attr("beta", 0.5), dt)))),
    "HardSwish": lambda x, n, dt: x * emax(_c(0, dt), emin(_c(1, dt), x * _c(1 / 6, dt) + _c(0.5, dt))),
    "Mish": lambda x, n, dt: x * call("tanh", call("log", _c(1, dt) + call("exp", x))),
    "Sign": lambda x, n, dt: select(x > _c(0, dt), _c(1, dt), select(x < _c(0, dt), _c(-1, dt), x * _c(0, dt))),  # NaN*0: NaN
    "Identity": lambda x, n, dt: x,
}
_FLOAT_ONLY = {k for k in _UNARY if k not in ("Relu", "Neg", "Abs", "Sign", "Identity")}
for _name, _fn in _UNARY.items():
    _unary(_name, _fn, F if _name in _FLOAT_ONLY else None)

_unary("Not", lambda x, n, dt: binop("==", x, Const(0, "bool")), ("bool",))
_unary("IsNaN", lambda x, n, dt: call("isnan", x, dtype="bool"), F, "bool")


def _isinf(x, n, dt):
    pos = binop("&&", call("isinf", x, dtype="bool"), x > _c(0, dt))
    neg = binop("&&", call("isinf", x, dtype="bool"), x < _c(0, dt))
    terms = ([pos] if n.attr("detect_positive", 1) else []) + ([neg] if n.attr("detect_negative", 1) else [])
    if not terms:
        return Const(0, "bool")
    return terms[0] if len(terms) == 1 else binop("||", terms[0], terms[1])


_unary("IsInf", _isinf, F, "bool")


def _gelu(x, n, dt):
    if n.attr("approximate", "none") == "tanh":
        inner = _c(math.sqrt(2 / math.pi), dt) * (x + _c(0.044715, dt) * x * x * x)
        return _c(0.5, dt) * x * (_c(1, dt) + call("tanh", inner))
    if dt == "float32":  # sdk_math.h sdk_geluf (C, LLVM: operation for operation), the fused epilogues' form
        return call("gelu", x)
    return _c(0.5, dt) * x * (_c(1, dt) + call("erf", x * _c(1 / math.sqrt(2), dt)))


_unary("Gelu", _gelu, F)


# -------------------------------------------------------- binary/variadic
def _variadic(name, fn, out_dtype=None, dtypes=None, mixed=False):
    def infer(n):
        ins = [v for v in n.inputs if v is not None]
        dts = {v.dtype for v in ins}
        if len(dts) != 1 and not mixed:
            which = ", ".join(f"'{v.name}' {v.dtype}" for v in ins)
            raise n.unsupported(f"mixed input dtypes {sorted(dts)} ({which}): ONNX's {name} takes one type, so the "
                                "file is inconsistent (onnxruntime rejects it too; e.g. a float16 conversion that "
                                "left a Cast to float32 in place)")
        if dtypes and ins[0].dtype not in dtypes:
            raise n.unsupported(f"dtype {ins[0].dtype}")
        shape = broadcast_shapes([v.shape for v in ins], f"{name} '{n.name}'", n)
        return out(shape, out_dtype or ins[0].dtype)

    def lower(ctx, n):
        ins = [ctx.tensor(v) for v in n.inputs if v is not None]
        shape = n.out_types[0].shape

        def body(i):
            vals = [bcast_read(t, shape, i) for t in ins]
            acc = vals[0]
            for v in vals[1:]:
                acc = fn(acc, v, n, ins[0].dtype)
            if name == "Mean":
                acc = acc / _c(len(vals), ins[0].dtype)
            return acc

        return [Compute(n.name, shape, out_dtype or ins[0].dtype, body)]

    register(name, infer, lower, "injective", symbolic=_SYMBOLIC.get(name))


def _div(a, b, n, dt):
    if dt in F:
        return a / b
    return binop("/", a, b)  # C truncation, as onnx's reference for ints


def _pow(a, b, n, dt):
    # x^2, x^3 (GPT-2's GELU): multiplications, which vectorise; a powf call per element does not (it was most of
    # a GPT-2 step at 4 beams)
    if dt in F and isinstance(b, Const) and b.value in (2.0, 3.0):
        return a * a if b.value == 2.0 else a * a * a
    return call("pow", a, b)


def _mod(a, b, n, dt):
    if n.attr("fmod", 0):
        return call("fmod", a, b)
    r = call("fmod", a, b) if dt in F else binop("%", a, b)
    if dt.startswith("uint"):
        return r
    # python-style: the sign follows the divisor
    fix = binop("&&", binop("!=", r, _c(0, dt)), binop("!=", r < _c(0, dt), b < _c(0, dt)))
    return select(fix, r + b, r)


_BIN = {
    "Add": (lambda a, b, n, dt: a + b, None),
    "Sub": (lambda a, b, n, dt: a - b, None),
    "Mul": (lambda a, b, n, dt: a * b, None),
    "Div": (_div, None),
    "Mod": (_mod, None),
    # floats: a NaN operand gives NaN (both comparisons false -> a + b), as onnxruntime; fmax would drop it
    "Max": (lambda a, b, n, dt: select(binop(">=", a, b), a, b) if dt not in F else
            select(binop(">=", a, b), a, select(binop("<", a, b), b, a + b)), None),
    "Min": (lambda a, b, n, dt: select(binop("<=", a, b), a, b) if dt not in F else
            select(binop("<=", a, b), a, select(binop(">", a, b), b, a + b)), None),
    "Sum": (lambda a, b, n, dt: a + b, None),
    "Mean": (lambda a, b, n, dt: a + b, None),
    "Equal": (lambda a, b, n, dt: binop("==", a, b), "bool"),
    "Less": (lambda a, b, n, dt: binop("<", a, b), "bool"),
    "LessOrEqual": (lambda a, b, n, dt: binop("<=", a, b), "bool"),
    "Greater": (lambda a, b, n, dt: binop(">", a, b), "bool"),
    "GreaterOrEqual": (lambda a, b, n, dt: binop(">=", a, b), "bool"),
    "And": (lambda a, b, n, dt: binop("&&", a, b), "bool"),
    "Or": (lambda a, b, n, dt: binop("||", a, b), "bool"),
    "Xor": (lambda a, b, n, dt: binop("!=", a, b), "bool"),
    "BitwiseAnd": (lambda a, b, n, dt: binop("&", a, b), None),
    "BitwiseOr": (lambda a, b, n, dt: binop("|", a, b), None),
    "BitwiseXor": (lambda a, b, n, dt: binop("^", a, b), None),
}


_SYMBOLIC = _SYM_BINARY

for _name, (_fn, _odt) in _BIN.items():
    _variadic(_name, _fn, _odt)
_variadic("Pow", _pow, mixed=True)  # the exponent may have another type; the result has the base's


def _bitshift(a, b, n, dt):
    """Shifts by a negative amount or by the bit width or more give 0 (-1 for negative right-shifted ints),
    as onnx's reference; signed values shift as their unsigned bits, so C never sees an undefined shift."""
    bits = np.iinfo(np.dtype(dt)).bits
    udt = "u" + dt if dt.startswith("int") else dt
    ua, ub = cast(a, udt), cast(b, udt)
    oor = b >= _c(bits, dt) if udt == dt else binop("||", b < _c(0, dt), b >= _c(bits, dt))
    if n.attr("direction") == "LEFT":
        return select(oor, _c(0, dt), cast(binop("<<", ua, ub), dt))
    if udt == dt:
        return select(oor, _c(0, dt), binop(">>", a, b))
    neg = a < _c(0, dt)  # floor shift of a negative value: ~(~a >> b)
    shifted = select(neg, cast(binop("^", binop(">>", binop("^", ua, _c(-1 & (2 ** bits - 1), udt)), ub),
                                           _c(2 ** bits - 1, udt)), dt), binop(">>", a, b))
    return select(oor, select(neg, _c(-1, dt), _c(0, dt)), shifted)


_variadic("BitShift", _bitshift, dtypes=("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"))


def _prelu_infer(n):
    x, s = n.inputs
    return out(broadcast_shapes([x.shape, s.shape], f"PRelu '{n.name}'", n), x.dtype)


def _prelu_lower(ctx, n):
    x, s = (ctx.tensor(v) for v in n.inputs)
    shape = n.out_types[0].shape
    return [Compute(n.name, shape, x.dtype, lambda i: select(
        bcast_read(x, shape, i) < _c(0, x.dtype), bcast_read(x, shape, i) * bcast_read(s, shape, i),
        bcast_read(x, shape, i)))]


register("PRelu", _prelu_infer, _prelu_lower)


# ----------------------------------------------------------- Where, Clip, Cast
def _where_infer(n):
    c, a, b = n.inputs
    return out(broadcast_shapes([c.shape, a.shape, b.shape], f"Where '{n.name}'", n), a.dtype)


def _where_lower(ctx, n):
    c, a, b = (ctx.tensor(v) for v in n.inputs)
    shape = n.out_types[0].shape
    return [Compute(n.name, shape, a.dtype, lambda i: select(
        bcast_read(c, shape, i), bcast_read(a, shape, i), bcast_read(b, shape, i)))]


register("Where", _where_infer, _where_lower, symbolic=_sym_where)


def _clip_bounds(ctx, n, dt):
    """min and max as expressions (a literal, or a scalar tensor read at run time), or None."""
    if n.opset < 11:
        return [None if n.attr(k) is None else _c(n.attr(k), dt) for k in ("min", "max")]
    lims = []
    for k in (1, 2):
        v = n.input(k)
        if v is None or (v.const is not None and v.const.size == 0):
            lims.append(None)
        elif v.const is not None:
            lims.append(_c(v.const.reshape(-1)[0].item(), dt))
        else:
            t = ctx.tensor(v)
            lims.append(t[[0] * len(t.shape)])
    return lims


def _clip_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    dt = x.dtype
    lo, hi = _clip_bounds(ctx, n, dt)

    def body(i):
        v = x[i]
        if lo is not None:
            v = select(v < lo, lo, v)
        if hi is not None:
            v = select(v > hi, hi, v)
        return v

    return [Compute(n.name, x.shape, dt, body)]


register("Clip", lambda n: out(n.inputs[0].shape, n.inputs[0].dtype), _clip_lower)


def _cast_infer(n):
    return out(n.inputs[0].shape, onnx_dtype(n.attr("to")))


def _cast_lower(ctx, n):
    if lowbit.lowbit_cast(n):
        return lowbit.cast_lower(ctx, n)
    x = ctx.tensor(n.inputs[0])
    dt = n.out_types[0].dtype
    if dt == "bool":
        return [Compute(n.name, x.shape, dt, lambda i: binop("!=", x[i], _c(0, x.dtype)))]
    return [Compute(n.name, x.shape, dt, lambda i: cast(x[i], dt))]


_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _cast_sym(n):
    """Ints (dims) stay known through casts between int types, and through int -> float -> int (an integer-valued
    float, e.g. torch.arange(1, n + 1, dtype=float32) from a dim: Range reads it; element-wise rules do not, they
    take ints only). A float -> int cast of such values is exact."""
    return _cast_values(n, onnx_dtype(n.attr("to")))


def _cast_values(n, to):
    src = n.inputs[0].dtype
    vals = n.inputs[0].known_values() if src in _FLOATS else n.inputs[0].known_ints()
    if vals is None or src not in INTS + _FLOATS or to not in INTS + _FLOATS:
        return None
    if any(isinstance(v, sym.Ratio) for v in vals):  # exact ratios (float length arithmetic, ops/symbolic.py)
        if to not in INTS or to == "bool":
            return [list(vals)] if to in _FLOATS else None
        vals = [_trunc(v) for v in vals]
        if any(v is None for v in vals):
            return None
    if to in _FLOATS and not all(abs(v) < 2 ** 24 for v in vals if sym.is_static(v)):
        return None
    if to == "bool":
        return [[1 if sym.prove_ne(v, 0) else 0 if v == 0 else None for v in vals]] if all(
            v == 0 or sym.prove_ne(v, 0) for v in vals) else None
    return [list(vals)]


def _trunc(v):
    """A float -> int cast of an exact ratio: truncation toward zero, known when the sign is."""
    if not isinstance(v, sym.Ratio):
        return v
    if sym.range_of(v.num)[0] >= 0:
        return sym.floordiv(v.num, v.den)
    if sym.range_of(v.num)[1] <= 0:
        return sym.mul(-1, sym.floordiv(sym.mul(-1, v.num), v.den))
    return None


register("Cast", _cast_infer, _cast_lower, symbolic=_cast_sym)


def _castlike_infer(n):
    return out(n.inputs[0].shape, n.inputs[1].dtype)


def _castlike_sym(n):
    """As Cast's, to the second input's dtype (the dynamo exporter's ``CastLike(1, counter)`` in loop bodies)."""
    return _cast_values(n, n.inputs[1].dtype)


register("CastLike", _castlike_infer, _cast_lower, symbolic=_castlike_sym)


def _bitcast_infer(n):
    """BitCast (opset 26): the same bits read as another type of the same size. 16-bit floats compute as float32
    in generated code (their bits are not at hand there) and are refused, as is a bool result."""
    x, to = n.inputs[0], onnx_dtype(n.attr("to"))
    if x.dtype in ("float16", "bfloat16") or to in ("float16", "bfloat16", "bool"):
        raise n.unsupported(f"{x.dtype} to {to}")
    if np.dtype(x.dtype if x.dtype != "bool" else "uint8").itemsize != np.dtype(to).itemsize:
        raise n.unsupported(f"{x.dtype} to {to}: sizes differ")
    return out(x.shape, to)


def _bitcast_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    dt = n.out_types[0].dtype
    return [Compute(n.name, x.shape, dt, lambda i: call("bitcast", x[i], dtype=dt))]


register("BitCast", _bitcast_infer, _bitcast_lower)


# ----------------------------------------------------------- more unary
_unary("Swish", lambda x, n, dt: x * (_c(1, dt) / (_c(1, dt) + call("exp", -(_c(n.attr("alpha", 1.0), dt) * x)))), F)
_unary("BitwiseNot", lambda x, n, dt: cast(binop("^", x, _c(-1 if dt.startswith("int") else np.iinfo(np.dtype(dt)).max,
                                                              dt)), dt), ("int8", "uint8", "int16", "uint16", "int32",
                                                                          "uint32", "int64", "uint64"))
# experimental ops of opsets 1-9 (old converters' files; onnxruntime still runs them)
_unary("Affine", lambda x, n, dt: x * _c(n.attr("alpha", 1.0), dt) + _c(n.attr("beta", 0.0), dt), F)
_unary("ScaledTanh", lambda x, n, dt: _c(n.attr("alpha", 1.0), dt) * call("tanh", x * _c(n.attr("beta", 1.0), dt)), F)
_unary("ParametricSoftplus", lambda x, n, dt: _c(n.attr("alpha", 1.0), dt) * call(
    "log", call("exp", x * _c(n.attr("beta", 1.0), dt)) + _c(1, dt)), F)
_unary("Scale", lambda x, n, dt: x * _c(n.attr("scale", 1.0), dt), F)
_unary("Shrink", lambda x, n, dt: select(x < _c(-n.attr("lambd", 0.5), dt), x + _c(n.attr("bias", 0.0), dt), select(
    x > _c(n.attr("lambd", 0.5), dt), x - _c(n.attr("bias", 0.0), dt), _c(0, dt))))


def _swiglu_infer(n):
    a, b = n.inputs[:2]
    if a.dtype not in F or a.dtype != b.dtype:
        raise n.unsupported(f"dtypes {a.dtype}, {b.dtype}")
    if len(a.shape) != len(b.shape) or any(sym.sub(x, y) != 0 for x, y in zip(a.shape, b.shape)):
        raise n.unsupported("inputs of different shapes (SwiGLU does not broadcast)")
    return out(a.shape, a.dtype)


def _swiglu_lower(ctx, n):
    a, b = (ctx.tensor(v) for v in n.inputs[:2])
    dt, alpha = a.dtype, n.attr("alpha", 1.0)
    return [Compute(n.name, a.shape, dt, lambda i: a[i] * (_c(1, dt) / (_c(1, dt) + call(
        "exp", -(_c(alpha, dt) * a[i])))) * b[i])]


register("SwiGLU", _swiglu_infer, _swiglu_lower)
