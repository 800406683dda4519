"""GatherND, ScatterND, Trilu, CumSum: one compile each, run at two dims, against onnx's ReferenceEvaluator."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

import sdk

NP = {T.FLOAT: np.float32, T.INT64: np.int64, T.BOOL: np.bool_}


def _model(node, inputs, out_type, out_rank, opset=18):
    g = h.make_graph([node], "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info("y", out_type, [None] * out_rank)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def _check(m, bounds, feeds_list):
    b = sdk.compile(m, dims=bounds)
    for feeds in feeds_list:
        ref = ReferenceEvaluator(m).run(None, feeds)[0]
        got = b.run(feeds)["y"]
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_dims", [0, 1])
def test_gathernd(batch_dims):
    rng = np.random.default_rng(batch_dims)
    node = h.make_node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims)
    k = 2 if batch_dims == 0 else 1
    m = _model(node, [("x", T.FLOAT, ["n", 5, 4]), ("i", T.INT64, ["n", 3, k])], T.FLOAT, 4 - batch_dims - k)
    feeds = []
    for n in (2, 5):
        hi = n if batch_dims == 0 else 5
        idx = np.stack([rng.integers(-hi, hi, (n, 3))] + [rng.integers(-5, 5, (n, 3))] * (k - 1), -1)
        feeds.append({"x": rng.standard_normal((n, 5, 4)).astype(np.float32), "i": idx.astype(np.int64)})
    _check(m, {"n": 6}, feeds)


def test_gathernd_mask_pattern():
    """The dynamo exporter's mask[batch_idx, seq_idx]: int64 data, index pairs over (batch, seq)."""
    node = h.make_node("GatherND", ["x", "i"], ["y"])
    m = _model(node, [("x", T.INT64, ["b", "s"]), ("i", T.INT64, ["b", "s", 2])], T.INT64, 2)
    feeds = []
    for b, s in ((1, 3), (3, 7)):
        bi, si = np.meshgrid(np.arange(b), np.arange(s), indexing="ij")
        feeds.append({"x": np.random.default_rng(s).integers(0, 2, (b, s)), "i": np.stack([bi, si[:, ::-1]], -1)})
    _check(m, {"b": 4, "s": 8}, feeds)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatternd(reduction):
    rng = np.random.default_rng(7)
    node = h.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction=reduction)
    m = _model(node, [("x", T.FLOAT, ["n", 4, 3]), ("i", T.INT64, ["k", 2]), ("u", T.FLOAT, ["k", 3])], T.FLOAT, 3)
    feeds = []
    for n, k in ((2, 3), (5, 6)):
        flat = rng.permutation(n * 4)[:k] if reduction == "none" else rng.integers(0, n * 4, k)  # duplicates only when reducing
        idx = np.stack([flat // 4, flat % 4], -1)
        idx[0] -= [n, 4]  # negative indices count from the end
        feeds.append({"x": rng.standard_normal((n, 4, 3)).astype(np.float32), "i": idx.astype(np.int64),
                      "u": rng.standard_normal((k, 3)).astype(np.float32)})
    _check(m, {"n": 6, "k": 8}, feeds)


@pytest.mark.parametrize("upper,k", [(1, 0), (1, 2), (0, -1), (0, 1)])
def test_trilu(upper, k):
    rng = np.random.default_rng(k + 3)
    node = h.make_node("Trilu", ["x", "k"], ["y"], upper=upper)
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, ["b", "r", 6])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], [h.make_tensor("k", T.INT64, [], [k])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    _check(m, {"b": 3, "r": 9}, [{"x": rng.standard_normal((b, r, 6)).astype(np.float32)} for b, r in ((1, 4), (3, 9))])


@pytest.mark.parametrize("dtype", [T.FLOAT, T.INT64])
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(dtype, exclusive, reverse):
    rng = np.random.default_rng(exclusive * 2 + reverse)
    node = h.make_node("CumSum", ["x", "ax"], ["y"], exclusive=exclusive, reverse=reverse)
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", dtype, ["b", "s"])],
                     [h.make_tensor_value_info("y", dtype, None)], [h.make_tensor("ax", T.INT64, [], [-1])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])

    def x(b, s):
        v = rng.standard_normal((b, s)) * 3
        return v.astype(NP[dtype])
    _check(m, {"b": 3, "s": 10}, [{"x": x(1, 4)}, {"x": x(3, 10)}])
