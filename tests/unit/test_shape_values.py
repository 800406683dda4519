"""Shape arithmetic in exported graphs resolves at compile time (no run-time shape ops left)."""
import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

import sdk


def _c(name, arr):
    return h.make_node("Constant", [], [name], value=nh.from_array(np.asarray(arr), name))


def test_torchscript_expand_minus_one_pattern():
    """TorchScript's ``pos_ids[:, :seq].expand(batch, -1)``: Where(Equal(shape, -1), 1, shape) -> Expand."""
    nodes = [
        h.make_node("Shape", ["ids"], ["sh"]),
        _c("c0", np.array(0)), _c("c1", np.array(1)), _c("ax0", np.array([0])), _c("m1", np.array(-1)),
        h.make_node("Gather", ["sh", "c0"], ["b"]), h.make_node("Gather", ["sh", "c1"], ["s"]),
        h.make_node("Unsqueeze", ["b", "ax0"], ["b1"]), h.make_node("Unsqueeze", ["s", "ax0"], ["s1"]),
        h.make_node("Concat", ["b1", "s1"], ["target"], axis=0),
        h.make_node("Slice", ["table", "ax0", "s1", "c1v"], ["pos"]),  # [1, seq]
        h.make_node("Shape", ["target"], ["tlen"]),
        h.make_node("ConstantOfShape", ["tlen"], ["ones"], value=nh.from_array(np.array([1], np.int64))),
        h.make_node("Mul", ["ones", "m1"], ["neg"]),
        h.make_node("Equal", ["target", "neg"], ["is_neg"]),
        h.make_node("Where", ["is_neg", "ones", "target"], ["shape"]),
        h.make_node("Expand", ["pos", "shape"], ["pos_b"]),
        h.make_node("Cast", ["pos_b"], ["pos_f"], to=T.FLOAT),
        h.make_node("Unsqueeze", ["pos_f", "ax2"], ["pos3"]),
        h.make_node("Add", ["x", "pos3"], ["y"]),
    ]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("ids", T.INT64, ["batch", "seq"]),
                                  h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["batch", "seq", 4])],
                     [nh.from_array(np.arange(64, dtype=np.int64)[None] * 3, "table"),
                      nh.from_array(np.array([1]), "c1v"), nh.from_array(np.array([2]), "ax2")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    b = sdk.compile(m, dims={"batch": 4, "seq": 64})  # the bound lets min(seq, 64) == seq
    # Equal/Where were decided at import; every shape computation folds away: one fused kernel is left
    assert [str(s) for s in b.program.steps] == ["call_kernel k_Add_19"], str(b.program)
    rng = np.random.default_rng(0)
    for batch, seq in ((1, 3), (4, 64)):
        feeds = {"ids": rng.integers(0, 9, (batch, seq)), "x": rng.standard_normal((batch, seq, 4)).astype(np.float32)}
        np.testing.assert_allclose(b.run(feeds)["y"], ReferenceEvaluator(m).run(None, feeds)[0], rtol=1e-6)


def test_slices_that_only_agree_for_positive_dims_broadcast():
    """GPT-2 without a mask (issue 13): two slice lengths that both equal seq once seq >= 1."""
    nodes = [
        h.make_node("Shape", ["x"], ["sh"]),
        h.make_node("Gather", ["sh", "i1"], ["s"]),  # [seq]
        h.make_node("Add", ["s", "one"], ["s_plus"]),  # seq + 1
        h.make_node("Slice", ["x", "zero", "s_plus", "one"], ["b"]),  # x[:, 0:seq+1]: the end clamps to seq
        h.make_node("Slice", ["b", "zero", "s", "one"], ["c"]),  # x[:, 0:seq]
        h.make_node("Sub", ["b", "c"], ["y"]),
    ]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq"])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [nh.from_array(np.array([1]), "i1"), nh.from_array(np.array([1]), "one"),
                      nh.from_array(np.array([0]), "zero")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    b = sdk.compile(m, dims={"batch": 2, "seq": 16})
    assert str(b.func.outputs[0].type) == "float32[batch, seq]"
    for seq in (1, 9):
        x = np.random.default_rng(seq).standard_normal((2, seq)).astype(np.float32)
        np.testing.assert_allclose(b.run({"x": x})["y"], ReferenceEvaluator(m).run(None, {"x": x})[0])
