"""ai.onnx.ml ops of scikit-learn exports (skl2onnx): Scaler, Normalizer, Binarizer, ArrayFeatureExtractor,
LinearRegressor, as onnxruntime computes them. Registered as ``ai.onnx.ml.<op>`` (the importer's key for ops
outside ai.onnx)."""
from __future__ import annotations

import numpy as np

from ..ir import sym
from ..ir.dtypes import FLOATS
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, call, cast, emax, emin, select
from .common import out
from .registry import register

ML = "ai.onnx.ml."
_NUMERIC = ("float32", "float64", "int64", "int32")


def _numeric(n):
    x = n.inputs[0]
    if x.dtype not in _NUMERIC or x.rank not in (1, 2):
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}] (float/double/int32/int64, rank 1 or 2)")
    return x


def _feature_const(ctx, n, name, vals, default):
    vals = [float(v) for v in (vals if vals is not None else [default])] or [default]
    if len(vals) == 1:
        return lambda f: Const(vals[0], "float32")
    F = n.inputs[0].shape[-1]
    if sym.is_static(F) and len(vals) != F:
        raise n.unsupported(f"{name} has {len(vals)} values for {F} features")
    buf = ctx.const(np.array(vals, np.float32), f"{n.name}_{name}")
    return lambda f: buf[[f]]


# ---------------------------------------------------------------- Scaler: (x - offset) * scale, float output
def _scaler_infer(n):
    return out(_numeric(n).shape, "float32")


def _scaler_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    off = _feature_const(ctx, n, "offset", n.attr("offset"), 0.0)
    sc = _feature_const(ctx, n, "scale", n.attr("scale"), 1.0)
    return [Compute(n.name, x.shape, "float32", lambda i: (cast(x[i], "float32") - off(i[-1])) * sc(i[-1]))]


register(ML + "Scaler", _scaler_infer, _scaler_lower)


# ---------------------------------------------------------------- Normalizer: rows by their MAX / L1 / L2 norm
def _normalizer_infer(n):
    x = _numeric(n)
    if n.attr("norm", "MAX") not in ("MAX", "L1", "L2"):
        raise n.unsupported(f"norm {n.attr('norm')}")
    return out(x.shape, "float32")


def _normalizer_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    norm = n.attr("norm", "MAX")
    F = x.shape[-1]
    row = (lambda i: list(i[:-1])) if len(x.shape) == 2 else (lambda i: [])

    def term(i, r):  # i: the row (the norm's index)
        v = cast(x[list(i) + [r[0]]], "float32")
        return {"MAX": v, "L1": call("abs", v), "L2": v * v}[norm]

    comb = "max" if norm == "MAX" else "sum"
    init = float("-inf") if norm == "MAX" else 0.0
    red = ctx.materialize(Compute(n.name + "_norm", x.shape[:-1], "float32", term, Reduction([F], comb, init)))

    def body(i):
        d = red[row(i)]
        if norm == "L2":
            d = call("sqrt", d)
        # onnxruntime divides by the norm as is (MAX: the largest value, not the largest magnitude)
        return cast(x[i], "float32") / d
    return [Compute(n.name, x.shape, "float32", body)]


register(ML + "Normalizer", _normalizer_infer, _normalizer_lower, "opaque")


# ---------------------------------------------------------------- Binarizer
def _binarizer_infer(n):
    x = n.inputs[0]
    if x.dtype not in _NUMERIC:
        raise n.unsupported(f"dtype {x.dtype}")
    return out(x.shape, x.dtype)


def _binarizer_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    dt = x.dtype
    th = float(n.attr("threshold", 0.0))
    one, zero = (Const(1.0, dt), Const(0.0, dt)) if dt in FLOATS else (Const(1, dt), Const(0, dt))
    t = Const(th, dt) if dt in FLOATS else Const(th, "float64")
    return [Compute(n.name, x.shape, dt, lambda i: select(binop(">", x[i] if dt in FLOATS else cast(x[i], "float64"), t),
                                                          one, zero))]


register(ML + "Binarizer", _binarizer_infer, _binarizer_lower)


# ---------------------------------------------------------------- ArrayFeatureExtractor
def _afe_infer(n):
    """Output: X's shape with the last dim replaced by the number of indices ([1, k] for a 1-D X); the indices
    themselves may be known only at run time."""
    x, ind = n.inputs[:2]
    if ind.dtype not in ("int64", "int32") or not all(sym.is_static(d) for d in ind.shape):
        raise n.unsupported(f"indices {ind.dtype} of shape {[sym.to_str(d) for d in ind.shape]}")
    k = int(np.prod([int(d) for d in ind.shape]))
    shape = [1, k] if x.rank == 1 else list(x.shape[:-1]) + [k]
    return out(shape, x.dtype)


def _afe_lower(ctx, n):
    x, ind = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    F = x.shape[-1]
    ishape = [int(d) for d in n.inputs[1].shape]

    def body(i):
        k, idx = i[-1], []
        for d in reversed(ishape):  # the k-th index, row-major over the indices' shape
            idx.insert(0, k % Const(d) if d != 1 else Const(0))
            k = k // Const(d)
        j = emin(emax(cast(ind[idx], "int64"), 0), as_expr(F) - 1)  # out of range: clamped
        return x[[j]] if len(x.shape) == 1 else x[list(i[:-1]) + [j]]
    return [Compute(n.name, n.out_types[0].shape, x.dtype, body)]


register(ML + "ArrayFeatureExtractor", _afe_infer, _afe_lower)


# ---------------------------------------------------------------- LinearRegressor
def _linreg_infer(n):
    x = _numeric(n)
    T = int(n.attr("targets", 1))
    if n.attr("post_transform", "NONE") != "NONE":
        raise n.unsupported(f"post_transform {n.attr('post_transform')}")
    F = x.shape[-1]
    if not sym.is_static(F) or len(n.attr("coefficients", [])) != T * F:
        raise n.unsupported(f"{len(n.attr('coefficients', []))} coefficients for {T} targets x {F} features")
    return out([x.shape[0] if x.rank == 2 else 1, T], "float32")


def _linreg_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    T, F = int(n.attr("targets", 1)), int(n.inputs[0].shape[-1])
    W = ctx.const(np.array(n.attr("coefficients"), np.float32).reshape(T, F), n.name + "_coef")
    b = list(n.attr("intercepts", [])) or [0.0] * T
    B = ctx.const(np.array(b, np.float32), n.name + "_intercepts")
    row = (lambda i: [i[0]]) if len(x.shape) == 2 else (lambda i: [])
    return [Compute(n.name, n.out_types[0].shape, "float32",
                    lambda i, r: cast(x[row(i) + [r[0]]], "float32") * W[[i[1], r[0]]],
                    Reduction([F], "sum", 0.0, post=lambda acc, i: acc + B[[i[1]]]))]


register(ML + "LinearRegressor", _linreg_infer, _linreg_lower, "reduce")
