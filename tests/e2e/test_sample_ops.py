"""Sampling ops of detection and spatial-transformer models against onnxruntime on random inputs: GridSample on
images of a symbolic size (one compile, two sizes), RoiAlign (both coordinate modes, avg / max, fixed and adaptive
sampling, symbolic roi count) and MaxRoiPool."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import sdk
from conftest import ort_run

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes, inputs, outputs, opset):
    return helper.make_model(helper.make_graph(nodes, "m", inputs, outputs),
                             opset_imports=[helper.make_opsetid("", opset)])


def _run_both(model, feeds_list, dims, rtol=1e-4, atol=1e-5):
    b = sdk.compile(model, dims=dims)
    for feeds in feeds_list:
        ref = ort_run(model, feeds)
        got = b.run(feeds)
        for name, r in ref.items():
            assert got[name].shape == r.shape, name
            np.testing.assert_allclose(got[name], r, rtol=rtol, atol=atol, err_msg=name)
    return b


@pytest.mark.parametrize("mode,pad,align", [("linear", "zeros", 0), ("nearest", "border", 1),
                                            ("cubic", "reflection", 0), ("linear", "reflection", 1),
                                            ("cubic", "border", 1), ("cubic", "zeros", 1)])
def test_gridsample_symbolic_height_width(mode, pad, align):
    """torch's grid_sample on an image of any size: the spatial dims enter the coordinates at run time."""
    rng = np.random.default_rng(0)
    m = _model([helper.make_node("GridSample", ["img", "grid"], ["y"], mode=mode, padding_mode=pad,
                                 align_corners=align)],
               [helper.make_tensor_value_info("img", F, ["n", 3, "h", "w"]),
                helper.make_tensor_value_info("grid", F, ["n", "gh", "gw", 2])],
               [helper.make_tensor_value_info("y", F, None)], opset=20)
    feeds = []
    for n, h, w, gh, gw in ((1, 5, 7, 4, 6), (2, 9, 6, 7, 3)):
        feeds.append({"img": rng.standard_normal((n, 3, h, w)).astype(np.float32),
                      "grid": rng.uniform(-1.3, 1.3, (n, gh, gw, 2)).astype(np.float32)})
    _run_both(m, feeds, {"n": 2, "h": 12, "w": 12, "gh": 8, "gw": 8})


def _rois(rng, k, n, size, inside=True):
    """k boxes (x1, y1, x2, y2) in image coordinates, some small, some past the border unless ``inside``."""
    a = rng.uniform(0, size, (k, 2))
    b = rng.uniform(0, size, (k, 2))
    boxes = np.concatenate([np.minimum(a, b), np.maximum(a, b)], 1)
    boxes[0, 2:] = boxes[0, :2] + 0.3  # a tiny box (below one feature pixel)
    if not inside:
        boxes[1] = [-5.0, size * 0.5, size * 1.2, size + 3.0]
    return boxes.astype(np.float32), rng.integers(0, n, k).astype(np.int64)


@pytest.mark.parametrize("ctm,mode,ratio", [("half_pixel", "avg", 2), ("output_half_pixel", "avg", 0),
                                            ("half_pixel", "avg", 0), ("output_half_pixel", "max", 2),
                                            ("half_pixel", "max", 0)])
def test_roialign_against_onnxruntime(ctm, mode, ratio):
    """torchvision's roi_align (aligned=True: half_pixel; False: output_half_pixel), sampling_ratio fixed or
    adaptive (0: ceil(roi size / output size) samples a bin); the roi count symbolic."""
    rng = np.random.default_rng(1)
    m = _model([helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], coordinate_transformation_mode=ctm,
                                 mode=mode, output_height=3, output_width=4, sampling_ratio=ratio,
                                 spatial_scale=0.25)],
               [helper.make_tensor_value_info("x", F, ["n", 4, 10, 12]),
                helper.make_tensor_value_info("rois", F, ["k", 4]), helper.make_tensor_value_info("idx", I64, ["k"])],
               [helper.make_tensor_value_info("y", F, None)], opset=16)
    feeds = []
    for n, k in ((1, 3), (2, 7)):
        boxes, idx = _rois(rng, k, n, 40.0)
        feeds.append({"x": rng.standard_normal((n, 4, 10, 12)).astype(np.float32), "rois": boxes, "idx": idx})
    _run_both(m, feeds, {"n": 2, "k": 8})


def test_roialign_fixed_sampling_symbolic_feature_map():
    """With a fixed sampling ratio the feature map's size may be symbolic too; rois past the border sample
    zeros there (bilinear taps clamped as onnxruntime does)."""
    rng = np.random.default_rng(2)
    m = _model([helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], output_height=2, output_width=2,
                                 sampling_ratio=2, spatial_scale=0.5)],
               [helper.make_tensor_value_info("x", F, ["n", 3, "h", "w"]),
                helper.make_tensor_value_info("rois", F, ["k", 4]), helper.make_tensor_value_info("idx", I64, ["k"])],
               [helper.make_tensor_value_info("y", F, None)], opset=16)
    feeds = []
    for n, h, w, k in ((1, 6, 9, 4), (2, 11, 7, 5)):
        boxes, idx = _rois(rng, k, n, 2.0 * min(h, w), inside=False)
        feeds.append({"x": rng.standard_normal((n, 3, h, w)).astype(np.float32), "rois": boxes, "idx": idx})
    _run_both(m, feeds, {"n": 2, "h": 12, "w": 12, "k": 6})


