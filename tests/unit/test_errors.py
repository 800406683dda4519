"""Bad input gets one clear line and a non-zero exit, never a traceback."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from sdk.cli import main
from sdk.errors import BoundError, ShapeError, UnsupportedOp


def _one_node_model(node, xshape, inits):
    """A graph of one node reading float input 'x' of ``xshape`` and constant ``inits`` ({name: array}), output 'y'."""
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, xshape)],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [onnx.numpy_helper.from_array(a, k) for k, a in inits.items()])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _cli(capsys, *args):
    rc = main(list(args))
    err = capsys.readouterr().err
    return rc, err


def _one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_not_onnx(tmp_path, capsys):
    p = tmp_path / "bad.onnx"
    p.write_text("this is not a model")
    rc, err = _cli(capsys, "build", str(p), "-o", str(tmp_path / "o"))
    assert rc != 0 and "not a valid ONNX model" in _one_line(err)


def test_truncated(tmp_path, capsys, examples):
    p = tmp_path / "t.onnx"
    p.write_bytes(examples["cnn"][0].SerializeToString()[:500])
    rc, err = _cli(capsys, "build", str(p), "-o", str(tmp_path / "o"))
    assert rc != 0 and "not a valid ONNX model" in _one_line(err)


def test_missing_file(tmp_path, capsys):
    rc, err = _cli(capsys, "build", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o"))
    assert rc != 0 and "no such file" in _one_line(err)


def test_unsupported_op_names_op_and_node(tmp_path, capsys):
    g = h.make_graph([h.make_node("NoSuchOp", ["x", "x"], ["y"], name="my_node", equation="ij,ij->i")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [2, 2])], [h.make_tensor_value_info("y", T.FLOAT, [2])])
    p = tmp_path / "e.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), p)
    rc, err = _cli(capsys, "build", str(p), "-o", str(tmp_path / "o"))
    line = _one_line(err)
    assert rc != 0 and "NoSuchOp" in line and "my_node" in line
    with pytest.raises(UnsupportedOp):
        sdk.compile(str(p))


def test_symbolic_dim_without_bound(tmp_path, capsys, examples):
    p = tmp_path / "m.onnx"
    onnx.save(examples["mlp"][0], p)
    rc, err = _cli(capsys, "build", str(p), "-o", str(tmp_path / "o"))
    assert rc != 0 and "--dim batch=MAX" in _one_line(err)
    with pytest.raises(BoundError):
        sdk.compile(str(p))


def test_unknown_dim_name(tmp_path, capsys, examples):
    p = tmp_path / "m.onnx"
    onnx.save(examples["mlp"][0], p)
    rc, err = _cli(capsys, "build", str(p), "-o", str(tmp_path / "o"), "--dim", "seq=4")
    assert rc != 0 and "no symbolic dim" in _one_line(err)


def test_wrong_rank_and_dtype(examples, tmp_path, capsys):
    model, bounds = examples["mlp"]
    b = sdk.compile(model, dims=bounds)
    with pytest.raises(ShapeError, match="rank"):
        b.run({"x": np.zeros((2, 3, 64), np.float32)})
    with pytest.raises(ShapeError, match="dtype"):
        b.run({"x": np.zeros((2, 64), np.float64)})
    with pytest.raises(ShapeError, match="dim 1"):
        b.run({"x": np.zeros((2, 63), np.float32)})
    out = b.save(tmp_path / "mlp")
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 64), np.int32))
    rc, err = _cli(capsys, "run", str(out), "--inputs", str(tmp_path / "in.npz"))
    assert rc != 0 and "input 'x': dtype int32" in _one_line(err)


@pytest.mark.parametrize("wshape,attrs,what", [
    ((4, 3, 3, 3), {}, "input channels 3 do not fit the weight [4, 3, 3, 3]"),   # a Conv weight (out, in, k, k)
    ((3, 4), {}, "rank"),
    ((3, 4, 3, 3), {"kernel_shape": [5, 5]}, "kernel_shape [5, 5]"),
    ((3, 4, 3, 3), {"strides": [0, 1]}, "strides [0, 1]"),
    ((3, 4, 3, 3), {"pads": [1, 1]}, "pads [1, 1]"),
    ((3, 4, 3, 3), {"group": 2}, "group 2 does not divide 3"),
    ((3, 4, 3, 3), {"group": 0}, "group 0 must be an integer >= 1"),
])
def test_convtranspose_bad_geometry_is_a_shape_error(wshape, attrs, what):
    """Fuzz finding: ConvTranspose nodes whose weight or attributes do not fit the input failed inside codegen or
    read out of bounds; they are one ShapeError naming the node."""
    node = h.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", **attrs)
    m = _one_node_model(node, [1, 3, 8, 8], {"w": np.ones(wshape, np.float32)})
    with pytest.raises(ShapeError, match="ConvTranspose") as e:
        sdk.compile(m)
    assert what in str(e.value)


@pytest.mark.parametrize("wshape,attrs,what", [
    ((4, 3, 3, 3), {"group": 0}, "group 0 must be an integer >= 1"),   # fuzz finding: ZeroDivisionError in lowering
    ((4, 2, 3, 3), {}, "input channels 3 do not fit the weight [4, 2, 3, 3] with group 1"),
    ((4, 1, 3, 3), {"group": 3}, "group 3 does not divide 4 output channels"),
    ((4, 3, 3), {}, "weight rank 3"),
    ((4, 3, 3, 3), {"kernel_shape": [2, 2]}, "kernel_shape [2, 2] differs"),
])
def test_conv_bad_weight_is_a_shape_error(wshape, attrs, what):
    node = h.make_node("Conv", ["x", "w"], ["y"], name="c", **attrs)
    m = _one_node_model(node, [1, 3, 8, 8], {"w": np.ones(wshape, np.float32)})
    with pytest.raises(ShapeError, match="Conv 'c'") as e:
        sdk.compile(m)
    assert what in str(e.value)


def test_reverse_sequence_bad_lens_is_a_shape_error():
    """Fuzz finding: a 2-D sequence_lens reached lowering (AssertionError in the tir indexer)."""
    node = h.make_node("ReverseSequence", ["x", "lens"], ["y"], name="rs")
    m = _one_node_model(node, [5, 4, 3], {"lens": np.ones((4, 2), np.int64)})
    with pytest.raises(ShapeError, match="ReverseSequence 'rs': needs .* 1-D int sequence_lens"):
        sdk.compile(m)


def test_instance_norm_bad_scale_is_a_shape_error():
    """Fuzz finding: a 2-D scale reached lowering (AssertionError in the tir indexer)."""
    node = h.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], name="inorm")
    m = _one_node_model(node, [1, 3, 4, 4], {"s": np.ones((3, 2), np.float32), "b": np.ones(3, np.float32)})
    with pytest.raises(ShapeError, match="InstanceNormalization 'inorm': .* 1-D scale"):
        sdk.compile(m)


def test_operand_of_wrong_rank_in_lowering_is_a_shape_error_naming_the_node():
    """The general net under every op's shape rule: an operand read with the wrong number of indices is a
    ShapeError naming the node (was an AssertionError, i.e. an internal error)."""
    from sdk.ir import sym  # noqa: F401
    from sdk.tir.expr import Buffer
    with pytest.raises(ShapeError, match=r"operand 'w' of rank 2 \[4, 3\] does not fit its op \(read with 1"):
        Buffer("w", (4, 3), "float32")[[0]]


def test_constant_of_unknown_data_type_is_an_import_error():
    """Fuzz finding: a Constant whose tensor has an unknown data type (29) raised KeyError inside onnx."""
    t = h.make_tensor("c", T.FLOAT, [2], [1.0, 2.0])
    t.data_type = 29
    node = h.make_node("Constant", [], ["c"], value=t)
    add = h.make_node("Add", ["x", "c"], ["y"])
    g = h.make_graph([node, add], "g", [h.make_tensor_value_info("x", T.FLOAT, [2])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    with pytest.raises(sdk.errors.ImportError_, match="attribute 'value': cannot read its value"):
        sdk.compile(m)


def _gather_elements_model(xshape, ind, axis=1):
    return _one_node_model(h.make_node("GatherElements", ["x", "i"], ["y"], name="ge", axis=axis), xshape, {"i": ind})


def test_gather_elements_indices_of_other_rank_is_a_shape_error():
    """Fuzz finding (hypothesis, importer, 84k inputs): indices of another rank than the data reached lowering
    (IndexError in the gather body)."""
    m = _gather_elements_model([3, 4], np.zeros((2, 2, 2), np.int64))
    with pytest.raises(ShapeError, match="GatherElements 'ge': indices of rank 3 for data of rank 2"):
        sdk.compile(m)


def test_gather_elements_indices_larger_than_data_off_the_axis_is_a_shape_error():
    """Off the axis an output element reads the data at its own position: a larger indices dim would read out of
    bounds, so it is refused at compile time."""
    m = _gather_elements_model([3, 4], np.zeros((5, 2), np.int64))
    with pytest.raises(ShapeError, match="GatherElements 'ge': indices dim 0 = 5 exceeds the data's 3"):
        sdk.compile(m)


def test_gather_elements_smaller_indices_match_onnxruntime():
    from conftest import ort_run
    rng = np.random.default_rng(3)
    ind = rng.integers(-4, 4, (2, 6)).astype(np.int64)
    m = _gather_elements_model([3, 4], ind, axis=1)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    got = sdk.compile(m).run({"x": x})
    np.testing.assert_allclose(got["y"], ort_run(m, {"x": x})["y"], rtol=0, atol=0)


def test_zipmap_names_the_converter_option(tmp_path, capsys):
    """A scikit-learn classifier exported with its default ZipMap: one line naming the op and how to export
    without it (the probabilities as a tensor), no traceback."""
    x = h.make_tensor_value_info("x", T.FLOAT, [1, 3])
    seq = h.make_sequence_type_proto(h.make_map_type_proto(T.INT64, h.make_tensor_type_proto(T.FLOAT, [])))
    g = h.make_graph([h.make_node("Softmax", ["x"], ["p"], axis=1),
                      h.make_node("ZipMap", ["p"], ["out"], domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2])],
                     "g", [x], [h.make_value_info("out", seq)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ai.onnx.ml", 3)])
    p = tmp_path / "zipmap.onnx"
    onnx.save(m, str(p))
    rc, err = _cli(capsys, "build", str(p), "-o", str(tmp_path / "o"))
    line = _one_line(err)
    assert rc != 0 and "unsupported op ai.onnx.ml.ZipMap" in line and "'zipmap': False" in line
