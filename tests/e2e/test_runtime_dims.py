"""Run-time (data-dependent) symbols: ops whose output shape depends on tensor values compile once, with an
upper bound per run-time dim, and match onnxruntime at several values; a value above its bound returns
SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS (checked under ASan/UBSan: never an overflow)."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import SANITIZE, onnx_model as model, ort_run
from sdk.errors import BoundError, BuildError, ShapeError
from sdk.backends.host.runner import HostRunner

RNG = np.random.default_rng(7)


def check(b, m, feeds, exact=False):
    got, ref = b.run(feeds), ort_run(m, feeds)
    for k, r in ref.items():
        assert got[k].shape == r.shape, (k, got[k].shape, r.shape)
        if exact:
            np.testing.assert_array_equal(got[k], r)
        else:
            np.testing.assert_allclose(got[k], r, rtol=1e-5, atol=1e-6)


def sparse(shape, p=0.6):
    x = RNG.standard_normal(shape).astype(np.float32)
    x[RNG.random(shape) < p] = 0
    return x


NONZERO = model([h.make_node("NonZero", ["x"], ["nz"]), h.make_node("Transpose", ["nz"], ["idx"]),
                 h.make_node("Cast", ["idx"], ["f"], to=T.FLOAT), h.make_node("ReduceSum", ["f"], ["s"], keepdims=0)],
                [("x", T.FLOAT, ["n", 5])], [("idx", T.INT64), ("s", T.FLOAT)])

RESHAPE = model([h.make_node("Reshape", ["x", "shape"], ["y"]), h.make_node("Relu", ["y"], ["z"]),
                 h.make_node("ReduceMax", ["z"], ["m"], axes=[-1], keepdims=0)],
                [("x", T.FLOAT, ["n", 12]), ("shape", T.INT64, [3])], [("z", T.FLOAT), ("m", T.FLOAT)],
                opset=13)


def test_nonzero_matches_ort_at_several_counts():
    b = sdk.compile(NONZERO, dims={"n": 8})
    assert "nz_dim1" in b.func.runtime_syms
    for n, p in ((1, 0.5), (4, 0.0), (8, 0.7), (3, 1.0)):   # p=1: no non-zero at all (a 0-sized dim)
        check(b, NONZERO, {"x": sparse((n, 5), p)}, exact=False)


def test_runtime_reshape_matches_ort_and_plans_numel():
    b = sdk.compile(RESHAPE, dims={"n": 4})
    assert set(b.func.runtime_syms) == {"y_dim0", "y_dim1", "y_dim2"}
    # the Relu temp is sized by numel(x) (the known product), not by the product of the three bounds
    assert b.plan.arena_bytes <= 4 * 12 * 4 + 64
    for n, shape in ((4, [2, -1, 6]), (3, [0, 3, 4]), (2, [-1, 2, 2]), (1, [1, 1, 12])):
        check(b, RESHAPE, {"x": RNG.standard_normal((n, 12)).astype(np.float32), "shape": np.array(shape, np.int64)})


def test_runtime_reshape_bad_product_is_a_status():
    b = sdk.compile(RESHAPE, dims={"n": 4})
    with pytest.raises(BuildError, match="bad value"):
        b.run({"x": np.ones((2, 12), np.float32), "shape": np.array([5, 5, 1], np.int64)})


def test_runtime_dim_without_inferable_bound_names_the_flag():
    m = model([h.make_node("ConstantOfShape", ["s"], ["y"], value=h.make_tensor("v", T.FLOAT, [1], [2.0]))],
              [("s", T.INT64, [2])], [("y", T.FLOAT)])
    with pytest.raises(BoundError, match="--dim y_dim0=MAX"):
        sdk.compile(m)


def test_above_bound_returns_status_under_sanitizers(tmp_path):
    """Bounds given below what the data produces: NonZero's count and a Reshape dim exceed them; the
    bundle, built with ASan/UBSan, returns the status (the demo prints its text) instead of overflowing."""
    runner = HostRunner(cflags=" ".join(SANITIZE))
    nz = sdk.compile(NONZERO, dims={"n": 8, "nz_dim1": 6})
    nz.save(tmp_path / "nz")
    runner.build(nz.path)
    x = sparse((8, 5), 0.0)  # 40 non-zeros > 6
    with pytest.raises(BuildError, match="run-time dim out of compiled bounds"):
        runner.run(nz.path, {"x": x})
    x = sparse((8, 5), 1.0)
    x[2, 3] = x[7, 0] = 1.5  # 2 non-zeros <= 6: runs clean and right under the sanitizers
    got, _ = runner.run(nz.path, {"x": x})
    np.testing.assert_array_equal(got["idx"], ort_run(NONZERO, {"x": x})["idx"])

    rs = sdk.compile(RESHAPE, dims={"n": 4, "y_dim0": 2, "y_dim1": 6, "y_dim2": 12})
    rs.save(tmp_path / "rs")
    runner.build(rs.path)
    with pytest.raises(BuildError, match="run-time dim out of compiled bounds"):
        runner.run(rs.path, {"x": np.ones((4, 12), np.float32), "shape": np.array([48, 1, 1], np.int64)})
    feeds = {"x": RNG.standard_normal((4, 12)).astype(np.float32), "shape": np.array([2, 2, 12], np.int64)}
    got, _ = runner.run(rs.path, feeds)
    np.testing.assert_allclose(got["z"], ort_run(RESHAPE, feeds)["z"])

    nms = sdk.compile(NMS, dims={"b": 2, "n": 16})  # the NMS library kernel, clean under the sanitizers
    nms.save(tmp_path / "nms")
    runner.build(nms.path)
    feeds = nms_feeds(2, 16, 0.3)
    np.testing.assert_array_equal(runner.run(nms.path, feeds)[0]["sel"], ort_run(NMS, feeds)["sel"])


def scalar(name, dt=T.INT64):
    return (name, dt, [])


def test_slice_with_runtime_starts_and_ends():
    m = model([h.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"]), h.make_node("Neg", ["y"], ["z"])],
              [("x", T.FLOAT, ["n", 10]), ("st", T.INT64, [2]), ("en", T.INT64, [2])], [("z", T.FLOAT)],
              [h.make_tensor("ax", T.INT64, [2], [0, 1]), h.make_tensor("sp", T.INT64, [2], [1, -2])])
    b = sdk.compile(m, dims={"n": 6})
    for n, st, en in ((6, [1, 9], [5, 0]), (4, [-3, -1], [100, -100]), (2, [0, 3], [1, 3]), (5, [7, 20], [9, 2])):
        check(b, m, {"x": RNG.standard_normal((n, 10)).astype(np.float32),
                     "st": np.array(st, np.int64), "en": np.array(en, np.int64)})


def test_range_with_runtime_limits():
    m = model([h.make_node("Range", ["s", "l", "d"], ["y"]), h.make_node("Mul", ["y", "y"], ["z"])],
              [scalar("s"), scalar("l"), scalar("d")], [("z", T.INT64)])
    b = sdk.compile(m, dims={"y_dim0": 32})
    for s, l, d in ((0, 10, 1), (5, -7, -3), (3, 3, 1), (-4, 20, 5), (2, 34, 1)):
        feeds = {k: np.array(v, np.int64) for k, v in zip("sld", (s, l, d))}
        check(b, m, feeds, exact=True)
    with pytest.raises(BuildError, match="run-time dim out of compiled bounds"):
        b.run({"s": np.array(0, np.int64), "l": np.array(33, np.int64), "d": np.array(1, np.int64)})


def test_expand_and_tile_and_pad_with_runtime_shapes():
    m = model([h.make_node("Expand", ["x", "shape"], ["e"]), h.make_node("Tile", ["x", "reps"], ["t"]),
               h.make_node("Pad", ["x", "pads"], ["p"], mode="constant")],
              [("x", T.FLOAT, [3, 1]), ("shape", T.INT64, [3]), ("reps", T.INT64, [2]), ("pads", T.INT64, [4])],
              [("e", T.FLOAT), ("t", T.FLOAT), ("p", T.FLOAT)])
    dims = {"e_dim0": 4, "e_dim2": 8, "t_dim0": 9, "t_dim1": 4, "p_dim0": 8, "p_dim1": 6}
    b = sdk.compile(m, dims=dims)
    for shape, reps, pads in (([2, 3, 5], [3, 4], [1, 2, 3, 3]), ([4, 1, 8], [1, 1], [0, 0, 0, 0]),
                              ([1, 3, 1], [2, 3], [2, -1, 3, 1])):
        check(b, m, {"x": RNG.standard_normal((3, 1)).astype(np.float32), "shape": np.array(shape, np.int64),
                     "reps": np.array(reps, np.int64), "pads": np.array(pads, np.int64)})


NMS = model([h.make_node("NonMaxSuppression", ["boxes", "scores", "mo", "iou", "st"], ["sel"])],
            [("boxes", T.FLOAT, ["b", "n", 4]), ("scores", T.FLOAT, ["b", 3, "n"]), ("iou", T.FLOAT, [])],
            [("sel", T.INT64)], [h.make_tensor("mo", T.INT64, [], [4]), h.make_tensor("st", T.FLOAT, [], [0.2])])


def nms_feeds(b, n, iou, center=False):
    xy = RNG.random((b, n, 2)).astype(np.float32) * 4
    wh = RNG.random((b, n, 2)).astype(np.float32) * 2
    boxes = np.concatenate([xy, wh] if center else [xy + wh, xy], -1)  # corners given max-first: NMS sorts them
    return {"boxes": boxes, "scores": RNG.random((b, 3, n)).astype(np.float32), "iou": np.array(iou, np.float32)}


def test_nms_matches_ort():
    b = sdk.compile(NMS, dims={"b": 2, "n": 20})
    assert sym_str(b.func.runtime_syms["sel_dim0"].bound) == "3*b*min(n, 4)"
    for bb, n, iou in ((1, 20, 0.5), (2, 7, 0.3), (2, 15, 0.0), (1, 2, 0.9)):
        check(b, NMS, nms_feeds(bb, n, iou), exact=True)
    m = model([h.make_node("NonMaxSuppression", ["boxes", "scores", "mo", "iou"], ["sel"], center_point_box=1)],
              [("boxes", T.FLOAT, [1, 12, 4]), ("scores", T.FLOAT, [1, 3, 12]), ("iou", T.FLOAT, [])],
              [("sel", T.INT64)], [h.make_tensor("mo", T.INT64, [], [100])])
    b = sdk.compile(m)
    check(b, m, nms_feeds(1, 12, 0.4, center=True), exact=True)


def sym_str(d):
    from sdk.ir import sym
    return sym.to_str(d)


def test_topk_with_runtime_k():
    m = model([h.make_node("TopK", ["x", "k"], ["v", "i"], axis=1), h.make_node("Relu", ["v"], ["r"])],
              [("x", T.FLOAT, ["n", 9]), ("k", T.INT64, [1])], [("r", T.FLOAT), ("i", T.INT64)], opset=11)
    b = sdk.compile(m, dims={"n": 3})
    assert b.func.runtime_syms["v_dim1"].bound == 9
    for n, k in ((3, 4), (1, 9), (2, 1), (3, 0)):
        check(b, m, {"x": RNG.standard_normal((n, 9)).astype(np.float32), "k": np.array([k], np.int64)}, exact=True)
    with pytest.raises(BuildError, match="run-time dim out of compiled bounds"):
        b.run({"x": np.ones((1, 9), np.float32), "k": np.array([10], np.int64)})


@pytest.mark.parametrize("sorted_", [1, 0])
def test_unique_flattened(sorted_):
    m = model([h.make_node("Unique", ["x"], ["y", "i", "inv", "c"], sorted=sorted_)], [("x", T.FLOAT, ["n", 4])],
              [("y", T.FLOAT), ("i", T.INT64), ("inv", T.INT64), ("c", T.INT64)], opset=11)
    b = sdk.compile(m, dims={"n": 6})
    assert sym_str(b.func.runtime_syms["y_dim0"].bound) == "4*n"
    for n in (1, 3, 6):
        check(b, m, {"x": RNG.integers(-3, 4, (n, 4)).astype(np.float32) / 2}, exact=True)


@pytest.mark.parametrize("axis,sorted_", [(0, 1), (1, 0), (-1, 1)])
def test_unique_slices(axis, sorted_):
    """Unique rows / columns of a matrix with a symbolic dim: duplicates, lexicographic order when sorted."""
    m = model([h.make_node("Unique", ["x"], ["y", "i", "inv", "c"], sorted=sorted_, axis=axis)], [("x", T.FLOAT, ["n", 3])],
              [("y", T.FLOAT), ("i", T.INT64), ("inv", T.INT64), ("c", T.INT64)], opset=11)
    b = sdk.compile(m, dims={"n": 8})
    for n in (1, 5, 8):
        x = RNG.integers(-1, 2, (n, 3)).astype(np.float32)
        x[n // 2] = x[0]  # a repeated row
        check(b, m, {"x": x}, exact=True)


def test_compress_on_an_axis_and_flattened():
    m = model([h.make_node("Compress", ["x", "c"], ["y"], axis=1), h.make_node("Relu", ["y"], ["z"]),
               h.make_node("Compress", ["x", "c"], ["f"])],
              [("x", T.FLOAT, ["n", 6]), ("c", T.BOOL, [5])], [("z", T.FLOAT), ("f", T.FLOAT)])
    b = sdk.compile(m, dims={"n": 3})
    for n, c in ((1, [1, 0, 1, 1, 0]), (3, [0] * 5), (2, [1] * 5), (3, [0, 0, 0, 0, 1])):
        check(b, m, {"x": RNG.standard_normal((n, 6)).astype(np.float32), "c": np.array(c, bool)})


# A KV-cache step: present = Concat(past, new) on the past axis; a cache starts empty (past = 0).
CACHE = model([h.make_node("Concat", ["past", "new"], ["present"], axis=2),
               h.make_node("ReduceSum", ["present", "axes"], ["s"], keepdims=0)],
              [("past", T.FLOAT, ["batch", 2, "past", 4]), ("new", T.FLOAT, ["batch", 2, 1, 4])],
              [("present", T.FLOAT), ("s", T.FLOAT)], inits=[h.make_tensor("axes", T.INT64, [1], [2])])


@pytest.mark.parametrize("engine", ["llvm", "c"])
def test_empty_dim_may_be_zero(engine):
    """``empty_dims``: an input symbol that may be 0 (an empty KV cache) runs at 0 and matches onnxruntime;
    the others still reject 0."""
    b = sdk.compile(CACHE, dims={"batch": 2, "past": 8}, empty_dims=("past",), engine=engine)
    assert b.func.empty_dims() == ["past"]
    assert b.workspace_size({"batch": 2, "past": 0}) <= b.workspace_size({"batch": 2, "past": 8})
    for past in (0, 1, 8):
        check(b, CACHE, {"past": RNG.standard_normal((2, 2, past, 4)).astype(np.float32),
                         "new": RNG.standard_normal((2, 2, 1, 4)).astype(np.float32)})
    zero_batch = {"past": np.zeros((0, 2, 0, 4), np.float32), "new": np.zeros((0, 2, 1, 4), np.float32)}
    with pytest.raises(BoundError, match=r"dim 0 \(batch\) is 0, but batch was compiled as at least 1 .*"
                                         r"empty_dims=\['batch'\]"):
        b.run(zero_batch)
    b.check_inputs = lambda feeds: None  # past the Python check: the bundle's own status
    with pytest.raises(BuildError, match="out of"):
        b.run(zero_batch)
    # the same graph with a cache input not named like one: its length must be declared to be 0
    plain_model = model([h.make_node("Concat", ["state", "new"], ["present"], axis=2)],
                        [("state", T.FLOAT, ["batch", 2, "n", 4]), ("new", T.FLOAT, ["batch", 2, 1, 4])],
                        [("present", T.FLOAT)])
    plain = sdk.compile(plain_model, dims={"batch": 2, "n": 8}, engine=engine)
    assert plain.func.empty_dims() == []
    with pytest.raises(BoundError, match=r"empty_dims=\['n'\]; sdk build --empty-dim n"):
        plain.run({"state": np.zeros((2, 2, 0, 4), np.float32), "new": np.zeros((2, 2, 1, 4), np.float32)})


def test_cache_length_may_be_zero_without_being_declared():
    """A float input named like "past" with one symbolic dim besides the batch is a key/value cache: its length
    may be 0 (the first step) without ``empty_dims`` (GPT-2 with past, both exporters, at past = 0 against
    onnxruntime); a symbol shared with another input (ids [batch, past]) stays >= 1."""
    b = sdk.compile(CACHE, dims={"batch": 2, "past": 8})
    assert b.func.empty_dims() == ["past"]
    check(b, CACHE, {"past": np.zeros((2, 2, 0, 4), np.float32), "new": RNG.standard_normal((2, 2, 1, 4)).astype(np.float32)})
    shared = model([h.make_node("Concat", ["past", "new"], ["present"], axis=2),
                    h.make_node("Cast", ["ids"], ["y"], to=T.FLOAT)],
                   [("past", T.FLOAT, ["batch", 2, "past", 4]), ("new", T.FLOAT, ["batch", 2, 1, 4]),
                    ("ids", T.INT64, ["batch", "past"])], [("present", T.FLOAT), ("y", T.FLOAT)])
    assert sdk.compile(shared, dims={"batch": 2, "past": 8}).func.empty_dims() == []


@pytest.mark.parametrize("exporter", ["ts", "dynamo"])
def test_gpt2_with_past_runs_an_empty_cache(exporter):
    import onnx
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "torch_zoo" / "models" / f"gpt2_past.{exporter}.onnx"
    m = onnx.load(str(path))
    b = sdk.compile(m, dims={"batch": 4, "seq": 8, "past": 24, "total": 32})
    for past, seq in ((0, 5), (0, 1), (4, 2)):
        feeds = {"ids": RNG.integers(0, 100, (2, seq)).astype(np.int64), "mask": np.ones((2, past + seq), np.int64)}
        for i in range(2):
            for kv in "kv":
                feeds[f"past_{kv}{i}"] = RNG.standard_normal((2, 2, past, 16)).astype(np.float32)
        check(b, m, feeds)


def conv1d_stack():
    """Two strided Conv1d (kernel 10 stride 5, kernel 3 stride 2: wav2vec 2.0's feature extractor in small) and
    Slice's end -1 on the frames: the second conv has (n // 10) - 1 frames, negative for n < 10."""
    w0 = h.make_tensor("w0", T.FLOAT, [4, 1, 10], RNG.standard_normal(40).astype(np.float32).tolist())
    w1 = h.make_tensor("w1", T.FLOAT, [4, 4, 3], RNG.standard_normal(48).astype(np.float32).tolist())
    c = lambda n, v: h.make_tensor(n, T.INT64, [1], [v])
    nodes = [h.make_node("Conv", ["x", "w0"], ["a"], strides=[5]), h.make_node("Relu", ["a"], ["r"]),
             h.make_node("Conv", ["r", "w1"], ["b"], strides=[2]),
             h.make_node("Slice", ["b", "s0", "e0", "ax"], ["y"])]
    return model(nodes, [("x", T.FLOAT, ["batch", 1, "n"])], [("y", T.FLOAT)],
                 [w0, w1, c("s0", 0), c("e0", -1), c("ax", 2)])


@pytest.mark.parametrize("engine", ["llvm", "c"])
def test_input_too_small_for_the_model_is_refused(engine):
    """Convolution output lengths (L - k) // s + 1 are negative for too short an input: Bundle.run names the
    tensor, and the bundle itself (C or JIT) returns SDK_ERR_DIM_OUT_OF_BOUNDS instead of running with a
    negative size."""
    m = conv1d_stack()
    b = sdk.compile(m, dims={"batch": 2, "n": 200})
    for n in (200, 57, 30, 20):  # 20: zero frames after the slice, still a valid run
        x = RNG.standard_normal((2, 1, n)).astype(np.float32)
        got, ref = b.run({"x": x}, engine=engine)["y"], ort_run(m, {"x": x})["y"]
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    x = RNG.standard_normal((1, 1, 8)).astype(np.float32)
    with pytest.raises(ShapeError, match=r"inputs too small for the model: at n=8, .* = -1"):
        b.run({"x": x}, engine=engine)
    b.check_inputs = lambda feeds: None  # past the Python check: the bundle's own status
    with pytest.raises(BuildError, match="dim out of compiled bounds"):
        b.run({"x": x}, engine=engine)


def _resize_to_input_dims(mode, ctm, nearest, op):
    """Resize of an image of dynamic height and width to sizes computed from its own Shape (halved or
    doubled), as torch's interpolate(x, size=...) exports."""
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Slice", ["s", "two", "four"], ["hw"]),
             h.make_node(op, ["hw", "k2"], ["hw2"]), h.make_node("Slice", ["s", "zero", "two"], ["nc"]),
             h.make_node("Concat", ["nc", "hw2"], ["size"], axis=0),
             h.make_node("Resize", ["x", "", "", "size"], ["y"], mode=mode, coordinate_transformation_mode=ctm,
                         nearest_mode=nearest)]
    inits = [h.make_tensor(k, T.INT64, [1], [v]) for k, v in (("two", 2), ("four", 4), ("k2", 2), ("zero", 0))]
    return model(nodes, [("x", T.FLOAT, ["n", 3, "h", "w"])], [("y", T.FLOAT)], inits, opset=18)


