"""Image-region ops of detection / segmentation exports: RoiAlign, MaxUnpool, Col2Im, CenterCropPad, AffineGrid,
DeformConv.

Each is a loop-level definition as onnx's reference computes it: RoiAlign a reduction over a bin's sampling grid
of bilinear taps; MaxUnpool, for each output element, the input element of its pooling window whose index names
it; Col2Im a sum over the block positions that cover an output pixel; CenterCropPad an offset read; AffineGrid
theta times the base grid. Shape inputs (output_shape, image_shape, block_shape, shape, size) must be known at
compile time. Indices are clamped, so bad data never reads outside a buffer.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..ir import sym
from ..ir.dtypes import FLOATS
from ..tir.expr import Compute, Const, Reduction, as_expr, binop, call, cast, emax, emin, select
from .common import out
from .registry import register


def _static_dims(n, shape, what):
    if not all(sym.is_static(d) for d in shape):
        raise n.unsupported(f"symbolic {what} dims")
    return [int(d) for d in shape]


def _f(v, dt):
    return Const(float(v), dt)


def _clamp(e, dim):
    return emin(emax(e, 0), as_expr(dim) - 1)


# ---------------------------------------------------------------- RoiAlign
def _roialign_infer(n):
    x, rois, bi = n.inputs[:3]
    if x.dtype not in FLOATS or x.rank != 4:
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}] (a float NCHW tensor is supported)")
    if rois.rank != 2 or bi.rank != 1:
        raise n.unsupported("rois must be [num_rois, 4] and batch_indices [num_rois]")
    if int(n.attr("sampling_ratio", 0)) <= 0:
        raise n.unsupported("sampling_ratio 0 (a sampling grid sized by each roi at run time)")
    if n.attr("mode", "avg") not in ("avg", "max"):
        raise n.unsupported(f"mode {n.attr('mode')}")
    return out([bi.shape[0], x.shape[1], n.attr("output_height", 1), n.attr("output_width", 1)], x.dtype)


def _roialign_lower(ctx, n):
    """onnx's reference (and onnxruntime's) RoiAlign: samples at the centres of a grid of sampling_ratio^2 cells
    per bin; a sample outside [-1, size] counts 0; taps clamped to the last row/column."""
    x, rois, bi = (ctx.tensor(v) for v in n.inputs[:3])
    dt = "float32" if x.dtype in ("float16", "bfloat16") else x.dtype
    N, _, H, W = x.shape
    oh, ow = int(n.attr("output_height", 1)), int(n.attr("output_width", 1))
    g = int(n.attr("sampling_ratio", 0))
    scale = float(n.attr("spatial_scale", 1.0))
    half = n.attr("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    is_max = n.attr("mode", "avg") == "max"

    def term(i, r):
        k, c, ph, pw = i
        iy, ix = r
        b = _clamp(cast(bi[[k]], "int64"), N)
        box = [cast(rois[[k, Const(j)]], dt) * _f(scale, dt) - _f(0.5 if half else 0.0, dt) for j in range(4)]
        rw, rh = box[2] - box[0], box[3] - box[1]
        if not half:
            rw, rh = emax(rw, _f(1, dt)), emax(rh, _f(1, dt))
        bh, bw = rh / _f(oh, dt), rw / _f(ow, dt)
        y = box[1] + cast(ph, dt) * bh + (cast(iy, dt) + _f(0.5, dt)) * bh / _f(g, dt)
        xx = box[0] + cast(pw, dt) * bw + (cast(ix, dt) + _f(0.5, dt)) * bw / _f(g, dt)
        outside = binop("||", binop("||", y < _f(-1, dt), y > cast(as_expr(H), dt)),
                        binop("||", xx < _f(-1, dt), xx > cast(as_expr(W), dt)))
        taps, ws = [], []
        for v, d in ((y, H), (xx, W)):
            v = emax(v, _f(0, dt))
            low = cast(v, "int64")  # v >= 0: truncation is floor
            last = binop(">=", low, as_expr(d) - 1)
            low = select(last, as_expr(d) - 1, low)
            high = select(last, as_expr(d) - 1, low + 1)
            frac = select(last, _f(0, dt), v - cast(low, dt))
            taps.append((low, high))
            ws.append((_f(1, dt) - frac, frac))
        vals = []
        for (a, wa), (bb, wb) in itertools.product(zip(taps[0], ws[0]), zip(taps[1], ws[1])):
            vals.append(wa * wb * cast(x[[b, c, a, bb]], dt))
        if is_max:
            v = emax(emax(vals[0], vals[1]), emax(vals[2], vals[3]))
        else:
            v = (vals[0] + vals[1]) + (vals[2] + vals[3])
        return select(outside, _f(0, dt), v)

    shape = n.out_types[0].shape
    if is_max:
        red = Reduction([g, g], "max", float("-inf"))
    else:
        red = Reduction([g, g], "sum", 0.0, post=lambda acc, i: acc / _f(g * g, dt))
    return [Compute(n.name, shape, dt if x.dtype == dt else x.dtype, term, red)]


register("RoiAlign", _roialign_infer, _roialign_lower, "reduce")


# ---------------------------------------------------------------- MaxUnpool
def _unpool_attrs(n):
    x = n.inputs[0]
    k = list(n.attr("kernel_shape"))
    s = list(n.attr("strides", [1] * len(k)))
    p = list(n.attr("pads", [0] * 2 * len(k)))
    if len(k) != x.rank - 2:
        raise n.unsupported(f"kernel_shape {k} for a rank-{x.rank} input")
    return k, s, p


def _unpool_shapes(n):
    """(the shape the indices count in, the output shape): equal unless output_shape is given."""
    x = n.inputs[0]
    k, s, p = _unpool_attrs(n)
    inferred = list(x.shape[:2]) + [(x.shape[2 + a] - 1) * s[a] - p[a] - p[a + len(k)] + k[a] for a in range(len(k))]
    if n.input(2) is None:
        return inferred, inferred
    want = n.const_ints(2, "output_shape")
    if len(want) != x.rank:
        raise n.unsupported(f"output_shape of {len(want)} dims for a rank-{x.rank} input")
    for a in range(2, x.rank):
        if not (sym.is_static(want[a]) and sym.is_static(inferred[a])):
            raise n.unsupported("output_shape with symbolic spatial dims")
        if want[a] < inferred[a]:
            raise n.unsupported(f"output_shape {list(want)} smaller than the unpooled {inferred}")
    return inferred, list(x.shape[:2]) + [int(d) for d in want[2:]]


def _maxunpool_infer(n):
    x, ind = n.inputs[:2]
    if ind.rank != x.rank or ind.dtype != "int64":
        raise n.unsupported(f"indices {ind.dtype}[rank {ind.rank}]")
    return out(_unpool_shapes(n)[1], x.dtype)


def _maxunpool_lower(ctx, n):
    """Output element o takes the input element whose index (flat, in MaxPool's convention, over the unpooled
    shape) is o's, searched among the input positions whose pooling window covers o (at most ceil(k/s) a dim:
    MaxPool's indices always point inside their window); none: 0. onnx's reference places the unpooled tensor
    at the start of a larger output_shape."""
    x, ind = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    k, s, p = _unpool_attrs(n)
    inner, shape = _unpool_shapes(n)
    D = len(k)
    span = [-(-k[a] // s[a]) for a in range(D)]  # candidates per dim
    dt = x.dtype
    zero = Const(0.0 if dt in FLOATS else 0, dt)

    def cands(i, r):
        """For output index i and candidate r: (input index, valid)."""
        src, ok = [], None
        for a in range(D):
            # the largest input position whose window starts at or before o: q = floor((o + pad) / s)
            q = (i[2 + a] + Const(p[a])) // Const(s[a]) - r[a]
            lo = q * Const(s[a]) - Const(p[a])
            valid = binop("&&", binop("&&", q >= 0, q < as_expr(x.shape[2 + a])),
                          binop("<", i[2 + a], lo + Const(k[a])))
            ok = valid if ok is None else binop("&&", ok, valid)
            src.append(_clamp(q, x.shape[2 + a]))
        return src, ok

    def flat(i):
        f = i[0]
        for a in range(1, len(inner)):
            f = f * as_expr(inner[a]) + i[a]
        return f

    def hit(i, r):
        src, ok = cands(i, r)
        match = binop("&&", ok, binop("==", ind[list(i[:2]) + src], flat(i)))
        code = r[0]
        for a in range(1, D):
            code = code * Const(span[a]) + r[a]
        return select(match, code, Const(-1))

    found = ctx.materialize(Compute(n.name + "_hit", inner, "int64", hit, Reduction(span, "max", -1)))

    def body(i):
        inside = None
        for a in range(2, len(shape)):
            if shape[a] != inner[a]:
                e = i[a] < as_expr(inner[a])
                inside = e if inside is None else binop("&&", inside, e)
        j = list(i[:2]) + [_clamp(i[a], inner[a]) for a in range(2, len(shape))]
        h = found[j]
        r, rest = [], emax(h, 0)
        for a in reversed(range(D)):
            r.insert(0, rest % Const(span[a]) if a else rest)
            rest = rest // Const(span[a])
        src, _ = cands(j, r)
        v = select(h >= 0, x[list(j[:2]) + src], zero)
        return v if inside is None else select(inside, v, zero)

    return [Compute(n.name, shape, dt, body)]


register("MaxUnpool", _maxunpool_infer, _maxunpool_lower, "opaque")


# ---------------------------------------------------------------- Col2Im
def _col2im_params(n):
    x = n.inputs[0]
    image = [int(d) for d in n.const_ints(1, "image_shape")]
    block = [int(d) for d in n.const_ints(2, "block_shape")]
    D = len(image)
    dil = list(n.attr("dilations", [1] * D))
    pads = list(n.attr("pads", [0] * 2 * D))
    strides = list(n.attr("strides", [1] * D))
    if len(block) != D or x.rank != 3:
        raise n.unsupported(f"image_shape {image}, block_shape {block} for a rank-{x.rank} input")
    L = [(image[a] + pads[a] + pads[a + D] - dil[a] * (block[a] - 1) - 1) // strides[a] + 1 for a in range(D)]
    nb = int(np.prod(block))
    if sym.is_static(x.shape[1]) and x.shape[1] % nb:
        raise n.unsupported(f"input dim 1 ({x.shape[1]}) is not a multiple of the block size {nb}")
    if sym.is_static(x.shape[2]) and x.shape[2] != int(np.prod(L)):
        raise n.unsupported(f"input dim 2 ({x.shape[2]}) is not the number of blocks {int(np.prod(L))}")
    return image, block, dil, pads, strides, L


def _col2im_infer(n):
    x = n.inputs[0]
    image, block = _col2im_params(n)[:2]
    return out([x.shape[0], sym.floordiv(x.shape[1], int(np.prod(block)))] + image, x.dtype)


def _col2im_lower(ctx, n):
    """out[n, c, y...] = sum over the block offsets b whose block position l = (y + pad - b*dil) / stride is a
    whole number inside the blocks' grid of input[n, c * prod(block) + b, l] (torch's fold)."""
    x = ctx.tensor(n.inputs[0])
    image, block, dil, pads, strides, L = _col2im_params(n)
    D = len(image)
    dt = x.dtype
    zero = Const(0.0 if dt in FLOATS else 0, dt)

    def term(i, r):
        ok, col, lflat = None, None, None
        for a in range(D):
            t = i[2 + a] + Const(pads[a]) - r[a] * Const(dil[a])
            valid = binop("&&", binop("&&", t >= 0, binop("==", t % Const(strides[a]), Const(0))),
                          binop("<", t // Const(strides[a]), Const(L[a])))
            ok = valid if ok is None else binop("&&", ok, valid)
            la = _clamp(t // Const(strides[a]), L[a])
            lflat = la if lflat is None else lflat * Const(L[a]) + la
            col = r[a] if col is None else col * Const(block[a]) + r[a]
        ch = i[1] * Const(int(np.prod(block))) + col
        return select(ok, x[[i[0], ch, lflat]], zero)

    return [Compute(n.name, n.out_types[0].shape, dt, term, Reduction(block, "sum", 0))]


register("Col2Im", _col2im_infer, _col2im_lower, "reduce")


# ---------------------------------------------------------------- CenterCropPad
def _ccp_target(n):
    x = n.inputs[0]
    want = n.const_ints(1, "shape")
    axes = [a + x.rank if a < 0 else a for a in n.attr("axes", list(range(x.rank)))]
    if len(want) != len(axes) or not all(0 <= a < x.rank for a in axes):
        raise n.unsupported(f"shape of {len(want)} values for axes {axes}")
    shape = list(x.shape)
    for a, d in zip(axes, want):
        shape[a] = d
    for a in range(x.rank):
        if not (sym.is_static(shape[a]) and sym.is_static(x.shape[a])) and not sym.prove_eq(shape[a], x.shape[a]):
            raise n.unsupported(f"axis {a}: cropping or padding a symbolic dim")
    return shape


def _ccp_infer(n):
    return out(_ccp_target(n), n.inputs[0].dtype)


def _ccp_lower(ctx, n):
    """onnx's reference: a crop starts at (in - out) // 2; a pad puts (out - in) // 2 zeros before."""
    x = ctx.tensor(n.inputs[0])
    shape = _ccp_target(n)
    dt = x.dtype
    zero = Const(0.0 if dt in FLOATS else 0, dt)

    def body(i):
        idx, ok = [], None
        for a, (o, d) in enumerate(zip(shape, x.shape)):
            if sym.prove_eq(o, d):
                idx.append(i[a])
                continue
            o, d = int(o), int(d)
            if o < d:
                idx.append(i[a] + Const((d - o) // 2))
                continue
            t = i[a] - Const((o - d) // 2)
            valid = binop("&&", t >= 0, t < Const(d))
            ok = valid if ok is None else binop("&&", ok, valid)
            idx.append(_clamp(t, d))
        v = x[idx]
        return v if ok is None else select(ok, v, zero)

    return [Compute(n.name, shape, dt, body)]


register("CenterCropPad", _ccp_infer, _ccp_lower)


# ---------------------------------------------------------------- AffineGrid
def _affine_size(n):
    theta = n.inputs[0]
    size = n.const_ints(1, "size")
    D = len(size) - 2
    if D not in (2, 3) or theta.rank != 3 or not sym.is_static(theta.shape[1]) or theta.shape[1] != D:
        raise n.unsupported(f"size {list(size)} with theta of rank {theta.rank}")
    if not all(sym.is_static(d) for d in size[2:]):
        raise n.unsupported("symbolic spatial size")
    return size, D


def _affine_infer(n):
    theta = n.inputs[0]
    if theta.dtype not in FLOATS:
        raise n.unsupported(f"dtype {theta.dtype}")
    size, D = _affine_size(n)
    return out([size[0]] + [int(d) for d in size[2:]] + [D], theta.dtype)


def _affine_lower(ctx, n):
    """grid[n, (d,) h, w] = theta[n] @ (x, y, (z,) 1): base coordinates in [-1, 1], pixel centres unless
    align_corners (x along the last axis)."""
    theta = ctx.tensor(n.inputs[0])
    size, D = _affine_size(n)
    dims = [int(d) for d in size[2:]]
    align = n.attr("align_corners", 0)
    dt = "float32" if theta.dtype in ("float16", "bfloat16") else theta.dtype

    def base(idx, d):
        i = cast(idx, dt)
        if align:
            return i * _f(2.0 / (d - 1), dt) - _f(1, dt) if d > 1 else _f(-1, dt)  # torch's linspace(-1, 1, 1)
        return (i * _f(2, dt) + _f(1, dt)) / _f(d, dt) - _f(1, dt)

    def body(i):
        coords = [base(i[1 + a], dims[a]) for a in reversed(range(D))]  # x, y(, z): the last spatial axis first
        row = i[-1]
        acc = cast(theta[[i[0], row, Const(D)]], dt)
        for j, cv in enumerate(coords):
            acc = acc + cast(theta[[i[0], row, Const(j)]], dt) * cv
        return acc

    return [Compute(n.name, n.out_types[0].shape, theta.dtype, body)]


register("AffineGrid", _affine_infer, _affine_lower)


# ---------------------------------------------------------------- DeformConv
def _deform_params(n):
    x, w, off = n.inputs[:3]
    if x.rank != 4 or w.rank != 4 or x.dtype not in FLOATS:
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}] (a float NCHW tensor; 2-D deformable convolution)")
    K = [int(d) for d in n.attr("kernel_shape", _static_dims(n, w.shape[2:], "kernel"))]
    s = list(n.attr("strides", [1, 1]))
    d = list(n.attr("dilations", [1, 1]))
    p = list(n.attr("pads", [0, 0, 0, 0]))
    g, og = int(n.attr("group", 1)), int(n.attr("offset_group", 1))
    C, OC = x.shape[1], w.shape[0]
    if not (sym.is_static(C) and sym.is_static(OC)) or C != w.shape[1] * g or OC % g or C % og:
        raise n.unsupported(f"channels {C} -> {OC} with group {g}, offset_group {og}")
    if not sym.is_static(off.shape[1]) or off.shape[1] != og * K[0] * K[1] * 2:
        raise n.unsupported(f"offset with {off.shape[1]} channels (offset_group * kH * kW * 2 = {og * K[0] * K[1] * 2})")
    oh = [(x.shape[2 + a] + p[a] + p[a + 2] - d[a] * (K[a] - 1) - 1) // s[a] + 1 for a in range(2)]
    return K, s, d, p, g, og, oh


def _deform_infer(n):
    x, w = n.inputs[:2]
    oh = _deform_params(n)[-1]
    return out([x.shape[0], w.shape[0]] + oh, x.dtype)


def _deform_lower(ctx, n):
    """onnx's reference: each tap reads X bilinearly at its offset position (taps outside the image count 0),
    times the mask (1 without one), summed over the group's input channels and the kernel."""
    x, w, off = (ctx.tensor(v) for v in n.inputs[:3])
    b = ctx.tensor(n.input(3)) if n.input(3) is not None else None
    mask = ctx.tensor(n.input(4)) if n.input(4) is not None else None
    K, s, d, p, g, og, _ = _deform_params(n)
    C, OC = int(n.inputs[0].shape[1]), int(n.inputs[1].shape[0])
    cpg, opg, cpog = C // g, OC // g, C // og
    H, W = x.shape[2], x.shape[3]
    dt = "float32" if x.dtype in ("float16", "bfloat16") else x.dtype

    def term(i, r):
        nb, o, oy, ox = i
        ci, kh, kw = r
        c = (o // Const(opg)) * Const(cpg) + ci
        ogi = c // Const(cpog)
        tap = (ogi * Const(K[0]) + kh) * Const(K[1]) + kw
        pos = []
        for a, (o_i, k_i) in enumerate(((oy, kh), (ox, kw))):
            base = cast(o_i * Const(s[a]) - Const(p[a]) + k_i * Const(d[a]), dt)
            pos.append(base + cast(off[[nb, tap * Const(2) + Const(a), oy, ox]], dt))
        y0f, x0f = call("floor", pos[0]), call("floor", pos[1])
        ly, lx = pos[0] - y0f, pos[1] - x0f
        y0, x0 = cast(y0f, "int64"), cast(x0f, "int64")
        acc = None
        for dy, wy in ((0, _f(1, dt) - ly), (1, ly)):
            for dx, wx in ((0, _f(1, dt) - lx), (1, lx)):
                yy, xx = y0 + Const(dy), x0 + Const(dx)
                inside = binop("&&", binop("&&", yy >= 0, yy < as_expr(H)), binop("&&", xx >= 0, xx < as_expr(W)))
                v = select(inside, cast(x[[nb, c, _clamp(yy, H), _clamp(xx, W)]], dt), _f(0, dt))
                acc = wy * wx * v if acc is None else acc + wy * wx * v
        val = cast(w[[o, ci, kh, kw]], dt) * acc
        if mask is not None:
            val = val * cast(mask[[nb, tap, oy, ox]], dt)
        return val

    post = (lambda acc, i: acc + cast(b[[i[1]]], dt)) if b is not None else None
    return [Compute(n.name, n.out_types[0].shape, x.dtype, term, Reduction([cpg, K[0], K[1]], "sum", 0.0, post=post))]


register("DeformConv", _deform_infer, _deform_lower, "reduce")


# ---------------------------------------------------------------- Crop (experimental, opsets 1-9)
def _crop_box(n):
    x = n.inputs[0]
    left, top, right, bottom = (list(n.attr("border", [])) + [0, 0, 0, 0])[:4]
    if x.rank != 4 or not (sym.is_static(x.shape[2]) and sym.is_static(x.shape[3])):
        raise n.unsupported("input must be NCHW with static H, W")
    H, W = int(x.shape[2]), int(x.shape[3])
    scale = n.attr("scale")
    h, w = (int(scale[0]), int(scale[1])) if scale else (H - top - bottom, W - left - right)
    if h <= 0 or w <= 0 or top + h > H or left + w > W:
        raise n.unsupported(f"border {n.attr('border')} scale {scale} for {H} x {W}")
    return top, left, h, w


def _crop_infer(n):
    _, _, h, w = _crop_box(n)
    return out(list(n.inputs[0].shape[:2]) + [h, w], n.inputs[0].dtype)


def _crop_lower(ctx, n):
    """border = [left, top, right, bottom]; with scale = [h, w] the crop is h x w from (top, left)."""
    x = ctx.tensor(n.inputs[0])
    top, left, _, _ = _crop_box(n)
    return [Compute(n.name, n.out_types[0].shape, x.dtype,
                    lambda i: x[[i[0], i[1], i[2] + Const(top), i[3] + Const(left)]])]


register("Crop", _crop_infer, _crop_lower)
