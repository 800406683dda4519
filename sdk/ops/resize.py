"""Resize (opsets 10-19) and Upsample with compile-time scales or sizes (or sizes that are dims of the inputs):
nearest (4 rounding modes), linear and cubic (with antialias and exclude_outside), every coordinate
transformation mode, axes and keep_aspect_ratio_policy.

Resize is separable: per resized axis the compiler computes, in float64 as onnx's reference, a table of source
indices and weights for each output position; the kernel sums weight products over the taps of all resized axes.
Where a resized length is symbolic (an image of dynamic size resized to a fraction of it or back to the input's
size), or the scales / sizes are a tensor known only at run time (each resized length a run-time dim the user
bounds), the kernel computes the same coordinates at run time instead (nearest and linear)."""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..ir import sym
from ..tir.expr import Compute, Const, Expr, as_expr, binop, call, cast, emax, emin, select
from .common import norm_axis, out
from .registry import register


def _runtime_input(n):
    """("scales" | "sizes", input index) when the scales or sizes are a tensor known only at run time, else None."""
    if n.op_type == "Upsample" or n.opset < 11:
        k = None if n.op_type == "Upsample" and n.opset < 9 else 1
        return ("scales", k) if k is not None and n.input(k) is not None and n.inputs[k].const is None else None
    for kind, k in (("scales", 2), ("sizes", 3)):
        v = n.input(k)
        if v is not None and v.const is None and v.known_ints() is None and not (
                len(v.shape) == 1 and sym.is_static(v.shape[0]) and v.shape[0] == 0):
            return kind, k
    return None


def _params(n):
    x = n.inputs[0]
    r = x.rank
    rt = _runtime_input(n)
    if rt is not None:  # run-time scales / sizes: the resized lengths are run-time dims (_plan, _bind_runtime)
        if n.op_type == "Upsample" or n.opset < 11:
            return dict(scales=None, sizes=None, roi=None, axes=list(range(r)), mode=n.attr("mode", "nearest"),
                        ctm="asymmetric", nearest="floor", rt=rt)
        roi = _const(n, 1, "roi")
        axes = [norm_axis(a, r, n) for a in n.attr("axes", list(range(r)))]
        return dict(scales=None, sizes=None, roi=None if roi is None or len(roi) == 0 else [float(v) for v in roi],
                    axes=axes, mode=n.attr("mode", "nearest"),
                    ctm=n.attr("coordinate_transformation_mode", "half_pixel"),
                    nearest=n.attr("nearest_mode", "round_prefer_floor"), rt=rt)
    if n.op_type == "Upsample":
        scales = n.attr("scales") if n.opset < 9 else _const(n, 1, "scales")
        return dict(scales=[float(s) for s in scales], sizes=None, roi=None, axes=list(range(r)), mode=n.attr("mode", "nearest"),
                    ctm="asymmetric", nearest="floor")
    if n.opset < 11:
        scales, sizes, roi = _const(n, 1, "scales"), None, None
        ctm, nearest = "asymmetric", "floor"
    else:
        roi = _const(n, 1, "roi")
        scales = _const(n, 2, "scales")
        sizes = _dims(n, 3)
        ctm = n.attr("coordinate_transformation_mode", "half_pixel")
        nearest = n.attr("nearest_mode", "round_prefer_floor")
    if scales is not None and len(scales) == 0:
        scales = None
    axes = [norm_axis(a, r, n) for a in n.attr("axes", list(range(r)))]
    return dict(scales=None if scales is None else [float(s) for s in scales],
                sizes=sizes,
                roi=None if roi is None or len(roi) == 0 else [float(v) for v in roi], axes=axes,
                mode=n.attr("mode", "nearest"), ctm=ctm, nearest=nearest)


def _const(n, k, what):
    v = n.input(k)
    if v is None:
        return None
    if v.const is None:
        raise n.unsupported(f"{what} must be known at compile time (data-dependent shapes are not supported)")
    return v.const.reshape(-1).tolist()


