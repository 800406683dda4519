"""CausalConvWithState and LinearAttention (opset 27, sdk/ops/ssm.py) against onnx's ReferenceEvaluator on random
inputs, one compile run at several sequence lengths (a symbolic T: prefill and one-token decode), through the JIT
and the C demo program."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

import sdk

RNG = np.random.default_rng(27)


def _model(node, inputs, outs, inits=()):
    g = h.make_graph([node], "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs],
                     [onnx.numpy_helper.from_array(a, n) for n, a in inits])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 27)])


def _check(m, feeds_list, dims, engines=("llvm", "c")):
    b = sdk.compile(m, dims=dims)
    for feeds in feeds_list:
        ref = ReferenceEvaluator(m).run(None, feeds)
        for engine in engines:
            got = b.run(feeds, engine=engine)
            for name, r in zip([o.name for o in m.graph.output], ref):
                assert got[name].shape == r.shape, (engine, name)
                np.testing.assert_allclose(got[name], r, rtol=1e-4, atol=1e-5, err_msg=f"{engine} {name}")


@pytest.mark.parametrize("act,with_past,with_bias", [("none", True, True), ("silu", False, False)])
def test_causal_conv_with_state(act, with_past, with_bias):
    C, K = 6, 4
    ins = ["x", "w", "bias" if with_bias else "", "past" if with_past else ""]
    node = h.make_node("CausalConvWithState", ins, ["y", "state"], activation=act)
    inputs = [("x", T.FLOAT, [2, C, "t"])] + ([("past", T.FLOAT, [2, C, K - 1])] if with_past else [])
    inits = [("w", RNG.standard_normal((C, 1, K)).astype(np.float32))]
    if with_bias:
        inits.append(("bias", RNG.standard_normal(C).astype(np.float32)))
    m = _model(node, inputs, ["y", "state"], inits)
    feeds = []
    for t in (1, 2, 9):
        f = {"x": RNG.standard_normal((2, C, t)).astype(np.float32)}
        if with_past:
            f["past"] = RNG.standard_normal((2, C, K - 1)).astype(np.float32)
        feeds.append(f)
    _check(m, feeds, {"t": 16})


@pytest.mark.parametrize("rule,hq,hkv,per_head_decay", [("gated_delta", 4, 2, False), ("delta", 2, 2, False),
                                                        ("gated", 3, 1, True), ("linear", 2, 2, False)])
def test_linear_attention(rule, hq, hkv, per_head_decay):
    dk, dv = 4, 3
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    ins = ["q", "k", "v", "past", "decay" if gating else "", "beta" if delta else ""]
    node = h.make_node("LinearAttention", ins, ["y", "state"], q_num_heads=hq, kv_num_heads=hkv, update_rule=rule)
    inputs = [("q", T.FLOAT, ["b", "t", hq * dk]), ("k", T.FLOAT, ["b", "t", hkv * dk]),
              ("v", T.FLOAT, ["b", "t", hkv * dv]), ("past", T.FLOAT, ["b", hkv, dk, dv])]
    if gating:
        inputs.append(("decay", T.FLOAT, ["b", "t", hkv if per_head_decay else hkv * dk]))
    if delta:
        inputs.append(("beta", T.FLOAT, ["b", "t", hkv]))
    m = _model(node, inputs, ["y", "state"])
    feeds = []
    for b, t in ((2, 5), (1, 1)):
        f = {"q": RNG.standard_normal((b, t, hq * dk)), "k": RNG.standard_normal((b, t, hkv * dk)) * 0.5,
             "v": RNG.standard_normal((b, t, hkv * dv)), "past": RNG.standard_normal((b, hkv, dk, dv))}
        if gating:
            f["decay"] = -RNG.uniform(0.05, 1.0, (b, t, hkv if per_head_decay else hkv * dk))
        if delta:
            f["beta"] = RNG.uniform(0.1, 0.9, (b, t, hkv))
        feeds.append({k: v.astype(np.float32) for k, v in f.items()})
    _check(m, feeds, {"b": 2, "t": 8})


def test_linear_attention_rule_without_its_input_refused():
    node = h.make_node("LinearAttention", ["q", "k", "v"], ["y"], q_num_heads=2, kv_num_heads=2, update_rule="gated")
    m = _model(node, [(n, T.FLOAT, [1, 3, 8]) for n in "qkv"], ["y"])
    with pytest.raises(sdk.errors.UnsupportedOp, match="without decay"):
        sdk.compile(m)
