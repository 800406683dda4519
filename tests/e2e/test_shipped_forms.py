"""Shipped ONNX files as other tools make them (helper xf48): names that are not C identifiers (C keywords, leading
digits, dots, slashes, quotes, unicode) for inputs, outputs, nodes and dims; weights in external data files; the
forms of older opsets that were wrong or refused (BatchNormalization's training outputs in opsets 7-13, Dropout's
mask output, ConvTranspose's output_shape). Each against onnxruntime (or onnx's reference where onnxruntime
deviates from the spec), both engines (LLVM in-process and the gcc-built C bundle)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

import sdk
from conftest import FAST_CFLAGS, assert_outputs_close, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.errors import ImportError_, UnsupportedOp

FAST = HostRunner(cflags=FAST_CFLAGS)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, "g", inputs, [h.make_tensor_value_info(o, TP.FLOAT, None) for o in outputs], list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 7 if opset < 15 else 8
    return m


def _both_engines(bundle, feeds, ref, rtol=1e-4, atol=1e-5):
    assert_outputs_close(bundle.run(feeds), ref, rtol, atol)
    assert_outputs_close(bundle.run(feeds, runner=FAST), ref, rtol, atol)


def test_names_that_are_not_c_identifiers():
    """Input / output / node / initializer names and dim_params spelled like C keywords ('int', 'for', 'static',
    'unsigned', 'double'), with a leading digit ('0d', '0x'), dots, slashes, a colon, a space, quotes and a
    backslash, unicode: the bundle compiles warning-free (the dims are fields of ``<model>_dims``) and matches
    onnxruntime; bounds are given by the ONNX spelling."""
    rng = np.random.default_rng(0)
    names = ["input.1", "a/b:0", "图像", "0x", 'x"y\\z', "model_run", "int"]
    f = lambda n, s: h.make_tensor_value_info(n, TP.FLOAT, s)
    inputs = [f(names[0], ["int", "for"]), f(names[1], ["int", "for"]), f(names[2], ["batch size", 4]),
              f(names[3], ["N-1", "static"]), f(names[4], ["0d", 3]), f(names[5], ["unsigned", 3]),
              f(names[6], [2, "double"])]
    w = nh.from_array(rng.standard_normal((4, 5)).astype(np.float32), "W.weight/0")
    nodes = [h.make_node("Add", names[:2], ["sum:0"], name="Add/0"),
             h.make_node("MatMul", [names[2], "W.weight/0"], ["out.1"], name="mm.1"),
             h.make_node("Relu", [names[3]], ["out/2"], name="relu/2"),
             h.make_node("Mul", [names[4], names[4]], ["输出"], name="节点"),
             h.make_node("Sigmoid", [names[5]], ["3"], name="3"),
             h.make_node("Neg", [names[6]], ["return"], name="if")]
    m = _model(nodes, inputs, ["sum:0", "out.1", "out/2", "输出", "3", "return"], [w], opset=13)
    dims = {"int": 3, "for": 5, "batch size": 4, "N-1": 2, "static": 6, "0d": 3, "unsigned": 2, "double": 3}
    shapes = [(2, 4), (2, 4), (3, 4), (2, 5), (2, 3), (1, 3), (2, 2)]
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}
    b = sdk.compile(m, dims=dims, name="odd")
    assert b.bounds["int_"] == 3 and b.bounds["d0d"] == 3 and b.bounds["batch_size"] == 4
    _both_engines(b, feeds, ort_run(m, feeds))


def test_external_data(tmp_path, monkeypatch):
    """Weights in external data files (one file, or one per tensor) load from the model's path; a ModelProto loaded
    without its data is refused naming the initializer and the file it is in."""
    rng = np.random.default_rng(1)
    m = _model([h.make_node("MatMul", ["x", "w1"], ["t"]), h.make_node("Tanh", ["t"], ["u"]),
                h.make_node("MatMul", ["u", "w2"], ["y"])],
               [h.make_tensor_value_info("x", TP.FLOAT, ["batch", 64])], ["y"],
               [nh.from_array(rng.standard_normal((64, 256)).astype(np.float32), "w1"),
                nh.from_array(rng.standard_normal((256, 8)).astype(np.float32), "w2")])
    feeds = {"x": rng.standard_normal((3, 64)).astype(np.float32)}
    ref = ort_run(m, feeds)
    one, many = tmp_path / "one" / "model.onnx", tmp_path / "many" / "model.onnx"
    for p, single in ((one, True), (many, False)):
        p.parent.mkdir()
        onnx.save_model(onnx.load_from_string(m.SerializeToString()), str(p), save_as_external_data=True,
                        all_tensors_to_one_file=single, location="model.onnx.data", size_threshold=1024)
        assert p.stat().st_size < 4096  # the weights are not in the .onnx file
    monkeypatch.chdir(tmp_path)  # not the model's folder
    for p in (one, many):
        assert_outputs_close(sdk.compile(str(p), dims={"batch": 4}).run(feeds), ref, 1e-4, 1e-5)
    with pytest.raises(ImportError_, match="initializer 'w1'.*external file 'model.onnx.data'.*path"):
        sdk.compile(onnx.load(str(one), load_external_data=False), dims={"batch": 4})


@pytest.mark.parametrize("outputs", [["y"], ["y", "m1", "v1", "sm", "sv"]])
def test_batchnorm_opset9_training_outputs(outputs):
    """A BatchNormalization of opsets 7-13 with its five outputs is in training mode (its output count says so):
    onnxruntime normalises with the batch's statistics even when only Y is used; running mean / var, the batch
    mean and 1 / sqrt(var + eps) as saved_mean / saved_var (was refused: 'training outputs of opset < 14')."""
    rng = np.random.default_rng(2)
    inits = [nh.from_array(rng.standard_normal(4).astype(np.float32), "s"),
             nh.from_array(rng.standard_normal(4).astype(np.float32), "bb"),
             nh.from_array(rng.standard_normal(4).astype(np.float32), "mu"),
             nh.from_array(np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5, "var")]
    node = h.make_node("BatchNormalization", ["x", "s", "bb", "mu", "var"], ["y", "m1", "v1", "sm", "sv"],
                       epsilon=1e-3, momentum=0.8)
    m = _model([node], [h.make_tensor_value_info("x", TP.FLOAT, ["b", 4, "h"])], outputs, inits, opset=9)
    b = sdk.compile(m, dims={"b": 3, "h": 7})
    for shape in [(2, 4, 5), (3, 4, 7)]:
        feeds = {"x": (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)}
        ref = ort_run(m, feeds)
        a = {i.name: nh.to_array(i)[:, None] for i in inits}
        running = (feeds["x"] - a["mu"]) / np.sqrt(a["var"] + 1e-3) * a["s"] + a["bb"]
        assert np.abs(ref["y"] - running).max() > 0.1  # the batch's statistics, not the running ones
        _both_engines(b, feeds, ref, 1e-4, 1e-5)


def test_dropout_mask_output_is_all_true():
    """Dropout (opset 10 / 12) in inference: Y is X and the mask output all true (onnx's reference). The mask was
    made a view of X (the op's kind is 'view'), so it read X's bytes as bools. onnxruntime 1.32 returns an
    all-false mask here (not the spec), so the reference is onnx's evaluator."""
    rng = np.random.default_rng(3)
    for opset in (10, 12):
        m = _model([h.make_node("Dropout", ["x"], ["d", "msk"], **({"ratio": 0.3} if opset == 10 else {})),
                    h.make_node("Cast", ["msk"], ["mf"], to=TP.FLOAT), h.make_node("Mul", ["d", "mf"], ["y"])],
                   [h.make_tensor_value_info("x", TP.FLOAT, ["b", 4])], ["y", "mf"], opset=opset)
        feeds = {"x": rng.standard_normal((3, 4)).astype(np.float32)}
        ref = dict(zip(["y", "mf"], ReferenceEvaluator(m).run(None, feeds)))
        assert (ref["mf"] == 1).all()
        _both_engines(sdk.compile(m, dims={"b": 3}), feeds, ref)


@pytest.mark.parametrize("auto_pad,kw", [("NOTSET", {}), ("SAME_UPPER", {}), ("SAME_LOWER", {}),
                                         ("NOTSET", {"dilations": [2, 1], "output_padding": [1, 0]}),
                                         ("NOTSET", {"pads": [3, 3, 3, 3]})])
def test_convtranspose_output_shape(auto_pad, kw):
    """ConvTranspose with output_shape (tf2onnx / Keras files): pads are ignored; the total padding is what makes
    the full output that long, its larger half at the start except under SAME_UPPER (onnx's spec and onnxruntime;
    onnx's reference evaluator fails on these nodes). sdk cropped the end (every output wrong when the total is
    odd: (2, 3, 9, 10) from 4 x 5 at stride 2)."""
    rng = np.random.default_rng(4)
    oshape = [10, 10] if "dilations" in kw else [9, 10]
    node = h.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=oshape, auto_pad=auto_pad,
                       **kw)
    m = _model([node], [h.make_tensor_value_info("x", TP.FLOAT, ["b", 2, 4, 5])], ["y"],
               [nh.from_array(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")], opset=11)
    feeds = {"x": rng.standard_normal((2, 2, 4, 5)).astype(np.float32)}
    ref = ort_run(m, feeds)
    assert ref["y"].shape == (2, 3, *oshape)
    _both_engines(sdk.compile(m, dims={"b": 2}), feeds, ref)


def test_convtranspose_output_shape_of_a_symbolic_input_is_refused_by_name():
    m = _model([h.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[9, 10], name="up0")],
               [h.make_tensor_value_info("x", TP.FLOAT, ["b", 2, "h", 5])], ["y"],
               [nh.from_array(np.ones((2, 3, 3, 3), np.float32), "w")], opset=11)
    with pytest.raises(UnsupportedOp, match="ConvTranspose.*up0.*output_shape.*symbolic"):
        sdk.compile(m, dims={"b": 2, "h": 4})


def test_mixed_dtypes_name_the_inputs_and_the_inconsistent_file():
    """onnxconverter-common's float16 conversion can leave a Cast(to=FLOAT) whose output it declares float16: the
    Add after it gets float16 and float32 (onnxruntime rejects the file). The error names the node, both inputs and
    their types, and says the file is inconsistent."""
    x = h.make_tensor_value_info("x", TP.FLOAT16, ["b", 4])
    m = h.make_model(h.make_graph(
        [h.make_node("Cast", ["x"], ["c"], to=TP.FLOAT, name="Cast_1"), h.make_node("Add", ["x", "c"], ["y"], name="add0")],
        "g", [x], [h.make_tensor_value_info("y", TP.FLOAT16, None)],
        value_info=[h.make_tensor_value_info("c", TP.FLOAT16, ["b", 4])]), opset_imports=[h.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOp, match=r"Add.*add0.*'x' float16, 'c' float32.*inconsistent"):
        sdk.compile(m, dims={"b": 2})