def _dims(n, k):
    """Input k's values as dims (ints, or symbolic where a Shape of a dynamic input made them), or None."""
    v = n.input(k)
    if v is None:
        return None
    vals = v.known_ints()
    if vals is None:
        raise n.unsupported("sizes must be known at compile time or be dims of the inputs (data-dependent "
                            "shapes are not supported)")
    return [int(d) if sym.is_static(d) else d for d in vals]


def _plan(n):
    """(output shape, {axis: (scale, out size)}, roi per axis) as onnx's reference computes them."""
    x = n.inputs[0]
    p = _params(n)
    r, axes = x.rank, p["axes"]
    shape = list(x.shape)
    scale = [1.0] * r
    if p.get("rt") is not None:
        kind, k = p["rt"]
        v = n.inputs[k]
        if v.rank != 1 or not sym.is_static(v.shape[0]) or int(v.shape[0]) != len(axes):
            raise n.unsupported(f"run-time {kind} must be 1-D, one per axis")
        if kind == "sizes" and n.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise n.unsupported(f"keep_aspect_ratio_policy {n.attr('keep_aspect_ratio_policy')} with run-time sizes")
        size = list(shape)
        for a in axes:  # bounded by the user (--dim): the values are data
            size[a] = n.runtime_sym(f"dim{a}")
        return size, {a: (None, size[a]) for a in axes}, {}, p
    if p["sizes"] is not None:
        size = list(shape)
        for a, s in zip(axes, p["sizes"]):
            size[a] = s
        for a in axes:  # None: out / in, computed at run time (a symbolic dim on either side)
            if sym.same_dim(size[a], shape[a]):
                size[a] = shape[a]
            static = sym.is_static(shape[a]) and sym.is_static(size[a])
            scale[a] = size[a] / shape[a] if static else (1.0 if sym.same_dim(size[a], shape[a]) else None)
        policy = n.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            if None in scale:
                raise n.unsupported(f"keep_aspect_ratio_policy {policy} with symbolic sizes")
            s = (min if policy == "not_larger" else max)(scale[a] for a in axes)
            for a in axes:
                scale[a], size[a] = s, int(s * shape[a] + 0.5)
    elif p["scales"] is not None:
        for a, s in zip(axes, p["scales"]):
            scale[a] = s
        size = list(shape)
        for a in axes:
            if scale[a] != 1.0:
                if sym.is_static(shape[a]):
                    size[a] = int(scale[a] * shape[a])
                elif float(scale[a]).is_integer():
                    size[a] = sym.mul(shape[a], int(scale[a]))
                else:
                    size[a] = _scaled_length(shape[a], scale[a], n)
    else:
        raise n.unsupported("neither scales nor sizes")
    roi = {}
    if p["roi"] is not None:
        k = len(axes)
        for j, a in enumerate(axes):
            roi[a] = (p["roi"][j], p["roi"][k + j])
    resized = {a: (scale[a], size[a]) for a in axes
               if not (scale[a] is not None and math.isclose(scale[a], 1.0) and sym.same_dim(size[a], shape[a])
                       and (a not in roi or (math.isclose(roi[a][0], 0.0) and math.isclose(roi[a][1], 1.0))))}
    return size, resized, roi, p


def _scaled_length(d, scale, n):
    """floor(d * scale) for a symbolic length d: (p * d) // q where the scale is p / q with q a power of two up to
    1024 (0.5, 0.75, 1.5, 2.5: a float32 scale whose products with lengths below 2**14 are exact in float32 as in
    float64, so the engines' floors agree with this one)."""
    from fractions import Fraction
    f = Fraction(float(scale))
    if scale <= 0 or f.denominator > 1024:
        raise n.unsupported(f"resizing a symbolic dim by the scale {scale} (not a multiple of 1/1024)")
    return sym.floordiv(sym.mul(d, f.numerator), f.denominator)


