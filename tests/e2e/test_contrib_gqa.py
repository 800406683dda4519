"""onnxruntime's GroupQueryAttention (sdk/frontend/contrib_attention.py) against onnxruntime's own CPU kernel on
random inputs: separate and packed QKV, grouped heads, prompts (right-padded rows included) and decoding steps with
a past cache (ragged rows, a past buffer longer than the total), rotary (interleaved or not, partial), scale,
softcap, local window, smooth softmax; every output compared, present_key / present_value whole (the zeros and
padding rows onnxruntime leaves there included); one compile with symbolic batch / sequence / past dims serves a
prompt and a decoding step; forms not covered are refused with a reason."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import ort_run

RNG = np.random.default_rng(19)
MS = "com.microsoft"
RTOL, ATOL = 1e-5, 2e-5


def gqa_model(heads, kv, head, packed=False, past=True, rot=0, total_input=True, **attrs):
    ins = ["query", "" if packed else "key", "" if packed else "value", "past_key" if past else "",
           "past_value" if past else "", "seqlens_k", "total_sequence_length"]
    if rot:
        ins += ["cos_cache", "sin_cache"]
        attrs["do_rotary"] = 1
    while not ins[-1]:
        ins.pop()
    d = (heads + 2 * kv) * head if packed else heads * head
    vi = [("query", T.FLOAT, ["batch", "seq", d])]
    if not packed:
        vi += [(x, T.FLOAT, ["batch", "seq", kv * head]) for x in ("key", "value")]
    if past:
        vi += [(x, T.FLOAT, ["batch", kv, "past", head]) for x in ("past_key", "past_value")]
    vi += [("seqlens_k", T.INT32, ["batch"]), ("total_sequence_length", T.INT32, [])]
    if rot:
        vi += [(x, T.FLOAT, [64, rot // 2]) for x in ("cos_cache", "sin_cache")]
    node = h.make_node("GroupQueryAttention", ins, ["out", "present_key", "present_value"], domain=MS,
                       num_heads=heads, kv_num_heads=kv, **attrs)
    g = h.make_graph([node], "g", [h.make_tensor_value_info(*v) for v in vi],
                     [h.make_tensor_value_info(x, T.FLOAT, None) for x in ("out", "present_key", "present_value")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid(MS, 1)])


def feeds(heads, kv, head, b, s, p, seqlens, total, packed=False, past=True, rot=0):
    d = (heads + 2 * kv) * head if packed else heads * head
    f = {"query": RNG.standard_normal((b, s, d)).astype(np.float32)}
    if not packed:
        f["key"] = RNG.standard_normal((b, s, kv * head)).astype(np.float32)
        f["value"] = RNG.standard_normal((b, s, kv * head)).astype(np.float32)
    if past:
        f["past_key"] = RNG.standard_normal((b, kv, p, head)).astype(np.float32)
        f["past_value"] = RNG.standard_normal((b, kv, p, head)).astype(np.float32)
    f["seqlens_k"] = np.asarray(seqlens, np.int32)
    f["total_sequence_length"] = np.asarray(total, np.int32)
    if rot:
        theta = RNG.random((64, rot // 2)) * 3
        f["cos_cache"], f["sin_cache"] = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    return f


def compare(got, want):
    for k, r in want.items():
        assert got[k].shape == r.shape, (k, got[k].shape, r.shape)
        np.testing.assert_allclose(got[k], r, rtol=RTOL, atol=ATOL, err_msg=k)


def check(m, cases, dims):
    """One compile, each feed set run by sdk and by onnxruntime."""
    bundle = sdk.compile(m, dims=dims)
    for f in cases:
        compare(bundle.run(f), ort_run(m, f))


DIMS = {"batch": 4, "seq": 8, "past": 16}

# (batch, seq, past, seqlens_k, total_sequence_length): prompts with right-padded rows (seqlens_k + 1 < seq), a
# one-row prompt, decoding steps with equal and ragged rows, a past buffer longer than the total (a shared cache)
PROMPT = [(3, 5, 0, [4, 2, 0], 5), (1, 1, 0, [0], 1)]
DECODE = [(2, 1, 6, [6, 6], 7), (3, 1, 6, [6, 3, 1], 7), (2, 1, 9, [6, 3], 7)]


@pytest.mark.parametrize("heads,kv,packed", [(4, 2, False), (6, 2, True), (2, 2, False), (4, 1, True)])
def test_gqa_prompt_and_decode(heads, kv, packed):
    head = 16
    m = gqa_model(heads, kv, head, packed=packed)
    check(m, [feeds(heads, kv, head, *c, packed=packed) for c in PROMPT + DECODE], DIMS)


def test_gqa_without_past():
    heads, kv, head = 4, 2, 16
    m = gqa_model(heads, kv, head, past=False)
    check(m, [feeds(heads, kv, head, *c, past=False) for c in PROMPT], {"batch": 4, "seq": 8})


@pytest.mark.parametrize("rot,interleaved,packed", [(32, 0, False), (32, 1, False), (16, 0, True), (16, 1, False)])
def test_gqa_rotary(rot, interleaved, packed):
    """do_rotary with cos/sin caches: every row's positions from its own past length; a partial rotary (16 of 32)."""
    heads, kv, head = 4, 2, 32
    m = gqa_model(heads, kv, head, packed=packed, rot=rot, rotary_interleaved=interleaved)
    check(m, [feeds(heads, kv, head, *c, packed=packed, rot=rot) for c in PROMPT + DECODE], DIMS)


@pytest.mark.parametrize("attrs", [{"scale": 0.3}, {"softcap": 2.0, "scale": 0.4}, {"local_window_size": 2},
                                   {"local_window_size": 3, "softcap": 5.0}, {"smooth_softmax": 1},
                                   {"smooth_softmax": 1, "local_window_size": 2}])
def test_gqa_attributes(attrs):
    heads, kv, head = 4, 2, 16
    m = gqa_model(heads, kv, head, **attrs)
    cases = [(3, 7, 0, [6, 4, 1], 7), (3, 1, 6, [6, 3, 1], 7), (1, 3, 4, [6], 7)]  # the last: a later prompt chunk
    check(m, [feeds(heads, kv, head, *c) for c in cases], DIMS)


@pytest.mark.parametrize("attrs,why", [({"causal": 0}, "causal"), ({"qk_output": 1}, "qk_output"),
                                       ({"sliding_window_cache": 1}, "sliding_window_cache")])
def test_gqa_refused_with_reason(attrs, why):
    with pytest.raises(sdk.errors.UnsupportedOp, match=f"GroupQueryAttention.*{why}"):
        sdk.compile(gqa_model(2, 1, 16, **attrs), dims=DIMS)


def test_gqa_extra_inputs_refused():
    m = gqa_model(2, 1, 16)
    node = m.graph.node[0]
    node.input.extend(["", "", "", "sink"])
    m.graph.input.append(h.make_tensor_value_info("sink", T.FLOAT, [2]))
    with pytest.raises(sdk.errors.UnsupportedOp, match="GroupQueryAttention.*head_sink"):
        sdk.compile(m, dims=DIMS)
