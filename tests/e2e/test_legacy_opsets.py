"""Models of ai.onnx opsets 1-6 (sdk/frontend/legacy.py) against onnxruntime running the same network written in
opset 7+ forms: old BatchNormalization / Dropout attributes, broadcast=1 with an axis (a constant bias and a tensor
computed at run time), Reshape's shape attribute, Gemm's broadcast, Concat without axis, Cast to a type name, Pad's
paddings, Upsample-1's scale attributes. Initializers are also graph inputs, as IR version 3 files have them."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import ort_run

RNG = np.random.default_rng(6)


def _model(nodes, inputs, outputs, arrays, opset, ir=3):
    inits = [nh.from_array(a, n) for n, a in arrays.items()]
    ins = [h.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    if ir == 3:  # old files list their initializers as graph inputs too
        ins += [h.make_tensor_value_info(n, h.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in arrays.items()]
    g = h.make_graph(nodes, "g", ins, [h.make_tensor_value_info(n, t, None) for n, t in outputs], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def _compare(old, new, feeds, rtol=1e-5, atol=1e-5):
    got = sdk.compile(old).run(feeds)
    for k, r in ort_run(new, feeds).items():
        assert got[k].shape == r.shape and got[k].dtype == r.dtype, (k, got[k].shape, r.shape, got[k].dtype)
        np.testing.assert_allclose(got[k], r, rtol=rtol, atol=atol, err_msg=k)


def _cnn_arrays():
    a = {n: RNG.standard_normal(s).astype(np.float32) for n, s in
         [("w", (4, 3, 3, 3)), ("b", (4,)), ("s", (4,)), ("bb", (4,)), ("m", (4,)), ("gw", (5, 4 * 8 * 8)), ("gb", (5,))]}
    a["v"] = RNG.uniform(0.5, 1.5, 4).astype(np.float32)
    return a


@pytest.mark.parametrize("opset", [3, 6])
def test_caffe2_era_cnn(opset):
    arrays = _cnn_arrays()
    bn_old = dict(is_test=1, epsilon=1e-5, momentum=0.9, spatial=1)
    if opset < 6:
        bn_old["consumed_inputs"] = [0, 0, 0, 1, 1]
    old = _model([h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  h.make_node("Add", ["c", "b"], ["cb"], broadcast=1, axis=1),
                  h.make_node("BatchNormalization", ["cb", "s", "bb", "m", "v"], ["bn"], **bn_old),
                  h.make_node("Relu", ["bn"], ["r"]),
                  h.make_node("Dropout", ["r"], ["d"], is_test=1, ratio=0.5),
                  h.make_node("Reshape", ["d"], ["rs"], shape=[1, -1]) if opset < 5 else
                  h.make_node("Reshape", ["d", "shp"], ["rs"]),
                  h.make_node("Gemm", ["rs", "gw", "gb"], ["g"], broadcast=1, transB=1),
                  h.make_node("Softmax", ["g"], ["y"])],
                 [("x", T.FLOAT, [1, 3, 8, 8])], [("y", T.FLOAT)],
                 {**arrays, **({} if opset < 5 else {"shp": np.array([1, -1], np.int64)})}, opset)
    new_arrays = {**arrays, "b": arrays["b"].reshape(4, 1, 1), "shp": np.array([1, -1], np.int64)}
    new = _model([h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  h.make_node("Add", ["c", "b"], ["cb"]),
                  h.make_node("BatchNormalization", ["cb", "s", "bb", "m", "v"], ["bn"], epsilon=1e-5),
                  h.make_node("Relu", ["bn"], ["r"]), h.make_node("Dropout", ["r"], ["d"]),
                  h.make_node("Reshape", ["d", "shp"], ["rs"]),
                  h.make_node("Gemm", ["rs", "gw", "gb"], ["g"], transB=1), h.make_node("Softmax", ["g"], ["y"])],
                 [("x", T.FLOAT, [1, 3, 8, 8])], [("y", T.FLOAT)], new_arrays, 13, ir=8)
    _compare(old, new, {"x": RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)})


def test_opset1_forms():
    """Mul by a tensor computed at run time at axis 1, Concat without axis, Cast to 'INT32' and back, Pad's
    paddings, Upsample-1 (nearest and BILINEAR), Sub with a trailing-aligned broadcast."""
    old = _model([h.make_node("ReduceMean", ["x"], ["sc"], axes=[0, 2, 3], keepdims=0),     # [C], computed
                  h.make_node("Mul", ["x", "sc"], ["xm"], broadcast=1, axis=1),
                  h.make_node("Sub", ["xm", "row"], ["xs"], broadcast=1),                     # [W]: numpy-aligned
                  h.make_node("Concat", ["xs", "x"], ["cat"]),                                # axis 1 by default
                  h.make_node("Cast", ["cat"], ["ci"], to="INT32"),
                  h.make_node("Cast", ["ci"], ["cf"], to="FLOAT"),
                  h.make_node("Pad", ["cf"], ["p"], paddings=[0, 0, 1, 2, 0, 0, 2, 1], value=0.5),
                  h.make_node("Upsample", ["p"], ["y"], height_scale=2.0, width_scale=3.0),
                  h.make_node("Upsample", ["x"], ["y2"], height_scale=2.0, width_scale=2.0, mode="BILINEAR")],
                 [("x", T.FLOAT, [2, 3, 4, 5])], [("y", T.FLOAT), ("y2", T.FLOAT)],
                 {"row": RNG.standard_normal(5).astype(np.float32)}, 1)
    new = _model([h.make_node("ReduceMean", ["x"], ["sc"], axes=[0, 2, 3], keepdims=0),
                  h.make_node("Unsqueeze", ["sc"], ["sc3"], axes=[1, 2]),
                  h.make_node("Mul", ["x", "sc3"], ["xm"]), h.make_node("Sub", ["xm", "row"], ["xs"]),
                  h.make_node("Concat", ["xs", "x"], ["cat"], axis=1),
                  h.make_node("Cast", ["cat"], ["ci"], to=T.INT32), h.make_node("Cast", ["ci"], ["cf"], to=T.FLOAT),
                  h.make_node("Pad", ["cf"], ["p"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=0.5),
                  h.make_node("Upsample", ["p"], ["y"], scales=[1.0, 1.0, 2.0, 3.0]),
                  h.make_node("Upsample", ["x"], ["y2"], scales=[1.0, 1.0, 2.0, 2.0], mode="linear")],
                 [("x", T.FLOAT, [2, 3, 4, 5])], [("y", T.FLOAT), ("y2", T.FLOAT)],
                 {"row": RNG.standard_normal(5).astype(np.float32)}, 7, ir=3)
    new.graph.initializer[0].CopyFrom(old.graph.initializer[0])
    x = (RNG.standard_normal((2, 3, 4, 5)) * 4).astype(np.float32)
    _compare(old, new, {"x": x})


def test_batchnorm_spatial_0_refused():
    arrays = {k: np.ones(4, np.float32) for k in ("s", "b", "m", "v")}
    m = _model([h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=0, is_test=1)],
               [("x", T.FLOAT, [1, 4, 2, 2])], [("y", T.FLOAT)], arrays, 6)
    with pytest.raises(sdk.errors.UnsupportedOp, match="spatial=0"):
        sdk.compile(m)


# ---------------------------------------------------------------- opset 7-10 forms, one node each
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
_P = [("s", RNG.standard_normal(3).astype(np.float32)), ("b", RNG.standard_normal(3).astype(np.float32)),
      ("m", RNG.standard_normal(3).astype(np.float32)), ("v", RNG.uniform(0.5, 1.5, 3).astype(np.float32))]
FORMS = {  # name: (node, opset, initializers, new code (also checked through the C build))
    "upsample7_nearest": (h.make_node("Upsample", ["x"], ["y"], scales=[1., 1., 2., 3.]), 7, [], False),
    "upsample7_linear": (h.make_node("Upsample", ["x"], ["y"], scales=[1., 1., 2., 2.], mode="linear"), 7, [], False),
    "upsample9": (h.make_node("Upsample", ["x", "sc"], ["y"], mode="linear"), 9,
                  [("sc", np.array([1, 1, 2, 1.5], np.float32))], False),
    "resize10": (h.make_node("Resize", ["x", "sc"], ["y"], mode="nearest"), 10,
                 [("sc", np.array([1, 1, 0.5, 2.5], np.float32))], False),
    "pad2_reflect": (h.make_node("Pad", ["x"], ["y"], pads=[0, 1, 2, 0, 0, 2, 1, 1], mode="reflect"), 7, [], False),
    "pad2_edge": (h.make_node("Pad", ["x"], ["y"], pads=[0, 0, 2, 1, 0, 0, 1, 3], mode="edge"), 7, [], False),
    "slice1": (h.make_node("Slice", ["x"], ["y"], starts=[1, -3], ends=[100, -1], axes=[1, 3]), 9, [], False),
    "batchnorm7_spatial": (h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=1, epsilon=1e-3),
                           7, _P, False),
    "clip6": (h.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7), 7, [], False),
    "softmax1_axis2": (h.make_node("Softmax", ["x"], ["y"], axis=2), 9, [], False),
    "hardmax1_axis1": (h.make_node("Hardmax", ["x"], ["y"]), 9, [], True),
    "hardmax1_axis2": (h.make_node("Hardmax", ["x"], ["y"], axis=2), 11, [], False),
    "imagescaler": (h.make_node("ImageScaler", ["x"], ["y"], scale=0.5, bias=[1., 2., 3.]), 8, [], False),
    "crop_border": (h.make_node("Crop", ["x"], ["y"], border=[1, 1, 1, 1]), 7, [], True),
    "crop_scale": (h.make_node("Crop", ["x"], ["y"], border=[1, 0, 1, 1], scale=[2, 3]), 7, [], False),
    "affine": (h.make_node("Affine", ["x"], ["y"], alpha=0.5, beta=2.0), 7, [], True),
    "scaled_tanh": (h.make_node("ScaledTanh", ["x"], ["y"], alpha=0.5, beta=2.0), 7, [], False),
    "parametric_softplus": (h.make_node("ParametricSoftplus", ["x"], ["y"], alpha=0.5, beta=2.0), 7, [], False),
    "scale": (h.make_node("Scale", ["x"], ["y"], scale=0.3), 7, [], False),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_old_form(form):
    node, opset, inits, c_too = FORMS[form]
    m = _model([node], [("x", T.FLOAT, [2, 3, 4, 5])], [("y", T.FLOAT)], dict(inits), opset, ir=7)
    x = np.round(X * 2) / 2 if form.startswith("hardmax") else X  # ties: the first maximum wins
    b = sdk.compile(m)
    ref = ort_run(m, {"x": x})["y"]
    for engine in ("llvm", "c") if c_too else ("llvm",):
        got = b.run({"x": x}, engine=engine)["y"]
        assert got.shape == ref.shape, (engine, got.shape, ref.shape)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=engine)


def test_batchnorm7_spatial_0_refused():
    m = _model([h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=0)],
               [("x", T.FLOAT, [2, 3, 4, 5])], [("y", T.FLOAT)], dict(_P), 7, ir=7)
    with pytest.raises(sdk.errors.UnsupportedOp, match="spatial=0"):
        sdk.compile(m)