def _least_ratio(iw, scale, ow, bounds=None):
    """The least filter scale min(out / in, 1) of a resized axis: the scale itself when known, else the least ratio
    of two lengths made from one symbol over its range within ``bounds`` (h // 2 of h: 1/3 at h = 3), else None."""
    if isinstance(scale, float):
        return min(scale, 1.0)
    if sym.is_static(iw) and sym.is_static(ow):
        return min(int(ow) / int(iw), 1.0)
    names = sym.free_vars(iw) | sym.free_vars(ow)
    atom = next((m[0] for d in (iw, ow) if isinstance(d, sym.Sym) for m in d.terms
                 if len(m) == 1 and m[0].kind == "var"), None)
    if len(names) != 1 or atom is None:
        return None
    with sym.assume_bounds(bounds or {}):
        lo, hi = sym.range_of(sym.Sym.make({(atom,): 1}))
    if math.isinf(hi) or hi - lo > 1 << 16:
        return None
    ratios = []
    for k in range(max(int(lo), 1), int(hi) + 1):
        i, o = sym.evaluate(iw, {atom.args[0]: k}), sym.evaluate(ow, {atom.args[0]: k})
        if i >= 1 and o >= 1:
            ratios.append(o / i)
    return min(min(ratios), 1.0) if ratios else 1.0


