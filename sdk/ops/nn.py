"""Neural-network ops: MatMul, Gemm, Conv, pooling, BatchNormalization.

Float32 MatMul/Gemm and 1-D/2-D Conv become runtime library calls
(``runtime_c/src/sdk_kernels.c``), which are faster than a naive loop nest;
every other case lowers to a generic tir reduction, so nothing is
unsupported just because it is unusual.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import sym
from .. import kernels
from ..tir.expr import Buffer, Compute, Const, Reduction, as_expr, binop, call, cast, emax, emin, select
from .common import bcast_read, broadcast_shapes, out
from .reduce import _lowest, reduce_compute
from .registry import register
from ..ir.dtypes import FLOATS

F = FLOATS  # half types compute in float32 (sdk/ir/dtypes.py)


# ------------------------------------------------------------------ MatMul
def _matmul_shapes(a, b, name):
    sa, sb = list(a), list(b)
    if len(sa) == 1:
        sa = [1] + sa
    if len(sb) == 1:
        sb = sb + [1]
    if not sym.same_dim(sa[-1], sb[-2]):  # max(e, 0) is e (e, a dim, is never negative in a valid run)
        raise ShapeError(f"MatMul '{name}': inner dims differ: {[sym.to_str(d) for d in a]} x {[sym.to_str(d) for d in b]}")
    batch = broadcast_shapes([sa[:-2], sb[:-2]], f"MatMul '{name}'") if len(sa) > 2 or len(sb) > 2 else ()
    shape = list(batch) + [sa[-2], sb[-1]]
    if len(a) == 1:
        shape.pop(-2)
    if len(b) == 1:
        shape.pop(-1)
    return sa, sb, list(batch), shape


def _logical(v, trans, view=None):
    """An operand's shape as the product sees it: stored with its last two axes swapped when ``trans`` (the
    internal transA/transB attributes of transform/fold_transpose.py); ``view``: the operand is a strided view of
    ``v`` (transform/matmul_views.py: (shape, offset, strides)), stored with the view's shape."""
    s = list(view[0]) if view is not None else list(v.shape)
    return s[:-2] + [s[-1], s[-2]] if trans and len(s) >= 2 else s


def _matmul_infer(n):
    a, b = n.inputs
    sa, sb = _logical(a, n.attr("transA", 0), n.attr("a_view")), _logical(b, n.attr("transB", 0), n.attr("b_view"))
    return out(_matmul_shapes(sa, sb, n.name)[3], a.dtype)


def _operand(ctx, v, view, trans, batch):
    """(buffer, batch stride, row stride, column stride) of a product operand read through a strided view
    (transform/matmul_views.py), its logical matrix transposed when ``trans``."""
    from ..transform.matmul_views import batch_stride
    shape, off, st = view
    src = ctx.buffer(v)
    buf = Buffer(ctx._uniq("v_" + v.name), tuple(shape), v.dtype)  # the operand's elements live in src's memory
    ctx.prog.alias[id(buf)] = src
    if off:
        ctx.prog.alias_offset[id(buf)] = off
    ctx.prog.views.append(buf)
    rs, cs = st[-2], st[-1]
    return buf, batch_stride(list(shape), list(st), batch), cs if trans else rs, rs if trans else cs


def _batch_stride(shape, batch):
    """Stride between consecutive batches of a [*, M, K] operand, or None if broadcasting is partial."""
    lead = shape[:-2]
    if not lead or all(d == 1 for d in lead):
        return 0
    if len(lead) == len(batch) and all(sym.sub(x, y) == 0 for x, y in zip(lead, batch)):
        return sym.mul(shape[-2], shape[-1])
    return None


