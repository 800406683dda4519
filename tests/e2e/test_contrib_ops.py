"""onnxruntime's com.microsoft ops (sdk/frontend/contrib.py): each rewritten op against onnxruntime's own kernel on
random inputs, and whole models quantized by onnxruntime in both of its formats (QOperator: QLinearAdd, QGemm,
QLinearConcat, ...; QDQ) against onnxruntime."""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import onnx_model, ort_run

RNG = np.random.default_rng(11)
MS = "com.microsoft"
ZOO = Path(__file__).resolve().parents[1] / "torch_zoo" / "models"


def model(nodes, inputs, outputs, inits=(), opset=17):
    return onnx_model(nodes, inputs, outputs, inits, opset, domains=[(MS, 1)])


def c(name, value, dt=np.float32):
    return onnx.numpy_helper.from_array(np.asarray(value, dt), name)


def u8(shape):
    return RNG.integers(0, 256, shape).astype(np.uint8)


def check(m, feeds, dims=None, exact=True):
    got = sdk.compile(m, dims=dims or {}).run(feeds)
    for k, r in ort_run(m, feeds).items():
        assert got[k].dtype == r.dtype and got[k].shape == r.shape, (k, got[k].shape, r.shape)
        if exact and r.dtype == np.uint8:  # integer outputs: onnxruntime's kernels round alike, at most 1 apart
            assert np.abs(got[k].astype(int) - r.astype(int)).max() <= 1, k
            assert np.mean(got[k] == r) > 0.9, k
        else:
            np.testing.assert_allclose(got[k], r, rtol=1e-5, atol=1e-5)


Q_IN = [c("xs", 0.05), c("xz", 128, np.uint8), c("ys", 0.04), c("yz", 120, np.uint8)]


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
def test_qlinear_binary_broadcasts(op):
    m = model([h.make_node(op, ["a", "xs", "xz", "b", "bs", "bz", "ys", "yz"], ["y"], domain=MS)],
              [("a", T.UINT8, ["n", 3, 5]), ("b", T.UINT8, [1, 5])], [("y", T.UINT8)],
              Q_IN + [c("bs", 0.03), c("bz", 100, np.uint8)])
    check(m, {"a": u8((4, 3, 5)), "b": u8((1, 5))}, {"n": 8})


@pytest.mark.parametrize("op,attrs", [("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": 0.2}),
                                      ("QLinearSoftmax", {"axis": -1, "opset": 13}),
                                      ("QLinearSoftmax", {"axis": 1, "opset": 11}),
                                      ("QLinearGlobalAveragePool", {"channels_last": 0}),
                                      ("QLinearGlobalAveragePool", {"channels_last": 1}),
                                      ("QLinearAveragePool", {"kernel_shape": [3, 3], "strides": [2, 2],
                                                              "pads": [1, 1, 1, 1], "count_include_pad": 0})])
def test_qlinear_unary(op, attrs):
    ys = c("ys", 1 / 256) if op == "QLinearSoftmax" else Q_IN[2]
    yz = c("yz", 0, np.uint8) if op == "QLinearSoftmax" else Q_IN[3]
    m = model([h.make_node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, **attrs)],
              [("x", T.UINT8, [2, 6, 7, 5])], [("y", T.UINT8)], Q_IN[:2] + [ys, yz])
    check(m, {"x": u8((2, 6, 7, 5))})


def test_qlinear_concat():
    m = model([h.make_node("QLinearConcat", ["ys", "yz", "a", "xs", "xz", "b", "bs", "bz"], ["y"], domain=MS, axis=1)],
              [("a", T.UINT8, [2, 3, 4]), ("b", T.UINT8, [2, 5, 4])], [("y", T.UINT8)],
              Q_IN + [c("bs", 0.02), c("bz", 10, np.uint8)])
    check(m, {"a": u8((2, 3, 4)), "b": u8((2, 5, 4))})


