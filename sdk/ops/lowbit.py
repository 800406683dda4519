"""The low-bit types' values: 4- and 2-bit integers, float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0) and float4
(e2m1).

A low-bit tensor holds one element a byte, its bit pattern in the low bits (``sdk/ir/dtypes.py``). These helpers
turn such a byte into its value and back as tir expressions of integer and float32 arithmetic, so every backend
(C, LLVM, CUDA) gets them without a type of its own. Cast / CastLike to or from a low-bit type are lowered here;
QuantizeLinear / DequantizeLinear (``qdq.py``) use the same helpers.

Conversions follow onnx's reference (ml_dtypes): float -> float8 rounds to nearest even; with ``saturate`` (the
default) what is out of range becomes the largest finite value, else inf (e5m2) or NaN (the fn / fnuz types, which
have no inf); float4 always saturates; the fnuz types have no -0. float8 e8m0 (a power of two: the scales of
microscaling formats) takes float32's exponent, rounded per Cast's ``round_mode`` (up, down, nearest). Casts to
4- / 2-bit integers keep the low bits of the integer (C's conversion, then a wrap), as the reference does.
"""
from __future__ import annotations

from ..ir.dtypes import HALF, LOWBIT, LOWBIT_FLOATS, LOWBIT_INTS
from ..tir.expr import Compute, Const, binop, call, cast, select

# exponent bits, mantissa bits, bias, specials: "fn" (NaN = all ones but the sign, no inf), "ieee" (inf and NaN
# at the top exponent), "fnuz" (NaN = 0x80, no inf, no -0), "none" (no inf / NaN)
FLOAT_FORMATS = {
    "float8_e4m3fn": (4, 3, 7, "fn"),
    "float8_e4m3fnuz": (4, 3, 8, "fnuz"),
    "float8_e5m2": (5, 2, 15, "ieee"),
    "float8_e5m2fnuz": (5, 2, 16, "fnuz"),
    "float4_e2m1fn": (2, 1, 1, "none"),
}
# the ops that may touch a low-bit tensor: those that read or write its values through this module, and those that
# only move its bytes (the importer refuses any other, naming the type)
LOWBIT_OPS = frozenset({"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear", "Identity", "Reshape", "Flatten",
                        "Squeeze", "Unsqueeze", "Transpose", "Shape", "Size"})
INT_BITS = {"int4": (4, True), "uint4": (4, False), "int2": (2, True), "uint2": (2, False)}


def _u(v):
    return Const(v, "uint32")


def _i(v):
    return Const(v, "int32")


def _f(v):
    return Const(float(v), "float32")


def _max_pattern(dt):
    """The bit pattern (sign bit clear) of the largest finite value."""
    e, m, _, kind = FLOAT_FORMATS[dt]
    top = (1 << (e + m)) - 1
    return {"fn": top - 1, "ieee": top - (1 << m), "fnuz": top, "none": top}[kind]


def int_value(byte, dt):
    """The int32 value of a 4- / 2-bit integer's byte."""
    bits, signed = INT_BITS[dt]
    v = binop("&", cast(byte, "int32"), _i((1 << bits) - 1))
    if signed:
        half = _i(1 << (bits - 1))
        v = binop("^", v, half) - half
    return v


def int_byte(v, dt):
    """The byte of a 4- / 2-bit integer holding the low bits of integer ``v`` (any integer type)."""
    bits, _ = INT_BITS[dt]
    return cast(binop("&", cast(v, "int64"), Const((1 << bits) - 1, "int64")), dt)


def float_value(byte, dt):
    """The float32 value of a float8 / float4 byte (exact)."""
    b = cast(byte, "int32")
    if dt == "float8_e8m0fnu":  # 2**(b - 127); 0 is float32's subnormal 2**-127, 255 NaN
        v = call("bitcast", select(binop("==", b, _i(0)), _i(0x400000), binop("<<", b, _i(23))), dtype="float32")
        return select(binop("==", b, _i(255)), _f("nan"), v)
    e, m, bias, kind = FLOAT_FORMATS[dt]
    sign = binop("&", binop(">>", b, _i(e + m)), _i(1))
    ex = binop("&", binop(">>", b, _i(m)), _i((1 << e) - 1))
    man = binop("&", b, _i((1 << m) - 1))
    normal = call("bitcast", binop("|", binop("<<", ex + _i(127 - bias), _i(23)), binop("<<", man, _i(23 - m))),
                  dtype="float32")
    sub = cast(man, "float32") * _f(2.0 ** (1 - bias - m))
    mag = select(binop("==", ex, _i(0)), sub, normal)
    if kind == "ieee":
        top = binop("==", ex, _i((1 << e) - 1))
        mag = select(top, select(binop("==", man, _i(0)), _f("inf"), _f("nan")), mag)
    v = select(binop("==", sign, _i(1)), mag * _f(-1), mag)  # -1 * 0 is -0
    if kind == "fn":
        v = select(binop("==", binop("&", b, _i(0x7f)), _i(0x7f)), _f("nan"), v)
    elif kind == "fnuz":
        v = select(binop("==", binop("&", b, _i(0xff)), _i(0x80)), _f("nan"), v)
    return v


