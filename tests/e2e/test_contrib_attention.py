"""onnxruntime's transformer-optimizer ops (sdk/frontend/contrib_attention.py) against onnxruntime's own CPU
kernels on random inputs: Attention, MultiHeadAttention, EmbedLayerNormalization, RotaryEmbedding, FusedMatMul,
MatMulNBits (NhwcConv and GroupNorm have no CPU kernel there: checked against the standard graph / numpy), the
forms that are not covered refused with the node named, and BERT as onnxruntime's optimizer leaves it."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import ort_run
from test_contrib_ops import MS, c, model
from sdk.frontend.contrib_attention import dequantize_nbits

RNG = np.random.default_rng(5)
MODELS = Path(__file__).resolve().parents[1] / "models" / "ort_fused"


def rnd(*shape, s=1.0):
    return (s * RNG.standard_normal(shape)).astype(np.float32)


def check(m, feeds, dims, tol=2e-5, ref=None):
    got = sdk.compile(m, dims=dims).run(feeds)
    want = ref if ref is not None else ort_run(m, feeds)
    assert not any(n.domain == MS for n in sdk.frontend.contrib.expand_contrib_ops(m).graph.node)
    for k, r in want.items():
        assert got[k].shape == r.shape, (k, got[k].shape, r.shape)
        scale = max(1.0, float(np.abs(r).max()))
        assert np.abs(got[k].astype(np.float64) - r).max() <= tol * scale, (k, np.abs(got[k] - r).max())


def _mask(kind, b, s, t):
    if kind == "1d":
        return RNG.integers(1, t + 1, b).astype(np.int32)
    if kind == "2d":
        m = (RNG.random((b, t)) > 0.3).astype(np.int32)
        m[:, 0] = 1
        return m
    m = (RNG.random((b, s, t)) > 0.3).astype(np.int32)
    m[..., 0] = 1
    return m


MASK_SHAPES = {"1d": ["b"], "2d": ["b", "s"], "3d": ["b", "s", "s"]}


@pytest.mark.parametrize("mask,causal", [(None, 0), ("1d", 0), ("2d", 0), ("3d", 0), (None, 1), ("2d", 1)])
def test_attention(mask, causal):
    d, heads = 24, 3
    ins = ["x", "w", "bias"] + (["mask"] if mask else [])
    m = model([h.make_node("Attention", ins, ["y"], domain=MS, num_heads=heads, unidirectional=causal)],
              [("x", T.FLOAT, ["b", "s", d])] + ([("mask", T.INT32, MASK_SHAPES[mask])] if mask else []),
              [("y", T.FLOAT)], [c("w", rnd(d, 3 * d, s=0.3)), c("bias", rnd(3 * d, s=0.1))])
    feeds = {"x": rnd(3, 7, d)}
    if mask:
        feeds["mask"] = _mask(mask, 3, 7, 7)
    check(m, feeds, {"b": 4, "s": 12})


def test_attention_sizes_scale_bias():
    """qkv_hidden_sizes with a wider V, a custom scale, an attention_bias input, another mask_filter_value."""
    d, heads = 16, 2
    m = model([h.make_node("Attention", ["x", "w", "bias", "mask", "", "ab"], ["y"], domain=MS, num_heads=heads,
                           qkv_hidden_sizes=[8, 8, 12], scale=0.3, mask_filter_value=-1e4 * 3)],
              [("x", T.FLOAT, ["b", "s", d]), ("mask", T.INT32, ["b", "s"]), ("ab", T.FLOAT, [1, heads, "s", "s"])],
              [("y", T.FLOAT)], [c("w", rnd(d, 28, s=0.3)), c("bias", rnd(28, s=0.1))])
    check(m, {"x": rnd(2, 5, d), "mask": _mask("2d", 2, 5, 5), "ab": rnd(1, heads, 5, 5)}, {"b": 2, "s": 8})


@pytest.mark.parametrize("mask,causal", [(None, 0), ("2d", 0), ("1d", 0), (None, 1)])
def test_multi_head_attention_cross(mask, causal):
    """Already projected Q [B, S, D] against K / V [B, L, D] (L != S unless causal), with the packed bias."""
    d, heads = 16, 4
    ins = ["q", "k", "v", "bias"] + (["kpm"] if mask else [])
    shapes = {"1d": ["b"], "2d": ["b", "l"]}
    m = model([h.make_node("MultiHeadAttention", ins, ["y"], domain=MS, num_heads=heads, unidirectional=causal)],
              [("q", T.FLOAT, ["b", "s", d]), ("k", T.FLOAT, ["b", "l", d]), ("v", T.FLOAT, ["b", "l", d])]
              + ([("kpm", T.INT32, shapes[mask])] if mask else []),
              [("y", T.FLOAT)], [c("bias", rnd(3 * d, s=0.1))])
    s, l = (6, 6) if causal else (5, 9)
    feeds = {"q": rnd(2, s, d), "k": rnd(2, l, d), "v": rnd(2, l, d)}
    if mask:
        feeds["kpm"] = _mask(mask, 2, s, l)
    check(m, feeds, {"b": 2, "s": 10, "l": 10})


@pytest.mark.parametrize("segment,mask,pos_ids", [(True, True, False), (False, True, False), (True, False, False),
                                                  (True, True, True)])
def test_embed_layer_normalization(segment, mask, pos_ids):
    v, p, d = 50, 16, 12
    ins = ["ids", "seg" if segment else "", "we", "pe", "se" if segment else "", "g", "beta",
           "mask" if mask else "", "pos" if pos_ids else ""]
    inputs = [("ids", T.INT32, ["b", "s"])] + ([("seg", T.INT32, ["b", "s"])] if segment else []) \
        + ([("mask", T.INT32, ["b", "s"])] if mask else []) + ([("pos", T.INT32, ["b", "s"])] if pos_ids else [])
    m = model([h.make_node("EmbedLayerNormalization", ins, ["y", "mi", "sum"], domain=MS, epsilon=1e-5)],
              inputs, [("y", T.FLOAT), ("mi", T.INT32), ("sum", T.FLOAT)],
              [c("we", rnd(v, d)), c("pe", rnd(p, d)), c("se", rnd(2, d)), c("g", rnd(d) + 1), c("beta", rnd(d))])
    b, s = 3, 6
    feeds = {"ids": RNG.integers(0, v, (b, s)).astype(np.int32)}
    if segment:
        feeds["seg"] = RNG.integers(0, 2, (b, s)).astype(np.int32)
    if mask:
        feeds["mask"] = (RNG.random((b, s)) > 0.4).astype(np.int32)
    if pos_ids:
        feeds["pos"] = RNG.integers(0, p, (b, s)).astype(np.int32)
    check(m, feeds, {"b": 4, "s": 8})


@pytest.mark.parametrize("rank,interleaved,partial,scalar_pos",
                         [(3, 0, False, False), (3, 1, False, False), (4, 0, False, False), (4, 1, False, True),
                          (3, 0, True, False), (3, 1, True, True)])
def test_rotary_embedding(rank, interleaved, partial, scalar_pos):
    heads, head, max_pos = 2, 8, 32
    rot = 4 if partial else head
    attrs = dict(interleaved=interleaved)
    if partial:
        attrs.update(num_heads=heads, rotary_embedding_dim=rot)
    xs = ["b", "s", heads * head] if rank == 3 else ["b", heads, "s", head]
    ps = [1] if scalar_pos else ["b", "s"]
    ang = np.arange(max_pos)[:, None] * (0.5 ** np.arange(rot // 2))[None, :]
    m = model([h.make_node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], domain=MS, **attrs)],
              [("x", T.FLOAT, xs), ("pos", T.INT64, ps)], [("y", T.FLOAT)],
              [c("cos", np.cos(ang)), c("sin", np.sin(ang))])
    b, s = 2, 5
    x = rnd(b, s, heads * head) if rank == 3 else rnd(b, heads, s, head)
    pos = np.array([3], np.int64) if scalar_pos else RNG.integers(0, max_pos, (b, s)).astype(np.int64)
    check(m, {"x": x, "pos": pos}, {"b": 2, "s": 8})


@pytest.mark.parametrize("ta,tb,alpha", [(0, 0, 1.0), (0, 1, 0.5), (1, 0, 2.0), (1, 1, 1.0)])
def test_fused_matmul(ta, tb, alpha):
    m = model([h.make_node("FusedMatMul", ["a", "b"], ["y"], domain=MS, transA=ta, transB=tb, alpha=alpha)],
              [("a", T.FLOAT, [2, "n", 6] if ta else [2, 6, "n"]), ("b", T.FLOAT, [2, 5, "n"] if tb else [2, "n", 5])],
              [("y", T.FLOAT)])
    a = rnd(2, 4, 6) if ta else rnd(2, 6, 4)
    b = rnd(2, 5, 4) if tb else rnd(2, 4, 5)
    check(m, {"a": a, "b": b}, {"n": 4})


@pytest.mark.parametrize("zp,bias,k", [("packed", True, 64), (None, False, 48), ("packed", False, 40)])
def test_matmul_nbits(zp, bias, k):
    n, block, bits = 12, 32, 4
    kb = (k + block - 1) // block
    qb = RNG.integers(0, 256, (n, kb, block // 2)).astype(np.uint8)
    scales = (0.05 + 0.1 * RNG.random((n, kb))).astype(np.float32)
    inits = [c("B", qb, np.uint8), c("scales", scales)]
    ins = ["a", "B", "scales", "zp" if zp else ""]
    if zp:
        inits.append(c("zp", RNG.integers(0, 256, (n, (kb + 1) // 2)), np.uint8))
    if bias:
        ins += ["", "bias"]
        inits.append(c("bias", rnd(n)))
    m = model([h.make_node("MatMulNBits", ins, ["y"], domain=MS, K=k, N=n, bits=bits, block_size=block)],
              [("a", T.FLOAT, ["m", k])], [("y", T.FLOAT)], inits)
    check(m, {"a": rnd(3, k)}, {"m": 4}, tol=1e-4)


def test_nbits_dequantization_against_a_loop():
    """dequantize_nbits against the format written out element by element (low nibble first)."""
    n, k, block = 3, 40, 16
    kb = 3
    qb = RNG.integers(0, 256, (n, kb, block // 2)).astype(np.uint8)
    scales = RNG.random((n, kb)).astype(np.float32)
    zp = RNG.integers(0, 256, (n, 2)).astype(np.uint8)
    w = dequantize_nbits(qb, scales, zp, k, n, 4, block)
    for j in range(n):
        for kk in range(k):
            blk, r = divmod(kk, block)
            q = (qb[j, blk, r // 2] >> (4 * (r % 2))) & 15
            z = (zp[j, blk // 2] >> (4 * (blk % 2))) & 15
            assert w[kk, j] == np.float32((float(q) - z) * scales[j, blk])


def test_nhwc_conv_against_the_standard_graph():
    w, bias = rnd(6, 4, 3, 3, s=0.3), rnd(6)
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    m = model([h.make_node("NhwcConv", ["x", "w", "bias"], ["y"], domain=MS, **attrs)],
              [("x", T.FLOAT, ["n", 9, 9, 4])], [("y", T.FLOAT)], [c("w", w), c("bias", bias)])
    std = model([h.make_node("Transpose", ["x"], ["xc"], perm=[0, 3, 1, 2]),
                 h.make_node("Conv", ["xc", "w", "bias"], ["yc"], **attrs),
                 h.make_node("Transpose", ["yc"], ["y"], perm=[0, 2, 3, 1])],
                [("x", T.FLOAT, ["n", 9, 9, 4])], [("y", T.FLOAT)], [c("w", w), c("bias", bias)])
    x = rnd(2, 9, 9, 4)
    check(m, {"x": x}, {"n": 2}, ref=ort_run(std, {"x": x}))


@pytest.mark.parametrize("last,act", [(1, 1), (0, 0)])
def test_group_norm_against_numpy(last, act):
    ch, groups = 8, 4
    g, b = rnd(ch) + 1, rnd(ch)
    shape = ["n", 5, 6, ch] if last else ["n", ch, 5, 6]
    m = model([h.make_node("GroupNorm", ["x", "g", "b"], ["y"], domain=MS, groups=groups, epsilon=1e-5,
                           activation=act, channels_last=last)],
              [("x", T.FLOAT, shape)], [("y", T.FLOAT)], [c("g", g), c("b", b)])
    x = rnd(2, 5, 6, ch, s=2) if last else rnd(2, ch, 5, 6, s=2)
    xc = x.transpose(0, 3, 1, 2) if last else x
    xg = xc.reshape(2, groups, -1).astype(np.float64)
    y = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + 1e-5)).reshape(xc.shape)
    y = y * g[None, :, None, None] + b[None, :, None, None]
    if act:
        y = y / (1 + np.exp(-y))
    check(m, {"x": x}, {"n": 2}, ref={"y": y.transpose(0, 2, 3, 1) if last else y})


@pytest.mark.parametrize("node,inputs", [
    (h.make_node("Attention", ["x", "w", "bias", "", "past"], ["y", "present"], domain=MS, num_heads=2),
     [("x", T.FLOAT, [1, 4, 8]), ("past", T.FLOAT, [2, 1, 2, 3, 4])]),
    (h.make_node("Attention", ["x", "w", "bias"], ["y"], domain=MS, num_heads=2, do_rotary=1),
     [("x", T.FLOAT, [1, 4, 8])]),
    (h.make_node("MultiHeadAttention", ["q", "", ""], ["y"], domain=MS, num_heads=2),  # packed QKV
     [("q", T.FLOAT, [1, 4, 2, 3, 4])]),
])
def test_uncovered_forms_are_reported(node, inputs):
    m = model([node], inputs, [("y", T.FLOAT)], [c("w", rnd(8, 24)), c("bias", rnd(24))])
    with pytest.raises(sdk.errors.UnsupportedOp, match=f"com.microsoft.{node.op_type}"):
        sdk.compile(m)


@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("dims", [{"batch": 3, "seq": 9}, {"batch": 1, "seq": 16}])
def test_bert_fused_by_onnxruntime_optimizer(dims, fp16):
    """BERT (eager attention, TorchScript exporter) after onnxruntime.transformers.optimizer: EmbedLayerNormalization,
    Attention with its 1-d mask_index, SkipLayerNormalization, BiasGelu; padded rows in the batch; and the
    optimizer's float16 conversion of it (float16 weights and activations, float32 inputs / outputs)."""
    path = MODELS / ("bert_eager.ort_opt_fp16.onnx" if fp16 else "bert_eager.ort_opt.onnx")
    m = onnx.load(str(path))
    assert {"Attention", "EmbedLayerNormalization"} <= {n.op_type for n in m.graph.node if n.domain == MS}
    b, s = dims["batch"], dims["seq"]
    r = np.random.default_rng(s)
    mask = np.ones((b, s), np.int64)
    for i in range(1, b):
        mask[i, r.integers(1, s):] = 0
    feeds = {"input_ids": r.integers(0, 100, (b, s)).astype(np.int64), "attention_mask": mask,
             "token_type_ids": r.integers(0, 2, (b, s)).astype(np.int64)}
    got = sdk.compile(m, dims={"batch": 4, "seq": 16}).run(feeds)
    want = ort_run(m, feeds)
    for k, v in want.items():
        if fp16:  # both run float16 arithmetic: within a few float16 ulps of the output's scale
            assert np.abs(got[k] - v).max() <= 4e-3 * max(1.0, np.abs(v).max()), np.abs(got[k] - v).max()
        else:
            np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5)
