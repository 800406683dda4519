"""GridSample (opsets 16-22): nearest / (bi)linear / (bi)cubic sampling of 1-3 spatial dims at grid positions,
with zeros / border / reflection padding and both align_corners conventions, as onnxruntime (bicubic with border
padding clamps its taps, not the coordinate, as onnxruntime and torch do; onnx's reference clamps both). The input's
spatial dims may be symbolic (a spatial transformer on images of any size): they enter the coordinates as run-time
values."""
from __future__ import annotations

import itertools

from ..ir import sym
from ..tir.expr import Compute, Const, Expr, as_expr, binop, call, cast, emax, emin, select
from .common import out
from .registry import register

_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic", "nearest": "nearest"}


def _infer(n):
    x, g = n.inputs[:2]
    if x.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise n.unsupported(f"dtype {x.dtype}")
    if g.rank != x.rank or g.shape[-1] != x.rank - 2:
        raise n.unsupported(f"grid of shape {[sym.to_str(d) for d in g.shape]} for a rank-{x.rank} input")
    return out(list(x.shape[:2]) + list(g.shape[1:-1]), x.dtype)


def _lower(ctx, n):
    x, g = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    dt = x.dtype
    mode = _MODES.get(n.attr("mode", "bilinear"))
    pad = n.attr("padding_mode", "zeros")
    align = n.attr("align_corners", 0)
    if mode is None or pad not in ("zeros", "border", "reflection"):
        raise n.unsupported(f"mode {n.attr('mode')} padding {pad}")
    dims = list(x.shape[2:])
    D = len(dims)

    def f(v):
        """A float constant, or a (symbolic) dim plus a constant as a float expression."""
        if isinstance(v, Expr):
            return v
        if sym.is_static(v):
            return Const(float(v), dt)
        return cast(as_expr(v), dt)

    def reflect(v, lo, hi):
        rng = f(hi - lo)

        def side(dx, near, far, sign):  # dx past the near border: bounce k times, the rest r from a border
            k = call("floor", dx / rng)
            r = (dx - k * rng) * f(sign)
            even = binop("==", k - f(2) * call("floor", k / f(2)), f(0))
            return select(even, near + r, far - r)

        below = side(f(lo) - v, f(lo), f(hi), 1)
        above = side(v - f(hi), f(hi), f(lo), -1)
        return select(v < f(lo), below, select(v > f(hi), above, v))

    def borders(d):
        if not sym.is_static(d):  # (lo, hi) as float expressions
            return (f(0), f(sym.sub(d, 1))) if align else (f(-0.5), cast(as_expr(d), dt) - f(0.5))
        return (0.0, d - 1.0) if align else (-0.5, d - 0.5)

    def coord(i, a):
        """The source coordinate along spatial dim a for output index i (grid components are x, y, z: reversed)."""
        gv = g[[i[0]] + list(i[2:]) + [Const(D - 1 - a)]]
        d = dims[a]
        v = (gv + f(1)) / f(2) * f(sym.sub(d, 1)) if align else ((gv + f(1)) * f(d) - f(1)) / f(2)
        if mode == "nearest":
            v = call("rint", v)
        lo, hi = borders(d)
        if pad == "border" and mode != "cubic":  # bicubic clamps its taps only (onnxruntime, torch)
            v = select(binop("||", v < f(lo), v > f(hi)), emin(emax(v, f(0)), f(sym.sub(d, 1))), v)
        elif pad == "reflection":
            v = reflect(v, lo, hi)
        return v

    def tap(k, a):
        """An integer index along dim a -> (clamped index, inside?) under the padding mode."""
        d = dims[a]
        if pad == "reflection":
            lo, hi = borders(d)
            k = cast(reflect(cast(k, dt), lo, hi), "int64")
        inside = binop("&&", k >= 0, k < as_expr(d))
        return emin(emax(k, 0), as_expr(sym.sub(d, 1))), (inside if pad == "zeros" else None)

    def weights(t):
        if mode == "linear":
            return [f(1) - t, t], 0
        A = -0.75
        t1, t2 = t + f(1), f(1) - t
        w0 = ((f(A) * t1 - f(5 * A)) * t1 + f(8 * A)) * t1 - f(4 * A)
        w1 = (f(A + 2) * t - f(A + 3)) * t * t + f(1)
        w2 = (f(A + 2) * t2 - f(A + 3)) * t2 * t2 + f(1)
        t3 = f(2) - t
        w3 = ((f(A) * t3 - f(5 * A)) * t3 + f(8 * A)) * t3 - f(4 * A)
        return [w0, w1, w2, w3], -1

    def body(i):
        per_dim = []
        for a in range(D):
            v = coord(i, a)
            if mode == "nearest":
                per_dim.append([(cast(v, "int64"), None)])
                continue
            base = call("floor", v)
            ws, first = weights(v - base)
            k0 = cast(base, "int64")
            per_dim.append([(k0 + (first + j), w) for j, w in enumerate(ws)])
        acc = None
        for combo in itertools.product(*per_dim):
            idx, ok, w = [], None, None
            for a, (k, wt) in enumerate(combo):
                kk, inside = tap(k, a)
                idx.append(kk)
                if inside is not None:
                    ok = inside if ok is None else binop("&&", ok, inside)
                if wt is not None:
                    w = wt if w is None else w * wt
            v = x[[i[0], i[1]] + idx]
            if ok is not None:
                v = select(ok, v, f(0))
            term = v if w is None else w * v
            acc = term if acc is None else acc + term
        return acc

    return [Compute(n.name, n.out_types[0].shape, dt, body)]


