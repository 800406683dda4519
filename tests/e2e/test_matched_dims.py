"""Dims that a shape rule must match but cannot prove equal at compile time: two NonZero counts broadcast
together, an updates count against an indices count, a run-time indices dim against the data's, two formulas of
the input dims for one length. The rule assumes them equal (or, for GatherElements, <=), the generated code
checks it as soon as the symbols are known, and the result matches onnxruntime on random inputs; inputs where
they differ are refused (a status), never read out of bounds. Also the shape arithmetic torch exports around
such models: a Range whose step is a dim, a Loop whose trip count is a dim."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

import sdk
from conftest import SANITIZE, onnx_model as model, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.errors import BuildError, ShapeError
from sdk.ir import sym

RNG = np.random.default_rng(46)


def ints(name, vals):
    return numpy_helper.from_array(np.array(vals, np.int64), name)


def check(b, m, feeds):
    got, ref = b.run(feeds), ort_run(m, feeds)
    for k, r in ref.items():
        assert got[k].shape == r.shape, (k, got[k].shape, r.shape)
        assert r.size == 0 or np.std(r) > 0 or r.size == 1, k  # not a degenerate output
        np.testing.assert_allclose(got[k], r, rtol=1e-5, atol=1e-6)


def test_broadcast_of_two_input_dims_is_checked_at_run_time():
    """[n, 4] + [m, 4]: equal at run time (onnxruntime's rule), n == m checked before the run."""
    m = model([h.make_node("Add", ["x", "y"], ["z"]), h.make_node("Relu", ["z"], ["r"])],
              [("x", T.FLOAT, ["n", 4]), ("y", T.FLOAT, ["m", 4])], [("r", T.FLOAT)])
    b = sdk.compile(m, dims={"n": 6, "m": 6})
    assert len(b.func.dim_checks) == 2
    for k in (1, 3, 6):
        check(b, m, {"x": RNG.standard_normal((k, 4)).astype(np.float32),
                     "y": RNG.standard_normal((k, 4)).astype(np.float32)})
    with pytest.raises(ShapeError, match="two dims that must be equal differ"):
        b.run({"x": np.ones((3, 4), np.float32), "y": np.ones((4, 4), np.float32)})


def test_static_and_provably_different_dims_still_fail_at_compile_time():
    m = model([h.make_node("Add", ["x", "y"], ["z"])], [("x", T.FLOAT, ["n", 4]), ("y", T.FLOAT, ["n", 5])],
              [("z", T.FLOAT)])
    with pytest.raises(ShapeError, match="cannot broadcast"):
        sdk.compile(m, dims={"n": 4})
    m = model([h.make_node("Add", ["x", "y"], ["z"])], [("x", T.FLOAT, ["n"]), ("y", T.FLOAT, ["n"])],
              [("z", T.FLOAT)])
    m.graph.input[1].type.tensor_type.shape.dim[0].dim_param = ""
    m.graph.input[1].type.tensor_type.shape.dim[0].dim_value = 9
    with pytest.raises(ShapeError, match="cannot broadcast"):  # n <= 4 never equals 9
        sdk.compile(m, dims={"n": 4})


# EmbeddingBag's per-sample weights: the rows of a bag and their weights, cut by two Compress of one mask
BAG = model([h.make_node("Compress", ["x", "keep"], ["rows"], axis=0),
             h.make_node("Compress", ["w", "keep2"], ["ws"], axis=0),
             h.make_node("Unsqueeze", ["ws", "one"], ["w2"]),
             h.make_node("Mul", ["rows", "w2"], ["p"]),
             h.make_node("ReduceSum", ["p", "zero"], ["s"], keepdims=0)],
            [("x", T.FLOAT, ["n", 16]), ("w", T.FLOAT, ["n"]), ("keep", T.BOOL, ["n"]), ("keep2", T.BOOL, ["n"])],
            [("p", T.FLOAT), ("s", T.FLOAT)], [ints("one", [1]), ints("zero", [0])])


def test_broadcast_of_two_runtime_counts_matches_ort():
    b = sdk.compile(BAG, dims={"n": 8})
    rts = set(b.func.runtime_syms)
    assert [len(sym.free_vars(d) & rts) for d, _ in b.func.dim_checks] == [2, 2]  # the two counts, checked at run
    for n, p in ((8, 0.5), (5, 0.8), (3, 0.3), (8, 1.0)):
        keep = RNG.random(n) < p
        keep[0] = True
        check(b, BAG, {"x": RNG.standard_normal((n, 16)).astype(np.float32),
                       "w": RNG.standard_normal(n).astype(np.float32), "keep": keep, "keep2": keep.copy()})


def test_broadcast_of_two_different_runtime_counts_is_a_status():
    b = sdk.compile(BAG, dims={"n": 8})
    keep, keep2 = np.array([1, 1, 0, 1, 0, 0], bool), np.array([1, 0, 0, 0, 0, 1], bool)  # 3 rows, 2 weights
    with pytest.raises(BuildError, match="shape mismatch"):
        b.run({"x": np.ones((6, 16), np.float32), "w": np.ones(6, np.float32), "keep": keep, "keep2": keep2})


def test_scatternd_updates_count_from_another_count():
    """torch's y[y < -1] = 0: indices from NonZero, updates Expanded to the mask's sum (a run-time dim with no
    bound of its own: bounded by the NonZero count it must equal)."""
    m = model([h.make_node("Less", ["x", "lim"], ["lt"]),
               h.make_node("NonZero", ["lt"], ["nz"]), h.make_node("Transpose", ["nz"], ["idx"]),
               h.make_node("Reshape", ["lt", "m1"], ["flat"]), h.make_node("Cast", ["flat"], ["lt64"], to=T.INT64),
               h.make_node("ReduceSum", ["lt64", "ax0"], ["cnt"], keepdims=1),
               h.make_node("Expand", ["zero", "cnt"], ["upd"]),
               h.make_node("ScatterND", ["x", "idx", "upd"], ["y"])],
              [("x", T.FLOAT, ["b", "s", 4])], [("y", T.FLOAT)],
              [numpy_helper.from_array(np.array(-1.0, np.float32), "lim"),
               numpy_helper.from_array(np.array(0.0, np.float32), "zero"), ints("m1", [-1]), ints("ax0", [0])])
    b = sdk.compile(m, dims={"b": 3, "s": 5})
    for shape in ((3, 5, 4), (1, 2, 4), (2, 5, 4)):
        check(b, m, {"x": (2 * RNG.standard_normal(shape)).astype(np.float32)})


def test_gather_elements_with_a_runtime_indices_dim():
    """Indices rows cut by a mask (a run-time count): count <= the data's rows, checked at run time."""
    m = model([h.make_node("Compress", ["idx", "keep"], ["sel"], axis=0),
               h.make_node("GatherElements", ["x", "sel"], ["y"], axis=1)],
              [("x", T.FLOAT, ["n", 8]), ("idx", T.INT64, ["k", 3]), ("keep", T.BOOL, ["k"])], [("y", T.FLOAT)])
    b = sdk.compile(m, dims={"n": 6, "k": 6})
    for n, k in ((6, 6), (4, 5), (3, 2)):
        keep = np.zeros(k, bool)
        keep[RNG.choice(k, size=min(n, k), replace=False)] = True
        check(b, m, {"x": RNG.standard_normal((n, 8)).astype(np.float32),
                     "idx": RNG.integers(-8, 8, size=(k, 3)), "keep": keep})
    with pytest.raises(BuildError, match="shape mismatch"):  # 5 rows of indices for 3 rows of data
        b.run({"x": np.ones((3, 8), np.float32), "idx": np.zeros((5, 3), np.int64), "keep": np.ones(5, bool)})


def test_reshape_to_a_length_given_by_another_formula():
    """x [1, n, 4] viewed as [1, E, 2, -1] then [1, 2E, 2] where E = max(n - 2, 0) + 2 comes from the input's
    Shape (an exporter's formula for n, equal to it from n = 2 on): matched with n, checked at run time, and
    the second view's 2E reduced to 2n by that equality."""
    m = model([h.make_node("Shape", ["x"], ["sh"]), h.make_node("Gather", ["sh", "i1"], ["n"]),
               h.make_node("Sub", ["n", "two"], ["n2"]), h.make_node("Max", ["n2", "z1"], ["c"]),
               h.make_node("Add", ["c", "two"], ["e"]), h.make_node("Mul", ["e", "two"], ["e2"]),
               h.make_node("Concat", ["one", "e", "two", "m1"], ["t1"], axis=0),
               h.make_node("Concat", ["one", "e2", "two"], ["t2"], axis=0),
               h.make_node("Reshape", ["x", "t1"], ["v1"]), h.make_node("Neg", ["v1"], ["w"]),
               h.make_node("Reshape", ["w", "t2"], ["v2"])],
              [("x", T.FLOAT, [1, "n", 4])], [("v1", T.FLOAT), ("v2", T.FLOAT)],
              [ints("i1", [1]), ints("two", [2]), ints("z1", [0]), ints("one", [1]), ints("m1", [-1])])
    b = sdk.compile(m, dims={"n": 9})
    assert [str(d) for d in b.func.outputs[1].shape] == ["1", "2*n", "2"]
    for n in (2, 5, 9):
        check(b, m, {"x": RNG.standard_normal((1, n, 4)).astype(np.float32)})
    with pytest.raises(ShapeError, match="two dims that must be equal differ"):  # E = 2 != n at n = 1
        b.run({"x": np.ones((1, 1, 4), np.float32)})


def test_range_with_a_dim_as_step_and_loop_over_it():
    """torch's EmbeddingBag offsets: Range(0, numel, seq) has batch entries (ReduceProd of the Shape is
    batch*seq); a Loop over them bounds its scan output's rows by batch (no --dim for either)."""
    body = h.make_graph(
        [h.make_node("Gather", ["offs", "i"], ["o"]), h.make_node("Gather", ["flat", "o"], ["v"]),
         h.make_node("Identity", ["c"], ["c_out"])],
        "body", [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, [])],
        [h.make_tensor_value_info("c_out", T.BOOL, []), h.make_tensor_value_info("v", T.FLOAT, [])])
    m = model([h.make_node("Shape", ["x"], ["sh"]), h.make_node("ReduceProd", ["sh"], ["numel"], keepdims=0),
               h.make_node("Gather", ["sh", "i1"], ["seq"]),
               h.make_node("Range", ["z", "numel", "seq"], ["offs"]),
               h.make_node("Reshape", ["x", "m1"], ["flat"]),
               h.make_node("Shape", ["offs"], ["osh"]), h.make_node("Gather", ["osh", "i0"], ["trip"]),
               h.make_node("Loop", ["trip", "t"], ["firsts"], body=body),
               h.make_node("Mul", ["offs", "two"], ["offs2"])],
              [("x", T.FLOAT, ["batch", "seq"])], [("firsts", T.FLOAT), ("offs2", T.INT64)],
              [ints("i1", 1), ints("i0", 0), ints("z", 0), ints("m1", [-1]), ints("two", 2),
               numpy_helper.from_array(np.array(True), "t")])
    b = sdk.compile(m, dims={"batch": 4, "seq": 7})
    assert [str(d) for d in b.func.outputs[1].shape] == ["batch"]
    for shape in ((4, 7), (1, 3), (3, 5)):
        check(b, m, {"x": RNG.standard_normal(shape).astype(np.float32)})