def test_maxroipool_against_onnxruntime():
    """torchvision's roi_pool (TorchScript export): MaxRoiPool with rois [k, 5] (batch index first), rounded
    coordinates, max over each bin's pixels; an empty bin gives 0."""
    rng = np.random.default_rng(3)
    m = _model([helper.make_node("MaxRoiPool", ["x", "rois"], ["y"], pooled_shape=[3, 2], spatial_scale=0.25)],
               [helper.make_tensor_value_info("x", F, ["n", 4, 9, 11]), helper.make_tensor_value_info("rois", F, ["k", 5])],
               [helper.make_tensor_value_info("y", F, None)], opset=16)
    feeds = []
    for n, k in ((1, 3), (2, 6)):
        boxes, idx = _rois(rng, k, n, 40.0, inside=False)
        rois = np.concatenate([idx[:, None].astype(np.float32), boxes], 1)
        feeds.append({"x": rng.standard_normal((n, 4, 9, 11)).astype(np.float32), "rois": rois})
    _run_both(m, feeds, {"n": 2, "k": 8})


@pytest.mark.parametrize("image,block,kw", [([8, 9], [3, 3], dict(strides=[2, 2], pads=[1, 1, 1, 1])),
                                            ([7, 10], [2, 3], dict(dilations=[2, 1], strides=[1, 2],
                                                                   pads=[0, 1, 1, 0])),
                                            ([12], [4], dict(strides=[3]))])
def test_col2im_against_onnxruntime(image, block, kw):
    """torch's F.fold (TorchScript exports it as Col2Im): overlapping blocks summed back, with strides, dilations,
    asymmetric pads and a 1-d case; the batch symbolic."""
    rng = np.random.default_rng(4)
    D = len(image)
    dil, st, pads = kw.get("dilations", [1] * D), kw.get("strides", [1] * D), kw.get("pads", [0] * 2 * D)
    L = 1
    for a in range(D):
        L *= (image[a] + pads[a] + pads[a + D] - dil[a] * (block[a] - 1) - 1) // st[a] + 1
    k = int(np.prod(block))
    m = _model([helper.make_node("Col2Im", ["x", "image", "block"], ["y"], **kw)],
               [helper.make_tensor_value_info("x", F, ["n", 2 * k, L])], [helper.make_tensor_value_info("y", F, None)],
               opset=18)
    m.graph.initializer.extend([helper.make_tensor("image", I64, [D], image), helper.make_tensor("block", I64, [D], block)])
    feeds = [{"x": rng.standard_normal((n, 2 * k, L)).astype(np.float32)} for n in (1, 3)]
    _run_both(m, feeds, {"n": 3})


@pytest.mark.parametrize("align", [0, 1])
def test_affinegrid_symbolic_size_into_gridsample(align):
    """torch's affine_grid (TorchScript exports AffineGrid at opset 20) with the size taken from the image's
    Shape (symbolic height and width), feeding GridSample: a spatial transformer on images of any size; and a 3-d
    grid (a size-1 axis is left out: with align_corners onnxruntime puts its point at +1, onnx's reference at -1;
    tests/e2e/test_image_ops.py holds the reference's)."""
    rng = np.random.default_rng(5)
    m = _model([helper.make_node("Shape", ["img"], ["size"]),
                helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align),
                helper.make_node("GridSample", ["img", "grid"], ["y"], align_corners=align),
                helper.make_node("AffineGrid", ["theta3", "size3"], ["grid3"], align_corners=align)],
               [helper.make_tensor_value_info("img", F, ["n", 2, "h", "w"]),
                helper.make_tensor_value_info("theta", F, ["n", 2, 3]),
                helper.make_tensor_value_info("theta3", F, [1, 3, 4])],
               [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("grid", F, None),
                helper.make_tensor_value_info("grid3", F, None)], opset=20)
    m.graph.initializer.append(helper.make_tensor("size3", I64, [5], [1, 1, 3, 2, 4]))
    feeds = []
    for n, h, w in ((1, 5, 7), (2, 9, 6)):
        theta = np.array([[1, 0, 0], [0, 1, 0]], np.float32) + 0.3 * rng.standard_normal((n, 2, 3)).astype(np.float32)
        feeds.append({"img": rng.standard_normal((n, 2, h, w)).astype(np.float32), "theta": theta,
                      "theta3": rng.standard_normal((1, 3, 4)).astype(np.float32)})
    _run_both(m, feeds, {"n": 2, "h": 12, "w": 12})
