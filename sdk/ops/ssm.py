"""Ops of state-space / linear-attention decoders (opset 27): CausalConvWithState, the depthwise causal
convolution of Mamba and Gated DeltaNet blocks with its carried state (the last k - 1 positions)."""
from __future__ import annotations

from ..ir import sym
from ..ir.dtypes import FLOATS
from ..ir.graph import TensorType
from ..tir.expr import Compute, Const, Reduction, as_expr, call, cast, emax, emin, select
from .registry import register


def _clamp(e, d):
    return emin(emax(e, 0), as_expr(d) - 1)


def _ccws_infer(n):
    x, w = n.inputs[:2]
    bias, past = n.input(2), n.input(3)
    if x.dtype not in FLOATS or x.rank != 3 or w.rank != 3 or not sym.is_static(w.shape[2]):
        raise n.unsupported(f"input {x.dtype}[rank {x.rank}], weight of rank {w.rank} (float, rank 3, static k)")
    if n.attr("activation", "none") not in ("none", "silu", "swish"):
        raise n.unsupported(f"activation {n.attr('activation')}")
    k = int(w.shape[2])
    if not (sym.prove_eq(w.shape[0], x.shape[1]) and w.shape[1] == 1):
        raise n.unsupported(f"weight of shape {[sym.to_str(d) for d in w.shape]} (depthwise: [channels, 1, k])")
    if past is not None and not (past.rank == 3 and sym.is_static(past.shape[2]) and past.shape[2] == k - 1):
        raise n.unsupported(f"past_state of shape {[sym.to_str(d) for d in past.shape]} (expected length {k - 1})")
    if bias is not None and bias.rank != 1:
        raise n.unsupported("bias of rank other than 1")
    return [TensorType(tuple(x.shape), x.dtype), TensorType((x.shape[0], x.shape[1], k - 1), x.dtype)]


def _ccws_lower(ctx, n):
    """output[b, c, t] = act(bias[c] + sum_j w[c, 0, j] * padded[b, c, t + j]), padded = past_state (zeros if
    absent) followed by the input; present_state = padded's last k - 1 positions (onnx's reference)."""
    x, w = ctx.tensor(n.inputs[0]), ctx.tensor(n.inputs[1])
    bias = ctx.tensor(n.input(2)) if n.input(2) is not None else None
    past = ctx.tensor(n.input(3)) if n.input(3) is not None else None
    k = int(n.inputs[1].shape[2])
    dt = "float32" if x.dtype in ("float16", "bfloat16") else x.dtype
    T = x.shape[2]

    def padded(b, c, p):
        """padded[b, c, p] for p in [0, k - 1 + T)."""
        cur = cast(x[[b, c, _clamp(p - Const(k - 1), T)]], dt)
        if k == 1:
            return cur
        prev = cast(past[[b, c, _clamp(p, k - 1)]], dt) if past is not None else Const(0.0, dt)
        return select(p < Const(k - 1), prev, cur)

    def post(acc, i):
        v = acc if bias is None else acc + cast(bias[[i[1]]], dt)
        if n.attr("activation", "none") in ("silu", "swish"):
            v = v / (Const(1.0, dt) + call("exp", -v))
        return v

    conv = Compute(n.name, x.shape, x.dtype,
                   lambda i, r: cast(w[[i[1], Const(0), r[0]]], dt) * padded(i[0], i[1], i[2] + r[0]),
                   Reduction([k], "sum", 0.0, post=post))
    state = Compute(n.name + "_state", n.out_types[1].shape, x.dtype,
                    lambda i: cast(padded(i[0], i[1], i[2] + as_expr(T)), x.dtype))
    return [conv, state]


register("CausalConvWithState", _ccws_infer, _ccws_lower, "reduce")


# ---------------------------------------------------------------- LinearAttention
_RULES = ("linear", "gated", "delta", "gated_delta")


def _la_dims(n):
    q, k, v = n.inputs[:3]
    hq, hkv = n.attr("q_num_heads"), n.attr("kv_num_heads")
    rule = n.attr("update_rule", "gated_delta")
    if rule not in _RULES:
        raise n.unsupported(f"update_rule {rule}")
    if not hq or not hkv or hq % hkv:
        raise n.unsupported(f"q_num_heads {hq}, kv_num_heads {hkv} (a positive multiple of it)")
    if any(t.rank != 3 or not sym.is_static(t.shape[2]) for t in (q, k, v)):
        raise n.unsupported("query/key/value must be [B, T, heads * dim] with static last dims")
    if q.shape[2] % hq or k.shape[2] % hkv or v.shape[2] % hkv or q.shape[2] // hq != k.shape[2] // hkv:
        raise n.unsupported(f"last dims {q.shape[2]}, {k.shape[2]}, {v.shape[2]} for {hq} / {hkv} heads")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != (n.input(4) is not None) or delta != (n.input(5) is not None):
        raise n.unsupported(f"update_rule {rule} with{'' if n.input(4) is not None else 'out'} decay and "
                            f"with{'' if n.input(5) is not None else 'out'} beta")
    return hq, hkv, q.shape[2] // hq, v.shape[2] // hkv, gating, delta