def test_c_bundle_checks_matched_dims_under_sanitizers(tmp_path):
    """The C bundle (ASan/UBSan, -Wall -Wextra -Werror): runs right where the matched dims agree, returns the
    status where they do not (two different counts; inputs whose dims differ), never reads out of bounds."""
    runner = HostRunner(cflags=" ".join(SANITIZE))
    bag = sdk.compile(BAG, dims={"n": 8})
    bag.save(tmp_path / "bag")
    runner.build(bag.path)
    keep = np.array([1, 0, 1, 1, 0, 1, 1], bool)
    feeds = {"x": RNG.standard_normal((7, 16)).astype(np.float32), "w": RNG.standard_normal(7).astype(np.float32),
             "keep": keep, "keep2": keep.copy()}
    got, _ = runner.run(bag.path, feeds)
    np.testing.assert_allclose(got["s"], ort_run(BAG, feeds)["s"], rtol=1e-5, atol=1e-6)
    with pytest.raises(BuildError, match="shape mismatch"):
        runner.run(bag.path, dict(feeds, keep2=np.roll(keep, 1) & keep))

    add = model([h.make_node("Add", ["x", "y"], ["z"])], [("x", T.FLOAT, ["n", 4]), ("y", T.FLOAT, ["m", 4])],
                [("z", T.FLOAT)])
    b = sdk.compile(add, dims={"n": 6, "m": 6})
    b.save(tmp_path / "add")
    runner.build(b.path)
    feeds = {"x": RNG.standard_normal((5, 4)).astype(np.float32), "y": RNG.standard_normal((5, 4)).astype(np.float32)}
    got, _ = runner.run(b.path, feeds)
    np.testing.assert_allclose(got["z"], feeds["x"] + feeds["y"], rtol=1e-6)
    with pytest.raises(BuildError, match="out of"):
        runner.run(b.path, {"x": feeds["x"], "y": feeds["y"][:3]})


