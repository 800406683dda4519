"""ai.onnx.ml ops of scikit-learn exports (sdk/ops/ml.py) against onnxruntime: Scaler, Normalizer, Binarizer,
ArrayFeatureExtractor, LinearRegressor, alone and as a skl2onnx-style pipeline (StandardScaler -> column pick ->
LinearRegression) with a symbolic batch, through the JIT and the C demo program."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import ort_run

RNG = np.random.default_rng(12)
ML = "ai.onnx.ml"


def _model(nodes, inputs, outputs, inits=(), onnx_opset=None):
    g = h.make_graph(nodes, "pipeline", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info(n, t, None) for n, t in outputs],
                     [nh.from_array(a, n) for n, a in inits])
    ops = [h.make_opsetid(ML, 3)] + ([h.make_opsetid("", onnx_opset)] if onnx_opset else [])
    return h.make_model(g, opset_imports=ops)


def _check(m, feeds, dims=None, engines=("llvm",)):
    b = sdk.compile(m, dims=dims)
    ref = ort_run(m, feeds)
    for engine in engines:
        got = b.run(feeds, engine=engine)
        for k, r in ref.items():
            assert got[k].shape == r.shape and got[k].dtype == r.dtype, (engine, k, got[k].shape, r.shape, got[k].dtype)
            np.testing.assert_allclose(got[k], r, rtol=1e-5, atol=1e-6, err_msg=f"{engine} {k}")


@pytest.mark.parametrize("dtype", [T.FLOAT, T.DOUBLE, T.INT64])
def test_scaler(dtype):
    x = (RNG.standard_normal((5, 4)) * 10).astype({T.FLOAT: np.float32, T.DOUBLE: np.float64, T.INT64: np.int64}[dtype])
    node = h.make_node("Scaler", ["x"], ["y"], domain=ML, offset=[1.0, -2.0, 0.5, 3.0], scale=[0.5, 2.0, 1.0, 0.1])
    _check(_model([node], [("x", dtype, [5, 4])], [("y", T.FLOAT)]), {"x": x})


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(norm):
    x = RNG.standard_normal((6, 5)).astype(np.float32) + 0.5
    node = h.make_node("Normalizer", ["x"], ["y"], domain=ML, norm=norm)
    _check(_model([node], [("x", T.FLOAT, [6, 5])], [("y", T.FLOAT)]), {"x": x})


def test_binarizer_and_feature_extractor():
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    nodes = [h.make_node("Binarizer", ["x"], ["b"], domain=ML, threshold=0.2),
             h.make_node("ArrayFeatureExtractor", ["x", "cols"], ["y"], domain=ML)]
    m = _model(nodes, [("x", T.FLOAT, [4, 6])], [("b", T.FLOAT), ("y", T.FLOAT)],
               [("cols", np.array([5, 0, 2, 2], np.int64))])
    _check(m, {"x": x}, engines=("llvm", "c"))


def test_pipeline_scaler_columns_linear_regressor():
    F, T_ = 6, 2
    coef = RNG.standard_normal(T_ * 3).astype(np.float32)
    nodes = [h.make_node("Scaler", ["x"], ["s"], domain=ML, offset=list(RNG.standard_normal(F)), scale=list(RNG.uniform(0.5, 2, F))),
             h.make_node("ArrayFeatureExtractor", ["s", "cols"], ["c"], domain=ML),
             h.make_node("LinearRegressor", ["c"], ["y"], domain=ML, coefficients=list(coef), intercepts=[0.5, -1.0],
                         targets=T_),
             h.make_node("Relu", ["y"], ["z"])]
    m = _model(nodes, [("x", T.FLOAT, ["n", F])], [("z", T.FLOAT)], [("cols", np.array([[1, 4, 5]], np.int64))],
               onnx_opset=17)
    for n in (1, 7):
        _check(m, {"x": RNG.standard_normal((n, F)).astype(np.float32)}, dims={"n": 8}, engines=("llvm", "c"))