@pytest.mark.parametrize("bias,out_scale,per_channel", [(True, True, True), (True, False, False), (False, True, False)])
def test_qgemm(bias, out_scale, per_channel):
    n, k = 6, 9
    w = RNG.integers(-127, 128, (n, k)).astype(np.int8)
    ws = RNG.uniform(0.01, 0.05, n).astype(np.float32) if per_channel else np.float32(0.02)
    inits = [c("xs", 0.05), c("xz", 128, np.uint8), c("w", w, np.int8), c("ws", ws),
             c("wz", np.zeros(n) if per_channel else 0, np.int8), c("bias", RNG.integers(-500, 500, n), np.int32)]
    ins = ["x", "xs", "xz", "w", "ws", "wz", "bias" if bias else ""]
    if out_scale:
        ins += ["ys", "yz"]
        inits += [c("ys", 0.5), c("yz", 128, np.uint8)]
    m = model([h.make_node("QGemm", ins, ["y"], domain=MS, transB=1, alpha=1.0)],
              [("x", T.UINT8, ["m", k])], [("y", T.UINT8 if out_scale else T.FLOAT)], inits)
    check(m, {"x": u8((5, k))}, {"m": 8})


@pytest.mark.parametrize("op,n_in,attrs", [("Gelu", 1, {}), ("FastGelu", 2, {}), ("BiasGelu", 2, {}),
                                           ("QuickGelu", 1, {"alpha": 1.5})])
def test_gelu_forms(op, n_in, attrs):
    ins = ["x", "b"][:n_in]
    m = model([h.make_node(op, ins, ["y"], domain=MS, **attrs)], [("x", T.FLOAT, ["n", 8])], [("y", T.FLOAT)],
              [c("b", RNG.standard_normal(8))] if n_in == 2 else [])
    check(m, {"x": (2 * RNG.standard_normal((3, 8))).astype(np.float32)}, {"n": 4}, exact=False)


def test_unrewritable_contrib_op_is_reported():
    # a GroupQueryAttention form with no rewrite (a quantized KV cache): the importer names the op, the node and why
    m = model([h.make_node("GroupQueryAttention", ["q", "k", "v", "pk", "pv", "sl", "tl"], ["y", "pko", "pvo"],
                           domain=MS, num_heads=2, kv_num_heads=1, k_quant_type="PER_TENSOR", name="gqa0")],
              [("q", T.FLOAT, [1, 4, 8]), ("k", T.FLOAT, [1, 4, 4]), ("v", T.FLOAT, [1, 4, 4]),
               ("pk", T.FLOAT, [1, 1, 0, 4]), ("pv", T.FLOAT, [1, 1, 0, 4]), ("sl", T.INT32, [1]),
               ("tl", T.INT32, [])], [("y", T.FLOAT)])
    with pytest.raises(sdk.errors.UnsupportedOp, match="com.microsoft.GroupQueryAttention.*gqa0.*k_quant_type"):
        sdk.compile(m)


class _Reader:
    def __init__(self, feeds):
        self.it = iter(feeds)

    def get_next(self):
        return next(self.it, None)


def _image(seed, b=1):
    return {"image": np.random.default_rng(seed).standard_normal((b, 3, 64, 64)).astype(np.float32)}


def _text(seed, b=1, s=7):
    r = np.random.default_rng(seed)
    mask = np.ones((b, s), np.int64)
    mask[:, -2:] = 0
    return {"ids": r.integers(0, 100, (b, s)).astype(np.int64), "mask": mask}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["QOperator", "QDQ"])
@pytest.mark.parametrize("file,feeds,dims", [("resnet_basic.ts.onnx", _image, {"batch": 4}),
                                             ("llama.dynamo.onnx", _text, {"batch": 4, "seq": 32})])
