"""Attention (opset 23-25): scaled dot-product attention with GQA, a past KV cache, boolean or additive masks,
causal and sliding-window masks, softcap and the qk_matmul_output modes, as onnx's reference computes it.

Three materialised stages: the scores [B, Hq, S, T] (one reduction over the head size), the softmax
probabilities (max and sum over T, fully masked rows give zeros), and Y (one reduction over T)."""
from __future__ import annotations

import math

from ..ir import sym
from ..ir.graph import TensorType
from ..tir.expr import Buffer, Compute, Const, Reduction, as_expr, binop, call, cast, select
from .registry import register

NEG_INF = float("-inf")


def _dims(n):
    """(B, Hq, S, hd, Hkv, L (new kv length), P (past length), hdv, rank)."""
    q, k, v = n.inputs[:3]
    past = n.input(4)
    if q.rank == 3:
        hq, hkv = n.attr("q_num_heads"), n.attr("kv_num_heads")
        if hq is None or hkv is None:
            raise n.unsupported("3-D inputs need q_num_heads and kv_num_heads")
        hd, hdv = sym.floordiv(q.shape[2], hq), sym.floordiv(v.shape[2], hkv)
        B, S, L = q.shape[0], q.shape[1], k.shape[1]
    elif q.rank == 4:
        B, hq, S, hd = q.shape
        hkv, L, hdv = k.shape[1], k.shape[2], v.shape[3]
    else:
        raise n.unsupported(f"rank {q.rank} inputs")
    if not (sym.is_static(hq) and sym.is_static(hkv)) or hq % hkv:
        raise n.unsupported(f"{sym.to_str(hq)} query heads over {sym.to_str(hkv)} kv heads")
    P = past.shape[2] if past is not None else 0
    return B, hq, S, hd, hkv, L, P, hdv, q.rank


def _infer(n):
    if n.input(6) is not None and n.input(4) is not None:
        raise n.unsupported("nonpad_kv_seqlen with a past cache")
    q = n.inputs[0]
    B, hq, S, hd, hkv, L, P, hdv, rank = _dims(n)
    T = sym.add(P, L)
    y = (B, S, sym.mul(hq, hdv)) if rank == 3 else (B, hq, S, hdv)
    outs = [TensorType(y, q.dtype)]
    if n.n_outputs > 1:
        outs.append(TensorType((B, hkv, T, hd), q.dtype))
    if n.n_outputs > 2:
        outs.append(TensorType((B, hkv, T, hdv), q.dtype))
    if n.n_outputs > 3:
        outs.append(TensorType((B, hq, S, T), q.dtype))
    return outs


def _heads(t, rank, heads, hsize):
    """[b, h, s, d] reader of a 3-D [b, s, h*d] or 4-D [b, h, s, d] tensor."""
    if rank == 4:
        return lambda b, h, s, d: t[[b, h, s, d]]
    return lambda b, h, s, d: t[[b, s, h * as_expr(hsize) + d]]