def _matmul_lower(ctx, n):
    a, b = n.inputs
    ta, tb = bool(n.attr("transA", 0)) and a.rank >= 2, bool(n.attr("transB", 0)) and b.rank >= 2
    va, vb = n.attr("a_view"), n.attr("b_view")
    sa, sb, batch, shape = _matmul_shapes(_logical(a, ta, va), _logical(b, tb, vb), n.name)
    if va is not None or vb is not None:  # operands read in place through strides (transform/matmul_views.py)
        K, N = sa[-1], sb[-1]
        A, bsa, a_rs, a_cs = (_operand(ctx, a, va, ta, batch) if va is not None else
                              (ctx.buffer(a), _batch_stride(sa, batch), 1 if ta else K, sa[-2] if ta else 1))
        B, bsb, b_rs, b_cs = (_operand(ctx, b, vb, tb, batch) if vb is not None else
                              (ctx.buffer(b), _batch_stride(sb, batch), 1 if tb else N, K if tb else 1))
        Y = ctx.new_buffer(n.name, shape, "float32")
        nb, M = 1, sa[-2]
        for d in batch:
            nb *= d
        if bsb == 0 and bsa and not ta and (M == 1 or bsa == M * a_rs):  # one weight: the batches are rows of A
            M, nb, bsa, a_rs = nb * M, 1, 0, a_rs if M > 1 else bsa
        ctx.lib(kernels.call("sdk_gemm_f32", batch=nb, M=M, N=N, K=K, alpha=n.attr("alpha", 1.0),
                             A=A, a_bs=bsa, a_rs=a_rs, a_cs=a_cs, B=B, b_bs=bsb, b_rs=b_rs, b_cs=b_cs, Y=Y))
        return [Y]
    if a.dtype == "float32":
        bsa, bsb = _batch_stride(sa, batch), _batch_stride(sb, batch)
        if n.attr("b_cap") is not None and bsb is not None:
            # B is a key/value cache stored with room for b_cap rows per batch matrix (sdk/transform/kv_cache.py):
            # its matrices sit b_cap stored rows apart (stored rows: N with transB, else K)
            bsb = sym.mul(int(n.attr("b_cap")), b.shape[-1])
        if bsa is not None and bsb is not None:
            A, B = ctx.buffer(a), ctx.buffer(b)
            Y = ctx.new_buffer(n.name, shape, "float32")
            nb = 1
            for d in batch:
                nb = sym.mul(nb, d)
            M, K, N = sa[-2], sa[-1], sb[-1]
            if bsb == 0 and bsa != 0 and not ta:  # (a transposed A's rows are not one strided matrix)
                # B is one matrix (a weight): the batch-like leading dims of A are rows of one GEMM
                # ([197, B, 384] x [384, 1152] is one (197*B) x 384 GEMM, not 197 GEMMs of B rows)
                M, nb, bsa = sym.mul(nb, M), 1, 0
            # a transposed operand (transA/transB) is read through swapped strides: A stored [K, M], B [N, K]
            ctx.lib(kernels.call("sdk_gemm_f32", batch=nb, M=M, N=N, K=K, alpha=n.attr("alpha", 1.0),
                                 A=A, a_bs=bsa, a_rs=1 if ta else K, a_cs=M if ta else 1,
                                 B=B, b_bs=bsb, b_rs=1 if tb else N, b_cs=K if tb else 1, Y=Y))
            return [Y]
    A, B = ctx.tensor(a), ctx.tensor(b)
    r = len(batch)

    def fn(i, k):
        bi = list(i[:r])
        ia = [] if len(a.shape) == 1 else [i[r]]
        jb = [] if len(b.shape) == 1 else [i[-1]]
        av = (A[_bcast_batch(bi, a.shape[:-2], batch) + ([k[0]] + ia if ta else ia + [k[0]])]
              if len(a.shape) > 1 else A[[k[0]]])
        bv = (B[_bcast_batch(bi, b.shape[:-2], batch) + (jb + [k[0]] if tb else [k[0]] + jb)]
              if len(b.shape) > 1 else B[[k[0]]])
        return av * bv

    alpha = n.attr("alpha")  # set by transform/fold_scale.py
    post = (lambda acc, i: acc * Const(float(alpha), a.dtype)) if alpha is not None else None
    return [Compute(n.name, tuple(shape), a.dtype, fn, Reduction([sa[-1]], "sum", 0, post))]


def _bcast_batch(bi, lead, batch):
    off = len(batch) - len(lead)
    return [Const(0) if d == 1 and batch[off + k] != 1 else bi[off + k] for k, d in enumerate(lead)]


register("MatMul", _matmul_infer, _matmul_lower, "opaque")


# ------------------------------------------------------------------ Gemm
def _gemm_dims(n):
    a, b = n.inputs[0], n.inputs[1]
    M, K = (a.shape[1], a.shape[0]) if n.attr("transA", 0) else a.shape
    K2, N = (b.shape[1], b.shape[0]) if n.attr("transB", 0) else b.shape
    if sym.sub(K, K2) != 0:
        raise ShapeError(f"Gemm '{n.name}': inner dims differ ({sym.to_str(K)} vs {sym.to_str(K2)})")
    return M, N, K


def _gemm_lower(ctx, n):
    a, b = n.inputs[0], n.inputs[1]
    c = n.input(2)
    M, N, K = _gemm_dims(n)
    ta, tb = n.attr("transA", 0), n.attr("transB", 0)
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    if a.dtype == "float32" and (c is None or len(c.shape) <= 2):
        A = ctx.buffer(a)
        if tb and b.const is not None:  # weights: store pre-transposed so the kernel streams rows
            B, tb = ctx.const(np.ascontiguousarray(b.const.T), b.name + "_T"), 0
        else:
            B = ctx.buffer(b)
        Y = ctx.new_buffer(n.name, (M, N), "float32")
        if c is not None and beta != 0.0:
            C = ctx.buffer(c)
            cs = list(c.shape)
            cs = [1] * (2 - len(cs)) + cs
            crs = 0 if cs[0] == 1 else cs[1]
            ccs = 0 if cs[1] == 1 else 1
        else:
            C, crs, ccs, beta = None, 0, 0, 0.0
        ctx.lib(kernels.call("sdk_gemm_f32", batch=1, M=M, N=N, K=K, alpha=alpha,
                             A=A, a_bs=0, a_rs=1 if ta else K, a_cs=M if ta else 1,
                             B=B, b_bs=0, b_rs=1 if tb else N, b_cs=K if tb else 1, beta=beta, C=C, c_rs=crs, c_cs=ccs,
                             Y=Y))
        return [Y]
    A, B = ctx.tensor(a), ctx.tensor(b)
    dt = a.dtype

    def fn(i, k):
        av = A[[k[0], i[0]]] if ta else A[[i[0], k[0]]]
        bv = B[[i[1], k[0]]] if tb else B[[k[0], i[1]]]
        return av * bv

    Cb = ctx.tensor(c) if c is not None else None

    def post(acc, i):
        y = acc * Const(alpha, dt) if alpha != 1.0 else acc
        if Cb is not None and beta != 0.0:
            y = y + Const(beta, dt) * bcast_read(Cb, (M, N), i)
        return y

    return [Compute(n.name, (M, N), dt, fn, Reduction([K], "sum", 0, post))]


register("Gemm", lambda n: out(_gemm_dims(n)[:2], n.inputs[0].dtype), _gemm_lower, "opaque")


# ------------------------------------------------------------------ Conv
def _ints(v, k, default):
    return list(v) if v else [default] * k


