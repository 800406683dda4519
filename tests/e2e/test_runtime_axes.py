"""Reduce* whose axes are a tensor known only at run time (sdk/ops/reduce.py: run-time "reduced" flags pick the
output dims and the reduction extents), on random inputs against onnxruntime, both engines; a bad axes value is a
run-time error, not a wrong answer."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import ort_run

RNG = np.random.default_rng(21)


def model(op, keepdims, n_axes, shape=("b", 3, 4, 5)):
    node = h.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims)
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, list(shape)),
                                   h.make_tensor_value_info("axes", T.INT64, [n_axes])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 18)])


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMean", "ReduceLogSumExp"])
@pytest.mark.parametrize("keepdims", [1, 0])
def test_reduce_runtime_axes(op, keepdims):
    b = sdk.compile(model(op, keepdims, 2), dims={"b": 4})
    for axes in ([1, 3], [-1, 0], [2, -3], [0, 1]):
        x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
        feeds = {"x": x, "axes": np.array(axes, np.int64)}
        ref = ort_run(model(op, keepdims, 2), feeds)["y"]
        for engine in ("llvm", "c") if axes == [2, -3] else ("llvm",):
            got = b.run(feeds, engine=engine)["y"]
            assert got.shape == ref.shape, (axes, engine, got.shape, ref.shape)
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=f"{axes} {engine}")


@pytest.mark.parametrize("axes", [[1, 1], [1, -3], [4, 0], [0, -5]])
def test_reduce_runtime_axes_bad_values_refused_at_run_time(axes):
    """An axis named twice or out of range: the run stops with an error (onnxruntime refuses these too)."""
    b = sdk.compile(model("ReduceSum", 0, 2), dims={"b": 4})
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    with pytest.raises(sdk.errors.SdkError):
        b.run({"x": x, "axes": np.array(axes, np.int64)})