@pytest.mark.parametrize("ctm", ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"])
def test_cubic_resize_to_sizes_of_symbolic_lengths(ctm):
    """torch's bicubic interpolate(size=...) of a position table to the token grid (ViTDet, DINOv2-style
    models at a dynamic image size): Resize mode cubic to sizes made from the input's Shape, taps and Keys
    weights computed in the kernel from the lengths at run time; up and down, against onnx's reference and
    onnxruntime, both engines. (At an output length of 1, pytorch_half_pixel puts the sample at -0.5: onnx's
    reference and sdk take the taps there, edges repeated; onnxruntime 1.32 gives another value.)"""
    m = model([h.make_node("Shape", ["g"], ["sh"]), h.make_node("Slice", ["sh", "s2", "s4"], ["hw"]),
               h.make_node("Resize", ["x", "", "", "hw"], ["y"], mode="cubic", coordinate_transformation_mode=ctm,
                           cubic_coeff_a=-0.75, axes=[2, 3])],
              [("x", T.FLOAT, [1, 2, 5, 7]), ("g", T.FLOAT, [1, 1, "h", "w"])], [("y", T.FLOAT)],
              [ints("s2", [2]), ints("s4", [4])], opset=19)
    b = sdk.compile(m, dims={"h": 12, "w": 12})
    x = RNG.standard_normal((1, 2, 5, 7)).astype(np.float32)
    for hw in ((9, 12), (3, 4), (5, 7), (1, 2)):
        feeds = {"x": x, "g": np.zeros((1, 1) + hw, np.float32)}
        refs = [ReferenceEvaluator(m).run(None, feeds)[0]]
        if not (ctm == "pytorch_half_pixel" and 1 in hw):
            refs.append(ort_run(m, feeds)["y"])
        for engine in ("llvm", "c") if hw == (9, 12) else ("llvm",):
            got = b.run(feeds, engine=engine)["y"]
            for ref in refs:
                assert got.shape == ref.shape
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=f"{hw} {engine}")