def _la_infer(n):
    q, v, past = n.inputs[0], n.inputs[2], n.input(3)
    if q.dtype not in FLOATS:
        raise n.unsupported(f"dtype {q.dtype}")
    hq, hkv, dk, dv, gating, delta = _la_dims(n)
    if gating and n.inputs[4].shape[2] not in (hkv, hkv * dk):
        raise n.unsupported(f"decay's last dim {n.inputs[4].shape[2]} (kv_num_heads or kv_num_heads * d_k)")
    if delta and n.inputs[5].shape[2] not in (hkv, 1):
        raise n.unsupported(f"beta's last dim {n.inputs[5].shape[2]} (kv_num_heads or 1)")
    b = q.shape[0]
    if past is not None and (past.rank != 4 or list(past.shape[1:]) != [hkv, dk, dv]):
        raise n.unsupported(f"past_state of shape {[sym.to_str(d) for d in past.shape]}")
    return [TensorType((b, q.shape[1], hq * dv), q.dtype),
            TensorType((b, hkv, dk, dv), past.dtype if past is not None else q.dtype)]


def _la_lower(ctx, n):
    """The recurrence of onnx's reference, token by token in float32. Each column m of a head's state S [d_k, d_v]
    evolves by itself (decay scales it, the delta rule reads S^T k at m only, the update adds k * u_m), so the
    kernel's independent loops are (batch, kv head, m) and a serial loop over tokens runs inside:
    S[:, m] = past_state[:, m] (or 0), then per token S[:, m] *= exp(g_t); u = beta_t * (v_t[m] - S[:, m] . k_t) (delta rules) else v_t[m]; S[:, m] += k_t * u;
    out_t[head, m] = scale * q_t[head] . S[:, m] for the query heads sharing the kv head."""
    from ..tir.expr import For, Let, Assign, Seq, Store, Var, Kernel, Load
    hq, hkv, dk, dv, gating, delta = _la_dims(n)
    G = hq // hkv
    q, k, v = (ctx.buffer(x) for x in n.inputs[:3])
    g = ctx.buffer(n.inputs[4]) if gating else None
    beta = ctx.buffer(n.inputs[5]) if delta else None
    B, T = n.inputs[0].shape[:2]
    f32 = "float32" if n.inputs[0].dtype != "float64" else "float64"
    scale = n.attr("scale", 0.0) or 1.0 / float(dk) ** 0.5
    past = ctx.buffer(n.input(3)) if n.input(3) is not None else None
    state = ctx.new_buffer(n.name + "_state", (B, hkv, dk, dv), f32)
    y = ctx.new_buffer(n.name, n.out_types[0].shape, n.out_types[0].dtype)
    ib, ih, im, it, id_, ij = (Var(s, "int64") for s in ("b", "h", "m", "t", "d", "j"))
    acc, u = Var("acc", f32), Var("u", f32)

    def ld(buf, idx):
        return cast(Load(buf, idx, buf.dtype), f32)

    def S(d):
        return [ib, ih, d, im]

    body = []
    if gating:
        gi = ih * Const(dk) + id_ if n.inputs[4].shape[2] == hkv * dk else ih
        body.append(For(id_, Const(dk), Store(state, S(id_), ld(state, S(id_)) * call("exp", ld(g, [ib, it, gi])))))
    vt = ld(v, [ib, it, ih * Const(dv) + im])
    kt = ld(k, [ib, it, ih * Const(dk) + id_])
    if delta:
        bi = ih if n.inputs[5].shape[2] == hkv else Const(0)
        body += [Let(acc, Const(0.0, f32)), For(id_, Const(dk), Assign(acc, acc + ld(state, S(id_)) * kt)),
                 Let(u, ld(beta, [ib, it, bi]) * (vt - acc))]
    else:
        body.append(Let(u, vt))
    body.append(For(id_, Const(dk), Store(state, S(id_), ld(state, S(id_)) + kt * u)))
    head = ih * Const(G) + ij
    read = Seq([Assign(acc, Const(0.0, f32)),
                For(id_, Const(dk), Assign(acc, acc + ld(q, [ib, it, head * Const(dk) + id_]) * ld(state, S(id_)))),
                Store(y, [ib, it, head * Const(dv) + im], cast(acc * Const(scale, f32), y.dtype))])
    if not delta:
        body.append(Let(acc, Const(0.0, f32)))
    body.append(For(ij, Const(G), read))
    init = For(id_, Const(dk), Store(state, S(id_), ld(past, S(id_)) if past is not None else Const(0.0, f32)))
    nest = For(ib, as_expr(B), For(ih, Const(hkv), For(im, Const(dv), Seq([init, For(it, as_expr(T), Seq(body))]))))
    ctx.kernel(Kernel("k_" + n.name, nest, [b for b in (q, k, v, g, beta, past) if b is not None], [y, state]))
    present = Compute(n.name + "_present", (B, hkv, dk, dv), n.out_types[1].dtype,
                      lambda i: cast(Load(state, list(i), f32), n.out_types[1].dtype))
    return [y, present]


register("LinearAttention", _la_infer, _la_lower, "opaque")