def e8m0_byte(x, saturate=True, round_mode="up"):
    """The float8 e8m0 byte of float32 ``x``: its exponent, rounded as onnx's reference (``to_float8e8m0``) does;
    NaN and inf give 255 (NaN); the sign is dropped."""
    u = call("bitcast", cast(x, "float32"), dtype="uint32")
    ex = binop("&", binop(">>", u, _u(23)), _u(0xff))
    nz = lambda mask: binop("!=", binop("&", u, _u(mask)), _u(0))  # noqa: E731
    if round_mode == "up":
        up = nz(0x7fffff)
    elif round_mode == "nearest":
        up = binop("&&", nz(0x400000), binop("||", binop("||", nz(0x200000), nz(0x1fffff)), binop(">", ex, _u(0))))
    elif round_mode == "down":
        up = None
    else:
        raise ValueError(f"round_mode {round_mode!r}")
    if up is not None and saturate:
        up = binop("&&", up, binop("!=", ex, _u(0xfe)))
    v = ex if up is None else ex + cast(up, "uint32")
    return cast(select(binop("==", ex, _u(0xff)), _u(0xff), v), "float8_e8m0fnu")


def float_byte(x, dt, saturate=True):
    """The float8 / float4 byte nearest (ties to even) to float32 ``x``."""
    e, m, bias, kind = FLOAT_FORMATS[dt]
    u = call("bitcast", cast(x, "float32"), dtype="uint32")
    sign = binop(">>", u, _u(31))
    a = binop("&", u, _u(0x7fffffff))
    absf = call("bitcast", a, dtype="float32")
    sh = 23 - m
    # normal range: float32's exponent and mantissa rounded to m bits (ties to even), rebiased
    r = binop(">>", a + _u((1 << (sh - 1)) - 1) + binop("&", binop(">>", a, _u(sh)), _u(1)), _u(sh))
    normal = r - _u((127 - bias) << m)
    # below the smallest normal: the mantissa is |x| in units of the smallest subnormal (2**m of them round up
    # to the smallest normal, whose pattern is that number)
    sub = cast(call("rint", absf * _f(2.0 ** (m - 1 + bias))), "uint32")
    mag = select(absf < _f(2.0 ** (1 - bias)), sub, normal)
    top = _max_pattern(dt)
    over = binop(">", mag, _u(top))
    nan = binop(">", a, _u(0x7f800000))
    if saturate or kind == "none":
        mag = select(over, _u(top), mag)
    elif kind in ("fn", "ieee"):
        mag = select(over, _u(0x7f if kind == "fn" else 0x7c), mag)
    bits = binop("|", binop("<<", sign, _u(e + m)), mag)
    if kind in ("fn", "ieee"):
        bits = select(nan, binop("|", binop("<<", sign, _u(7)), _u(0x7f)), bits)
    elif kind == "fnuz":
        bits = select(binop("==", mag, _u(0)), _u(0), bits)
        bad = nan if saturate else binop("||", nan, over)
        bits = select(bad, _u(0x80), bits)
    else:  # float4 has no NaN: ml_dtypes (onnx's reference) gives a zero of the opposite sign
        bits = select(nan, binop("<<", binop("^", sign, _u(1)), _u(e + m)), bits)
    return cast(bits, dt)


def value_of(byte, dt):
    """The value of a low-bit element: int32 for the integers, float32 for the floats."""
    return int_value(byte, dt) if dt in LOWBIT_INTS else float_value(byte, dt)


# ------------------------------------------------------------------ Cast / CastLike
def cast_lower(ctx, n):
    """Cast / CastLike where the source or the result is a low-bit type."""
    x = ctx.tensor(n.inputs[0])
    src, dt = n.inputs[0].dtype, n.out_types[0].dtype
    saturate = bool(n.attr("saturate", 1))
    if dt in LOWBIT_FLOATS and src == "float64":
        # float64 -> float32 -> float8 would round twice
        raise n.unsupported(f"Cast from float64 to {dt} (cast to float32 first)")
    if n.attr("round_mode", "up") not in ("up", "down", "nearest"):
        raise n.unsupported(f"round_mode {n.attr('round_mode')!r}")

    def body(i):
        v = x[i]
        if src in LOWBIT:
            v = value_of(v, src)
        elif src in HALF:
            v = cast(v, "float32")
        if dt in LOWBIT_INTS:
            if src == "bool":
                v = cast(v, "int32")
            return int_byte(v, dt)
        if dt == "float8_e8m0fnu":
            return e8m0_byte(cast(v, "float32"), saturate, n.attr("round_mode", "up"))
        if dt in LOWBIT_FLOATS:
            return float_byte(cast(v, "float32"), dt, saturate)
        if dt == "bool":
            return binop("!=", v, Const(0, v.dtype))
        return cast(v, dt)

    return [Compute(n.name, x.shape, dt, body)]


def lowbit_cast(n) -> bool:
    """Whether a Cast / CastLike node converts to or from a low-bit type (then ``cast_lower`` lowers it)."""
    return n.inputs[0].dtype in LOWBIT or n.out_types[0].dtype in LOWBIT