def test_reshape_merging_dims_into_a_length_given_by_another_formula():
    """PVTv2's spatial reduction: x [b, c, h, w] viewed as [b, c, X] with X = (max(h - 1, 0) + 1) * (max(w - 1, 0)
    + 1) from the Shape (the exporter's formula for h * w, equal whenever h, w >= 1): X matched with h * w."""
    m = model([h.make_node("Shape", ["x"], ["sh"]), h.make_node("Slice", ["sh", "s2", "s4"], ["hw"]),
               h.make_node("Sub", ["hw", "one"], ["hw1"]), h.make_node("Max", ["hw1", "zero"], ["c"]),
               h.make_node("Add", ["c", "one"], ["e"]), h.make_node("ReduceProd", ["e"], ["t"], keepdims=1),
               h.make_node("Slice", ["sh", "s0", "s2"], ["bc"]), h.make_node("Concat", ["bc", "t"], ["tgt"], axis=0),
               h.make_node("Reshape", ["x", "tgt"], ["v"]), h.make_node("Transpose", ["v"], ["y"], perm=[0, 2, 1])],
              [("x", T.FLOAT, ["b", 3, "h", "w"])], [("y", T.FLOAT)],
              [ints("s0", [0]), ints("s2", [2]), ints("s4", [4]), ints("one", [1]), ints("zero", [0])])
    b = sdk.compile(m, dims={"b": 2, "h": 8, "w": 8})
    assert [str(d) for d in b.func.outputs[0].shape] == ["b", "h*w", "3"]
    for shape in ((2, 3, 8, 5), (1, 3, 1, 7), (2, 3, 4, 4)):
        check(b, m, {"x": RNG.standard_normal(shape).astype(np.float32)})


