"""onnxruntime's transformer-optimizer ops (domain ``com.microsoft``) as standard ONNX subgraphs.

``onnxruntime.transformers.optimizer`` fuses BERT-, GPT- and Llama-style graphs into Attention,
MultiHeadAttention, EmbedLayerNormalization, RotaryEmbedding, FusedMatMul ...; files shipped after that step hold
them. Each becomes the standard graph it stands for (MatMul, Softmax, Gather, LayerNormalization ...), with
onnxruntime's exact CPU semantics: masked scores get ``mask_filter_value`` (default -10000) added, not -inf;
a padding mask and the causal mask add up; a 1-d ``mask_index`` [B] holds each row's number of valid keys.
The compiler's own attention and GEMM lowering then takes the standard graph (one op set to lower).

A node whose form is not covered (past / present state, packed QKV, rotary inside Attention, a mask whose rank is
not known ...) fails its guard, stays as it is and is reported by the importer as unsupported, naming the node.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .node_fields import node_attr as _attr
from .node_fields import node_input as _ins


def _outs_used(n, *allowed) -> bool:
    return all(not o or k in allowed for k, o in enumerate(n.output))


# ---------------------------------------------------------------------------------------------------------------
# small builders on the contrib emitter (opset-dependent forms)

def _np_dtype(e, ref: str):
    info = e.info(ref)
    if info and info[0] == TensorProto.FLOAT16:
        return np.float16
    return np.float32


def _unsqueeze(e, x: str, axes: List[int]) -> str:
    if e.opset >= 13:
        return e.op("Unsqueeze", [x, e.const(axes, np.int64)])
    return e.op("Unsqueeze", [x], axes=axes)


def _split(e, x: str, sizes: List[int], axis: int) -> List[str]:
    outs = [e.name("split") for _ in sizes]
    if e.opset >= 13:
        e.nodes.append(helper.make_node("Split", [x, e.const(sizes, np.int64)], outs, name=e.name("Split"), axis=axis))
    else:
        e.nodes.append(helper.make_node("Split", [x], outs, name=e.name("Split"), axis=axis, split=sizes))
    return outs


def _dim(e, x: str, axis: int) -> str:
    """Scalar int64: x.shape[axis]."""
    return e.op("Gather", [e.op("Shape", [x]), e.const(axis, np.int64)], axis=0)


def _arange(e, n: str) -> str:
    """[n] int64: 0 .. n-1, n a scalar int64."""
    return e.op("Range", [e.const(0, np.int64), n, e.const(1, np.int64)])


def _filter(e, valid: str, value: float, dt) -> str:
    """Where(valid, 0, value): onnxruntime's additive mask."""
    return e.op("Where", [valid, e.const(0.0, dt), e.const(value, dt)])


def _heads(e, x: str, n_heads: int, head: int) -> str:
    """[B, S, N*H] -> [B, N, S, H]."""
    return e.op("Transpose", [e.op("Reshape", [x, e.const([0, 0, n_heads, head], np.int64)])], perm=[0, 2, 1, 3])


def _merge_heads(e, x: str, out: str) -> str:
    """[B, N, S, H] -> [B, S, N*H]."""
    t = e.op("Transpose", [x], perm=[0, 2, 1, 3])
    return e.op("Reshape", [t, e.const([0, 0, -1], np.int64)], out)


def _mask_bias(e, mask: str, batch_of: str, keys_of: str, value: float, dt) -> str:
    """The additive padding mask, broadcastable to scores [B, N, S, T]: a 1-d mask [B] holds each row's number
    of valid keys (keys at or after it are masked); 2-d [B, T] and 3-d [B, S, T] masks hold 1 (keep) / 0."""
    rank = len(e.info(mask)[1])
    if rank == 1:
        ends = _unsqueeze(e, e.op("Cast", [mask], to=TensorProto.INT64), [1])          # [B, 1]
        valid = e.op("Less", [_arange(e, _dim(e, keys_of, 1)), ends])                  # [B, T]
        return _unsqueeze(e, _filter(e, valid, value, dt), [1, 2])
    valid = e.op("Greater", [mask, e.const(0, _int_dtype(e, mask))])
    return _unsqueeze(e, _filter(e, valid, value, dt), [1, 2] if rank == 2 else [1])


def _int_dtype(e, x: str):
    info = e.info(x)
    return {TensorProto.INT64: np.int64, TensorProto.FLOAT: np.float32,
            TensorProto.FLOAT16: np.float16}.get(info[0] if info else None, np.int32)


def _causal_bias(e, q: str, keys: str, value: float, dt) -> str:
    """[S, T]: value where key j > query i (no past state: T == S)."""
    i = _unsqueeze(e, _arange(e, _dim(e, q, 1)), [1])
    j = _arange(e, _dim(e, keys, 1))
    return _filter(e, e.op("Not", [e.op("Greater", [j, i])]), value, dt)