def _lower(ctx, n):
    q, k, v = (ctx.tensor(x) for x in n.inputs[:3])
    mask = ctx.tensor(n.input(3)) if n.input(3) is not None else None
    pk = ctx.tensor(n.input(4)) if n.input(4) is not None else None
    pv = ctx.tensor(n.input(5)) if n.input(5) is not None else None
    nonpad = ctx.tensor(n.input(6)) if n.input(6) is not None else None
    B, hq, S, hd, hkv, L, P, hdv, rank = _dims(n)
    T = sym.add(P, L)
    dt = q.dtype
    Q, K, V = _heads(q, rank, hq, hd), _heads(k, rank, hkv, hd), _heads(v, rank, hkv, hdv)

    def present(cur, past):
        if past is None:
            return cur
        return lambda b, h, t, d: select(t < as_expr(P), past[[b, h, sym_min(t, P), d]], cur(b, h, t - as_expr(P), d))

    def sym_min(t, p):
        from ..tir.expr import emax, emin
        return emin(emax(t, 0), as_expr(p) - 1)

    Kp, Vp = present(K, pk), present(V, pv)
    group = hq // hkv
    scale = n.attr("scale")
    if scale is None:
        if not sym.is_static(hd):
            raise n.unsupported("symbolic head size without a scale")
        scale = 1.0 / math.sqrt(hd)
    c = Const(math.sqrt(scale), dt)
    softcap = n.attr("softcap", 0.0) or 0.0

    def capped(acc, i):
        if softcap > 0:
            return Const(float(softcap), dt) * call("tanh", acc / Const(float(softcap), dt))
        return acc

    scores = ctx.materialize(Compute(
        n.name + "_scores", (B, hq, S, T), dt,
        lambda i, r: (Q(i[0], i[1], i[2], r[0]) * c) * (Kp(i[0], i[1] // group, i[3], r[0]) * c),
        Reduction([hd], "sum", 0, capped)))

    ninf = Const(NEG_INF, dt)
    zero = Const(0.0, dt)
    causal = n.attr("is_causal", 0)
    left, right = n.attr("left_window_size", -1), n.attr("right_window_size", -1)

    def offset(b):
        if pk is None and nonpad is not None:
            return nonpad[[b]] - as_expr(S)
        return as_expr(P)

    def bias(i):
        """The additive mask at [b, h, s, t] (None when there is none)."""
        b, h, s, t = i
        terms = []
        if mask is not None:  # broadcast over the leading dims; a shorter last dim is a prefix (-inf after it)
            mr = len(mask.shape)
            mi = [Const(0) if d == 1 else ix for d, ix in zip(mask.shape[:-1], i[4 - mr:-1])]
            width = mask.shape[-1]
            m = mask[mi + [sym_min(t, width)]]
            if mask.dtype == "bool":
                m = select(m, zero, ninf)
            terms.append(select(t < as_expr(width), m, ninf))
        if causal:
            terms.append(select(t <= i[2] + offset(b), zero, ninf))
        if left >= 0 or right >= 0:
            diff = s + offset(b) - t
            ok = None
            if left >= 0:
                ok = diff <= Const(left)
            if right >= 0:
                r_ok = (Const(0) - diff) <= Const(right)
                ok = r_ok if ok is None else binop("&&", ok, r_ok)
            terms.append(select(ok, zero, ninf))
        if nonpad is not None:
            terms.append(select(t < nonpad[[b]], zero, ninf))
        if not terms:
            return None
        e = terms[0]
        for x in terms[1:]:
            e = e + x
        return e

    def logits(i):
        b = bias(i)
        return scores[i] if b is None else scores[i] + b

    def at_max(t, i):
        return t[[i[0], i[1], i[2], Const(0)]]

    def row(i, r):
        return [i[0], i[1], i[2], r[0]]

    mx = ctx.materialize(Compute(n.name + "_max", (B, hq, S, 1), dt, lambda i, r: logits(row(i, r)),
                                 Reduction([T], "fastmax", NEG_INF,
                                           lambda acc, i: select(binop("==", acc, ninf), zero, acc))))
    e = ctx.materialize(Compute(n.name + "_exp", (B, hq, S, T), dt, lambda i: call("exp", logits(i) - at_max(mx, i))))
    has_bias = bias([Const(0)] * 4) is not None
    masked_row = None
    if has_bias:
        masked_row = ctx.materialize(Compute(
            n.name + "_masked", (B, hq, S, 1), "int64",
            lambda i, r: select(binop("==", bias(row(i, r)), ninf), Const(0), Const(1)),
            Reduction([T], "sum", 0)))
    sm = ctx.materialize(Compute(n.name + "_sum", (B, hq, S, 1), dt, lambda i, r: e[row(i, r)],
                                 Reduction([T], "sum", 0, lambda acc, i: select(binop("==", acc, zero),
                                                                                Const(1.0, dt), acc))))

    def prob(i):
        p = e[i] / at_max(sm, i)
        return p if masked_row is None else select(binop("==", at_max(masked_row, i), Const(0)), zero, p)

    probs = ctx.materialize(Compute(n.name + "_probs", (B, hq, S, T), dt, prob))
    y4 = Compute(n.name + "_y", (B, hq, S, hdv), dt,
                 lambda i, r: probs[[i[0], i[1], i[2], r[0]]] * Vp(i[0], i[1] // group, r[0], i[3]),
                 Reduction([T], "sum", 0))
    if rank == 3:
        y4 = ctx.materialize(y4)
        outs = [Compute(n.name, n.out_types[0].shape, dt,
                        lambda i: y4[[i[0], i[2] // as_expr(hdv), i[1], i[2] % as_expr(hdv)]])]
    else:
        outs = [y4]
    if n.n_outputs > 1:
        outs.append(Compute(n.name + "_present_key", n.out_types[1].shape, dt, lambda i: Kp(*i)))
    if n.n_outputs > 2:
        outs.append(Compute(n.name + "_present_value", n.out_types[2].shape, dt, lambda i: Vp(*i)))
    if n.n_outputs > 3:
        mode = n.attr("qk_matmul_output_mode", 0)
        src = {0: lambda i: scores[i], 1: lambda i: scores[i], 2: logits, 3: lambda i: probs[i]}[mode]
        outs.append(Compute(n.name + "_qk", n.out_types[3].shape, dt, src))
    return outs


register("Attention", _infer, _lower, "opaque")


# ------------------------------------------------------------------ RotaryEmbedding
def _rope_infer(n):
    x = n.inputs[0]
    if x.rank == 3 and not n.attr("num_heads"):
        raise n.unsupported("3-D input needs num_heads")
    return [TensorType(x.shape, x.dtype)]


def _rope_lower(ctx, n):
    """Rotates the first rotary_embedding_dim features of each head by the cached angles (halves, or
    interleaved pairs); the rest pass through."""
    x, cos, sin = (ctx.tensor(v) for v in n.inputs[:3])
    pos = ctx.tensor(n.input(3)) if n.input(3) is not None else None
    rank = len(x.shape)
    heads = n.attr("num_heads")
    hd = x.shape[3] if rank == 4 else sym.floordiv(x.shape[2], heads)
    R = n.attr("rotary_embedding_dim", 0) or hd
    if not sym.is_static(R):
        raise n.unsupported("symbolic head size")
    half = R // 2
    inter = n.attr("interleaved", 0)

    def body(i):
        if rank == 4:
            b, s, k = i[0], i[2], i[3]
            at = lambda kk: x[[i[0], i[1], i[2], kk]]  # noqa: E731
        else:
            b, s, k = i[0], i[1], i[2] % as_expr(hd)
            base = i[2] - k
            at = lambda kk: x[[i[0], i[1], base + kk]]  # noqa: E731
        from ..tir.expr import emax, emin
        if inter:
            j, first = k // 2, binop("==", k % 2, Const(0))
            x1, x2 = at(emin(j * 2, R - 2)), at(emin(j * 2 + 1, R - 1))
        else:
            first = k < Const(half)
            j = select(first, k, k - half)
            x1, x2 = at(emin(emax(j, 0), half - 1)), at(emin(emax(j, 0), half - 1) + half)
        j = emin(emax(j, 0), half - 1)
        if pos is not None:  # a position outside the cache is clamped (never read out of bounds)
            p = emin(emax(cast(pos[[b, s]], "int64"), 0), as_expr(cos.shape[0]) - 1)
            c, s_ = cos[[p, j]], sin[[p, j]]
        else:
            c, s_ = cos[[b, s, j]], sin[[b, s, j]]
        rot = select(first, c * x1 - s_ * x2, s_ * x1 + c * x2)
        return select(k < Const(R), rot, x[i]) if R != hd else rot

    return [Compute(n.name, x.shape, x.dtype, body)]


register("RotaryEmbedding", _rope_infer, _rope_lower, "injective")


# ------------------------------------------------------------------ FusedAttention (made by sdk/transform/attention.py)
def _contiguous_strides(shape):
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc = sym.mul(acc, d)
    return st[::-1]


def _fused_infer(n):
    from ..transform.attention import out_type
    return [out_type(n)]


def _fused_lower(ctx, n):
    """One sdk_attention_f32 call: inputs q, k, v (, mask) are the tensors read, attrs name their axes
    (q_axes/k_axes/v_axes: logical [b, (h,) s, d] -> axis of the tensor; o_perm: the output's axes); a ``*_view``
    (off, h, d) reads that operand as columns off .. off + h * d of its input's rows, split into [h, d]."""
    from .. import kernels
    from ..transform.attention import view_shape
    q, k, v, mask = n.inputs[0], n.inputs[1], n.inputs[2], n.input(3)
    r = len(n.attr("q_axes"))
    shapes = [view_shape(n, j) for j in range(3)]

    def operand(j, axes):  # (buffer, (batch, head, row) strides) of a logical [b, (h,) s, d] view of operand j
        t = n.inputs[j]
        view = n.attr(("q_view", "k_view", "v_view")[j], None)
        buf = ctx.buffer(t)
        if view is None:
            st = _contiguous_strides(t.shape)
        else:
            off, h, d = view
            st = _contiguous_strides(t.shape)[:-1] + [d, 1]
            vb = Buffer(ctx._uniq("v_" + t.name), shapes[j], t.dtype)  # its elements live in the input's memory
            ctx.prog.alias[id(vb)] = buf
            if off:
                ctx.prog.alias_offset[id(vb)] = off
            ctx.prog.views.append(vb)
            buf = vb
        s = [st[a] for a in axes[:-1]]
        return buf, ((s[0], s[1], s[2]) if r == 4 else (s[0], 0, s[1]))

    qa, ka, va = n.attr("q_axes"), n.attr("k_axes"), n.attr("v_axes")
    B = shapes[0][qa[0]]
    H = shapes[0][qa[1]] if r == 4 else 1
    Sq, D = shapes[0][qa[-2]], shapes[0][qa[-1]]
    Sk, Dv = shapes[1][ka[-2]], shapes[2][va[-1]]
    out = n.out_types[0].shape
    Y = ctx.new_buffer(n.name, out, "float32")
    ost = _contiguous_strides(out)
    o_at = [ost[list(n.attr("o_perm")).index(a)] for a in range(r)]  # logical axis a sits at o_perm.index(a)
    o = (o_at[0], o_at[1], o_at[2]) if r == 4 else (o_at[0], 0, o_at[1])
    ms = (0, 0, 0, 0)
    if mask is not None:  # right-aligned against the scores [b, (h,) Sq, Sk]; 0 along broadcast axes
        mst = _contiguous_strides(mask.shape)
        full = [0] * (r - len(mask.shape)) + [0 if d == 1 else s for d, s in zip(mask.shape, mst)]
        ms = tuple(full) if r == 4 else (full[0], 0, full[1], full[2])
    (Qb, qs), (Kb, ks), (Vb, vs) = operand(0, qa), operand(1, ka), operand(2, va)
    ctx.lib(kernels.call(
        "sdk_attention_f32", B=B, H=H, Sq=Sq, Sk=Sk, D=D, Dv=Dv, scale=float(n.attr("scale")),
        Q=Qb, q_bs=qs[0], q_hs=qs[1], q_rs=qs[2], K=Kb, k_bs=ks[0], k_hs=ks[1], k_rs=ks[2],
        V=Vb, v_bs=vs[0], v_hs=vs[1], v_rs=vs[2], mask=ctx.buffer(mask) if mask is not None else None,
        m_bs=ms[0], m_hs=ms[1], m_qs=ms[2], m_ks=ms[3], causal=int(n.attr("causal", 0)), O=Y, o_bs=o[0], o_hs=o[1],
        o_rs=o[2]))
    return [Y]


register("FusedAttention", _fused_infer, _fused_lower, "opaque")
