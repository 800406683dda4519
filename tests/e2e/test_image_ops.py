"""RoiAlign, MaxUnpool, Col2Im, CenterCropPad, AffineGrid (sdk/ops/image.py), Det (sdk/ops/linalg.py), CumProd and
CumSum / Trilu with an axis / k known only at run time (sdk/ops/indexing.py), on random inputs against onnxruntime
or onnx's ReferenceEvaluator (where onnxruntime lacks the op or differs from onnx's reference), with the shape
inputs as initializers (the form exporters write; the backend node tests feed them as graph inputs)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

import sdk
from conftest import ort_run

RNG = np.random.default_rng(19)


def model(node, inputs, out_type=T.FLOAT, inits=(), opset=22):
    g = h.make_graph([node], "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info("y", out_type, None)],
                     [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def check(m, feeds, oracle="ort", rtol=1e-5, atol=1e-5, c=False):
    """The JIT's outputs (and with ``c`` the C demo program's, built with -Wall -Wextra -Werror) against the oracle."""
    b = sdk.compile(m)
    ref = ort_run(m, feeds)["y"] if oracle == "ort" else ReferenceEvaluator(m).run(None, feeds)[0]
    for engine in ("llvm", "c") if c else ("llvm",):
        got = b.run(feeds, engine=engine)["y"]
        assert got.shape == ref.shape and got.dtype == ref.dtype, (engine, got.shape, ref.shape, got.dtype, ref.dtype)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=engine)


def _rois(k, size):
    a = RNG.uniform(-2, size - 1, (k, 2))
    b = a + RNG.uniform(0.2, size * 0.8, (k, 2))
    return np.concatenate([a, b], 1).astype(np.float32)


@pytest.mark.parametrize("mode,ctm,ratio,scale", [("avg", "half_pixel", 2, 1.0), ("avg", "output_half_pixel", 3, 0.5),
                                                  ("max", "half_pixel", 2, 0.25), ("max", "output_half_pixel", 1, 1.0)])
def test_roialign(mode, ctm, ratio, scale):
    node = h.make_node("RoiAlign", ["x", "rois", "bi"], ["y"], mode=mode, coordinate_transformation_mode=ctm,
                       output_height=3, output_width=4, sampling_ratio=ratio, spatial_scale=scale)
    m = model(node, [("x", T.FLOAT, [2, 3, 12, 10]), ("rois", T.FLOAT, [5, 4]), ("bi", T.INT64, [5])], opset=16)
    feeds = {"x": RNG.standard_normal((2, 3, 12, 10)).astype(np.float32),
             "rois": _rois(5, 12 / scale), "bi": RNG.integers(0, 2, 5).astype(np.int64)}
    # onnxruntime's max mode takes the largest weighted tap, not onnx's reference's choice: the reference
    check(m, feeds, oracle="ort" if mode == "avg" else "ref", c=ratio == 3)


def test_roialign_sampling_ratio_0_refused():
    """Adaptive sampling needs a static feature map (sdk/ops/roi.py; tests/e2e/test_sample_ops.py runs it)."""
    node = h.make_node("RoiAlign", ["x", "rois", "bi"], ["y"], sampling_ratio=0)
    m = model(node, [("x", T.FLOAT, [1, 1, "h", "w"]), ("rois", T.FLOAT, [2, 4]), ("bi", T.INT64, [2])])
    with pytest.raises(sdk.errors.UnsupportedOp, match="sampling_ratio 0"):
        sdk.compile(m, dims={"h": 8, "w": 8})


@pytest.mark.parametrize("shape,k,out_shape", [([2, 3, 8, 10], (2, 2), None), ([2, 3, 8, 9], (2, 3), None),
                                               ([1, 2, 8, 10], (2, 2), [1, 2, 9, 11])])
def test_maxunpool_of_maxpool(shape, k, out_shape):
    """MaxPool's values and indices unpooled, as a segmentation decoder does (onnx's reference: indices count in
    the unpooled shape, placed at the start of a larger output_shape)."""
    s, p = k, (0,) * 2 * len(k)
    pool = h.make_node("MaxPool", ["x"], ["v", "i"], kernel_shape=list(k), strides=list(s), pads=list(p))
    ins = ["v", "i"] + (["os"] if out_shape else [])
    unpool = h.make_node("MaxUnpool", ins, ["y"], kernel_shape=list(k), strides=list(s), pads=list(p))
    g = h.make_graph([pool, unpool], "g", [h.make_tensor_value_info("x", T.FLOAT, shape)],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [onnx.numpy_helper.from_array(np.array(out_shape, np.int64), "os")] if out_shape else [])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 22)])
    check(m, {"x": RNG.standard_normal(shape).astype(np.float32)}, oracle="ref", c=out_shape is not None)


@pytest.mark.parametrize("image,block,attrs", [([5, 6], [2, 3], {}), ([7, 8], [3, 2], {"strides": [2, 3]}),
                                               ([6, 5], [2, 2], {"pads": [1, 0, 2, 1], "dilations": [2, 1]}),
                                               ([4, 3, 5], [2, 1, 2], {})])
def test_col2im(image, block, attrs):
    D = len(image)
    st, pd, dl = attrs.get("strides", [1] * D), attrs.get("pads", [0] * 2 * D), attrs.get("dilations", [1] * D)
    L = int(np.prod([(image[a] + pd[a] + pd[a + D] - dl[a] * (block[a] - 1) - 1) // st[a] + 1 for a in range(D)]))
    C = 2 * int(np.prod(block))
    node = h.make_node("Col2Im", ["x", "img", "blk"], ["y"], **attrs)
    m = model(node, [("x", T.FLOAT, [2, C, L])], inits=[("img", np.array(image, np.int64)),
                                                         ("blk", np.array(block, np.int64))], opset=18)
    check(m, {"x": RNG.standard_normal((2, C, L)).astype(np.float32)}, oracle="ort" if D == 2 else "ref", c="pads" in attrs)


@pytest.mark.parametrize("shape,target,axes", [([20, 10, 3], [10, 7, 3], None), ([10, 7, 3], [20, 10, 3], None),
                                               ([3, 20, 8], [11, 13], [1, 2]), ([20, 8, 3], [9, 10], [-3, -2])])
def test_center_crop_pad(shape, target, axes):
    node = h.make_node("CenterCropPad", ["x", "s"], ["y"], **({"axes": axes} if axes else {}))
    m = model(node, [("x", T.FLOAT, shape)], inits=[("s", np.array(target, np.int64))], opset=18)
    check(m, {"x": RNG.standard_normal(shape).astype(np.float32)}, c=axes is None and shape[0] == 20)


@pytest.mark.parametrize("size,align", [([2, 3, 5, 7], 0), ([2, 3, 5, 7], 1), ([2, 1, 3, 4, 5], 0), ([1, 1, 3, 1, 4], 1)])
def test_affine_grid(size, align):
    D = len(size) - 2
    node = h.make_node("AffineGrid", ["theta", "size"], ["y"], align_corners=align)
    m = model(node, [("theta", T.FLOAT, [size[0], D, D + 1])], inits=[("size", np.array(size, np.int64))], opset=20)
    check(m, {"theta": RNG.standard_normal((size[0], D, D + 1)).astype(np.float32)}, oracle="ref", c=D == 3 and align == 0)


@pytest.mark.parametrize("shape", [[3, 3], [2, 4, 2, 2], [5, 4, 4], [1, 1]])
def test_det(shape):
    m = model(h.make_node("Det", ["x"], ["y"]), [("x", T.FLOAT, shape)])
    check(m, {"x": RNG.standard_normal(shape).astype(np.float32)}, rtol=1e-4, c=len(shape) == 4)


def test_det_too_large_refused():
    m = model(h.make_node("Det", ["x"], ["y"]), [("x", T.FLOAT, [5, 5])])
    with pytest.raises(sdk.errors.UnsupportedOp, match="up to 4 x 4"):
        sdk.compile(m)


@pytest.mark.parametrize("op", ["CumSum", "CumProd"])
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 1)])
def test_cumulative_run_time_axis(op, exclusive, reverse):
    """One compile; the axis fed at run time picks the direction (every axis, negative ones too)."""
    node = h.make_node(op, ["x", "ax"], ["y"], exclusive=exclusive, reverse=reverse)
    m = model(node, [("x", T.FLOAT, [3, 4, 5]), ("ax", T.INT64, [])], opset=26)
    b = sdk.compile(m)
    x = RNG.uniform(0.5, 1.5, (3, 4, 5)).astype(np.float32)
    for ax in (0, 1, 2, -1, -3):
        feeds = {"x": x, "ax": np.array(ax, np.int64)}
        np.testing.assert_allclose(b.run(feeds)["y"], ReferenceEvaluator(m).run(None, feeds)[0], rtol=1e-5)


def test_cumprod_constant_axis_int():
    node = h.make_node("CumProd", ["x", "ax"], ["y"], exclusive=1)
    m = model(node, [("x", T.INT32, [4, 6])], T.INT32, inits=[("ax", np.array(1, np.int64))], opset=26)
    check(m, {"x": RNG.integers(-3, 4, (4, 6)).astype(np.int32)}, oracle="ref", c=True)


@pytest.mark.parametrize("upper", [0, 1])
def test_trilu_run_time_k(upper):
    node = h.make_node("Trilu", ["x", "k"], ["y"], upper=upper)
    m = model(node, [("x", T.FLOAT, [2, 4, 6]), ("k", T.INT64, [])], opset=14)
    b = sdk.compile(m)
    x = RNG.standard_normal((2, 4, 6)).astype(np.float32)
    for k in (-5, -1, 0, 2, 7):
        feeds = {"x": x, "k": np.array(k, np.int64)}
        np.testing.assert_array_equal(b.run(feeds)["y"], ort_run(m, feeds)["y"])


@pytest.mark.parametrize("group,offset_group,stride,dilation,pads,with_mask", [
    (1, 1, 1, 1, [1, 1, 1, 1], True), (2, 2, 2, 1, [0, 1, 1, 0], False), (1, 2, 1, 2, [1, 0, 0, 1], True)])
def test_deform_conv(group, offset_group, stride, dilation, pads, with_mask):
    N, C, H, W, OC, K = 2, 4, 7, 6, 4, 3
    oh = (H + pads[0] + pads[2] - dilation * (K - 1) - 1) // stride + 1
    ow = (W + pads[1] + pads[3] - dilation * (K - 1) - 1) // stride + 1
    ins = ["x", "w", "off", "b"] + (["mask"] if with_mask else [])
    node = h.make_node("DeformConv", ins, ["y"], group=group, offset_group=offset_group, strides=[stride] * 2,
                       dilations=[dilation] * 2, pads=pads, kernel_shape=[K, K])
    inputs = [("x", T.FLOAT, [N, C, H, W]), ("off", T.FLOAT, [N, offset_group * K * K * 2, oh, ow])]
    if with_mask:
        inputs.append(("mask", T.FLOAT, [N, offset_group * K * K, oh, ow]))
    m = model(node, inputs, inits=[("w", RNG.standard_normal((OC, C // group, K, K)).astype(np.float32)),
                                   ("b", RNG.standard_normal(OC).astype(np.float32))], opset=22)
    feeds = {"x": RNG.standard_normal((N, C, H, W)).astype(np.float32),
             "off": (RNG.standard_normal((N, offset_group * K * K * 2, oh, ow)) * 1.5).astype(np.float32)}
    if with_mask:
        feeds["mask"] = RNG.uniform(0, 1, (N, offset_group * K * K, oh, ow)).astype(np.float32)
    check(m, feeds, oracle="ref", rtol=1e-4, atol=1e-4, c=with_mask and group == 1 and dilation == 1)