def _sdpa(e, q: str, k: str, v: str, n_heads: int, hq: int, hv: int, scale: Optional[float], biases: List[str],
          out: str, dt):
    """softmax(q k^T * scale + biases) v over [B, S, N*H] inputs, into [B, S, N*Hv]."""
    qh = _heads(e, q, n_heads, hq)
    kt = e.op("Transpose", [e.op("Reshape", [k, e.const([0, 0, n_heads, hq], np.int64)])], perm=[0, 2, 3, 1])
    vh = _heads(e, v, n_heads, hv)
    s = e.op("Mul", [e.op("MatMul", [qh, kt]), e.const(scale if scale else 1.0 / math.sqrt(hq), dt)])
    for b in biases:
        s = e.op("Add", [s, b])
    _merge_heads(e, e.op("MatMul", [e.op("Softmax", [s], axis=-1), vh]), out)


# ---------------------------------------------------------------------------------------------------------------
# Attention: merged QKV projection + attention, no past state

def _attention_sizes(e, n):
    sizes = _attr(n, "qkv_hidden_sizes")
    if sizes:
        return [int(s) for s in sizes]
    w = e.info(n.input[1])
    if not w or len(w[1]) != 2 or not isinstance(w[1][1], int) or w[1][1] % 3:
        return None
    return [w[1][1] // 3] * 3


def _attention_guard(n, e) -> bool:
    if int(_attr(n, "do_rotary", 0)) or int(_attr(n, "past_present_share_buffer", 0)):
        return False
    if _ins(n, 4) or _ins(n, 6) or not _outs_used(n, 0):  # past state / present output
        return False
    sizes = _attention_sizes(e, n)
    heads = int(_attr(n, "num_heads", 0))
    if not sizes or heads <= 0 or any(s % heads for s in sizes) or sizes[0] != sizes[1]:
        return False
    return not _ins(n, 3) or _mask_ok(e, _ins(n, 3), n.input[0])


def _mask_ok(e, mask: str, x: str) -> bool:
    """Mask forms covered: 1-d [B] (not [2B] start/end pairs), 2-d, 3-d raw masks."""
    info = e.info(mask)
    if not info or len(info[1]) not in (1, 2, 3):
        return False
    if len(info[1]) == 1:
        xi = e.info(x)
        return bool(xi) and info[1][0] is not None and info[1][0] == xi[1][0]
    return True


def _attention(e, n):
    x, w = n.input[0], n.input[1]
    heads = int(_attr(n, "num_heads"))
    sizes = _attention_sizes(e, n)
    dt = _np_dtype(e, w)
    y = e.op("MatMul", [x, w])
    if _ins(n, 2):
        y = e.op("Add", [y, n.input[2]])
    q, k, v = _split(e, y, sizes, axis=2)
    biases = _score_biases(e, n, 3, x, x, dt)
    _sdpa(e, q, k, v, heads, sizes[0] // heads, sizes[2] // heads, _attr(n, "scale"), biases, n.output[0], dt)


def _score_biases(e, n, mask_input: int, q, k, dt) -> List[str]:
    """The terms Attention and MultiHeadAttention add to the scores: the padding mask (input ``mask_input``), the
    causal mask (``unidirectional``), both at ``mask_filter_value``, and ``attention_bias`` (input 5)."""
    fv = float(_attr(n, "mask_filter_value", -10000.0))
    biases = []
    if _ins(n, mask_input):
        biases.append(_mask_bias(e, n.input[mask_input], q, k, fv, dt))
    if int(_attr(n, "unidirectional", 0)):
        biases.append(_causal_bias(e, q, k, fv, dt))
    if _ins(n, 5):
        biases.append(n.input[5])
    return biases


# ---------------------------------------------------------------------------------------------------------------
# MultiHeadAttention: separate (already projected) Q, K, V in [B, S, D], no past state

def _mha_guard(n, e) -> bool:
    if not _outs_used(n, 0) or any(_ins(n, k) for k in (6, 7, 8, 9)):
        return False
    heads = int(_attr(n, "num_heads", 0))
    q, k, v = (e.info(_ins(n, j)) if _ins(n, j) else None for j in range(3))
    if heads <= 0 or not (q and k and v) or any(len(t[1]) != 3 for t in (q, k, v)):
        return False  # packed QKV / KV and BNSH key / value forms are not covered
    dims = [t[1][2] for t in (q, k, v)]
    if not all(isinstance(d, int) and d % heads == 0 for d in dims) or dims[0] != dims[1]:
        return False
    return not _ins(n, 4) or _mask_ok(e, n.input[4], n.input[1])


def _mha(e, n):
    heads = int(_attr(n, "num_heads"))
    q, k, v = n.input[0], n.input[1], n.input[2]
    dq, dv = e.info(q)[1][2], e.info(v)[1][2]
    dt = _np_dtype(e, q)
    if _ins(n, 3):
        bq, bk, bv = _split(e, n.input[3], [dq, dq, dv], axis=0)
        q, k, v = e.op("Add", [q, bq]), e.op("Add", [k, bk]), e.op("Add", [v, bv])
    biases = _score_biases(e, n, 4, q, k, dt)
    _sdpa(e, q, k, v, heads, dq // heads, dv // heads, _attr(n, "scale"), biases, n.output[0], dt)


# ---------------------------------------------------------------------------------------------------------------
# EmbedLayerNormalization: word + position (+ segment) embeddings, LayerNorm; mask_index = count of ones per row

def _embed_guard(n, e) -> bool:
    return bool(_ins(n, 5)) and bool(_ins(n, 6))


def _embed_layer_norm(e, n):
    ids = n.input[0]
    s = e.op("Gather", [n.input[2], ids], axis=0)
    if _ins(n, 8):
        pos = e.op("Gather", [n.input[3], n.input[8]], axis=0)
    else:
        pos = e.op("Gather", [n.input[3], _arange(e, _dim(e, ids, 1))], axis=0)      # [S, H], broadcast
    s = e.op("Add", [s, pos])
    if _ins(n, 1) and _ins(n, 4):
        s = e.op("Add", [s, e.op("Gather", [n.input[4], n.input[1]], axis=0)])
    if len(n.output) > 2 and n.output[2]:
        s = e.op("Identity", [s], n.output[2])
    e.op("LayerNormalization", [s, n.input[5], n.input[6]], n.output[0], axis=-1,
         epsilon=float(_attr(n, "epsilon", 1e-12)))
    if len(n.output) > 1 and n.output[1]:
        if _ins(n, 7):
            ones = e.op("Cast", [e.op("Equal", [n.input[7], e.const(1, _int_dtype(e, n.input[7]))])],
                        to=TensorProto.FLOAT)
            if e.opset >= 13:
                cnt = e.op("ReduceSum", [ones, e.const([1], np.int64)], keepdims=0)
            else:
                cnt = e.op("ReduceSum", [ones], axes=[1], keepdims=0)
            e.op("Cast", [cnt], n.output[1], to=TensorProto.INT32)
        else:  # no mask: zeros, as onnxruntime
            zeros = e.op("ConstantOfShape", [_unsqueeze(e, _dim(e, ids, 0), [0])],
                         value=numpy_helper.from_array(np.zeros(1, np.int32)))
            e.op("Identity", [zeros], n.output[1])
        b = e.info(ids)
        e.note(n.output[1], TensorProto.INT32, [b[1][0] if b else None])


# ---------------------------------------------------------------------------------------------------------------
# RotaryEmbedding

def _rotary_guard(n, e) -> bool:
    if int(_attr(n, "is_packed_batching", 0)) or float(_attr(n, "scale", 1.0)) != 1.0:
        return False
    x, cos = e.info(n.input[0]), e.info(n.input[2])
    if not x or len(x[1]) not in (3, 4) or not cos or len(cos[1]) != 2 or not isinstance(cos[1][1], int):
        return False
    rot, heads = int(_attr(n, "rotary_embedding_dim", 0)), int(_attr(n, "num_heads", 0))
    if len(x[1]) == 4:
        return isinstance(x[1][3], int)
    return not rot or heads > 0  # a partial rotary needs num_heads to find the head size in [B, S, D]


def _rotary(e, n):
    x, pos, cos_c, sin_c = n.input[:4]
    xi, half = e.info(x), e.info(cos_c)[1][1]
    rot, heads = int(_attr(n, "rotary_embedding_dim", 0)) or 2 * half, int(_attr(n, "num_heads", 0))
    three = len(xi[1]) == 3
    if three:
        head = (xi[1][2] // heads) if heads and isinstance(xi[1][2], int) else None
        if head is None:
            head = rot  # num_heads 0: the rotary covers the whole head
        xs = e.op("Reshape", [x, e.const([0, 0, -1, head], np.int64)])            # [B, S, N, H]
    else:
        head, xs = xi[1][3], x                                                       # [B, N, S, H]
    pinfo = e.info(pos)
    if pinfo and len(pinfo[1]) == 1:  # one start position: pos[0] + 0 .. S-1
        seq = _dim(e, x, 1 if three else 2)
        pos = _unsqueeze(e, e.op("Add", [_arange(e, seq), e.op("Cast", [pos], to=TensorProto.INT64)]), [0])
    cos = e.op("Gather", [cos_c, pos], axis=0)                                      # [B|1, S, half]
    sin = e.op("Gather", [sin_c, pos], axis=0)
    cos, sin = (_unsqueeze(e, t, [2] if three else [1]) for t in (cos, sin))
    y = _rotate(e, xs, cos, sin, rot, half, head, bool(int(_attr(n, "interleaved", 0))))
    if three:
        e.op("Reshape", [y, e.const([0, 0, -1], np.int64)], n.output[0])
    else:
        e.op("Identity", [y], n.output[0])


def _rotate(e, xs: str, cos: str, sin: str, rot: int, half: int, head: int, interleaved: bool) -> str:
    """The rotary embedding of the first ``rot`` channels of the 4-d ``xs`` (last axis: a head of ``head``
    channels), ``cos`` / ``sin`` [.., half] broadcast against it: pairs (x[i], x[i + half]), or (x[2i], x[2i+1])
    when interleaved, rotated by the angle; the other channels pass."""
    parts = _split(e, xs, [rot, head - rot], axis=-1) if rot < head else [xs]
    xr = parts[0]
    if interleaved:
        pairs = e.op("Reshape", [xr, e.const([0, 0, 0, half, 2], np.int64)])
        a, b = _split(e, pairs, [1, 1], axis=-1)
        c5, s5 = _unsqueeze(e, cos, [4]), _unsqueeze(e, sin, [4])
        ya = e.op("Sub", [e.op("Mul", [a, c5]), e.op("Mul", [b, s5])])
        yb = e.op("Add", [e.op("Mul", [b, c5]), e.op("Mul", [a, s5])])
        yr = e.op("Reshape", [e.op("Concat", [ya, yb], axis=-1), e.const([0, 0, 0, rot], np.int64)])
    else:
        a, b = _split(e, xr, [half, half], axis=-1)
        ya = e.op("Sub", [e.op("Mul", [a, cos]), e.op("Mul", [b, sin])])
        yb = e.op("Add", [e.op("Mul", [b, cos]), e.op("Mul", [a, sin])])
        yr = e.op("Concat", [ya, yb], axis=-1)
    return e.op("Concat", [yr, parts[1]], axis=-1) if len(parts) > 1 else yr


# ---------------------------------------------------------------------------------------------------------------
# FusedMatMul, MatMulNBits, NhwcConv, GroupNorm

def _fused_matmul_guard(n, e) -> bool:
    if int(_attr(n, "transBatchA", 0)) or int(_attr(n, "transBatchB", 0)):
        return False
    return all((not int(_attr(n, t, 0))) or (e.info(x) and len(e.info(x)[1]) >= 2)
               for t, x in (("transA", n.input[0]), ("transB", n.input[1])))


def _swap_last(e, x: str) -> str:
    r = len(e.info(x)[1])
    return e.op("Transpose", [x], perm=list(range(r - 2)) + [r - 1, r - 2])


def _fused_matmul(e, n):
    a, b = n.input[0], n.input[1]
    a = _swap_last(e, a) if int(_attr(n, "transA", 0)) else a
    b = _swap_last(e, b) if int(_attr(n, "transB", 0)) else b
    alpha = float(_attr(n, "alpha", 1.0))
    if alpha == 1.0:
        e.op("MatMul", [a, b], n.output[0])
    else:
        e.op("Mul", [e.op("MatMul", [a, b]), e.fconst(alpha, n.input[0])], n.output[0])


def _nbits_guard(n, e) -> bool:
    if int(_attr(n, "weight_prepacked", 0)) or _ins(n, 4):
        return False
    return all(e.array(_ins(n, k)) is not None for k in (1, 2)) and \
        (not _ins(n, 3) or e.array(n.input[3]) is not None)


def dequantize_nbits(b: np.ndarray, scales: np.ndarray, zp: Optional[np.ndarray], K: int, N: int, bits: int,
                     block: int) -> np.ndarray:
    """MatMulNBits' weight [K, N] in float32: (q - zero_point) * scale per block of ``block`` rows along K."""
    kb = (K + block - 1) // block
    per = 8 // bits
    q = np.zeros((N, kb, block), np.int32)
    raw = b.reshape(N, kb, -1).astype(np.int32)
    for j in range(per):
        q[:, :, j::per] = (raw >> (bits * j)) & ((1 << bits) - 1)
    s = scales.reshape(N, kb).astype(np.float32)
    if zp is None:
        z = np.full((N, kb), float(1 << (bits - 1)), np.float32)
    elif zp.dtype == np.uint8:  # packed like B along the blocks
        zr = zp.reshape(N, -1).astype(np.int32)
        z = np.zeros((N, zr.shape[1] * per), np.int32)
        for j in range(per):
            z[:, j::per] = (zr >> (bits * j)) & ((1 << bits) - 1)
        z = z[:, :kb].astype(np.float32)
    else:
        z = zp.reshape(N, kb).astype(np.float32)
    w = (q.astype(np.float32) - z[:, :, None]) * s[:, :, None]
    return np.ascontiguousarray(w.reshape(N, kb * block)[:, :K].T)


def _nbits(e, n):
    K, N = int(_attr(n, "K")), int(_attr(n, "N"))
    zp = e.array(_ins(n, 3)) if _ins(n, 3) else None
    scales = e.array(n.input[2])
    w = dequantize_nbits(e.array(n.input[1]), scales, zp, K, N, int(_attr(n, "bits", 4)), int(_attr(n, "block_size")))
    y = e.op("MatMul", [n.input[0], e.const(w.astype(scales.dtype), scales.dtype)])
    if _ins(n, 5):
        e.op("Add", [y, n.input[5]], n.output[0])
    else:
        e.op("Identity", [y], n.output[0])


def _nhwc_conv(e, n):
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    x = e.op("Transpose", [n.input[0]], perm=[0, 3, 1, 2])
    w = n.input[1]
    y = e.op("Conv", [x, w] + ([n.input[2]] if _ins(n, 2) else []), **attrs)
    e.op("Transpose", [y], n.output[0], perm=[0, 2, 3, 1])


def _nhwc_conv_guard(n, e) -> bool:
    x = e.info(n.input[0])
    return bool(x) and len(x[1]) == 4


def _group_norm_guard(n, e) -> bool:
    x = e.info(n.input[0])
    return bool(x) and len(x[1]) == 4 and isinstance(x[1][1 if not int(_attr(n, "channels_last", 1)) else 3], int)


def _group_norm(e, n):
    last = int(_attr(n, "channels_last", 1))
    x = n.input[0]
    c = e.info(x)[1][3 if last else 1]
    groups, eps = int(_attr(n, "groups")), float(_attr(n, "epsilon", 1e-5))
    dt = _np_dtype(e, x)
    if last:
        x = e.op("Transpose", [x], perm=[0, 3, 1, 2])
    g = e.op("Reshape", [x, e.const([0, groups, -1], np.int64)])                     # [N, G, C/G*H*W]
    if e.opset >= 18:
        mean = e.op("ReduceMean", [g, e.const([2], np.int64)], keepdims=1)
    else:
        mean = e.op("ReduceMean", [g], axes=[2], keepdims=1)
    d = e.op("Sub", [g, mean])
    if e.opset >= 18:
        var = e.op("ReduceMean", [e.op("Mul", [d, d]), e.const([2], np.int64)], keepdims=1)
    else:
        var = e.op("ReduceMean", [e.op("Mul", [d, d])], axes=[2], keepdims=1)
    y = e.op("Div", [d, e.op("Sqrt", [e.op("Add", [var, e.const(eps, dt)])])])
    y = e.op("Reshape", [y, e.op("Shape", [x])])
    shape = e.const([c, 1, 1], np.int64)
    y = e.op("Add", [e.op("Mul", [y, e.op("Reshape", [n.input[1], shape])]), e.op("Reshape", [n.input[2], shape])])
    if int(_attr(n, "activation", 0)) == 1:
        y = e.op("Mul", [y, e.op("Sigmoid", [y])])
    if last:
        e.op("Transpose", [y], n.output[0], perm=[0, 2, 3, 1])
    else:
        e.op("Identity", [y], n.output[0])


# ---------------------------------------------------------------------------------------------------------------
# GroupQueryAttention (onnxruntime-genai's model builder: Llama, Phi-3, Qwen, Mistral decoders with a KV cache)
#
# onnxruntime's CPU kernel, per batch row b with tot_b = seqlens_k[b] + 1 keys after the step and S new tokens:
# the row had P_b = max(tot_b - S, 0) cached keys (a prompt: 0, its shorter rows right-padded; a decoding step:
# tot_b - 1). present [B, Kv, max(total_sequence_length, past length), H] holds past[:P_b], then all S new rows
# (padding rows included) from P_b, then zeros. Query s sits at position P_b + s (its rotary angle); it sees the
# keys j with P_b + s + 1 - local_window_size <= j < min(P_b + s + 1, tot_b): a padding row sees the row's valid
# keys (its window: see below), and one that sees none gives zeros. A head_sink logit (per head), else
# smooth_softmax's 0, joins the softmax's denominator. Query head n uses key/value head n // (num_heads / kv_num_heads).

_GQA_ATTRS = {"num_heads", "kv_num_heads", "scale", "softcap", "local_window_size", "do_rotary", "rotary_interleaved",
              "smooth_softmax", "qk_norm_epsilon", "q_norm_epsilon", "k_norm_epsilon"}  # norm eps: unused w/o weights
_GQA_DEFAULTS = {"causal": 1, "qk_output": 0, "sliding_window_cache": 0, "k_quant_type": b"NONE",
                 "v_quant_type": b"NONE"}


def _gqa_sizes(n, e):
    """(packed, head size) from the query's last dim."""
    heads, kv = int(_attr(n, "num_heads", 0)), int(_attr(n, "kv_num_heads", 0))
    d = e.info(n.input[0])[1][2]
    packed = not _ins(n, 1)
    return packed, d // (heads + 2 * kv) if packed else d // heads


def gqa_refusal(n, e) -> Optional[str]:
    """Why this GroupQueryAttention node is not rewritten (None: it is)."""
    for a in n.attribute:
        v = helper.get_attribute_value(a)
        if a.name not in _GQA_ATTRS and _GQA_DEFAULTS.get(a.name, object()) != v:
            return f"attribute {a.name}={v!r} (quantized or windowed cache, bidirectional, QK output) is not covered"
    if any(_ins(n, k) for k in range(9, len(n.input)) if k not in (10, 11)):
        return "position_ids / KV scales / QK norm / query_seqlens inputs are not covered"
    bias = e.info(_ins(n, 10)) if _ins(n, 10) else None
    if _ins(n, 10) and (not bias or len(bias[1]) != 4):
        return "attention_bias must be 4-d [B or 1, num_heads or 1, S, total_sequence_length]"
    if not _outs_used(n, 0, 1, 2):
        return "the output_qk output is not covered"
    heads, kv = int(_attr(n, "num_heads", 0)), int(_attr(n, "kv_num_heads", 0))
    if heads <= 0 or kv <= 0 or heads % kv:
        return "num_heads must be a positive multiple of kv_num_heads"
    sink = e.info(_ins(n, 11)) if _ins(n, 11) else None
    if _ins(n, 11) and (not sink or sink[1] not in ([heads], [None])):
        return "head_sink must be [num_heads]"
    w, smooth = int(_attr(n, "local_window_size", -1)), int(_attr(n, "smooth_softmax", -1))
    if w == 0 or w < -1 or smooth not in (-1, 0, 1):
        return f"local_window_size {w} / smooth_softmax {smooth} out of range"
    if e.opset < 13:
        return "needs ai.onnx opset >= 13"
    q = e.info(n.input[0])
    if not q or len(q[1]) != 3 or not isinstance(q[1][2], int):
        return "the query's shape (rank 3, known hidden size) is not known"
    if q[0] not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        return "only float32 and float16 are covered"
    packed, head = _gqa_sizes(n, e)
    if packed:
        if _ins(n, 2) or q[1][2] % (heads + 2 * kv):
            return "packed QKV needs no value input and a hidden size (num_heads + 2 kv_num_heads) * head_size"
    else:
        k, v = e.info(_ins(n, 1)), e.info(_ins(n, 2))
        if q[1][2] % heads or not k or not v or any(len(t[1]) != 3 or t[1][2] != kv * head for t in (k, v)):
            return "key / value must be [B, S, kv_num_heads * head_size] with known hidden sizes"
    if bool(_ins(n, 3)) != bool(_ins(n, 4)):
        return "past_key and past_value go together"
    for x in (_ins(n, 3), _ins(n, 4)):
        t = e.info(x) if x else None
        if x and (not t or len(t[1]) != 4 or any(isinstance(d, int) and d != want
                                                  for d, want in ((t[1][1], kv), (t[1][3], head)))):
            return "past key / value must be BNSH [B, kv_num_heads, P, head_size]"
    if not _ins(n, 5) or not _ins(n, 6):
        return "seqlens_k and total_sequence_length are required"
    if int(_attr(n, "do_rotary", 0)):
        c = e.info(_ins(n, 7)) if _ins(n, 7) else None
        if not c or not _ins(n, 8) or len(c[1]) != 2 or not isinstance(c[1][1], int) or 2 * c[1][1] > head:
            return "do_rotary needs cos_cache / sin_cache [max_len, rotary_dim / 2] with rotary_dim <= head_size"
    return None


def _gqa_guard(n, e) -> bool:
    return gqa_refusal(n, e) is None


def _gqa_half(e, n):
    """float16: the float32 rewrite between Casts (onnxruntime's CPU kernel computes in float32 too, and its float16
    present is the float32 one rounded)."""
    f32 = TensorProto.FLOAT
    ins = []
    for k, x in enumerate(n.input):
        if x and k not in (5, 6):
            info, x = e.info(x), e.op("Cast", [x], to=f32)
            if info:
                e.note(x, f32, info[1])
        ins.append(x)
    outs = [e.name("f32") if o else "" for o in n.output]
    node = helper.make_node("GroupQueryAttention", ins, outs, domain=n.domain)
    node.attribute.extend(n.attribute)
    _gqa(e, node, window_at_last_key=True)
    for o, t in zip(n.output, outs):
        if o:
            e.op("Cast", [t], o, to=TensorProto.FLOAT16)


def _gqa(e, n, window_at_last_key=False):
    if e.info(n.input[0])[0] == TensorProto.FLOAT16:
        return _gqa_half(e, n)
    heads, kv = int(_attr(n, "num_heads")), int(_attr(n, "kv_num_heads"))
    packed, head = _gqa_sizes(n, e)
    i64 = TensorProto.INT64
    if packed:
        q, k, v = _split(e, n.input[0], [heads * head, kv * head, kv * head], axis=2)
    else:
        q, k, v = n.input[0], n.input[1], n.input[2]
    past_k, past_v = _ins(n, 3), _ins(n, 4)
    for x in (past_k, past_v):  # the builder names the cache's head size (kv_cache_dim): onnxruntime needs H there
        t = e.info(x) if x else None
        for d, value in ((t[1][1], kv), (t[1][3], head)) if t else ():
            if isinstance(d, str):
                e.pins[d] = value
    seq = _dim(e, n.input[0], 1)                                                        # S
    tot = e.op("Add", [e.op("Cast", [n.input[5]], to=i64), e.const(1, np.int64)])     # [B] keys after the step
    start = e.op("Max", [e.op("Sub", [tot, seq]), e.const(0, np.int64)])               # [B] P_b
    pos = e.op("Add", [_unsqueeze(e, start, [1]), _unsqueeze(e, _arange(e, seq), [0])])  # [B, S]
    q4 = e.op("Reshape", [q, e.const([0, 0, heads, head], np.int64)])
    k4 = e.op("Reshape", [k, e.const([0, 0, kv, head], np.int64)])
    v4 = e.op("Reshape", [v, e.const([0, 0, kv, head], np.int64)])
    if int(_attr(n, "do_rotary", 0)):
        half = e.info(n.input[7])[1][1]
        cos, sin = (_unsqueeze(e, e.op("Gather", [c, pos], axis=0), [2]) for c in n.input[7:9])   # [B, S, 1, half]
        inter = bool(int(_attr(n, "rotary_interleaved", 0)))
        q4 = _rotate(e, q4, cos, sin, 2 * half, half, head, inter)
        k4 = _rotate(e, k4, cos, sin, 2 * half, half, head, inter)
    qh, kh, vh = (e.op("Transpose", [t], perm=[0, 2, 1, 3]) for t in (q4, k4, v4))       # BNSH

    # present: past rows [0, P_b), the new rows from P_b, zeros after; length max(total_sequence_length, P)
    total = e.op("Cast", [e.op("Reshape", [n.input[6], e.const([], np.int64)])], to=i64)
    plen = _dim(e, past_k, 2) if past_k else e.const(0, np.int64)
    length = e.op("Max", [total, plen])
    # 0 .. L-1 cut from 0 .. P+S-1: a run-time L keeps P + S as its bound (total_sequence_length <= P + S)
    j = e.op("Slice", [_arange(e, e.op("Add", [plen, seq])), e.const([0], np.int64), _unsqueeze(e, length, [0])])
    rel = e.op("Sub", [_unsqueeze(e, j, [0]), _unsqueeze(e, start, [1])])                 # [B, L]
    new = e.op("And", [e.op("Not", [e.op("Less", [rel, e.const(0, np.int64)])]), e.op("Less", [rel, seq])])
    if past_k:
        old = e.op("Less", [_unsqueeze(e, j, [0]), _unsqueeze(e, start, [1])])
        src = e.op("Where", [old, _unsqueeze(e, j, [0]), e.op("Where", [new, e.op("Add", [rel, plen]),
                                                                           e.const(0, np.int64)])])
        keep = e.op("Or", [old, new])
    else:
        src, keep = e.op("Where", [new, rel, e.const(0, np.int64)]), new
    # rows of the concatenation [B * (P + S), Kv, H], gathered at b * (P + S) + src
    keep4 = _unsqueeze(e, keep, [1, 3])                                                  # [B, 1, L, 1]
    present = []
    for past, cur, out in ((past_k, kh, _ins_out(n, 1)), (past_v, vh, _ins_out(n, 2))):
        cat = e.op("Concat", [past, cur], axis=2) if past else cur
        rows = e.op("Reshape", [e.op("Transpose", [cat], perm=[0, 2, 1, 3]), e.const([-1, kv, head], np.int64)])
        if not present:
            width = _dim(e, cat, 2)
            base = e.op("Mul", [_arange(e, _dim(e, cat, 0)), width])
            flat = e.op("Add", [src, _unsqueeze(e, base, [1])])                              # [B, L]
        got = e.op("Transpose", [e.op("Gather", [rows, flat], axis=0)], perm=[0, 2, 1, 3])   # [B, Kv, L, H]
        present.append(e.op("Where", [keep4, got, e.const(0.0, np.float32)], out or None))

    # scores [B, Kv, G*S, L]: the G query heads of a key/value head share its keys
    qg = e.op("Reshape", [qh, e.const([0, kv, -1, head], np.int64)])
    s = e.op("MatMul", [qg, e.op("Transpose", [present[0]], perm=[0, 1, 3, 2])])
    s = e.op("Reshape", [s, e.const([0, heads, -1, 0], np.int64)])                        # [B, N, S, L]
    scale = float(_attr(n, "scale", 0.0)) or 1.0 / math.sqrt(head)
    s = e.op("Mul", [s, e.const(scale, np.float32)])
    cap = float(_attr(n, "softcap", 0.0))
    if cap > 0:
        s = e.op("Mul", [e.op("Tanh", [e.op("Div", [s, e.const(cap, np.float32)])]), e.const(cap, np.float32)])
    if _ins(n, 10):  # attention_bias, after softcap, by absolute key position (< total_sequence_length)
        col = e.op("Min", [j, e.op("Sub", [total, e.const(1, np.int64)])])  # past a longer buffer: masked anyway
        s = e.op("Add", [s, e.op("Gather", [n.input[10], col], axis=3)])
    end = e.op("Add", [pos, e.const(1, np.int64)])                                         # [B, S] causal end
    hi = e.op("Min", [end, _unsqueeze(e, tot, [1])])
    jj = _unsqueeze(e, j, [0, 1])                                                         # [1, 1, L]
    seen = e.op("Less", [jj, _unsqueeze(e, hi, [2])])
    w = int(_attr(n, "local_window_size", -1))
    if w > 0:  # a padding row's window: onnxruntime ends it at its causal end, or at the row's last key with
        # softcap / smooth softmax / head_sink or float16 (two kernel paths; rows onnxruntime leaves unspecified)
        smooth = int(_attr(n, "smooth_softmax", -1)) == 1 or bool(_ins(n, 11))
        lo = e.op("Sub", [hi if cap > 0 or smooth or window_at_last_key else end, e.const(w, np.int64)])
        seen = e.op("And", [seen, e.op("Not", [e.op("Less", [jj, _unsqueeze(e, lo, [2])])])])
    seen = _unsqueeze(e, seen, [1])                                                       # [B, 1, S, L]
    s = e.op("Where", [seen, s, e.const(np.finfo(np.float32).min, np.float32)])
    if _ins(n, 11):  # head_sink: one more logit per head in the denominator (smooth_softmax then unused)
        sink = e.op("Reshape", [n.input[11], e.const([1, heads, 1, 1], np.int64)])
        if e.opset >= 18:
            top = e.op("ReduceMax", [s, e.const([-1], np.int64)], keepdims=1)
        else:
            top = e.op("ReduceMax", [s], axes=[-1], keepdims=1)
        top = e.op("Max", [top, sink])                                                    # [B, N, S, 1]
        ex = e.op("Exp", [e.op("Sub", [s, top])])
        if e.opset >= 13:
            total = e.op("ReduceSum", [ex, e.const([-1], np.int64)], keepdims=1)
        else:
            total = e.op("ReduceSum", [ex], axes=[-1], keepdims=1)
        p = e.op("Div", [ex, e.op("Add", [total, e.op("Exp", [e.op("Sub", [sink, top])])])])
    elif int(_attr(n, "smooth_softmax", -1)) == 1:  # one more logit of 0 in the denominator
        pads = e.const([0, 0, 0, 0, 0, 0, 0, 1], np.int64)
        p = e.op("Softmax", [e.op("Pad", [s, pads, e.const(0.0, np.float32)])], axis=-1)
        p = e.op("Slice", [p, e.const([0], np.int64), e.const([-1], np.int64), e.const([3], np.int64)])
    else:  # a row that sees no key gives zeros
        p = e.op("Mul", [e.op("Softmax", [s], axis=-1), e.op("Cast", [seen], to=TensorProto.FLOAT)])
    o = e.op("MatMul", [e.op("Reshape", [p, e.const([0, kv, -1, 0], np.int64)]), present[1]])   # [B, Kv, G*S, H]
    o = e.op("Reshape", [o, e.const([0, heads, -1, head], np.int64)])
    _merge_heads(e, o, n.output[0])


def _ins_out(n, k: int) -> str:
    return n.output[k] if k < len(n.output) else ""


REWRITES: Dict[str, Callable] = {
    "Attention": _attention,
    "MultiHeadAttention": _mha,
    "EmbedLayerNormalization": _embed_layer_norm,
    "RotaryEmbedding": _rotary,
    "FusedMatMul": _fused_matmul,
    "MatMulNBits": _nbits,
    "NhwcConv": _nhwc_conv,
    "GroupNorm": _group_norm,
    "GroupQueryAttention": _gqa,
}
# guards take the node and the emitter (for shapes and constant inputs)
GUARDS: Dict[str, Callable] = {
    "Attention": _attention_guard,
    "MultiHeadAttention": _mha_guard,
    "EmbedLayerNormalization": _embed_guard,
    "RotaryEmbedding": _rotary_guard,
    "FusedMatMul": _fused_matmul_guard,
    "MatMulNBits": _nbits_guard,
    "NhwcConv": _nhwc_conv_guard,
    "GroupNorm": _group_norm_guard,
    "GroupQueryAttention": _gqa_guard,
}
# a reason for the importer's error when a guard refuses
REFUSALS: Dict[str, Callable] = {"GroupQueryAttention": gqa_refusal}
