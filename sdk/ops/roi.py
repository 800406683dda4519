"""Region-of-interest pooling of two-stage detectors, as onnxruntime computes them:

- RoiAlign (opsets 10, 16): bilinear samples on a regular grid inside each bin, averaged or maxed (onnxruntime's
  max: the largest of the four weighted taps of each sample); ``half_pixel`` (torchvision's aligned=True) or
  ``output_half_pixel`` (aligned=False, rois at least 1 x 1) coordinates. ``sampling_ratio`` > 0 samples that many
  points a bin side; 0 (torchvision's default -1) takes ceil(roi size / output size) per roi, known only at run
  time: the samples run over a static grid of ceil(H / output_height) + 1 (and likewise for W) points masked to the
  roi's own count, which holds every roi inside the feature map (detectors clip boxes to the image); a larger roi
  is sampled with that many points only, so adaptive sampling needs a static feature map size.
- MaxRoiPool (torchvision's roi_pool through TorchScript): rois [k, 5] with the batch index first, coordinates
  rounded to feature pixels, the max over each bin's pixels (0 for an empty bin); the bin's pixels run over the
  feature map's extent, masked to the bin.
"""
from __future__ import annotations

from ..ir import sym
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, call, cast, emax, emin, select
from .common import out
from .registry import register

NEG_INF = float("-inf")


def _check_float(n, x):
    if x.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise n.unsupported(f"dtype {x.dtype}")


def _roialign_infer(n):
    x, rois, idx = n.inputs[:3]
    _check_float(n, x)
    if x.rank != 4 or rois.rank != 2 or idx.rank != 1:
        raise n.unsupported(f"ranks {x.rank}, {rois.rank}, {idx.rank} (want 4, 2, 1)")
    return out([rois.shape[0], x.shape[1], n.attr("output_height", 1), n.attr("output_width", 1)], x.dtype)