@pytest.mark.parametrize("op", ["Div", "Mul"])
@pytest.mark.parametrize("mode,ctm,nearest", [("linear", "half_pixel", "round_prefer_floor"),
                                              ("linear", "pytorch_half_pixel", "round_prefer_floor"),
                                              ("linear", "align_corners", "round_prefer_floor"),
                                              ("linear", "asymmetric", "round_prefer_floor"),
                                              ("nearest", "asymmetric", "floor"),
                                              ("nearest", "half_pixel", "round_prefer_floor"),
                                              ("nearest", "align_corners", "round_prefer_ceil")])
def test_resize_to_sizes_of_symbolic_dims(mode, ctm, nearest, op):
    m = _resize_to_input_dims(mode, ctm, nearest, op)
    b = sdk.compile(m, dims={"n": 2, "h": 16, "w": 16})
    for shape in [(1, 3, 7, 9), (2, 3, 16, 10), (1, 3, 2, 3)]:
        feeds = {"x": RNG.standard_normal(shape).astype(np.float32)}
        got, ref = b.run(feeds)["y"], ort_run(m, feeds)["y"]
        assert got.shape == ref.shape
        # coordinates in float64 here, in float32 in onnxruntime: weights differ in the last bits
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_resize_of_a_symbolic_dim_by_a_fractional_scale_is_refused():
    """A scale that is a multiple of 1/1024 (1.5, 0.5) is an exact ratio of dims (tests/e2e/test_symbolic_resample.py);
    1.3 in float32 is 10905190 / 2**23, which no dim expression holds: refused, naming the scale."""
    m = model([h.make_node("Resize", ["x", "", "sc"], ["y"], mode="linear", name="up")],
              [("x", T.FLOAT, [1, 3, "h", 8])], [("y", T.FLOAT)],
              [h.make_tensor("sc", T.FLOAT, [4], [1, 1, 1.3, 1])], opset=18)
    with pytest.raises(sdk.errors.UnsupportedOp, match="Resize \\(node 'up'\\): resizing a symbolic dim by the scale 1.29999"):
        sdk.compile(m, dims={"h": 8})


