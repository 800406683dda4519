"""onnxruntime's GroupQueryAttention (sdk/frontend/contrib_attention.py) against onnxruntime's own CPU kernel on
random inputs: separate and packed QKV, grouped heads, prompts (right-padded rows included) and decoding steps with
a past cache (ragged rows, a past buffer longer than the total), rotary (interleaved or not, partial), scale,
softcap, local window, smooth softmax, head_sink, attention_bias, float16; every output compared, present_key /
present_value whole (the zeros and padding rows onnxruntime leaves there included); one compile with symbolic
batch / sequence / past dims serves a prompt and a decoding step (through the JIT, and once through the generated
C); forms not covered are refused with a reason. Then a 2-layer Llama-style decoder as onnxruntime-genai's model
builder lays it out (MatMulNBits projections, SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization,
GroupQueryAttention with do_rotary or fed by RotaryEmbedding nodes, seqlens_k / total_sequence_length from the
attention mask): a padded prompt, then one decoding step with the present cache, against onnxruntime, and through
generate=True; the same for a file that the builder itself wrote (tests/models/genai)."""
from pathlib import Path

import numpy as np
import onnx
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


def check(m, cases, dims, **kw):
    """One compile, each feed set run by sdk and by onnxruntime."""
    bundle = sdk.compile(m, dims=dims, **kw)
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


def test_gqa_generated_c():
    """The generated C (the bundle's demo program, -Wall -Wextra -Werror): packed QKV, rotary, window, softcap."""
    heads, kv, head = 4, 2, 16
    m = gqa_model(heads, kv, head, packed=True, rot=16, local_window_size=2, softcap=3.0)
    check(m, [feeds(heads, kv, head, *c, packed=True, rot=16) for c in PROMPT + DECODE], DIMS, engine="c")


@pytest.mark.parametrize("attrs,why", [({"causal": 0}, "causal"), ({"qk_output": 1}, "qk_output"),
                                       ({"sliding_window_cache": 1}, "sliding_window_cache")])
def test_gqa_refused_with_reason(attrs, why):
    with pytest.raises(sdk.errors.UnsupportedOp, match=f"GroupQueryAttention.*{why}"):
        sdk.compile(gqa_model(2, 1, 16, **attrs), dims=DIMS)


def _with_input(m, k, name, elem, shape):
    """``m``'s GroupQueryAttention with graph input ``name`` as its input ``k``."""
    node = m.graph.node[0]
    node.input.extend([""] * (k + 1 - len(node.input)))
    node.input[k] = name
    m.graph.input.append(h.make_tensor_value_info(name, elem, shape))
    return m