def _roialign_lower(ctx, n):
    x, rois, bidx = (ctx.tensor(v) for v in n.inputs[:3])
    dt = x.dtype
    mode = n.attr("mode", "avg")
    if isinstance(mode, bytes):
        mode = mode.decode()
    ctm = n.attr("coordinate_transformation_mode", "half_pixel" if n.opset >= 16 else "output_half_pixel")
    if isinstance(ctm, bytes):
        ctm = ctm.decode()
    if mode not in ("avg", "max") or ctm not in ("half_pixel", "output_half_pixel"):
        raise n.unsupported(f"mode {mode}, coordinate_transformation_mode {ctm}")
    half = ctm == "half_pixel"
    oh, ow = n.attr("output_height", 1), n.attr("output_width", 1)
    ratio = n.attr("sampling_ratio", 0)
    scale = float(n.attr("spatial_scale", 1.0))
    H, W = x.shape[2], x.shape[3]
    if ratio > 0:
        GH = GW = ratio
    else:
        if not (sym.is_static(H) and sym.is_static(W)):
            raise n.unsupported("adaptive sampling (sampling_ratio 0) over a feature map of symbolic size")
        GH, GW = -(-H // oh) + 1, -(-W // ow) + 1

    def f(v):
        return Const(float(v), dt)

    Hf, Wf = cast(as_expr(H), dt), cast(as_expr(W), dt)
    Hm1, Wm1 = as_expr(sym.sub(H, 1)), as_expr(sym.sub(W, 1))

    def geometry(k):
        """Per roi: (start y, start x, bin h, bin w, grid h, grid w as int expressions)."""
        off = f(0.5 if half else 0.0)
        x1, y1 = rois[[k, Const(0)]] * f(scale) - off, rois[[k, Const(1)]] * f(scale) - off
        x2, y2 = rois[[k, Const(2)]] * f(scale) - off, rois[[k, Const(3)]] * f(scale) - off
        rw, rh = x2 - x1, y2 - y1
        if not half:
            rw, rh = emax(rw, f(1)), emax(rh, f(1))
        bh, bw = rh / f(oh), rw / f(ow)
        if ratio > 0:
            gh, gw = Const(ratio), Const(ratio)
        else:
            gh, gw = cast(call("ceil", rh / f(oh)), "int64"), cast(call("ceil", rw / f(ow)), "int64")
        return y1, x1, bh, bw, gh, gw

    def axis(v, size, size_m1, sizef):
        """Bilinear taps along one axis at v >= 0 (onnxruntime: past the last pixel, both taps on it)."""
        v = emax(v, f(0))
        lo = cast(call("floor", v), "int64")
        edge = lo >= size_m1
        lo_i = select(edge, size_m1, lo)
        hi_i = select(edge, size_m1, lo + 1)
        v = select(edge, cast(size_m1, dt), v)
        t = v - cast(lo_i, dt)
        return lo_i, hi_i, f(1) - t, t

    def sample(i, r, geo):
        """The sample's four weighted taps and whether it counts (inside the roi's grid)."""
        k, c, ph, pw = i
        y1, x1, bh, bw, gh, gw = geo
        yy = y1 + cast(ph, dt) * bh + (cast(r[0], dt) + f(0.5)) * bh / cast(gh, dt)
        xx = x1 + cast(pw, dt) * bw + (cast(r[1], dt) + f(0.5)) * bw / cast(gw, dt)
        outside = binop("||", binop("||", yy < f(-1), yy > Hf), binop("||", xx < f(-1), xx > Wf))
        y_lo, y_hi, hy, ly = axis(yy, H, Hm1, Hf)
        x_lo, x_hi, hx, lx = axis(xx, W, Wm1, Wf)
        b = bidx[[k]]
        taps = [(hy * hx, y_lo, x_lo), (hy * lx, y_lo, x_hi), (ly * hx, y_hi, x_lo), (ly * lx, y_hi, x_hi)]
        vals = [select(outside, f(0), w * x[[b, c, yi, xi]]) for w, yi, xi in taps]
        inside_grid = None if ratio > 0 else binop("&&", r[0] < gh, r[1] < gw)
        return vals, inside_grid

    def term(i, r):
        geo = geometry(i[0])
        vals, ok = sample(i, r, geo)
        if mode == "avg":
            v = vals[0] + vals[1] + vals[2] + vals[3]
            return v if ok is None else select(ok, v, f(0))
        v = emax(emax(vals[0], vals[1]), emax(vals[2], vals[3]))
        return v if ok is None else select(ok, v, f(NEG_INF))

    def post(acc, i):
        geo = geometry(i[0])
        gh, gw = geo[4], geo[5]
        if mode == "avg":
            count = emax(gh * gw, Const(1)) if ratio <= 0 else Const(ratio * ratio)
            return acc / cast(count, dt)
        if ratio > 0:
            return acc
        return select(binop("&&", gh > 0, gw > 0), acc, f(0))  # no sample: 0

    shape = n.out_types[0].shape
    combiner, init = ("sum", 0.0) if mode == "avg" else ("max", NEG_INF)
    return [Compute(n.name, shape, dt, term, Reduction([GH, GW], combiner, init, post))]


register("RoiAlign", _roialign_infer, _roialign_lower, "reduce")


def _maxroipool_infer(n):
    x, rois = n.inputs[:2]
    _check_float(n, x)
    if x.rank != 4 or rois.rank != 2:
        raise n.unsupported(f"ranks {x.rank}, {rois.rank} (want 4, 2)")
    ph, pw = n.attr("pooled_shape")
    return out([rois.shape[0], x.shape[1], ph, pw], x.dtype)


def _maxroipool_lower(ctx, n):
    x, rois = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    dt = x.dtype
    ph, pw = n.attr("pooled_shape")
    scale = float(n.attr("spatial_scale", 1.0))
    H, W = x.shape[2], x.shape[3]
    if not (sym.is_static(H) and sym.is_static(W)):
        raise n.unsupported("a feature map of symbolic size")

    def f(v):
        return Const(float(v), dt)

    def window(k, p, lo_col, hi_col, bins, size):
        """[start, end) of bin p along one axis, clamped to the map (onnxruntime's roi_pool)."""
        start = cast(call("round", rois[[k, Const(lo_col)]] * f(scale)), "int64")
        end = cast(call("round", rois[[k, Const(hi_col)]] * f(scale)), "int64")
        extent = emax(end - start + 1, Const(1))
        bin_size = cast(extent, dt) / f(bins)
        s = cast(call("floor", cast(p, dt) * bin_size), "int64")
        e = cast(call("ceil", (cast(p, dt) + f(1)) * bin_size), "int64")
        s = emin(emax(s + start, Const(0)), Const(size))
        e = emin(emax(e + start, Const(0)), Const(size))
        return s, e

    def term(i, r):
        k, c, py, px = i
        hs, he = window(k, py, 2, 4, ph, H)
        ws, we = window(k, px, 1, 3, pw, W)
        y, xx = hs + r[0], ws + r[1]
        ok = binop("&&", y < he, xx < we)
        b = cast(rois[[k, Const(0)]], "int64")
        v = x[[b, c, emin(y, Const(H - 1)), emin(xx, Const(W - 1))]]
        return select(ok, v, f(NEG_INF))

    def post(acc, i):
        k, c, py, px = i
        hs, he = window(k, py, 2, 4, ph, H)
        ws, we = window(k, px, 1, 3, pw, W)
        return select(binop("||", he <= hs, we <= ws), f(0), acc)

    return [Compute(n.name, n.out_types[0].shape, dt, term, Reduction([H, W], "max", NEG_INF, post))]


register("MaxRoiPool", _maxroipool_infer, _maxroipool_lower, "reduce")