register("GridSample", _infer, _lower, "injective")


def _affine_infer(n):
    theta = n.inputs[0]
    size = n.const_ints(1, "size")
    if theta.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise n.unsupported(f"dtype {theta.dtype}")
    D = len(size) - 2
    if D not in (2, 3) or theta.rank != 3 or theta.shape[1] != D or theta.shape[2] != D + 1:
        raise n.unsupported(f"theta {[sym.to_str(d) for d in theta.shape]} for size {[sym.to_str(d) for d in size]}")
    return out([size[0]] + list(size[2:]) + [D], theta.dtype)


def _affine_lower(ctx, n):
    """AffineGrid (opset 20, torch's affine_grid): the normalised base grid (x along the last axis) times theta."""
    theta = ctx.tensor(n.inputs[0])
    dt = theta.dtype
    size = n.const_ints(1, "size")
    dims = list(size[2:])
    D = len(dims)
    align = n.attr("align_corners", 0)

    def base(j, d):
        """onnxruntime's rounding: linspace(-1, 1, d) as Eigen computes it (-1 + j * (2 / (d - 1)), the last point
        exactly 1), times (d - 1) / d without align_corners. A single point with align_corners is -1 as onnx's
        reference has it (onnxruntime says 1, torch 0; sdk/ops/image.py's choice, kept)."""
        jf, dm1 = cast(j, dt), cast(as_expr(sym.sub(d, 1)), dt)
        last = binop("==", j, as_expr(sym.sub(d, 1)))
        v = select(binop("==", as_expr(d), Const(1)), Const(-1.0, dt),
                   select(last, Const(1.0, dt), Const(-1.0, dt) + jf * (Const(2.0, dt) / dm1)))
        return v if align else v * dm1 / cast(as_expr(d), dt)

    def body(i):
        comp = i[-1]
        spatial = i[1:-1]
        # homogeneous coordinates (x, y[, z], 1): x follows the last spatial axis; summed in that order
        coords = [base(spatial[D - 1 - a], dims[D - 1 - a]) for a in range(D)]
        acc = coords[0] * theta[[i[0], comp, Const(0)]]
        for a in range(1, D):
            acc = acc + coords[a] * theta[[i[0], comp, Const(a)]]
        return acc + theta[[i[0], comp, Const(D)]]

    return [Compute(n.name, n.out_types[0].shape, dt, body)]


register("AffineGrid", _affine_infer, _affine_lower, "injective")