@pytest.mark.parametrize("attrs", [{"local_window_size": 3}, {"softcap": 4.0}])
def test_gqa_float16(attrs):
    """float16 in and out: onnxruntime's CPU kernel computes in float32 and rounds; the present cache is the
    float32 one rounded (exact here too), the output within float16 rounding of intermediate values."""
    heads, kv, head = 4, 2, 32
    m = gqa_model(heads, kv, head, rot=16, **attrs)
    for v in list(m.graph.input) + list(m.graph.output):
        if v.type.tensor_type.elem_type == T.FLOAT:
            v.type.tensor_type.elem_type = T.FLOAT16
    bundle = sdk.compile(m, dims=DIMS)
    for c in PROMPT + DECODE:
        f = feeds(heads, kv, head, *c, rot=16)
        f = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in f.items()}
        got, want = bundle.run(f), ort_run(m, f)
        for k, r in want.items():
            assert got[k].dtype == np.float16 and got[k].shape == r.shape, k
            tol = 0 if k.startswith("present") else 2e-3
            np.testing.assert_allclose(got[k].astype(np.float32), r.astype(np.float32), rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("attrs", [{}, {"local_window_size": 2}, {"smooth_softmax": 1, "softcap": 3.0}])
def test_gqa_head_sink(attrs):
    """head_sink (input 11): each head's logit joins the softmax denominator (smooth_softmax then unused)."""
    heads, kv, head = 4, 2, 16
    m = _with_input(gqa_model(heads, kv, head, rot=16, **attrs), 11, "head_sink", T.FLOAT, [heads])
    cases = []
    for c in [(3, 7, 0, [6, 4, 1], 7), (3, 1, 6, [6, 3, 1], 7)]:
        f = feeds(heads, kv, head, *c, rot=16)
        f["head_sink"] = (2 * RNG.standard_normal(heads)).astype(np.float32)
        cases.append(f)
    check(m, cases, DIMS)


@pytest.mark.parametrize("bias_batch,bias_heads,attrs", [(True, True, {}), (False, False, {"softcap": 2.0}),
                                                        (False, True, {"local_window_size": 2})])
def test_gqa_attention_bias(bias_batch, bias_heads, attrs):
    """attention_bias [B or 1, N or 1, S, total_sequence_length], added after softcap, by absolute key position
    (a past buffer longer than the total included)."""
    heads, kv, head = 4, 2, 16
    shape = ["batch" if bias_batch else 1, heads if bias_heads else 1, "seq", "total"]
    m = _with_input(gqa_model(heads, kv, head, **attrs), 10, "attention_bias", T.FLOAT, shape)
    cases = []
    for c in PROMPT + DECODE:
        f = feeds(heads, kv, head, *c)
        b, s, total = c[0], c[1], c[4]
        f["attention_bias"] = RNG.standard_normal((b if bias_batch else 1, heads if bias_heads else 1, s, total))
        f["attention_bias"] = f["attention_bias"].astype(np.float32)
        cases.append(f)
    check(m, cases, dict(DIMS, total=16))


def test_gqa_extra_inputs_refused():
    m = _with_input(gqa_model(2, 1, 16), 9, "position_ids", T.INT64, ["batch", "seq"])
    with pytest.raises(sdk.errors.UnsupportedOp, match="GroupQueryAttention.*position_ids"):
        sdk.compile(m, dims=DIMS)


# ---------------------------------------------------------------------------------------------------------------
# a 2-layer Llama-style decoder laid out as onnxruntime-genai's model builder writes it (int4 CPU flavour)

HID, HEADS, KV, HEAD, FF, VOCAB, ROT, MAXLEN = 64, 4, 2, 16, 96, 48, 16, 32


def _nbits(name, k, n, nodes, inits, x, rng, block=32):
    """A MatMulNBits projection (4 bits, uint8 zero points) of random weights: x [.., k] -> [.., n]."""
    kb = (k + block - 1) // block
    inits += [onnx.numpy_helper.from_array(rng.integers(0, 256, (n, kb, block // 2)).astype(np.uint8), f"{name}.qw"),
              onnx.numpy_helper.from_array((rng.random(n * kb) * 0.04 + 0.01).astype(np.float32), f"{name}.scales"),
              onnx.numpy_helper.from_array(rng.integers(0, 256, (n * ((kb + 1) // 2),)).astype(np.uint8), f"{name}.zp")]
    nodes.append(h.make_node("MatMulNBits", [x, f"{name}.qw", f"{name}.scales", f"{name}.zp"], [f"{name}.out"],
                             domain=MS, K=k, N=n, bits=4, block_size=block, accuracy_level=0, name=name))
    return f"{name}.out"


def llama_model(seed=0):
    """input_ids / attention_mask / position_ids / past_key_values.{i}.key|value -> logits, present.{i}.key|value.
    Layer 0: packed QKV projection, rotary inside GroupQueryAttention (do_rotary); layer 1: separate Q/K/V
    projections, RotaryEmbedding nodes on Q and K (position_ids), GroupQueryAttention without rotary. RMS norms as
    SimplifiedLayerNormalization then SkipSimplifiedLayerNormalization with the residual sum output, as the builder
    chains them; seqlens_k and total_sequence_length from the attention mask as the builder computes them."""
    nodes, inits, rng = [], [], np.random.default_rng(seed)
    theta = np.arange(MAXLEN)[:, None] / (10000.0 ** (np.arange(ROT // 2) * 2 / ROT))[None]
    inits += [onnx.numpy_helper.from_array(np.cos(theta).astype(np.float32), "cos_cache"),
              onnx.numpy_helper.from_array(np.sin(theta).astype(np.float32), "sin_cache"),
              onnx.numpy_helper.from_array((0.5 * rng.standard_normal((VOCAB, HID))).astype(np.float32), "embed"),
              onnx.numpy_helper.from_array(np.array([1], np.int64), "one_axis"),
              onnx.numpy_helper.from_array(np.array(1, np.int64), "one"),
              onnx.numpy_helper.from_array(np.array(1, np.int64), "dim1")]
    nodes += [h.make_node("ReduceSum", ["attention_mask", "one_axis"], ["mask_sum"], keepdims=0),
              h.make_node("Sub", ["mask_sum", "one"], ["mask_sub"]),
              h.make_node("Cast", ["mask_sub"], ["seqlens_k"], to=T.INT32),
              h.make_node("Shape", ["attention_mask"], ["mask_shape"]),
              h.make_node("Gather", ["mask_shape", "dim1"], ["mask_len"], axis=0),
              h.make_node("Cast", ["mask_len"], ["total_seq_len"], to=T.INT32),
              h.make_node("Gather", ["embed", "input_ids"], ["emb"], axis=0)]
    for i in range(4):
        inits.append(onnx.numpy_helper.from_array((1 + 0.1 * rng.standard_normal(HID)).astype(np.float32), f"ln{i}"))
    nodes.append(h.make_node("SimplifiedLayerNormalization", ["emb", "ln0"], ["norm0"], epsilon=1e-5, axis=-1))
    x, residual, ln = "norm0", "emb", 1
    for layer in range(2):
        p = f"layers.{layer}"
        if layer == 0:
            qkv = _nbits(f"{p}.qkv_proj", HID, (HEADS + 2 * KV) * HEAD, nodes, inits, x, rng)
            ins = [qkv, "", "", f"past_key_values.{layer}.key", f"past_key_values.{layer}.value", "seqlens_k",
                   "total_seq_len", "cos_cache", "sin_cache"]
            attrs = dict(do_rotary=1, rotary_interleaved=0)
        else:
            q = _nbits(f"{p}.q_proj", HID, HEADS * HEAD, nodes, inits, x, rng)
            k = _nbits(f"{p}.k_proj", HID, KV * HEAD, nodes, inits, x, rng)
            v = _nbits(f"{p}.v_proj", HID, KV * HEAD, nodes, inits, x, rng)
            for t, n_h in ((q, HEADS), (k, KV)):
                nodes.append(h.make_node("RotaryEmbedding", [t, "position_ids", "cos_cache", "sin_cache"],
                                         [f"{t}.rot"], domain=MS, interleaved=0, num_heads=n_h))
            ins = [f"{q}.rot", f"{k}.rot", v, f"past_key_values.{layer}.key", f"past_key_values.{layer}.value",
                   "seqlens_k", "total_seq_len"]
            attrs = {}
        nodes.append(h.make_node("GroupQueryAttention", ins, [f"{p}.attn", f"present.{layer}.key",
                                                              f"present.{layer}.value"],
                                 domain=MS, num_heads=HEADS, kv_num_heads=KV, name=f"{p}.gqa", **attrs))
        o = _nbits(f"{p}.o_proj", HEADS * HEAD, HID, nodes, inits, f"{p}.attn", rng)
        nodes.append(h.make_node("SkipSimplifiedLayerNormalization", [o, residual, f"ln{ln}"],
                                 [f"{p}.post_norm", "", "", f"{p}.res1"], domain=MS, epsilon=1e-5))
        gate = _nbits(f"{p}.gate_proj", HID, FF, nodes, inits, f"{p}.post_norm", rng)
        up = _nbits(f"{p}.up_proj", HID, FF, nodes, inits, f"{p}.post_norm", rng)
        nodes += [h.make_node("Sigmoid", [gate], [f"{p}.sig"]), h.make_node("Mul", [gate, f"{p}.sig"], [f"{p}.silu"]),
                  h.make_node("Mul", [f"{p}.silu", up], [f"{p}.act"])]
        down = _nbits(f"{p}.down_proj", FF, HID, nodes, inits, f"{p}.act", rng)
        nodes.append(h.make_node("SkipSimplifiedLayerNormalization", [down, f"{p}.res1", f"ln{ln + 1}"],
                                 [f"{p}.out_norm", "", "", f"{p}.res2"], domain=MS, epsilon=1e-5))
        x, residual, ln = f"{p}.out_norm", f"{p}.res2", ln + 1
    logits = _nbits("lm_head", HID, VOCAB, nodes, inits, x, rng)
    nodes.append(h.make_node("Identity", [logits], ["logits"]))
    inputs = [h.make_tensor_value_info("input_ids", T.INT64, ["batch_size", "sequence_length"]),
              h.make_tensor_value_info("attention_mask", T.INT64, ["batch_size", "total_sequence_length"]),
              h.make_tensor_value_info("position_ids", T.INT64, ["batch_size", "sequence_length"])]
    outputs = [h.make_tensor_value_info("logits", T.FLOAT, ["batch_size", "sequence_length", VOCAB])]
    for layer in range(2):
        for kv in ("key", "value"):
            inputs.append(h.make_tensor_value_info(f"past_key_values.{layer}.{kv}", T.FLOAT,
                                                   ["batch_size", KV, "past_sequence_length", HEAD]))
            outputs.append(h.make_tensor_value_info(f"present.{layer}.{kv}", T.FLOAT,
                                                    ["batch_size", KV, "total_sequence_length", HEAD]))
    g = h.make_graph(nodes, "llama2l", inputs, outputs, inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 21), h.make_opsetid(MS, 1)])


def test_llama_style_decoder_prompt_then_decode():
    """Prompt (batch 2, the second row right-padded to 5 tokens), then one decoding step fed with the present cache,
    from one compile; logits and every present tensor against onnxruntime."""
    m = llama_model()
    bundle = sdk.compile(m, dims={"batch_size": 2, "sequence_length": 8, "total_sequence_length": 16,
                                  "past_sequence_length": 16})
    b, s = 2, 5
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.int64)
    prompt = {"input_ids": RNG.integers(0, VOCAB, (b, s)).astype(np.int64), "attention_mask": mask,
              "position_ids": np.tile(np.arange(s), (b, 1)).astype(np.int64)}
    for layer in range(2):
        for kv in ("key", "value"):
            prompt[f"past_key_values.{layer}.{kv}"] = np.zeros((b, KV, 0, HEAD), np.float32)
    want, got = ort_run(m, prompt), bundle.run(prompt)
    compare(got, want)
    lengths = mask.sum(1)
    step = {"input_ids": RNG.integers(0, VOCAB, (b, 1)).astype(np.int64),
            "attention_mask": np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], np.int64),
            "position_ids": lengths[:, None].astype(np.int64)}
    for layer in range(2):
        for kv in ("key", "value"):
            step[f"past_key_values.{layer}.{kv}"] = want[f"present.{layer}.{kv}"]
    compare(bundle.run(step), ort_run(m, step))


def _ort_greedy(m, prompt, new_tokens):
    """onnxruntime's greedy tokens: the prompt in one run, then one token a run on the present cache."""
    ids, start, feed = list(prompt), 0, np.array([prompt], np.int64)
    past = {f"past_key_values.{i}.{kv}": np.zeros((1, KV, 0, HEAD), np.float32) for i in range(2)
            for kv in ("key", "value")}
    margins = []
    for _ in range(new_tokens):
        end = start + feed.shape[1]
        r = ort_run(m, {"input_ids": feed, "attention_mask": np.ones((1, end), np.int64),
                        "position_ids": np.arange(start, end)[None].astype(np.int64), **past})
        top = np.sort(r["logits"][0, -1])
        margins.append(float(top[-1] - top[-2]))
        ids.append(int(r["logits"][0, -1].argmax()))
        past = {k: r[k.replace("past_key_values", "present")] for k in past}
        feed, start = np.array([[ids[-1]]], np.int64), end
    return ids, min(margins)


def test_llama_style_decoder_generates_like_onnxruntime():
    """generate=True on the builder's layout (mask, position_ids and past_key_values roles found by name): the C
    generation loop's greedy tokens equal onnxruntime's, run step by step on its own present cache."""
    m = llama_model(seed=3)
    bundle = sdk.compile(m, dims={"batch_size": 1, "sequence_length": 16, "total_sequence_length": 16,
                                  "past_sequence_length": 16, "max_len": 16}, generate=True)
    prompt = [3, 17, 5, 40]
    want, margin = _ort_greedy(m, prompt, 6)
    assert margin > 1e-3  # no near tie between the two best logits: the comparison is meaningful
    assert bundle.generate(prompt, max_len=12, max_new_tokens=6) == want


# ---------------------------------------------------------------------------------------------------------------
# a file written by onnxruntime-genai's model builder itself (tests/models/genai/export_tiny_llama.py)

GENAI = Path(__file__).resolve().parents[1] / "models" / "genai" / "tiny_llama_int4.onnx"


def _genai_model(accuracy_level=None):
    m = onnx.load(GENAI)
    for n in m.graph.node:
        for a in n.attribute:
            if n.op_type == "MatMulNBits" and a.name == "accuracy_level" and accuracy_level is not None:
                a.i = accuracy_level
    return m


def _genai_feeds(m, b, s, rng):
    mask = np.ones((b, s), np.int64)
    mask[1:, s - 2:] = 0  # the other rows right-padded by 2
    f = {"input_ids": rng.integers(0, 128, (b, s)).astype(np.int64), "attention_mask": mask}
    f.update({i.name: np.zeros((b, 2, 0, 16), np.float32) for i in m.graph.input if i.name.startswith("past")})
    return f


@pytest.mark.parametrize("accuracy_level,tol", [(0, 2e-5), (None, 2e-2)])
def test_genai_builder_file(accuracy_level, tol):
    """The builder's own layout (its cache head size is a dim_param, kv_cache_dim, pinned to the head size; the past
    length may be 0): a padded prompt, then a decoding step on the present cache, against onnxruntime. The file's
    MatMulNBits have accuracy_level 4, where onnxruntime quantizes the activations to int8 blockwise: the float
    products here then differ by its rounding (tol 2e-2 at |logits| <= 0.6); with accuracy_level 0 they agree."""
    m = _genai_model(accuracy_level)
    rng = np.random.default_rng(0)
    bundle = sdk.compile(m, dims={"batch_size": 2, "sequence_length": 8, "total_sequence_length": 16,
                                  "past_sequence_length": 16})
    prompt = _genai_feeds(m, 2, 5, rng)
    want = ort_run(m, prompt)
    for k, r in want.items():
        np.testing.assert_allclose(bundle.run(prompt)[k], r, rtol=tol, atol=tol, err_msg=k)
    step = {"input_ids": rng.integers(0, 128, (2, 1)).astype(np.int64),
            "attention_mask": np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], np.int64)}
    step.update({k: want[k.replace("past_key_values", "present")] for k in prompt if k.startswith("past")})
    got, want = bundle.run(step), ort_run(m, step)
    for k, r in want.items():
        np.testing.assert_allclose(got[k], r, rtol=tol, atol=tol, err_msg=k)


def test_genai_builder_file_generates_like_onnxruntime():
    """generate=True on the builder's file (accuracy_level 0: exact products): greedy tokens equal onnxruntime's."""
    m = _genai_model(0)
    bundle = sdk.compile(m, dims={"batch_size": 1, "sequence_length": 16, "total_sequence_length": 16,
                                  "past_sequence_length": 16, "max_len": 16}, generate=True)
    ids, start, feed, margins = [5, 9, 77, 3], 0, np.array([[5, 9, 77, 3]], np.int64), []
    past = {i.name: np.zeros((1, 2, 0, 16), np.float32) for i in m.graph.input if i.name.startswith("past")}
    for _ in range(6):
        end = start + feed.shape[1]
        r = ort_run(m, {"input_ids": feed, "attention_mask": np.ones((1, end), np.int64), **past})
        top = np.sort(r["logits"][0, -1])
        margins.append(float(top[-1] - top[-2]))
        ids.append(int(r["logits"][0, -1].argmax()))
        past = {k: r[k.replace("past_key_values", "present")] for k in past}
        feed, start = np.array([[ids[-1]]], np.int64), end
    assert min(margins) > 1e-4  # no near tie: the comparison is meaningful
    assert bundle.generate(ids[:4], max_len=12, max_new_tokens=6) == ids
