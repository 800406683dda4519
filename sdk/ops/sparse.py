"""SparseMatMul: a product with a constant sparse weight, made by the graph pass ``sdk/transform/sparsify.py``
(never read from ONNX). Inputs: X, then the weight's arrays (named by the ``arrays`` attribute: rowptr, cols, vals
for CSR/BSR, sliceptr, cols, vals for sliced ELL, rowptr, cols, vals, crowptr, ccols, cvals for the hybrid, idx,
vals for N:M; ``sdk/sparse/formats.py``), then the bias where ``bias`` is true; attributes: ``format`` ("csr" |
"bsr" | "ell" | "hyb" | "nm"), ``block`` (BSR / hybrid block rows, ELL slice rows), ``nm`` ([N, M]), ``O``/``K`` (the weight as
S[O, K]) and ``layout``:

- ``"rows"``: MatMul/Gemm, Y[..., o] = sum_k X[..., k] S[o, k] (+ bias[o]);
- ``"channels"``: 1x1 Conv (stride 1, no padding), NCHW, Y[n, o, ...] = sum_k S[o, k] X[n, k, ...] (+ bias[o]);
- ``"conv"``: any other 1-D/2-D Conv of group 1 (the Conv's attributes kept, ``kernel``: its spatial dims), S the
  weight as [O, C*KH*KW], over the im2col matrix that the kernel builds panel by panel.

It lowers to one ``sdk_spmm_<format>_f32_<index>`` (``sdk_spconv2d_...`` for ``"conv"``) library call
(``runtime_c/include/sdk_sparse.h``), whose epilogue arguments take a following activation and residual Add
(``sdk/transform/epilogue.py``)."""
from __future__ import annotations

from .. import kernels
from ..ir import sym
from ..sparse.formats import SPARSE_PANEL
from .common import out
from .nn import conv_geometry
from .registry import register

_SUFFIX = {"uint8": "u8", "uint16": "u16", "int32": "i32"}


def _shape(n):
    x, O = n.inputs[0], n.attr("O")
    if n.attr("layout") == "conv":
        return [x.shape[0], O] + conv_geometry(n, x.shape, list(n.attr("kernel")))[0]
    if n.attr("layout") == "channels":
        return [x.shape[0], O] + list(x.shape[2:])
    return list(x.shape[:-1]) + [O]


def _lower(ctx, n):
    x = n.inputs[0]
    names = n.attr("arrays")
    # the weight's arrays are constants: stored as they are, even with one element (an empty part of a hybrid),
    # which ctx.buffer would turn into a literal written by a fill kernel
    arrays = {k: ctx.const(v.const, v.name) for k, v in zip(names, n.inputs[1:1 + len(names)])}
    arrays["bias"] = ctx.buffer(n.inputs[1 + len(names)]) if n.attr("bias") else None
    O, K = n.attr("O"), n.attr("K")
    shape = _shape(n)
    X = ctx.buffer(x)
    Y = ctx.new_buffer(n.name, shape, "float32")
    if n.attr("layout") == "channels":
        P = 1
        for d in x.shape[2:]:
            P = sym.mul(P, d)
        geometry = dict(batch=x.shape[0], P=P, x_bs=sym.mul(K, P), x_ks=P, x_ps=1, y_bs=sym.mul(O, P), y_os=P,
                        y_ps=1)
    else:
        P = 1
        for d in x.shape[:-1]:
            P = sym.mul(P, d)
        geometry = dict(batch=1, P=P, x_bs=0, x_ks=1, x_ps=K, y_bs=0, y_os=1, y_ps=O)
    scratch = ctx.new_buffer(n.name + "_panel", (K * SPARSE_PANEL,), "float32")
    fmt = n.attr("format")
    extra = dict(BR=n.attr("block")) if fmt in ("bsr", "ell", "hyb") else (
        dict(zip(("NN", "M"), n.attr("nm"))) if fmt == "nm" else {})
    suffix = "" if fmt == "nm" else "_" + _SUFFIX[arrays["cols"].dtype]
    if n.attr("layout") == "conv":
        kernel = list(n.attr("kernel"))
        outs, begin, strides, dil = conv_geometry(n, x.shape, kernel)
        two = (lambda v, d: list(v) if len(kernel) == 2 else [d] + list(v))  # noqa: E731  (1-D as 2-D, H = 1)
        (H, W), (OH, OW), (KH, KW) = two(x.shape[2:], 1), two(outs, 1), two(kernel, 1)
        (SH, SW), (PH, PW), (DH, DW) = two(strides, 1), two(begin, 0), two(dil, 1)
        ctx.lib(kernels.call(f"sdk_spconv2d_{fmt}_f32{suffix}", N=x.shape[0], C=x.shape[1], H=H, W=W,
                             O=O, OH=OH, OW=OW, KH=KH, KW=KW, SH=SH, SW=SW, PH=PH, PW=PW, DH=DH, DW=DW, **extra,
                             X=X, Y=Y, scratch=scratch, **arrays))
        return [Y]
    ctx.lib(kernels.call(f"sdk_spmm_{fmt}_f32{suffix}", O=O, K=K, **extra, X=X, Y=Y,
                         scratch=scratch, **geometry, **arrays))
    return [Y]


register("SparseMatMul", lambda n: out(_shape(n), "float32"), _lower, "opaque")


# ------------------------------------------------------------------ int8
def _q_shape(n):
    x, O = n.inputs[0], n.attr("O")
    return [x.shape[0], O] + list(x.shape[2:]) if n.attr("layout") == "channels" else list(x.shape[:-1]) + [O]


def _q_lower(ctx, n):
    """sdk.QSparse: an sdk.QFC or 1x1 sdk.QConv (``sdk/ops/quant.py``) whose int8 weight is stored in CSR; inputs:
    X, rowptr, cols, vals, bias, mult, shift (``runtime_c/include/sdk_sparse_int8.h``)."""
    x, rowptr, cols, vals, bias, mult, shift = n.inputs
    O, K = n.attr("O"), n.attr("K")
    Y = ctx.new_buffer(n.name, _q_shape(n), "int8")
    P = 1
    for d in (x.shape[2:] if n.attr("layout") == "channels" else x.shape[:-1]):
        P = sym.mul(P, d)
    if n.attr("layout") == "channels":
        geometry = dict(batch=x.shape[0], x_bs=sym.mul(K, P), x_ks=P, x_ps=1, y_bs=sym.mul(O, P), y_os=P, y_ps=1)
    else:
        geometry = dict(batch=1, x_bs=0, x_ks=1, x_ps=K, y_bs=0, y_os=1, y_ps=O)
    a = n.attrs
    ctx.lib(kernels.call(f"sdk_spmm_csr_s8_{_SUFFIX[cols.dtype]}", O=O, P=P, K=K, rowptr=ctx.buffer(rowptr),
                         cols=ctx.buffer(cols), vals=ctx.buffer(vals), X=ctx.buffer(x), x_zp=a["x_zp"],
                         bias=ctx.buffer(bias), mult=ctx.buffer(mult), shift=ctx.buffer(shift), y_zp=a["y_zp"],
                         act_min=a["act_min"], act_max=a["act_max"], Y=Y,
                         scratch=ctx.new_buffer(n.name + "_col", (2 * K,), "int16"), **geometry))
    return [Y]


register("sdk.QSparse", lambda n: out(_q_shape(n), "int8"), _q_lower, "opaque")