def conv_geometry(n, x_shape, kernel, ceil_mode=0):
    """(out spatial dims, pads_begin, strides, dilations) for Conv/pooling."""
    k = len(kernel)
    strides = _ints(n.attr("strides"), k, 1)
    dil = _ints(n.attr("dilations"), k, 1)
    pads = _ints(n.attr("pads"), 2 * k, 0)
    auto = n.attr("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if len(strides) < k or len(dil) < k or len(pads) < 2 * k or min(strides + dil) < 1 or min(pads) < 0:
        raise ShapeError(f"{n.op_type} '{n.name}': strides {strides}, dilations {dil} must be >= 1 and pads {pads} "
                         f">= 0, one per spatial axis")  # found by bench/fuzz.py (ZeroDivisionError)
    spatial = x_shape[2:]
    outs, begin = [], []
    for a in range(k):
        d, kk, s, dl = spatial[a], kernel[a], strides[a], dil[a]
        ek = (kk - 1) * dl + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            if sym.is_static(d):
                o = -(-d // s)
                total = max((o - 1) * s + ek - d, 0)
            elif s == 1:  # output length = input length: the padding is the kernel's extent less one, any d
                o, total = d, ek - 1
            else:  # the padding depends on d mod stride
                raise n.unsupported(f"auto_pad {auto} with stride {s} on a symbolic spatial dim")
            b = total // 2 if auto == "SAME_UPPER" else total - total // 2
            outs.append(o)
            begin.append(b)
            continue
        if auto == "VALID":
            pads[a], pads[a + k] = 0, 0
        num = sym.sub(sym.add(d, pads[a] + pads[a + k]), ek)
        if ceil_mode:
            o = sym.add(sym.floordiv(sym.add(num, s - 1), s), 1)
            if sym.is_static(o) and (o - 1) * s >= d + pads[a]:
                o -= 1  # the last window must start inside the input or left pad
        else:
            o = sym.add(sym.floordiv(num, s), 1)
        outs.append(o)
        begin.append(pads[a])
    return outs, begin, strides, dil


def _differ(a, b) -> bool:
    """Both dims known and different (a symbolic one is checked by the dims binding at run time)."""
    return sym.is_static(a) and sym.is_static(b) and int(a) != int(b)


def check_conv_weight(n, x, w, transposed=False):
    """Shared by the convolutions (Conv, ConvTranspose, ConvInteger, QLinearConv): ranks, group, channel counts
    and kernel_shape that fit the weight, or one ShapeError naming the node."""
    groups = n.attr("group", 1)
    if x.rank < 3 or w.rank != x.rank:
        raise ShapeError(f"{n.op_type} '{n.name}': input rank {x.rank} and weight rank {w.rank} must be equal and >= 3")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ShapeError(f"{n.op_type} '{n.name}': group {groups!r} must be an integer >= 1")
    if _differ(x.shape[1], w.shape[0] if transposed else sym.mul(w.shape[1], groups)):
        raise ShapeError(f"{n.op_type} '{n.name}': input channels {sym.to_str(x.shape[1])} do not fit the weight "
                         f"[{', '.join(sym.to_str(d) for d in w.shape)}] with group {groups}")
    if sym.is_static(x.shape[1]) and x.shape[1] % groups:
        raise ShapeError(f"{n.op_type} '{n.name}': group {groups} does not divide {x.shape[1]} input channels")
    kernel = n.attr("kernel_shape")
    if kernel is not None and (len(kernel) != x.rank - 2 or any(_differ(a, b) for a, b in zip(kernel, w.shape[2:]))):
        raise ShapeError(f"{n.op_type} '{n.name}': kernel_shape {list(kernel)} differs from the weight's "
                         f"[{', '.join(sym.to_str(d) for d in w.shape[2:])}]")
    if not transposed and sym.is_static(w.shape[0]) and w.shape[0] % groups:
        raise ShapeError(f"{n.op_type} '{n.name}': group {groups} does not divide {w.shape[0]} output channels")


def _conv_infer(n):
    x, w = n.inputs[0], n.inputs[1]
    check_conv_weight(n, x, w)
    outs, _, _, _ = conv_geometry(n, x.shape, list(w.shape[2:]))
    return out([x.shape[0], w.shape[0]] + outs, x.dtype)


def _conv_lower(ctx, n):
    x, w = n.inputs[0], n.inputs[1]
    bias = n.input(2)
    kernel = list(w.shape[2:])
    outs, begin, strides, dil = conv_geometry(n, x.shape, kernel)
    groups = n.attr("group", 1)
    k = len(kernel)
    shape = [x.shape[0], w.shape[0]] + outs
    if x.dtype == "float32" and k in (1, 2) and all(sym.is_static(d) for d in kernel):
        X, W = ctx.buffer(x), ctx.buffer(w)
        B = ctx.buffer(bias) if bias is not None else None
        Y = ctx.new_buffer(n.name, shape, "float32")
        sp = lambda v, dflt: v if k == 2 else [dflt] + v  # noqa: E731  (1-D as 2-D with H=1)
        H, W_ = sp(list(x.shape[2:]), 1)
        OH, OW = sp(outs, 1)
        KH, KW = sp(kernel, 1)
        SH, SW = sp(strides, 1)
        DH, DW = sp(dil, 1)
        PH, PW = sp(begin, 0)
        geometry = dict(N=x.shape[0], C=x.shape[1], H=H, W=W_, M=w.shape[0], OH=OH, OW=OW, KH=KH, KW=KW, SH=SH,
                        SW=SW, PH=PH, PW=PW, DH=DH, DW=DW)
        if groups > 1 and sym.sub(x.shape[1], groups) == 0 and ctx.options.get("depthwise_kernel", True):
            # depthwise: its own kernel (a GEMM per channel would have M = 1, K = KH*KW); scratch for a padded plane
            Hp = sym.add(sym.mul(sym.sub(OH, 1), SH), (KH - 1) * DH + 1)
            Wp = sym.add(sym.mul(sym.sub(OW, 1), SW), (KW - 1) * DW + 1)
            # narrow planes (OW < 32) also get room for the one-long-row form of the kernel
            narrow = not sym.is_static(OW) or OW < 32
            # stride 2 stores each padded row split by column parity: up to Wp + 1 floats a row
            floats = sym.mul(sym.add(Hp, OH), Wp) if narrow else sym.mul(Hp, sym.add(Wp, 1))
            pad = ctx.new_buffer(n.name + "_pad", (floats,), "float32")
            ctx.lib(kernels.call("sdk_dwconv2d_f32", **geometry, X=X, Wt=W, bias=B, Y=Y, pad=pad,
                                 pad_floats=floats))
            return [Y]
        ctx.lib(kernels.call("sdk_conv2d_f32", **geometry, groups=groups, X=X, Wt=W, bias=B, Y=Y))
        return [Y]
    X, Wt = ctx.tensor(x), ctx.tensor(w)
    Bt = ctx.tensor(bias) if bias is not None else None
    cin_g = w.shape[1]
    cout_g = sym.floordiv(w.shape[0], groups)
    spatial = x.shape[2:]
    dt = x.dtype

    def fn(i, r):
        g = i[1] // as_expr(cout_g)
        c = g * as_expr(cin_g) + r[0]
        pos, inside = [], None
        for a in range(k):
            p = i[2 + a] * strides[a] - begin[a] + r[1 + a] * dil[a]
            ok = binop("&&", p >= 0, p < as_expr(spatial[a]))
            inside = ok if inside is None else binop("&&", inside, ok)
            pos.append(emin(emax(p, 0), as_expr(spatial[a]) - 1))
        v = X[[i[0], c] + pos] * Wt[[i[1], r[0]] + list(r[1:])]
        return select(inside, v, Const(0, dt))

    post = (lambda acc, i: acc + Bt[[i[1]]]) if Bt is not None else None
    return [Compute(n.name, tuple(shape), dt, fn, Reduction([cin_g] + kernel, "sum", 0, post))]


register("Conv", _conv_infer, _conv_lower, "opaque")


# ------------------------------------------------------------------ ConvNHWC (made by sdk/transform/layout.py)
# A 2-D Conv on channels-last tensors: X [N, H, W, C] -> Y [N, OH, OW, M], the weight and attributes as ONNX Conv's.
# Three forms, the ones the layout pass converts: a depthwise convolution (group = C = M), a pointwise one (1x1,
# stride 1, no padding, group 1), which is one GEMM [N*H*W, C] x [C, M] with the bias as its C operand, a stem
# (group 1, C * KH * KW <= 64 taps: a network's first layer), which reads an NCHW input (attribute nchw_input = 1),
# and a patch convolution (group 1, kernel = stride, no padding: ConvNeXt's 2x2 stride-2 downsampling, a ViT's patch
# embedding), whose non-overlapping patches are copied channels-last into rows [N*OH*OW, KH*KW*C] for one GEMM.
STEM_TAPS = 64  # runtime_c SDK_STEM_TAPS


def conv_nhwc_form(n, x_nchw_shape, w):
    """"dw", "pw", "stem", "patch" or None: which ConvNHWC form a Conv node (NCHW input shape, weight Value) has."""
    kernel = list(w.shape[2:])
    if (len(x_nchw_shape) != 4 or len(kernel) != 2 or w.const is None or not all(sym.is_static(d) for d in kernel)
            or n.attr("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET")):
        return None
    _, _, strides, dil = conv_geometry(n, x_nchw_shape, kernel)
    groups, C, M = n.attr("group", 1), x_nchw_shape[1], w.shape[0]
    if groups > 1 and sym.is_static(C) and groups == C == M and w.shape[1] == 1:
        return "dw"
    pads = n.attr("pads") or [0, 0, 0, 0]
    if groups == 1 and kernel == [1, 1] and list(strides) == [1, 1] and not any(pads):
        return "pw"
    if groups == 1 and sym.is_static(C) and C * kernel[0] * kernel[1] <= STEM_TAPS and kernel != [1, 1]:
        return "stem"
    if (groups == 1 and list(strides) == kernel and list(dil) == [1, 1] and not any(pads) and kernel != [1, 1]
            and sym.is_static(C)):
        return "patch"
    return None


def _nchw(shape):
    return [shape[0], shape[3], shape[1], shape[2]]


def _x_nchw(n):
    x = n.inputs[0]
    return list(x.shape) if n.attr("nchw_input", 0) else _nchw(x.shape)


def _conv_nhwc_infer(n):
    x, w = n.inputs[0], n.inputs[1]
    outs, _, _, _ = conv_geometry(n, _x_nchw(n), list(w.shape[2:]))
    return out([x.shape[0]] + outs + [w.shape[0]], x.dtype)


def _conv_nhwc_lower(ctx, n):
    x, w = n.inputs[0], n.inputs[1]
    bias = n.input(2)
    form = conv_nhwc_form(n, _x_nchw(n), w)
    kernel = list(w.shape[2:])
    outs, begin, strides, dil = conv_geometry(n, _x_nchw(n), kernel)
    N, C, H, W_ = _x_nchw(n)
    M = w.shape[0]
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, [N] + outs + [M], "float32")
    Wc = w.const.astype(np.float32)
    if form == "pw":  # Y[N*H*W, M] = X[N*H*W, C] W^T + bias
        Bt = ctx.const(np.ascontiguousarray(Wc.reshape(M, -1).T), w.name + "_nhwc")
        scale = n.input(3)
        if scale is not None:  # Y = (X * s) W^T + bias as X (s W^T): the [C, M] weight scaled per run, X read once
            S, s_rank = ctx.buffer(scale), scale.rank
            Bt = ctx.materialize(Compute(n.name + "_scaled_w", (C, M), "float32",
                                         lambda i: Bt[[i[0], i[1]]] * S[[Const(0)] * (s_rank - 1) + [i[0]]]))
        rows = sym.mul(sym.mul(N, H), W_)
        args = {}
        if bias is not None:
            args = dict(beta=1.0, C=ctx.buffer(bias), c_rs=0, c_cs=1)
        ctx.lib(kernels.call("sdk_gemm_f32", batch=1, M=rows, N=M, K=C, alpha=1.0, A=X, a_bs=0, a_rs=C, a_cs=1,
                             B=Bt, b_bs=0, b_rs=M, b_cs=1, Y=Y, **args))
        return [Y]
    if form == "dw":
        Wt = ctx.const(np.ascontiguousarray(Wc.reshape(M, -1).T), w.name + "_nhwc")  # [KH*KW, C]
        ctx.lib(kernels.call("sdk_dwconv2d_nhwc_f32", N=N, H=H, W=W_, C=C, OH=outs[0], OW=outs[1], KH=kernel[0],
                             KW=kernel[1], SH=strides[0], SW=strides[1], PH=begin[0], PW=begin[1], DH=dil[0],
                             DW=dil[1], X=X, Wt=Wt, bias=ctx.buffer(bias) if bias is not None else None, Y=Y))
        return [Y]
    if form == "stem" and n.attr("nchw_input", 0):
        Wt = ctx.const(np.ascontiguousarray(Wc.reshape(M, -1).T), w.name + "_nhwc")  # [C*KH*KW, M]
        ctx.lib(kernels.call("sdk_conv2d_stem_nhwc_f32", N=N, C=C, H=H, W=W_, M=M, OH=outs[0], OW=outs[1],
                             KH=kernel[0], KW=kernel[1], SH=strides[0], SW=strides[1], PH=begin[0], PW=begin[1],
                             DH=dil[0], DW=dil[1], X=X, Wt=Wt, bias=ctx.buffer(bias) if bias is not None else None,
                             Y=Y))
        return [Y]
    if form == "patch":  # non-overlapping KH x KW patches: each a contiguous row of a copy, then one GEMM
        KH, KW = kernel
        P = ctx.materialize(Compute(n.name + "_patches", (N, outs[0], outs[1], KH, KW, C), "float32",
                                    lambda i: X[[i[0], i[1] * KH + i[3], i[2] * KW + i[4], i[5]]]))
        Bt = ctx.const(np.ascontiguousarray(Wc.transpose(2, 3, 1, 0).reshape(KH * KW * C, M)), w.name + "_nhwc")
        args = {}
        if bias is not None:
            args = dict(beta=1.0, C=ctx.buffer(bias), c_rs=0, c_cs=1)
        K = KH * KW * C
        ctx.lib(kernels.call("sdk_gemm_f32", batch=1, M=sym.mul(sym.mul(N, outs[0]), outs[1]), N=M, K=K, alpha=1.0,
                             A=P, a_bs=0, a_rs=K, a_cs=1, B=Bt, b_bs=0, b_rs=M, b_cs=1, Y=Y, **args))
        return [Y]
    raise n.unsupported("ConvNHWC of a form other than depthwise, pointwise, stem or patch")


register("ConvNHWC", _conv_nhwc_infer, _conv_nhwc_lower, "opaque")


# GlobalAveragePool of an NHWC tensor [N, H, W, C] (the layout pass's): the NCHW result [N, C, 1, 1], whose storage
# equals [N, 1, 1, C], summed pixel after pixel along contiguous channels (sdk_gap_nhwc_f32)
def _gap_nhwc_infer(n):
    x = n.inputs[0]
    return out([x.shape[0], x.shape[3], 1, 1], x.dtype)


def _gap_nhwc_lower(ctx, n):
    x = n.inputs[0]
    N, H, W_, C = x.shape
    Y = ctx.new_buffer(n.name, [N, C, 1, 1], "float32")
    ctx.lib(kernels.call("sdk_gap_nhwc_f32", N=N, HW=sym.mul(H, W_), C=C, X=ctx.buffer(x), Y=Y))
    return [Y]


register("GlobalAveragePoolNHWC", _gap_nhwc_infer, _gap_nhwc_lower, "opaque")


# ------------------------------------------------------------------ pooling
def _pool_infer(n):
    x = n.inputs[0]
    outs, _, _, _ = conv_geometry(n, x.shape, n.attr("kernel_shape"), n.attr("ceil_mode", 0))
    res = [out(list(x.shape[:2]) + outs, x.dtype)[0]]
    if n.n_outputs > 1:  # MaxPool's Indices
        res.append(out(list(x.shape[:2]) + outs, "int64")[0])
    return res


def _pool_lower(ctx, n):
    kernel = n.attr("kernel_shape")
    k = len(kernel)
    outs, begin, strides, dil = conv_geometry(n, n.inputs[0].shape, kernel, n.attr("ceil_mode", 0))
    shape = tuple(list(n.inputs[0].shape[:2]) + outs)
    if n.inputs[0].dtype == "float32" and k in (1, 2):
        X = ctx.buffer(n.inputs[0])
        Y = ctx.new_buffer(n.name, shape, "float32")
        sp = lambda v, dflt: list(v) if k == 2 else [dflt] + list(v)  # noqa: E731  (1-D as 2-D with H=1)
        pads = _ints(n.attr("pads"), 2 * k, 0)
        ends = sp(pads[k:], 0)
        mode = 0 if n.op_type == "MaxPool" else (2 if n.attr("count_include_pad", 0) else 1)
        (H, W), (OH, OW), (KH, KW) = sp(X.shape[2:], 1), sp(outs, 1), sp(kernel, 1)
        (SH, SW), (PH, PW), (DH, DW) = sp(strides, 1), sp(begin, 0), sp(dil, 1)
        ctx.lib(kernels.call("sdk_pool2d_f32", N=X.shape[0], C=X.shape[1], H=H, W=W, OH=OH, OW=OW, KH=KH, KW=KW,
                             SH=SH, SW=SW, PH=PH, PW=PW, DH=DH, DW=DW, PH_END=ends[0], PW_END=ends[1], mode=mode,
                             X=X, Y=Y))
        return [Y]
    x = ctx.tensor(n.inputs[0])
    spatial = x.shape[2:]
    dt = x.dtype
    is_max = n.op_type == "MaxPool"
    pads = _ints(n.attr("pads"), 2 * k, 0)

    def taps(i, r, lo_ext=None):
        pos, inside = [], None
        for a in range(k):
            p = i[2 + a] * strides[a] - begin[a] + r[a] * dil[a]
            lo, hi = (0, as_expr(spatial[a])) if lo_ext is None else (-pads[a], as_expr(spatial[a]) + pads[a + k])
            ok = binop("&&", p >= lo, p < hi)
            inside = ok if inside is None else binop("&&", inside, ok)
            pos.append(emin(emax(p, 0), as_expr(spatial[a]) - 1))
        return pos, inside

    if is_max:
        def fn(i, r):
            pos, inside = taps(i, r)
            return select(inside, x[list(i[:2]) + pos], Const(_lowest(dt), dt))
        return [Compute(n.name, shape, dt, fn, Reduction(kernel, "max", _lowest(dt)))]

    include_pad = n.attr("count_include_pad", 0)

    def count_fn(i, r):
        _, inside = taps(i, r, lo_ext=True if include_pad else None)
        return select(inside, Const(1.0, dt), Const(0.0, dt))

    cnt = ctx.materialize(Compute(n.name + "_count", shape, dt, count_fn, Reduction(kernel, "sum", 0)))

    def fn(i, r):
        pos, inside = taps(i, r)
        return select(inside, x[list(i[:2]) + pos], Const(0.0, dt))

    return [Compute(n.name, shape, dt, fn, Reduction(kernel, "sum", 0, lambda acc, i: acc / cnt[i]))]


def _pool_checked(n):
    if n.inputs[0].dtype not in F and not (n.op_type == "MaxPool" and n.inputs[0].dtype in ("int8", "uint8")):
        raise n.unsupported(f"dtype {n.inputs[0].dtype}")
    return _pool_infer(n)


def _maxpool_lower(ctx, n):
    """Library call or generic loops for the values; with Indices (or 8-bit ints), generic loops: the max, then
    the first window position reaching it, as a flat index into the input (storage_order 1: column-major)."""
    x = n.inputs[0]
    if n.n_outputs == 1 and x.dtype in F:
        return _pool_lower(ctx, n)
    X = ctx.tensor(x)
    kernel = n.attr("kernel_shape")
    k = len(kernel)
    outs, begin, strides, dil = conv_geometry(n, x.shape, kernel, n.attr("ceil_mode", 0))
    shape = tuple(list(x.shape[:2]) + outs)
    spatial = x.shape[2:]
    dt = x.dtype

    def taps(i, r):
        pos, inside = [], None
        for a in range(k):
            p = i[2 + a] * strides[a] - begin[a] + r[a] * dil[a]
            ok = binop("&&", p >= 0, p < as_expr(spatial[a]))
            inside = ok if inside is None else binop("&&", inside, ok)
            pos.append(emin(emax(p, 0), as_expr(spatial[a]) - 1))
        return pos, inside

    def val(i, r):
        pos, inside = taps(i, r)
        return select(inside, X[list(i[:2]) + pos], Const(_lowest(dt), dt))

    Y = ctx.materialize(Compute(n.name, shape, dt, val, Reduction(kernel, "max", _lowest(dt))))
    if n.n_outputs == 1:
        return [Y]
    col = n.attr("storage_order", 0)

    def flat(i, pos):
        if not col:
            f = i[0] * as_expr(x.shape[1]) + i[1]
            for p, d in zip(pos, spatial):
                f = f * as_expr(d) + p
            return f
        f = pos[-1]
        for p, d in zip(reversed(pos[:-1]), reversed(spatial[:-1])):
            f = f * as_expr(d) + p
        plane = 1
        for d in spatial:
            plane = sym.mul(plane, d)
        return f + (i[0] * as_expr(x.shape[1]) + i[1]) * as_expr(plane)

    def idx(i, r):
        pos, inside = taps(i, r)
        hit = binop("&&", inside, binop("==", X[list(i[:2]) + pos], Y[i]))
        return select(hit, flat(i, pos), Const(2 ** 62))

    return [Y, Compute(n.name + "_indices", shape, "int64", idx, Reduction(kernel, "min", 2 ** 62))]


register("MaxPool", _pool_checked, _maxpool_lower, "opaque")
register("AveragePool", _pool_checked, _pool_lower, "opaque")


def _global_pool(kind):
    def infer(n):
        x = n.inputs[0]
        return out(list(x.shape[:2]) + [1] * (x.rank - 2), x.dtype)

    def lower(ctx, n):
        x = ctx.tensor(n.inputs[0])
        axes = list(range(2, len(x.shape)))
        if kind == "max":
            return [reduce_compute(n.name, x, axes, True, "max", _lowest(x.dtype))]
        count = 1
        for a in axes:
            count = sym.mul(count, x.shape[a])
        return [reduce_compute(n.name, x, axes, True, "sum", 0,
                               post=lambda acc, i: acc / cast(as_expr(count), x.dtype))]

    return infer, lower


register("GlobalAveragePool", *_global_pool("avg"), "reduce")
register("GlobalMaxPool", *_global_pool("max"), "reduce")


# ------------------------------------------------------------------ BatchNormalization
def _bn_lower(ctx, n):
    x = ctx.tensor(n.inputs[0])
    scale, b, mean, var = n.inputs[1:5]
    eps = float(n.attr("epsilon", 1e-5))
    dt = x.dtype
    if all(v.const is not None for v in (scale, b, mean, var)):
        # fold to y = x * a[c] + c0[c] at compile time
        a = (scale.const / np.sqrt(var.const.astype(np.float64) + eps)).astype(dt)
        c0 = (b.const - mean.const * a).astype(dt)
        A, C0 = ctx.const(a, n.name + "_a"), ctx.const(c0, n.name + "_b")
        return [Compute(n.name, x.shape, dt, lambda i: x[i] * A[[i[1]]] + C0[[i[1]]])]
    S, B, M, V = (ctx.tensor(v) for v in (scale, b, mean, var))
    return [Compute(n.name, x.shape, dt, lambda i: (x[i] - M[[i[1]]]) * S[[i[1]]] / call(
        "sqrt", V[[i[1]]] + Const(eps, dt)) + B[[i[1]]])]


def _bn_infer(n):
    x = n.inputs[0]
    if n.opset < 9 and n.attr("spatial", 1) == 0:  # opsets 7-8: statistics per activation, [C, D1, ...]
        raise n.unsupported("spatial=0 (statistics per activation, opsets 1-8)")
    return [out(x.shape, x.dtype)[0]] + [out((x.shape[1],), x.dtype)[0]] * (n.n_outputs - 1)


def _bn_train_lower(ctx, n):
    """training_mode=1: normalise with the batch statistics (population variance); the running mean/var
    outputs are mean * momentum + batch value * (1 - momentum), as onnx's reference."""
    x = ctx.tensor(n.inputs[0])
    S, B, M, V = (ctx.tensor(v) for v in n.inputs[1:5])
    dt = x.dtype
    axes = [a for a in range(len(x.shape)) if a != 1]
    count = 1
    for a in axes:
        count = sym.mul(count, x.shape[a])
    cnt = cast(as_expr(count), dt)
    mean = ctx.materialize(reduce_compute(n.name + "_mean", x, axes, False, "sum", 0, post=lambda acc, i: acc / cnt))
    var = ctx.materialize(reduce_compute(n.name + "_var", x, axes, False, "sum", 0,
                                         term=lambda v, j: (v - mean[[j[1]]]) * (v - mean[[j[1]]]),
                                         post=lambda acc, i: acc / cnt))
    eps, mom = Const(float(n.attr("epsilon", 1e-5)), dt), Const(float(n.attr("momentum", 0.9)), dt)
    outs = [Compute(n.name, x.shape, dt, lambda i: S[[i[1]]] * (x[i] - mean[[i[1]]]) / call(
        "sqrt", var[[i[1]]] + eps) + B[[i[1]]])]
    C = (x.shape[1],)
    if n.n_outputs > 1:
        outs.append(Compute(n.name + "_rmean", C, dt, lambda i: M[i] * mom + mean[i] * (Const(1.0, dt) - mom)))
    if n.n_outputs > 2:
        outs.append(Compute(n.name + "_rvar", C, dt, lambda i: V[i] * mom + var[i] * (Const(1.0, dt) - mom)))
    if n.n_outputs > 3:  # opsets 7-13: saved_mean, saved_var (the batch's mean and 1 / sqrt(var + eps), onnxruntime's)
        outs.append(Compute(n.name + "_smean", C, dt, lambda i: mean[i]))
    if n.n_outputs > 4:
        outs.append(Compute(n.name + "_sinvstd", C, dt, lambda i: Const(1.0, dt) / call("sqrt", var[i] + eps)))
    return outs


def _bn_any_lower(ctx, n):
    """Training mode (batch statistics) where opset 14's training_mode says so, or where a node of opsets 7-13 has
    the training outputs (its mode is its output count: onnxruntime normalises such a node with the batch's
    statistics, even when only Y is used)."""
    train = n.attr("training_mode", 0) if n.opset >= 14 else n.n_outputs > 1
    return _bn_train_lower(ctx, n) if train else _bn_lower(ctx, n)


register("BatchNormalization", _bn_infer, _bn_any_lower, "injective")



# ------------------------------------------------------------------ ConvTranspose
def _convt_geometry(n):
    """(output spatial dims, pads at the start, strides, dilations, kernel) as onnx's reference."""
    x, w = n.inputs[0], n.inputs[1]
    k = x.rank - 2
    kernel = list(n.attr("kernel_shape") or w.shape[2:])
    strides = _ints(n.attr("strides"), k, 1)
    dil = _ints(n.attr("dilations"), k, 1)
    opad = list(n.attr("output_padding") or [0] * k)
    auto = n.attr("auto_pad", "NOTSET")
    pads = n.attr("pads")
    oshape = n.attr("output_shape")
    spatial = list(x.shape[2:])
    if pads is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        if oshape is not None and not all(sym.is_static(d) for d in spatial):
            raise n.unsupported("auto_pad SAME and output_shape with a symbolic spatial dim")
        # without output_shape the output is input * stride and the padding is the same for every length
        oshape = list(oshape) if oshape is not None else [sym.mul(d, s) for d, s in zip(spatial, strides)]
        begin = []
        for a in range(k):
            ek = (kernel[a] - 1) * dil[a] + 1
            total = (opad[a] + ek - strides[a] if not sym.is_static(spatial[a]) else
                     strides[a] * (spatial[a] - 1) + opad[a] + ek - oshape[a])
            begin.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
        return oshape, begin, strides, dil, kernel
    if oshape is not None:
        # output_shape given: pads are ignored, the total padding is what makes the full output that long;
        # SAME_UPPER puts its smaller half at the start, every other auto_pad its larger half (onnx's spec and
        # onnxruntime; the reference evaluator fails on such nodes)
        if len(oshape) != k:
            raise n.unsupported(f"output_shape {list(oshape)} for {k} spatial dims")
        if not all(sym.is_static(d) for d in spatial):
            raise n.unsupported(f"output_shape {list(oshape)} with a symbolic input spatial dim "
                                f"({[sym.to_str(d) for d in spatial]}): its padding would depend on the dims")
        begin = []
        for a in range(k):
            total = strides[a] * (spatial[a] - 1) + opad[a] + (kernel[a] - 1) * dil[a] + 1 - oshape[a]
            begin.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
        return list(oshape), begin, strides, dil, kernel
    pads = list(pads) if pads is not None else [0] * (2 * k)
    if oshape is None:
        oshape = [sym.add(sym.mul(strides[a], sym.sub(spatial[a], 1)),
                          opad[a] + (kernel[a] - 1) * dil[a] + 1 - pads[a] - pads[a + k]) for a in range(k)]
    return list(oshape), pads[:k], strides, dil, kernel


def _convt_infer(n):
    x, w = n.inputs[0], n.inputs[1]
    check_conv_weight(n, x, w, transposed=True)
    k = x.rank - 2
    kernel = list(n.attr("kernel_shape") or w.shape[2:])
    strides, dil = _ints(n.attr("strides"), k, 1), _ints(n.attr("dilations"), k, 1)
    pads, opad = n.attr("pads"), n.attr("output_padding")
    if (len(kernel) != k or len(strides) != k or len(dil) != k or min(strides + dil) < 1
            or (pads is not None and len(pads) != 2 * k) or (opad is not None and len(opad) != k)):
        raise ShapeError(f"ConvTranspose '{n.name}': kernel {kernel}, strides {strides}, dilations {dil} do not fit "
                         f"a rank-{x.rank} input (pads {pads}, output_padding {opad})")
    oshape = _convt_geometry(n)[0]
    if any(sym.is_static(d) and d < 1 for d in oshape):
        raise ShapeError(f"ConvTranspose '{n.name}': output spatial dims {[sym.to_str(d) for d in oshape]} are empty")
    return out([x.shape[0], sym.mul(w.shape[1], n.attr("group", 1))] + oshape, x.dtype)


def _convt_lower(ctx, n):
    """Gather form: y[n, oc, o] = sum over the group's input channels and the kernel taps whose input position
    (o + pad - tap * dilation) / stride is whole and inside the input."""
    x, w = n.inputs[0], n.inputs[1]
    X, Wt = ctx.tensor(x), ctx.tensor(w)
    Bt = ctx.tensor(n.input(2)) if n.input(2) is not None else None
    oshape, begin, strides, dil, kernel = _convt_geometry(n)
    groups = n.attr("group", 1)
    k = len(kernel)
    cin_g = sym.floordiv(x.shape[1], groups)
    cout_g = w.shape[1]
    spatial = x.shape[2:]
    dt = x.dtype

    def fn(i, r):
        g = i[1] // as_expr(cout_g)
        c = g * as_expr(cin_g) + r[0]
        pos, inside = [], None
        for a in range(k):
            p = i[2 + a] + begin[a] - r[1 + a] * dil[a]
            q = p // strides[a] if strides[a] != 1 else p
            ok = binop("&&", p >= 0, q < as_expr(spatial[a]))
            if strides[a] != 1:
                ok = binop("&&", ok, binop("==", p % strides[a], 0))
            inside = ok if inside is None else binop("&&", inside, ok)
            pos.append(emin(emax(q, 0), as_expr(spatial[a]) - 1))
        v = X[[i[0], c] + pos] * Wt[[c, i[1] % as_expr(cout_g)] + list(r[1:])]
        return select(inside, v, Const(0, dt))

    post = (lambda acc, i: acc + Bt[[i[1]]]) if Bt is not None else None
    shape = n.out_types[0].shape
    return [Compute(n.name, tuple(shape), dt, fn, Reduction([cin_g] + kernel, "sum", 0, post))]


register("ConvTranspose", _convt_infer, _convt_lower, "opaque")


# ------------------------------------------------------------------ LpPool
def _lppool_lower(ctx, n):
    """(sum of |x|^p over the window)^(1/p); padding counts as zeros."""
    x = ctx.tensor(n.inputs[0])
    kernel = n.attr("kernel_shape")
    k = len(kernel)
    outs, begin, strides, dil = conv_geometry(n, x.shape, kernel, n.attr("ceil_mode", 0))
    shape = tuple(list(x.shape[:2]) + outs)
    p = float(n.attr("p", 2))
    dt = x.dtype
    spatial = x.shape[2:]

    def fn(i, r):
        pos, inside = [], None
        for a in range(k):
            q = i[2 + a] * strides[a] - begin[a] + r[a] * dil[a]
            ok = binop("&&", q >= 0, q < as_expr(spatial[a]))
            inside = ok if inside is None else binop("&&", inside, ok)
            pos.append(emin(emax(q, 0), as_expr(spatial[a]) - 1))
        v = x[list(i[:2]) + pos]
        v = select(v < Const(0.0, dt), -v, v)
        v = v * v if p == 2 else call("pow", v, Const(p, dt))
        return select(inside, v, Const(0.0, dt))

    post = (lambda acc, i: call("sqrt", acc)) if p == 2 else (lambda acc, i: call("pow", acc, Const(1.0 / p, dt)))
    return [Compute(n.name, shape, dt, fn, Reduction(kernel, "sum", 0, post))]


register("LpPool", _pool_checked, _lppool_lower, "opaque")
