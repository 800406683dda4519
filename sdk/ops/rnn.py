"""Recurrent ops: LSTM, GRU, RNN (forward, reverse, bidirectional; both layouts; peepholes, clip,
input_forget, linear_before_reset, the ONNX activation functions).

One kernel per op: the states live in the Y_h / Y_c buffers; a time loop runs, per step, the input and
recurrent products into small scratch buffers (with constant weights: stored transposed at build time, the inner
loop over contiguous gate outputs; otherwise a dot product per output) and the element-wise gate update, which
writes the new state and Y at that step."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..ir import sym
from ..ir.graph import TensorType
from ..tir.build import build_kernel, buffers_read
from ..tir.expr import (Compute, Const, For, Kernel, Let, Reduction, Seq, Store, Var, as_expr, call, cast, emax,
                        emin, select)
from .registry import register

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _act(name, alpha, beta, dt):
    f = lambda v: Const(float(v), dt)  # noqa: E731
    one, zero = f(1), f(0)
    table = {
        "Sigmoid": lambda x: one / (one + call("exp", zero - x)),
        "Tanh": lambda x: call("tanh", x),
        "Relu": lambda x: select(x > zero, x, zero),
        "LeakyRelu": lambda x: select(x < zero, x * f(0.01 if alpha is None else alpha), x),
        "ThresholdedRelu": lambda x: select(x > f(1.0 if alpha is None else alpha), x, zero),
        "HardSigmoid": lambda x: emax(zero, emin(one, x * f(0.2 if alpha is None else alpha)
                                                 + f(0.5 if beta is None else beta))),
        "Affine": lambda x: x * f(1.0 if alpha is None else alpha) + f(0.0 if beta is None else beta),
        "ScaledTanh": lambda x: f(1.0 if alpha is None else alpha) * call("tanh", x * f(1.0 if beta is None else beta)),
        "Elu": lambda x: select(x < zero, f(1.0 if alpha is None else alpha) * (call("exp", x) - one), x),
        "Softsign": lambda x: x / (one + call("abs", x)),
        "Softplus": lambda x: call("log", one + call("exp", x)),
    }
    if name not in table:
        return None
    return table[name]


def _params(n):
    x, w = n.inputs[0], n.inputs[1]
    layout = n.attr("layout", 0)
    T, B = (x.shape[0], x.shape[1]) if layout == 0 else (x.shape[1], x.shape[0])
    H = n.attr("hidden_size") or sym.floordiv(w.shape[1], _GATES[n.op_type])
    D = 2 if n.attr("direction", "forward") == "bidirectional" else 1
    return layout, T, B, H, D


def _infer(n):
    x = n.inputs[0]
    layout, T, B, H, D = _params(n)
    if n.input(4) is not None and (n.inputs[4].rank != 1 or n.inputs[4].dtype not in ("int32", "int64")):
        raise n.unsupported(f"sequence_lens of {n.inputs[4].dtype}[rank {n.inputs[4].rank}]")
    y = (T, D, B, H) if layout == 0 else (B, T, D, H)
    st = (D, B, H) if layout == 0 else (B, D, H)
    return [TensorType(y, x.dtype)] + [TensorType(st, x.dtype)] * (n.n_outputs - 1)


def _product(out, B, N, K, lhs, WT, d, col0, bias):
    """out[b, j] = bias(j) + sum_r lhs(b, r) * WT[d, r, col0 + j], j < N, with WT a constant transposed at build time:
    the innermost loop runs over contiguous outputs (vectorised multiply-adds, each row of lhs read once), where a dot
    product per output needs a horizontal sum each."""
    b, j, r = Var("pb", "int64"), Var("pj", "int64"), Var("pr", "int64")
    init = For(b, as_expr(B), For(j, as_expr(N), Store(out, [b, j], bias(j))))
    acc = For(b, as_expr(B), For(r, as_expr(K), For(j, as_expr(N), Store(
        out, [b, j], out[[b, j]] + lhs(b, r) * WT[[d, r, as_expr(col0) + j]]))))
    return Seq([init, acc])


def _one_step_products(ctx, n, X, h0, WT, RT, XW, HR, G, H, I):
    """One time step in one direction (a decoder step: T = 1) with constant weights: the input and recurrent
    products (bias included) are GEMM calls before the kernel (at a few rows, the small-M GEMV: each weight vector
    loaded once for all rows, where the kernel's loop reads the weights once per row). Returns which of XW, HR
    the calls compute (both, or XW alone when there is no initial state), or None when a bias is not constant."""
    Bv = n.input(3)
    if Bv is not None and getattr(n.inputs[3], "const", None) is None:
        return None
    GH = G * H
    bias = n.inputs[3].const.reshape(-1).astype(np.float32) if Bv is not None else None
    B = XW.shape[0]

    def product(A, K, WTc, Y, b, name):
        C = ctx.const(np.ascontiguousarray(b), n.name + name) if b is not None else None
        ctx.lib(kernels.call("sdk_gemm_f32", batch=1, M=B, N=GH, K=K, alpha=1.0, A=A, a_bs=0, a_rs=K, a_cs=1,
                             B=WTc, b_bs=0, b_rs=GH, b_cs=1, beta=1.0 if C is not None else 0.0, C=C, c_rs=0,
                             c_cs=1 if C is not None else 0, Y=Y))
    # T = 1 and D = 1: X is [B, I] and h0 [B, H] in memory whichever the layout
    product(X, I, WT, XW, bias[:GH] if bias is not None else None, "_Wb")
    if h0 is None:
        return (XW,)
    product(h0, H, RT, HR, bias[GH:] if bias is not None else None, "_Rb")
    return XW, HR


def _transposed(ctx, v, name):
    """The constant [D, rows, K] of ``v`` as [D, K, rows] (None when ``v`` is not a constant)."""
    if getattr(v, "const", None) is None or v.const.ndim != 3:
        return None
    return ctx.const(v.const.transpose(0, 2, 1), name + "_T")


def _lower(ctx, n):
    op = n.op_type
    layout, T, B, H, D = _params(n)
    X, W, R = (ctx.buffer(v) for v in n.inputs[:3])
    Bb = ctx.buffer(n.input(3)) if n.input(3) is not None else None
    h0 = ctx.buffer(n.input(5)) if n.input(5) is not None else None
    c0 = ctx.buffer(n.input(6)) if op == "LSTM" and n.input(6) is not None else None
    P = ctx.buffer(n.input(7)) if op == "LSTM" and n.input(7) is not None else None
    dt = X.dtype
    G = _GATES[op]
    I = X.shape[2]
    f = lambda v: Const(float(v), dt)  # noqa: E731
    clip = n.attr("clip")
    acts = n.attr("activations") or _DEFAULT_ACTS[op] * D
    alphas, betas = n.attr("activation_alpha") or [], n.attr("activation_beta") or []
    per = len(_DEFAULT_ACTS[op])
    fns = []
    for k, a in enumerate(acts):
        fn = _act(a, alphas[k] if k < len(alphas) else None, betas[k] if k < len(betas) else None, dt)
        if fn is None:
            raise n.unsupported(f"activation {a}")
        fns.append(fn)

    outs = n.out_types
    Y = ctx.new_buffer(n.name + "_Y", outs[0].shape, dt)
    st_shape = (D, B, H) if layout == 0 else (B, D, H)
    Yh = ctx.new_buffer(n.name + "_Y_h", st_shape, dt)
    Yc = ctx.new_buffer(n.name + "_Y_c", st_shape, dt) if op == "LSTM" else None
    XW = ctx.new_buffer(n.name + "_xw", (B, G * H if sym.is_static(H) else sym.mul(G, H)), dt)
    HR = ctx.new_buffer(n.name + "_hr", XW.shape, dt)
    RH = ctx.new_buffer(n.name + "_rh", (B, H), dt) if op == "GRU" and not n.attr("linear_before_reset", 0) else None
    RHR = ctx.new_buffer(n.name + "_rhr", (B, H), dt) if RH is not None else None

    def sidx(d, b, h):  # state index
        return [d, b, h] if layout == 0 else [b, d, h]

    def yidx(t, d, b, h):
        return [t, d, b, h] if layout == 0 else [b, t, d, h]

    def xat(t, b, k):
        return X[[t, b, k] if layout == 0 else [b, t, k]]

    def clipped(v):
        if clip is None:
            return v
        return emax(emin(v, f(clip)), f(-clip))

    Hc = as_expr(H)
    static = sym.is_static(H) and sym.is_static(I)
    WT = _transposed(ctx, n.inputs[1], n.name + "_W") if static else None
    RT = _transposed(ctx, n.inputs[2], n.name + "_R") if static else None
    one_step = (sym.is_static(T) and int(T) == 1 and D == 1 and WT is not None and RT is not None
                and dt == "float32" and _one_step_products(ctx, n, X, h0, WT, RT, XW, HR, G, int(H), int(I))) or ()

    def precomputed(buf):
        return any(buf is x for x in one_step)

    # sequence_lens (onnxruntime's meaning; onnx's reference ignores it): row b runs lens[b] steps, a reverse
    # direction from lens[b] - 1 down; past its length a row keeps its state and its Y is 0
    lens = n.inputs[4] if n.input(4) is not None else None
    if lens is not None and lens.const is not None and sym.is_static(T) and (lens.const == T).all():
        lens = None  # every row full: the plain recurrence
    L = ctx.buffer(lens) if lens is not None else None

    def length(b):
        return emin(emax(cast(L[[b]], "int64"), 0), as_expr(T))

    stmts = []
    for d in range(D):
        fa = fns[d * per:(d + 1) * per]
        bi, hi = Var("b", "int64"), Var("h", "int64")
        init = [Store(Yh, sidx(d, bi, hi), h0[[d, bi, hi]] if h0 is not None else f(0))]
        if Yc is not None:
            init.append(Store(Yc, sidx(d, bi, hi), c0[[d, bi, hi]] if c0 is not None else f(0)))
        stmts.append(For(bi, as_expr(B), For(hi, Hc, Seq(init))))
        t = Var(f"t{d}", "int64")
        rev = not (d == 0 and n.attr("direction", "forward") != "reverse")

        def ttb(b_, t=t, rev=rev):  # the time index row b_ reads at step t
            if not rev:
                return t
            return as_expr(T) - 1 - t if L is None else emax(length(b_) - 1 - t, 0)
        tt = t if not rev else as_expr(T) - 1 - t

        def bias(j, rec, d=d):  # Wb (rec=0) or Rb (rec=1) for gate row j
            return Bb[[d, as_expr(rec * G) * Hc + j]] if Bb is not None else f(0)

        if precomputed(XW):
            step = []
        elif WT is not None:
            step = [_product(XW, B, G * int(H), I, lambda b_, r_, ttb=ttb: xat(ttb(b_), b_, r_), WT, d, 0,
                             lambda j, d=d: bias(j, 0, d))]
        else:
            xw = Compute("xw", XW.shape, dt, lambda i, r, d=d, ttb=ttb: xat(ttb(i[0]), i[0], r[0]) * W[[d, i[1], r[0]]],
                         Reduction([I], "sum", 0, lambda acc, i, d=d: acc + bias(i[1], 0, d)))
            step = [build_kernel("xw", xw, XW).body]
        if precomputed(HR):
            pass
        elif RT is not None:
            step.append(_product(HR, B, G * int(H), H, lambda b_, r_, d=d: Yh[sidx(d, b_, r_)], RT, d, 0,
                                 lambda j, d=d: bias(j, 1, d)))
        else:
            hr = Compute("hr", HR.shape, dt, lambda i, r, d=d: Yh[sidx(d, i[0], r[0])] * R[[d, i[1], r[0]]],
                         Reduction([H], "sum", 0, lambda acc, i, d=d: acc + bias(i[1], 1, d)))
            step.append(build_kernel("hr", hr, HR).body)
        b, h = Var("b", "int64"), Var("h", "int64")

        def g(k, src=None):  # pre-activation of gate k at (b, h)
            j = as_expr(k) * Hc + h
            return XW[[b, j]] + (HR[[b, j]] if src is None else src)

        body = []
        if op == "RNN":
            hn = Var("hn", dt)
            body = [Let(hn, fa[0](clipped(g(0))))]
        elif op == "LSTM":
            cprev = Yc[sidx(d, b, h)]

            def peep(k):
                return P[[d, as_expr(k) * Hc + h]] if P is not None else f(0)

            iv, fv, cv, cn, ov, hn = (Var(s, dt) for s in ("ig", "fg", "cg", "cn", "og", "hn"))
            body = [Let(iv, fa[0](clipped(g(0) + peep(0) * cprev)))]
            if n.attr("input_forget", 0):
                body.append(Let(fv, f(1) - iv))
            else:
                body.append(Let(fv, fa[0](clipped(g(2) + peep(2) * cprev))))
            body += [Let(cv, fa[1](clipped(g(3)))), Let(cn, fv * cprev + iv * cv),
                     Let(ov, fa[0](clipped(g(1) + peep(1) * cn))), Let(hn, ov * fa[2](cn)),
                     Store(Yc, sidx(d, b, h), cn if L is None else select(t < length(b), cn, cprev))]
        else:  # GRU: gates z, r, h
            zv, rv, hv, hn = (Var(s, dt) for s in ("zg", "rg", "hg", "hn"))
            hprev = Yh[sidx(d, b, h)]
            if RH is not None:  # (r * H_prev) @ Rh first: r for every unit before the product
                r_all = Compute("rh", (B, H), dt, lambda i, d=d: fa[0](clipped(
                    XW[[i[0], Hc + i[1]]] + HR[[i[0], Hc + i[1]]])) * Yh[sidx(d, i[0], i[1])])
                step.append(build_kernel("rh", r_all, RH).body)
                if RT is not None:
                    step.append(_product(RHR, B, H, H, lambda b_, r_: RH[[b_, r_]], RT, d, 2 * int(H),
                                         lambda j, d=d: bias(2 * Hc + j, 1, d)))
                else:
                    rhr = Compute("rhr", (B, H), dt, lambda i, r, d=d: RH[[i[0], r[0]]] * R[[d, 2 * Hc + i[1], r[0]]],
                                  Reduction([H], "sum", 0, lambda acc, i, d=d: acc + bias(2 * Hc + i[1], 1, d)))
                    step.append(build_kernel("rhr", rhr, RHR).body)
                hpre = g(2, RHR[[b, h]])
            else:
                hpre = None
            body = [Let(zv, fa[0](clipped(g(0))))]
            if hpre is None:  # linear_before_reset: r * (H_prev @ Rh + Rbh)
                body.append(Let(rv, fa[0](clipped(g(1)))))
                hpre = XW[[b, 2 * Hc + h]] + rv * HR[[b, 2 * Hc + h]]
            body += [Let(hv, fa[1](clipped(hpre))), Let(hn, (f(1) - zv) * hv + zv * hprev)]
        if L is None:
            body += [Store(Yh, sidx(d, b, h), hn), Store(Y, yidx(tt, d, b, h), hn)]
        else:
            valid = t < length(b)
            body += [Store(Y, yidx(select(valid, ttb(b), t), d, b, h), select(valid, hn, f(0))),
                     Store(Yh, sidx(d, b, h), select(valid, hn, Yh[sidx(d, b, h)]))]
        step.append(For(b, as_expr(B), For(h, Hc, Seq(body))))
        stmts.append(For(t, as_expr(T), Seq(step)))
    body = Seq(stmts)
    written = [Y, Yh] + ([Yc] if Yc else []) + [x for x in (XW, HR) if not precomputed(x)] + \
        ([RH, RHR] if RH is not None else [])
    reads = [x for x in buffers_read(body) if all(x is not w for w in written)]
    ctx.add_step(Kernel(ctx._uniq("k_" + n.name), body, reads, written))
    res = [Y, Yh] + ([Yc] if Yc else [])
    return res[:n.n_outputs]


for _op in _GATES:
    register(_op, _infer, _lower, "opaque")
