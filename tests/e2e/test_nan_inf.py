"""NaN and +-Inf go through every op family as in onnxruntime (issue 16): ReLU(NaN) = NaN, Max/Min with a
NaN operand = NaN, comparisons with NaN are false, reductions and pools propagate NaN.

Where onnxruntime's answer depends on the position of the NaN (its ReduceMax/ReduceMin, MaxPool,
GlobalMaxPool and ArgMax use `a > b ? a : b` loops), the oracle is numpy's definition, which the ONNX
reference evaluator also uses: a NaN in the window gives NaN, ArgMax points at the first NaN."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import ort_run

UNARY = ["Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Sign", "Floor", "Ceil", "Softsign", "Elu",
         "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus", "Erf", "Reciprocal"]
COMPARE = ["Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual"]
REDUCE = ["ReduceSum", "ReduceMean", "ReduceL2", "ReduceLogSumExp", "ReduceProd"]
ORDER_DEPENDENT = {  # onnxruntime's result depends on where the NaN sits: numpy semantics instead
    "reducemax": lambda x, y: np.max(x, axis=3),
    "reducemin": lambda x, y: np.min(x, axis=3),
    "argmax": lambda x, y: np.argmax(x, axis=3),
    "argmin": lambda x, y: np.argmin(x, axis=3),
    "maxpool": lambda x, y: np.max(x[:, :, :4, :4].reshape(2, 3, 2, 2, 2, 2), axis=(3, 5)),
    "gmax": lambda x, y: np.max(x, axis=(2, 3), keepdims=True),
}


def nan_model():
    rng = np.random.default_rng(0)
    nodes, outs = [], []

    def o(name, op, ins, **kw):
        nodes.append(h.make_node(op, ins, [name], **kw))
        outs.append(name)
    inits = [h.make_tensor("zero", T.FLOAT, [], [0.0]), h.make_tensor("lo", T.FLOAT, [], [-1.0]),
             h.make_tensor("hi", T.FLOAT, [], [1.0]), h.make_tensor("ax", T.INT64, [1], [3]),
             h.make_tensor("slope", T.FLOAT, [3, 1, 1], [0.1, 0.2, 0.3]),
             h.make_tensor("w", T.FLOAT, [5, 3], rng.standard_normal(15).astype(np.float32)),
             h.make_tensor("k", T.FLOAT, [2, 3, 3, 3], rng.standard_normal(54).astype(np.float32))]
    for op in UNARY:
        o(op.lower(), op, ["x"])
    o("leaky", "LeakyRelu", ["x"], alpha=0.1)
    o("thr", "ThresholdedRelu", ["x"], alpha=0.5)
    o("prelu", "PRelu", ["x", "slope"])
    o("max2", "Max", ["x", "y"])
    o("min2", "Min", ["x", "y"])
    o("max0", "Max", ["x", "zero"])
    o("clip", "Clip", ["x", "lo", "hi"])
    o("add", "Add", ["x", "y"])
    o("div", "Div", ["x", "y"])
    for op in COMPARE:
        o(op.lower(), op, ["x", "y"])
    o("gt0", "Greater", ["x", "zero"])
    o("where", "Where", ["gt0", "x", "y"])
    for op in REDUCE + ["ReduceMax", "ReduceMin"]:
        o(op.lower(), op, ["x", "ax"], keepdims=0)
    o("softmax", "Softmax", ["x"], axis=-1)
    o("logsoftmax", "LogSoftmax", ["x"], axis=-1)
    o("argmax", "ArgMax", ["x"], axis=3, keepdims=0)
    o("argmin", "ArgMin", ["x"], axis=3, keepdims=0)
    o("maxpool", "MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2])
    o("avgpool", "AveragePool", ["x"], kernel_shape=[2, 2])
    o("gmax", "GlobalMaxPool", ["x"])
    o("gavg", "GlobalAveragePool", ["x"])
    o("matmul", "MatMul", ["x", "w"])
    o("conv", "Conv", ["x", "k"])
    o("transpose", "Transpose", ["x"], perm=[0, 2, 1, 3])
    g = h.make_graph(nodes, "nan", [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 4, 5]),
                                    h.make_tensor_value_info("y", T.FLOAT, [2, 3, 4, 5])],
                     [h.make_empty_tensor_value_info(n) for n in outs], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 18)])


def nan_inputs():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    fx = x.reshape(-1)
    fx[::7], fx[3::11], fx[5::13] = np.nan, np.inf, -np.inf
    y.reshape(-1)[::5] = np.nan
    y.reshape(-1)[2::9] = np.inf
    return {"x": x, "y": y}


@pytest.mark.parametrize("target", ["host"])
def test_nan_inf_through_every_op_family(target):
    m = nan_model()
    feeds = nan_inputs()
    with np.errstate(all="ignore"):
        ref = ort_run(m, feeds)
        for k, fn in ORDER_DEPENDENT.items():
            ref[k] = fn(feeds["x"], feeds["y"])
    got = sdk.compile(m, target=target).run(feeds)
    assert set(got) == set(ref)
    assert np.isnan(got["relu"]).sum() == np.isnan(feeds["x"]).sum() > 0  # ReLU(NaN) = NaN
    failed = []
    for k, r in ref.items():
        try:
            assert got[k].shape == r.shape and got[k].dtype == r.dtype
            np.testing.assert_allclose(got[k], r, rtol=1e-5, atol=1e-6, equal_nan=True)
        except AssertionError as e:
            failed.append(f"{k}: {str(e).strip().splitlines()[-2:]}")
    assert not failed, "\n".join(failed)