@pytest.mark.parametrize("op,auto", [("Conv", "SAME_UPPER"), ("Conv", "SAME_LOWER"), ("ConvTranspose", "SAME_UPPER"),
                                     ("ConvTranspose", "SAME_LOWER")])
def test_auto_pad_same_on_symbolic_spatial_dims(op, auto):
    """TorchScript writes Conv2d(padding="same") as auto_pad SAME_UPPER: at stride 1 (Conv) or without
    output_shape (ConvTranspose) the padding does not depend on the input's length."""
    stride = 1 if op == "Conv" else 2
    wshape = [4, 3, 4, 3] if op == "Conv" else [3, 4, 3, 4]
    dil = [1, 1] if op == "Conv" else [1, 2]  # onnxruntime's Conv refuses dilations with SAME
    m = model([h.make_node(op, ["x", "w"], ["y"], auto_pad=auto, strides=[stride, stride], dilations=dil)],
              [("x", T.FLOAT, ["n", 3, "h", "w"])], [("y", T.FLOAT)],
              [h.make_tensor("w", T.FLOAT, wshape, RNG.standard_normal(wshape).reshape(-1).tolist())], opset=17)
    b = sdk.compile(m, dims={"n": 2, "h": 12, "w": 12})
    for shape in [(1, 3, 5, 7), (2, 3, 12, 8)]:
        check(b, m, {"x": RNG.standard_normal(shape).astype(np.float32)})


def test_auto_pad_same_strided_on_a_symbolic_dim_is_refused():
    m = model([h.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2], name="c")],
              [("x", T.FLOAT, [1, 3, "h", 8])], [("y", T.FLOAT)],
              [h.make_tensor("w", T.FLOAT, [4, 3, 3, 3], [0.1] * 108)], opset=17)
    with pytest.raises(sdk.errors.UnsupportedOp, match="Conv \\(node 'c'\\): auto_pad SAME_UPPER with stride 2"):
        sdk.compile(m, dims={"h": 8})


def test_resize_to_its_own_sizes_is_a_copy():
    """torchvision's detection transform resizes to sizes computed from the image's own shape: equal to the
    input's dims, nothing to resize (a linear Resize with no resized axis once left its kernel without taps)."""
    m = model([h.make_node("Shape", ["x"], ["s"]), h.make_node("Resize", ["x", "", "", "s"], ["y"], mode="linear")],
              [("x", T.FLOAT, ["n", 3, "h", 5])], [("y", T.FLOAT)], opset=18)
    b = sdk.compile(m, dims={"n": 2, "h": 8})
    check(b, m, {"x": RNG.standard_normal((2, 3, 6, 5)).astype(np.float32)}, exact=True)
