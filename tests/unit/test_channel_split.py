"""sdk/transform/channel_split.py: a convolution and the per-channel ops after it computed in groups of output
channels joined by a Concat give the model's outputs (onnxruntime on random inputs), and which chains qualify."""
import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import ort_run, random_inputs
from sdk.frontend.onnx import import_onnx, ir_dims
from sdk.train.compile import compile_function
from sdk.transform.channel_split import segments, split_channels


def _cnn():
    from make_examples import cnn
    return cnn()


def _split_run(model, dims, k, min_frac):
    m, bounds = ir_dims(model, dims)
    f = import_onnx(m, bounds, "m")
    g, names = split_channels(f, k, bounds, min_frac)
    feeds = random_inputs(model, dims, seed=1)
    got = compile_function(g, bounds=bounds, name="m").run(feeds)
    return f, g, names, feeds, got


def test_segments_of_the_cnn_example():
    m, bounds = ir_dims(_cnn(), {"batch": 2})
    segs = segments(import_onnx(m, bounds, "m"))
    assert [[b.op for b in s] for s in segs] == [["Conv", "Relu", "MaxPool"],
                                                 ["Conv", "BatchNormalization", "Relu", "AveragePool"]]


def test_split_gives_the_same_outputs():
    model = _cnn()
    for k, min_frac, groups in ((2, 0.5, 2), (3, 0.0, 6)):  # 3 groups of 8 channels (2, 3, 3) and of 16 (5, 5, 6)
        f, g, names, feeds, got = _split_run(model, {"batch": 2}, k, min_frac)
        assert sum(1 for b in g.bindings if b.op == "Conv" and b.name in names) == groups
        assert sum(1 for b in g.bindings if b.op == "Conv") == 2 - groups // k + groups  # the others stay whole
        assert sum(1 for b in g.bindings if b.op == "Concat") == groups // k
        ref = ort_run(model, feeds)
        np.testing.assert_allclose(got["probs"], ref["probs"], rtol=1e-5, atol=1e-6)


def test_per_channel_operand_is_sliced_and_mixing_ops_end_the_chain():
    """An Add of a [C, 1, 1] parameter and a Mul of a scalar join the chain (the Add's operand sliced per group);
    a Conv reading the chain's value ends it; a value with two readers ends it."""
    rng = np.random.default_rng(0)
    w = nh.from_array(rng.standard_normal((6, 3, 3, 3)).astype(np.float32), "w")
    bias = nh.from_array(rng.standard_normal((6, 1, 1)).astype(np.float32), "bias")
    s = nh.from_array(np.array(0.5, np.float32), "s")
    w2 = nh.from_array(rng.standard_normal((4, 6, 1, 1)).astype(np.float32), "w2")
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Add", ["c", "bias"], ["a"]),
             h.make_node("Mul", ["a", "s"], ["m"]), h.make_node("Relu", ["m"], ["r"]),
             h.make_node("Conv", ["r", "w2"], ["c2"]), h.make_node("Add", ["c2", "c2"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, [2, 4, 8, 8])], [w, bias, s, w2])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    f, split, names, feeds, got = _split_run(model, {}, 2, 0.0)
    assert [[b.op for b in s] for s in segments(f)] == [["Conv", "Add", "Mul", "Relu"], ["Conv"]]
    np.testing.assert_allclose(got["y"], ort_run(model, feeds)["y"], rtol=1e-5, atol=1e-5)
