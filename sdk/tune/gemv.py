"""Small-M GEMV: the default schedule of a GEMM with up to ``MAX_ROWS`` rows (M <= 8: one token, a beam search's
beams) or a convolution with one output pixel per image (batch <= 8).

Both are matrix-vector products (a few of them), y = act(W x + b [+ R]), bound by reading W once: the register-tiled GEMM kernels
(``kernels.py``) pack and tile for reuse that a single row does not have. ``rewrite`` turns such a call, when its
weight is a constant, into a call of the runtime kernel ``sdk_gemv_f32`` (``runtime_c/src/sdk_gemv.c``; ``sdk_gemv_f16w_f32`` over a float16
weight with ``--weights fp16``) with the
weight stored in the panel order the kernel streams (``pack_weight``) and the following ``sdk_epilogue_f32`` step
(bias, residual, activation) folded into its arguments. The forms:

- ``sdk_gemm_f32`` with batch 1 and M's bound <= 8 (a Linear layer / MatMul on a few rows; W = alpha * B^T);
- ``sdk_conv2d_f32`` with one group, N's bound <= 8 and a kernel that covers the whole unpadded image (OH = OW = 1:
  a 1x1 convolution on a 1x1 plane, squeeze-excite FCs, or a conv used as a fully connected layer).

The row count stays a run-time argument (the kernel takes the rows in blocks that share each weight load: 4 with
AVX-512, 2 with AVX/NEON), so a symbolic M or N bounded by 8 is fine.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import kernels
from ..tir.expr import LibCall
from ..transform.epilogue import ACT_CODE
from .consts import float_const, store_derived

PANEL = 32  # SDK_GEMV_NR in runtime_c/include/sdk_gemv.h
TAIL = 8    # SDK_GEMV_NT
MAX_ROWS = 8  # the largest row-count bound handed to the small-M kernel (beyond, the GEMM schedules reuse more)


def pack_weight(W: np.ndarray) -> np.ndarray:
    """W [N, K] in the order ``sdk_gemv_f32`` reads: N // 32 panels of 32 outputs, then panels of 8 for the rest
    (zero-padded), each panel k-major (``[k][j]``). Returns a 1-D float32 array."""
    N, K = W.shape
    full = N // PANEL * PANEL
    parts = [W[:full].reshape(-1, PANEL, K).transpose(0, 2, 1).ravel()]
    rest = W[full:]
    if len(rest):
        tail = np.zeros((-(-len(rest) // TAIL) * TAIL, K), np.float32)
        tail[:len(rest)] = rest
        parts.append(tail.reshape(-1, TAIL, K).transpose(0, 2, 1).ravel())
    return np.ascontiguousarray(np.concatenate(parts), np.float32)


def _const(prog, buf):
    """(index in prog.consts, flat array) of a float32 constant buffer, or None."""
    c = float_const(prog, buf)
    return None if c is None else (c[0], c[1].reshape(-1))


def _ints(*vals) -> bool:
    return all(isinstance(v, (int, np.integer)) for v in vals)


def _gemm_ok(prog, step, wl) -> bool:
    """Whether ``_gemm_form`` takes the GEMM (one row over a constant weight): no side effect."""
    a = step.arg
    if a("batch") != 1 or wl["M"] > MAX_ROWS or not _ints(a("N"), a("K"), a("b_rs"), a("b_cs")):
        return False
    if _const(prog, a("B")) is None:
        return False
    bias = a("C")
    return bias is None or a("beta") == 1.0 or (_const(prog, bias) is not None and _ints(a("c_cs")))


def _gemm_form(prog, step, wl):
    """(W [N, K], call arguments) of a GEMM with one row, or None."""
    if not _gemm_ok(prog, step, wl):
        return None
    a = step.arg
    const = _const(prog, a("B"))
    N, K, rs, cs = a("N"), a("K"), a("b_rs"), a("b_cs")
    W = const[1][np.arange(N)[:, None] * cs + np.arange(K)[None, :] * rs] * np.float32(a("alpha"))
    bias, bias_s = a("C"), a("c_cs")
    if bias is not None and a("beta") != 1.0:
        c = _const(prog, bias)
        bias = store_derived(prog, c[0], (c[1] * np.float32(a("beta"))).astype(np.float32), "_scaled")
    if bias is None or a("beta") == 0.0:
        bias, bias_s = None, 0
    return W, const[0], dict(rows=a("M"), N=N, K=K, X=a("A"), x_rs=a("a_rs"), x_cs=a("a_cs"), bias=bias,
                             bias_s=bias_s, Y=a("Y"))


def _conv_ok(prog, step, wl) -> bool:
    """Whether ``_conv_form`` takes the convolution (one output pixel over the whole image, constant weight)."""
    a = step.arg
    C, H, W_, M, KH, KW = (a(n) for n in ("C", "H", "W", "M", "KH", "KW"))
    if (wl["N"] > MAX_ROWS or a("groups") != 1 or not _ints(C, H, W_, M, KH, KW) or (KH, KW) != (H, W_)
            or (a("OH"), a("OW"), a("PH"), a("PW")) != (1, 1, 0, 0) or (KH > 1 and a("DH") != 1)
            or (KW > 1 and a("DW") != 1)):
        return False
    return _const(prog, a("Wt")) is not None


def applies(prog, step, wl) -> bool:
    """Whether ``rewrite`` would make the step a GEMV call (float32 weight; no side effect)."""
    return {"gemm": _gemm_ok, "conv2d": _conv_ok}[wl.kind](prog, step, wl)


def _conv_form(prog, step, wl):
    """(W [M, C*KH*KW], call arguments) of a convolution with one output pixel over the whole image, or None."""
    if not _conv_ok(prog, step, wl):
        return None
    a = step.arg
    C, KH, KW, M = a("C"), a("KH"), a("KW"), a("M")
    const = _const(prog, a("Wt"))
    K = C * KH * KW
    return const[1][:M * K].reshape(M, K), const[0], dict(rows=a("N"), N=M, K=K, X=a("X"), x_rs=K, x_cs=1,
                                                          bias=a("bias"), bias_s=1, Y=a("Y"))


SMALLM_ROWS = 4  # the largest row-count bound handed to sdk_gemm_smallm_f32 (it reads B once per row)


def dynamic_applies(prog, step, wl, epilogue) -> bool:
    """Whether ``rewrite_dynamic`` takes the GEMM (no side effect)."""
    a = step.arg
    if wl.kind != "gemm" or wl["M"] > SMALLM_ROWS or epilogue is not None or _const(prog, a("B")) is not None:
        return False
    if a("C") is not None and a("beta") != 0.0:
        return False
    return a("b_cs") == 1 or (a("b_rs") == 1 and a("a_cs") == 1)


def rewrite_dynamic(prog, step, wl, epilogue) -> Optional[LibCall]:
    """The ``sdk_gemm_smallm_f32`` call that replaces a GEMM of at most ``SMALLM_ROWS`` rows whose B is computed at
    run time (attention over a key/value cache while decoding: q K^T and probabilities V, one row per head), when
    B's rows (b_cs = 1) or, with A's rows contiguous, its columns (b_rs = 1) are contiguous; else None. The GEMM
    schedules pack B for reuse across rows that one row does not have (measured on the 3.7 M-parameter GPT step of
    bench/generate.py: the scheduled kernel took 3.0 ms of a 56-token generation for these products)."""
    if not dynamic_applies(prog, step, wl, epilogue):
        return None
    a = step.arg
    call = kernels.call("sdk_gemm_smallm_f32", **{n: a(n) for n in (
        "batch", "M", "N", "K", "alpha", "A", "a_bs", "a_rs", "a_cs", "B", "b_bs", "b_rs", "b_cs", "Y")})
    call.guard = list(step.guard)
    return call


def fp16_exact(W: np.ndarray) -> bool:
    """Whether every value of the float32 ``W`` is a float16 value (NaN aside: stored as float16 exactly)."""
    with np.errstate(over="ignore", invalid="ignore"):
        h = W.astype(np.float16)
    return bool(np.array_equal(h.astype(np.float32), W, equal_nan=True))


def rewrite(prog, step, wl, epilogue, weights16: bool = False, only16: bool = False) -> Optional[LibCall]:
    """The ``sdk_gemv_f32`` call that replaces ``step`` (its workload ``wl``; ``epilogue``: (act, a, b, R) of the
    ``sdk_epilogue_f32`` step after it, or None), or None when the call is not a GEMV over a constant weight.
    Stores the packed weight in ``prog.consts`` (in place of the original when no other step reads it).
    ``weights16`` (``--weights fp16``): a weight whose values are all float16 values (the rounding pass,
    ``sdk/transform/weights_fp16.py``, made them so; times a Gemm's alpha they may not be) is stored as float16
    bit patterns (uint16) and multiplied by ``sdk_gemv_f16w_f32``: the same sums over half the bytes. ``only16``:
    None unless it is (a profile that keeps the library GEMM for float32 weights: android-arm64)."""
    form = {"gemm": _gemm_form, "conv2d": _conv_form}[wl.kind](prog, step, wl)
    if form is None:
        return None
    W, at, args = form
    packed = pack_weight(np.ascontiguousarray(W, np.float32))
    fn = "sdk_gemv_f32"
    if weights16 and fp16_exact(packed):
        packed, fn = packed.astype(np.float16).view(np.uint16), "sdk_gemv_f16w_f32"
    elif only16:
        return None
    pb = store_derived(prog, at, packed, "_gemv16" if fn != "sdk_gemv_f32" else "_gemv")
    if epilogue is not None:
        act, ea, eb, R = epilogue
        args.update(R=R, act=ACT_CODE.get(act, 0), act_a=ea, act_b=eb)
    call = kernels.call(fn, Wp=pb, **args)
    call.guard = list(step.guard)
    return call