def test_model_quantized_by_onnxruntime(tmp_path, fmt, file, feeds, dims):
    """What a user gets from onnxruntime.quantization.quantize_static (per-channel int8 weights, uint8
    activations): sdk's outputs equal onnxruntime's on the graph as the ops define it: the QDQ file, or the
    QOperator file with its com.microsoft ops written as DequantizeLinear -> op -> QuantizeLinear, both run by
    onnxruntime without graph optimisations. (onnxruntime's fused integer kernels, its optimiser's for QDQ and
    its QLinearAdd for QOperator, round differently at ties: here by up to a few per cent of the output where
    calibration gave the attention mask a scale of ~1e36. Without a mask, QLinearAdd and the rest agree.)"""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from sdk.frontend.contrib import expand_contrib_ops
    out = tmp_path / f"q_{file}"
    quantize_static(str(ZOO / file), str(out), _Reader([feeds(s) for s in (1, 2, 3)]),
                    quant_format=getattr(QuantFormat, fmt), per_channel=True, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8)
    m = onnx.load(str(out))
    peer = m
    if fmt == "QOperator":
        assert any(n.domain == MS for n in m.graph.node)
        peer = expand_contrib_ops(m)
        assert not any(n.domain == MS for n in peer.graph.node)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(peer.SerializeToString(), so, providers=["CPUExecutionProvider"])
    fused = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    bundle = sdk.compile(m, dims=dims)
    for seed, b in ((7, 1), (8, 3)):
        f = feeds(seed, b)
        got = bundle.run(f)
        for o, r in zip(sess.get_outputs(), sess.run(None, f)):
            assert got[o.name].shape == r.shape
            np.testing.assert_allclose(got[o.name], r, rtol=0, atol=1e-5 * np.abs(r).max())
        if file.startswith("resnet"):  # no mask: onnxruntime's own fused kernels agree too
            for o, r in zip(fused.get_outputs(), fused.run(None, f)):
                np.testing.assert_allclose(got[o.name], r, rtol=0, atol=1e-3 * np.abs(r).max())


@pytest.mark.parametrize("op,ins,outs", [("SkipLayerNormalization", ["x", "s", "g", "b", "bias"], ["y", "", "", "sum"]),
                                         ("SkipLayerNormalization", ["x", "s", "g"], ["y"]),
                                         ("SkipSimplifiedLayerNormalization", ["x", "s", "g", "bias"], ["y", "", "", "sum"]),
                                         ("SimplifiedLayerNormalization", ["x", "g"], ["y"])])
def test_layer_norm_forms(op, ins, outs):
    """onnxruntime's transformer-optimizer norms (BERT's residual + LayerNorm, Llama's RMSNorm) against its kernels."""
    d = 16
    inits = [c("s", RNG.standard_normal((1, 5, d))), c("g", 1 + 0.3 * RNG.standard_normal(d)),
             c("b", 0.2 * RNG.standard_normal(d)), c("bias", 0.2 * RNG.standard_normal(d))]
    node = h.make_node(op, ins, outs, domain="" if op == "SimplifiedLayerNormalization" else MS, epsilon=1e-5)
    m = model([node], [("x", T.FLOAT, ["b", 5, d])], [(o, T.FLOAT) for o in outs if o],
              [i for i in inits if i.name in ins])
    check(m, {"x": (3 * RNG.standard_normal((2, 5, d)) + 1).astype(np.float32)}, {"b": 4}, exact=False)


def test_layer_norm_statistics_outputs_are_not_rewritten():
    m = model([h.make_node("SkipLayerNormalization", ["x", "x", "g"], ["y", "mean"], domain=MS)],
              [("x", T.FLOAT, [2, 8])], [("y", T.FLOAT), ("mean", T.FLOAT)], [c("g", np.ones(8))])
    with pytest.raises(sdk.errors.UnsupportedOp, match="com.microsoft.SkipLayerNormalization"):
        sdk.compile(m)


def test_image_scaler():
    """ImageScaler (experimental, opset < 10; old model-zoo files open with it): scale * x + bias per channel."""
    g = h.make_graph([h.make_node("ImageScaler", ["x"], ["s"], scale=0.5, bias=[0.1, -0.2, 0.3]),
                      h.make_node("Relu", ["s"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["n", 3, 4, 5])], [h.make_tensor_value_info("y", T.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 8)])
    m.ir_version = 4
    check(m, {"x": RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)}, {"n": 2}, exact=False)