def test_float_length_arithmetic_gives_symbolic_pads():
    """EnCodec's causal padding as TorchScript traces it: n_frames = ceil(float(length - k + p) / s + 1) and
    extra = (n_frames - 1) * s + k - p - length, all in float / int tensors from Shape, then Pad. The float values
    are exact ratios of the dims (sym.Ratio), so the pads and the padded length are dims: no run-time dims."""
    m = model([h.make_node("Shape", ["x"], ["sh"]), h.make_node("Gather", ["sh", "i1"], ["n"], axis=0),
               h.make_node("Sub", ["n", "k"], ["a"]), h.make_node("Add", ["a", "p"], ["b"]),
               h.make_node("Cast", ["b"], ["bf"], to=T.FLOAT), h.make_node("Div", ["bf", "s"], ["q"]),
               h.make_node("Add", ["q", "onef"], ["q1"]), h.make_node("Ceil", ["q1"], ["c"]),
               h.make_node("Cast", ["c"], ["ci"], to=T.INT64), h.make_node("Sub", ["ci", "one"], ["c1"]),
               h.make_node("Mul", ["c1", "si"], ["c2"]), h.make_node("Add", ["c2", "k"], ["c3"]),
               h.make_node("Sub", ["c3", "p"], ["c4"]), h.make_node("Sub", ["c4", "n"], ["extra"]),
               h.make_node("Concat", ["z2", "p1", "z1", "extra"], ["pads"], axis=0),
               h.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")],
              [("x", T.FLOAT, ["b", "n"])], [("y", T.FLOAT)],
              [ints("i1", [1]), ints("k", 7), ints("p", 3), ints("one", 1), ints("si", 4), ints("z2", [0]),
               ints("p1", [3]), ints("z1", [0]),
               numpy_helper.from_array(np.array(4.0, np.float32), "s"),
               numpy_helper.from_array(np.array(1.0, np.float32), "onef")])
    b = sdk.compile(m, dims={"b": 2, "n": 40})
    assert not [r for r in b.func.runtime_syms.values() if r.is_dim]
    for shape in ((2, 40), (1, 13), (2, 22), (1, 9)):
        check(b, m, {"x": RNG.standard_normal(shape).astype(np.float32)})
