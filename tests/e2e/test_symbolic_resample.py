"""Shape arithmetic of the models users bring (tests/torch_zoo/zoo_users.py), each rule on an onnx.helper graph at
several dims against onnx's reference and onnxruntime: Resize of a symbolic length by a fractional scale
(floor(h * p / q) as a dim), antialiased / exclude_outside Resize on symbolic lengths (taps and normalised weights
computed in the kernel; with sizes from the Shape, as many taps as the least ratio of the lengths within the
bounds needs), OneHot whose depth is made from the input's dims (LongT5's seq // 4 + 1 global blocks)."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

import sdk
from conftest import onnx_model, ort_run
from sdk.errors import UnsupportedOp

RNG = np.random.default_rng(47)


def model(nodes, inputs, outputs, inits=(), opset=19):
    return onnx_model(nodes, inputs, outputs, inits, opset)


def arr(name, vals, dtype=np.int64):
    return numpy_helper.from_array(np.array(vals, dtype), name)


def compare(b, m, feeds, engines=("llvm",), ort=True, tol=1e-5):
    refs = [ReferenceEvaluator(m).run(None, feeds)[0]]
    if ort:
        refs.append(ort_run(m, feeds)["y"])
    for engine in engines:
        got = b.run(feeds, engine=engine)["y"]
        for ref in refs:
            assert got.shape == ref.shape, (got.shape, ref.shape)
            assert ref.size and np.std(ref) > 0
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=engine)


@pytest.mark.parametrize("mode,ctm", [("nearest", "asymmetric"), ("linear", "half_pixel"),
                                      ("linear", "align_corners"), ("cubic", "pytorch_half_pixel")])
def test_fractional_scale_of_a_symbolic_length(mode, ctm):
    """torch's interpolate(scale_factor=0.5 / 1.5 / (2, 0.5, 0.5)) exports Resize with scales: on a dynamic height
    and width the output length floor(h * s) is ``(h * p) // q`` for s = p / q (it was "resizing a symbolic dim by
    the non-integral scale 0.5"). align_corners at a fractional scale: onnx's reference (and sdk, static lengths
    too) divide by the float length scale * h - 1, onnxruntime by the integer output length - 1; against the
    reference only there."""
    m = model([h.make_node("Resize", ["x", "", "sc"], ["y"], mode=mode, coordinate_transformation_mode=ctm,
                           nearest_mode="floor")],
              [("x", T.FLOAT, ["b", 2, "h", "w"])], [("y", T.FLOAT)], [arr("sc", [1, 1, 0.5, 1.5], np.float32)])
    b = sdk.compile(m, dims={"b": 2, "h": 16, "w": 16})
    assert [str(d) for d in b.func.outputs[0].shape] == ["b", "2", "(h // 2)", "(3*w // 2)"]
    for k, (n, hh, ww) in enumerate(((2, 16, 16), (1, 7, 5), (2, 5, 10))):
        compare(b, m, {"x": RNG.standard_normal((n, 2, hh, ww)).astype(np.float32)},
                engines=("llvm", "c") if k == 1 else ("llvm",), ort=ctm != "align_corners")


def test_scale_without_an_exact_floor_is_refused():
    m = model([h.make_node("Resize", ["x", "", "sc"], ["y"], mode="linear")],
              [("x", T.FLOAT, [1, 2, "h", 4])], [("y", T.FLOAT)], [arr("sc", [1, 1, 1 / 3, 1], np.float32)])
    with pytest.raises(UnsupportedOp, match="not a multiple of 1/1024"):
        sdk.compile(m, dims={"h": 9})


@pytest.mark.parametrize("mode,by", [("linear", "scales"), ("cubic", "scales"), ("linear", "sizes")])
def test_antialias_on_symbolic_lengths(mode, by):
    """interpolate(scale_factor=0.5, antialias=True) (the dynamo exporter: Resize antialias=1, exclude_outside=1,
    sizes from the Shape; scales: the same at a known scale) on a dynamic height and width (was "mode linear
    (antialias 1, half_pixel) on symbolic lengths"). With sizes h // 2 the kernel takes the taps of the least
    ratio, 1/3 at h = 3: at h = 3 the filter is wider than at 0.5. (Cubic by sizes works alike: 12 taps an
    axis, a minute of gcc under load, not run here.)"""
    if by == "scales":
        nodes = [h.make_node("Resize", ["x", "", "sc"], ["y"], mode=mode, antialias=1, exclude_outside=1,
                             coordinate_transformation_mode="half_pixel")]
        inits = [arr("sc", [1, 1, 0.5, 0.75], np.float32)]
    else:
        nodes = [h.make_node("Shape", ["x"], ["sh"]), h.make_node("Slice", ["sh", "s2", "s4"], ["hw"]),
                 h.make_node("Div", ["hw", "two"], ["half"]),
                 h.make_node("Resize", ["x", "", "", "half"], ["y"], mode=mode, antialias=1, exclude_outside=1,
                             coordinate_transformation_mode="half_pixel", axes=[2, 3])]
        inits = [arr("two", [2]), arr("s2", [2]), arr("s4", [4])]
    m = model(nodes, [("x", T.FLOAT, ["b", 2, "h", "w"])], [("y", T.FLOAT)], inits)
    b = sdk.compile(m, dims={"b": 2, "h": 24, "w": 24})
    for k, (n, hh, ww) in enumerate(((2, 24, 20), (1, 3, 7), (2, 9, 16))):
        compare(b, m, {"x": RNG.standard_normal((n, 2, hh, ww)).astype(np.float32)},
                engines=("llvm", "c") if k == 1 else ("llvm",))


def test_exclude_outside_cubic_on_symbolic_lengths():
    """bicubic with exclude_outside (weights of taps outside the image dropped, the rest renormalised), upscaling
    a dynamic length (was refused on symbolic lengths)."""
    m = model([h.make_node("Resize", ["x", "", "sc"], ["y"], mode="cubic", exclude_outside=1,
                           coordinate_transformation_mode="half_pixel")],
              [("x", T.FLOAT, [1, 2, "h", 5])], [("y", T.FLOAT)], [arr("sc", [1, 1, 2, 1.5], np.float32)])
    b = sdk.compile(m, dims={"h": 12})
    for hh in (12, 2, 5):
        compare(b, m, {"x": RNG.standard_normal((1, 2, hh, 5)).astype(np.float32)}, engines=("llvm", "c"))


def test_onehot_depth_from_the_input_dims():
    """LongT5's global blocks: one_hot(ids, seq // 4 + 1) with the depth from the Shape: a dim (seq // 4) + 1 (it
    was a run-time dim, which the einsum against the blocks' (seq // 4) could not match)."""
    m = model([h.make_node("Shape", ["i"], ["sh"]), h.make_node("Gather", ["sh", "one"], ["s"], axis=0),
               h.make_node("Div", ["s", "four"], ["q"]), h.make_node("Add", ["q", "one"], ["depth"]),
               h.make_node("OneHot", ["i", "depth", "v"], ["oh"], axis=-1),
               h.make_node("ConstantOfShape", ["qv"], ["ones"], value=h.make_tensor("c", T.FLOAT, [1], [1.0])),
               h.make_node("Unsqueeze", ["q", "zero1"], ["qv"]),
               h.make_node("Cast", ["oh"], ["ohf"], to=T.FLOAT),
               h.make_node("Slice", ["ohf", "zero1", "m1", "m1"], ["cut"]),
               h.make_node("Mul", ["cut", "ones"], ["y"])],
              [("i", T.INT64, ["b", "seq"])], [("y", T.FLOAT)],
              [arr("one", 1), arr("four", 4), arr("zero1", [0]), arr("m1", [-1]), arr("v", [0, 1])], opset=17)
    b = sdk.compile(m, dims={"b": 3, "seq": 32})
    assert "(seq // 4)" in str(b.func.outputs[0].shape[2]) and not b.func.runtime_syms
    for n, s in ((3, 32), (1, 9), (2, 4)):
        feeds = {"i": RNG.integers(-1, s // 4 + 1, (n, s)).astype(np.int64)}
        ref = ort_run(m, feeds)["y"]
        for engine in ("llvm", "c"):
            got = b.run(feeds, engine=engine)["y"]
            np.testing.assert_array_equal(got, ref, err_msg=engine)