def _coeffs(mode, nearest, A, antialias, scale):
    """ratio -> tap weights, per mode (onnx's definitions)."""
    if mode == "nearest":  # an integral ratio (a source position on a pixel) takes that pixel in every mode
        pick = {"round_prefer_floor": lambda t: [float(t <= 0.5), float(t > 0.5)],
                "round_prefer_ceil": lambda t: [float(t < 0.5), float(t >= 0.5)],
                "floor": lambda t: [1.0, 0.0], "ceil": lambda t: [0.0, 1.0]}[nearest]
        return lambda t: [0.0, 1.0] if float(t).is_integer() else pick(t)
    if mode == "linear":
        if not antialias:
            return lambda t: [1 - t, t]
        s = min(scale, 1.0)
        start = int(np.floor(-1 / s) + 1)
        taps = np.arange(start, start + 2 - 2 * start)

        def lin(t):
            c = np.clip(1 - np.abs((taps - t) * s), 0, 1)
            return list(c / c.sum())
        return lin
    if not antialias:
        return lambda t: [((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
                          ((A + 2) * t - (A + 3)) * t * t + 1,
                          ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
                          ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A]
    s = min(scale, 1.0)
    i0 = int(np.floor(-2 / s) + 1)

    def cub(t):
        c = []
        for i in range(i0, 2 - i0):
            v = abs(s * (i - t))
            c.append((A + 2) * v ** 3 - (A + 3) * v ** 2 + 1 if v <= 1 else
                     (A * v ** 3 - 5 * A * v ** 2 + 8 * A * v - 4 * A if v < 2 else 0.0))
        c = np.array(c)
        return list(c / c.sum())
    return cub


def axis_table(in_w, out_w, scale, p, roi, n):
    """(indices [out_w, taps] clamped into the input, weights [out_w, taps], extrapolated [out_w] or None)."""
    y = np.arange(out_w, dtype=np.float64)
    ow = scale * in_w
    ctm = p["ctm"]
    extra = None
    if ctm == "align_corners":
        x = np.zeros(out_w) if ow == 1 else y * (in_w - 1) / (ow - 1)
    elif ctm == "asymmetric":
        x = y / scale
    elif ctm == "tf_crop_and_resize":
        lo, hi = roi if roi is not None else (0.0, 1.0)
        x = np.full(out_w, (hi - lo) * (in_w - 1) / 2) if ow == 1 else y * (hi - lo) * (in_w - 1) / (ow - 1)
        x = x + lo * (in_w - 1)
        extra = (x < 0) | (x > in_w - 1)
    elif ctm == "pytorch_half_pixel":
        x = np.full(out_w, -0.5) if ow == 1 else (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel_symmetric":
        x = in_w / 2 * (1 - out_w / ow) + (y + 0.5) / scale - 0.5
    else:
        raise n.unsupported(f"coordinate_transformation_mode {ctm}")
    fl = np.floor(x)
    ratio = np.where(x == fl, 1.0, x - fl)
    fn = _coeffs(p["mode"], p["nearest"], n.attr("cubic_coeff_a", -0.75), n.attr("antialias", 0), scale)
    w = np.array([fn(float(t)) for t in ratio], np.float64).reshape(out_w, -1)
    taps = w.shape[1]
    pad = int(np.ceil(taps / 2))
    xp = x + pad
    pp = np.floor(xp)
    frac = xp - pp
    if taps % 2 == 0:
        off = np.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
    else:
        base = -((taps - 1) // 2)
        off = np.where(frac <= 0.5, base, base + 1)
    idx = (pp + off).astype(np.int64)[:, None] + np.arange(taps)[None, :] - pad
    if n.attr("exclude_outside", 0):
        w = np.where((idx < 0) | (idx >= in_w), 0.0, w)
        s = w.sum(axis=1, keepdims=True)
        w = w / np.where(s == 0, 1.0, s)
    idx = np.clip(idx, 0, in_w - 1)
    if p["mode"] == "nearest":  # one tap: the one of weight 1
        pick = np.argmax(w, axis=1)
        idx, w = idx[np.arange(out_w), pick][:, None], np.ones((out_w, 1))
    return idx, w, extra


def _infer(n):
    size, _, _, p = _plan(n)
    if p["mode"] not in ("nearest", "linear", "cubic"):
        raise n.unsupported(f"mode {p['mode']}")
    return out(size, n.inputs[0].dtype)


def _bind_runtime(ctx, n, p, resized):
    """Run-time scales: each resized length is floor(length * scale) (onnx's reference), the scale the kernel's;
    run-time sizes: the lengths as given, the scale their ratio (lower_symbolic's default)."""
    from ..tir.expr import Load
    x = n.inputs[0]
    kind, k = p["rt"]
    b = ctx.buffer(n.inputs[k])
    defs, out = [], {}
    for j, a in enumerate(p["axes"]):
        v = Load(b, [Const(j)], b.dtype)
        if kind == "scales":
            sc = cast(v, "float64")
            defs.append((n.rt[f"dim{a}"], cast(call("floor", cast(as_expr(x.shape[a]), "float64") * sc), "int64")))
            out[a] = (sc, resized[a][1])
        else:
            defs.append((n.rt[f"dim{a}"], cast(v, "int64")))
            out[a] = (None, resized[a][1])
    ctx.bind_dims(n.name, defs)
    return out


def _lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    size, resized, roi, p = _plan(n)
    if p.get("rt") is not None:
        return lower_symbolic(x, n, size, _bind_runtime(ctx, n, p, resized), p)
    if not resized:  # every axis keeps its length (sizes equal to the input's own dims): a copy
        return [Compute(n.name, tuple(size), x.dtype, lambda i: x[list(i)])]
    if not all(sym.is_static(x.shape[a]) and sym.is_static(ow) for a, (_, ow) in resized.items()):
        return lower_symbolic(x, n, size, resized, p, ctx.prog.func.bounds)
    dt = x.dtype
    ft = "float64" if dt == "float64" else "float32"
    tables = {}
    for a, (scale, ow) in resized.items():
        idx, w, extra = axis_table(int(x.shape[a]), int(ow), scale, p, roi.get(a), n)
        tables[a] = (ctx.const(idx, f"{n.name}_idx{a}"), ctx.const(w.astype(ft), f"{n.name}_w{a}"), idx.shape[1],
                     None if extra is None or not extra.any() else ctx.const(extra, f"{n.name}_out{a}"))
    ev = float(n.attr("extrapolation_value", 0.0))
    exact = p["mode"] == "nearest" or not tables  # no axis resized (sizes equal to the input's): a copy

    def body(i):
        axes = sorted(tables)
        acc = None
        for combo in itertools.product(*[range(tables[a][2]) for a in axes]):
            j, w = list(i), None
            for a, t in zip(axes, combo):
                it, wt, _, _ = tables[a]
                j[a] = it[[i[a], Const(t)]]
                if not exact:
                    wv = wt[[i[a], Const(t)]]
                    w = wv if w is None else w * wv
            v = x[j]
            term = v if exact else w * cast(v, ft)
            acc = term if acc is None else acc + term
        res = acc if exact else cast(acc, dt)
        for a in axes:
            if tables[a][3] is not None:
                res = select(tables[a][3][[i[a]]], Const(ev, dt), res)
        return res

    return [Compute(n.name, tuple(size), dt, body)]


def lower_symbolic(x, n, size, resized, p, bounds=None):
    """Resize along axes whose input or output length is symbolic: source coordinates and tap weights computed
    in the kernel, in float64 as the tables would be, from the lengths at run time (nearest, linear and cubic
    without exclude_outside, the coordinate modes that need no roi)."""
    ctm, mode = p["ctm"], p["mode"]
    filtered = mode != "nearest" and bool(n.attr("antialias", 0) or n.attr("exclude_outside", 0))
    if (mode not in ("nearest", "linear", "cubic") or ctm == "tf_crop_and_resize"
            or (filtered and any(_least_ratio(x.shape[a], sc, ow, bounds) is None for a, (sc, ow) in resized.items()))):
        raise n.unsupported(f"mode {mode} (antialias {n.attr('antialias', 0)}, {ctm}) on symbolic lengths")
    dt = x.dtype
    ft = "float64" if dt == "float64" else "float32"

    def f(v):
        return Const(float(v), "float64")

    def length(d):
        return cast(as_expr(d), "float64")

    def coord(y, a):
        """Output index y along axis a -> (source coordinate, input length as an index expression)."""
        scale, ow = resized[a]
        iw, ow_f = x.shape[a], length(ow)
        sc = ow_f / length(iw) if scale is None else scale if isinstance(scale, Expr) else f(scale)
        # the reference's output width: scale * input length, a float (the length of a given size)
        owx = ow_f if scale is None else sc * length(iw)
        yf = cast(y, "float64")
        if ctm == "align_corners":
            v = select(binop("!=", owx, f(1)), yf * (length(iw) - f(1)) / (owx - f(1)), f(0))
        elif ctm == "asymmetric":
            v = yf / sc
        elif ctm == "pytorch_half_pixel":
            v = select(binop("!=", owx, f(1)), (yf + f(0.5)) / sc - f(0.5), f(-0.5))
        elif ctm == "half_pixel":
            v = (yf + f(0.5)) / sc - f(0.5)
        elif ctm == "half_pixel_symmetric":
            v = length(iw) / f(2) * (f(1) - ow_f / (sc * length(iw))) + (yf + f(0.5)) / sc - f(0.5)
        else:
            raise n.unsupported(f"coordinate_transformation_mode {ctm}")
        return v, as_expr(iw)

    def clamp(k, iw):
        return emin(emax(k, 0), iw - 1)

    def filtered_taps(v, iw, a):
        """antialias / exclude_outside: the taps of axis_table (a filter widened by 1 / scale when downscaling,
        weights normalised to sum 1; taps outside the input dropped with exclude_outside), computed in float64.
        A scale known only at run time (sizes of symbolic lengths) takes the taps of its least value over the
        lengths' bounds: the taps beyond a larger scale's filter get weight 0, as the table leaves them out."""
        scale, ow = resized[a]
        least = _least_ratio(x.shape[a], scale, ow, bounds) if n.attr("antialias", 0) else 1.0
        if not n.attr("antialias", 0):
            s = f(1.0)
        elif isinstance(scale, float):
            s = f(min(scale, 1.0))
        else:
            s = emin(length(ow) / length(iw), f(1.0))
        start = int(np.floor((-1 if mode == "linear" else -2) / least) + 1)
        base = call("ceil", v) - f(1)  # the table's floor(x), one lower at integral x (ratio 1)
        t = v - base
        a_ = float(n.attr("cubic_coeff_a", -0.75))
        k0 = cast(base, "int64")
        res = []
        for j in range(2 - 2 * start):
            d = (f(start + j) - t) * s
            d = select(d < f(0), f(0) - d, d)
            if mode == "linear":
                w = emax(f(1) - d, f(0))
            else:
                w = select(d <= f(1), ((f(a_ + 2) * d - f(a_ + 3)) * d) * d + f(1),
                           select(d < f(2), ((f(a_) * d - f(5 * a_)) * d + f(8 * a_)) * d - f(4 * a_), f(0)))
            k = k0 + (start + j)
            if n.attr("exclude_outside", 0):
                w = select(binop("&&", k >= 0, k < iw), w, f(0))
            res.append((clamp(k, iw), w))
        # raw weights; the sum over the taps is normalised to 1 once per output element (body), not per tap: the
        # sum inside every tap's weight made expressions of taps ** 2 terms per axis
        return res

    def taps(y, a):
        """[(source index, weight or None)] along axis a."""
        v, iw = coord(y, a)
        if filtered:
            return filtered_taps(v, iw, a)
        if mode == "nearest":
            r = {"round_prefer_floor": lambda: call("ceil", v - f(0.5)), "round_prefer_ceil": lambda: call("floor", v + f(0.5)),
                 "floor": lambda: call("floor", v), "ceil": lambda: call("ceil", v)}[p["nearest"]]()
            return [(clamp(cast(r, "int64"), iw), None)]
        base = call("floor", v)
        t = cast(v - base, ft)
        k = cast(base, "int64")
        if mode == "cubic":  # Keys' cubic convolution (coefficient A) over taps k - 1 .. k + 2, edges repeated
            a_ = Const(float(n.attr("cubic_coeff_a", -0.75)), ft)

            def near(d):  # |d| <= 1
                return ((a_ + Const(2.0, ft)) * d - (a_ + Const(3.0, ft))) * d * d + Const(1.0, ft)

            def far(d):  # 1 < |d| < 2
                return ((a_ * d - Const(5.0, ft) * a_) * d + Const(8.0, ft) * a_) * d - Const(4.0, ft) * a_
            one = Const(1.0, ft)
            return [(clamp(k - 1, iw), far(t + one)), (clamp(k, iw), near(t)), (clamp(k + 1, iw), near(one - t)),
                    (clamp(k + 2, iw), far(Const(2.0, ft) - t))]
        return [(clamp(k, iw), Const(1.0, ft) - t), (clamp(k + 1, iw), t)]

    def body(i):
        axes = sorted(resized)
        acc = None
        per_axis = [taps(i[a], a) for a in axes]
        for combo in itertools.product(*per_axis):
            j, w = list(i), None
            for a, (k, wt) in zip(axes, combo):
                j[a] = k
                if wt is not None:
                    w = wt if w is None else w * wt
            v = x[j]
            term = v if w is None else w * cast(v, "float64" if filtered else ft)
            acc = term if acc is None else acc + term
        if filtered:  # weights normalised to sum 1 per axis (a zero sum: all taps dropped, the output 0)
            for t in per_axis:
                total = t[0][1]
                for _, w in t[1:]:
                    total = total + w
                acc = acc / select(binop("==", total, f(0)), f(1), total)
        return acc if mode == "nearest" else cast(acc, dt)

    return [Compute(n.name, tuple(size), dt, body)]


register("Resize", _infer, _lower, "injective")
register("Upsample", _infer, _lower, "injective")
