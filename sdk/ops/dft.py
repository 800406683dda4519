"""DFT over an axis whose length is symbolic (FNet's Fourier mixing of the sequence axis, exported by dynamo).

A DFT of known length never gets here: sdk/frontend/signal.py makes it a product with a constant basis first. This
op takes the rest: a symbolic transform length (the axis' own; a ``dft_length`` must equal it), real or complex
input, forward or inverse, one-sided for real input. Each bin is a sum over the axis with its twiddle factor
computed in the kernel from (k * n) mod N, so the angle stays exact in integers: O(N^2) a row."""
from __future__ import annotations

import math

from ..ir import sym
from ..tir.expr import Compute, Const, Reduction, binop, call, cast, select
from .common import norm_axis, out
from .registry import register


def _params(n):
    x = n.inputs[0]
    r = x.rank
    if n.opset >= 20:
        a = n.const_ints(2, "axis")[0] if n.input(2) is not None else -2
    else:
        a = n.attr("axis", 1)
    if not sym.is_static(a):
        raise n.unsupported("axis must be a constant")
    a = norm_axis(int(a), r, n)
    if a == r - 1:
        raise n.unsupported("the last axis holds the real/imaginary parts")
    N = x.shape[a]
    if n.input(1) is not None:
        length = n.const_ints(1, "dft_length")[0]
        if not sym.prove_eq(length, N):
            raise n.unsupported(f"dft_length {sym.to_str(length)} other than the axis ({sym.to_str(N)}) "
                                f"with a symbolic axis")
    inverse, onesided = n.attr("inverse", 0), n.attr("onesided", 0)
    cplx = x.shape[-1] == 2
    if x.shape[-1] not in (1, 2) or (onesided and (inverse or cplx)):
        raise n.unsupported(f"last dim {sym.to_str(x.shape[-1])}, onesided {onesided}, inverse {inverse}")
    bins = sym.add(sym.floordiv(N, 2), 1) if onesided else N
    return a, N, bins, bool(inverse), cplx


def _infer(n):
    x = n.inputs[0]
    if x.dtype not in ("float32", "float64"):
        raise n.unsupported(f"dtype {x.dtype}")
    a, N, bins, _, _ = _params(n)
    shape = list(x.shape)
    shape[a], shape[-1] = bins, 2
    return out(shape, x.dtype)


def _lower(ctx, n):
    """Twiddles and sums in float64 (onnx's reference precision; float32 sums of N products were 4e-6 off near
    zero), rounded to the output type at the end."""
    x = ctx.tensor(n.inputs[0])
    out_dt, dt = x.dtype, "float64"
    a, N, bins, inverse, cplx = _params(n)
    sgn = 1.0 if inverse else -1.0

    def term(i, r):
        k, t = i[a], r[0]
        m = (k * t) % N                                   # k, t >= 0: exact
        theta = Const(2.0 * math.pi, dt) * cast(m, dt) / cast(N, dt) if not sym.is_static(N) else \
            Const(2.0 * math.pi / N, dt) * cast(m, dt)
        c, s = call("cos", theta), Const(sgn, dt) * call("sin", theta)
        src = list(i)
        src[a] = t
        src[-1] = Const(0)
        xr = cast(x[src], dt)
        re, im = xr * c, xr * s
        if cplx:
            src[-1] = Const(1)
            xi = cast(x[src], dt)
            re, im = re - xi * s, im + xi * c
        return select(binop("==", i[-1], Const(0)), re, im)

    def post(acc, i):
        return acc / cast(N, dt) if inverse else acc

    shape = n.out_types[0].shape
    y = Compute(n.name + ("_f64" if out_dt != dt else ""), shape, dt, term, Reduction([N], "sum", 0.0, post))
    if out_dt == dt:
        return [y]
    y = ctx.materialize(y)
    return [Compute(n.name, shape, out_dt, lambda i: cast(y[i], out_dt))]


register("DFT", _infer, _lower, "opaque")
