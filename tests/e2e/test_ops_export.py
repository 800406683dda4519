"""Ops that exported models use, in the forms the ONNX node cases do not cover (compile-time k/depth given as
initializers, symbolic dims), against onnx's ReferenceEvaluator on random inputs."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import sdk

F = TensorProto.FLOAT


def _check(model, feeds, dims=None, rtol=1e-4, atol=1e-5):
    ref = ReferenceEvaluator(model).run(None, feeds)
    b = sdk.compile(model, dims=dims)
    got = b.run(feeds)
    for name, r in zip(b.func.output_names, ref):
        assert got[name].shape == r.shape, name
        assert got[name].dtype == r.dtype, name
        np.testing.assert_allclose(got[name], r, rtol=rtol, atol=atol, err_msg=name)
    return b


def _model(nodes, inputs, outputs, inits=(), opset=18):
    return helper.make_model(helper.make_graph(nodes, "m", inputs, outputs, list(inits)),
                             opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("largest", [1, 0])
def test_topk_constant_k_with_ties(largest):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (3, 9)).astype(np.float32)  # many ties: the lower index comes first
    m = _model([helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=largest)],
               [helper.make_tensor_value_info("x", F, [3, 9])],
               [helper.make_tensor_value_info("v", F, None), helper.make_tensor_value_info("i", TensorProto.INT64, None)],
               [numpy_helper.from_array(np.array([4], np.int64), "k")])
    _check(m, {"x": x})


def test_onehot_constant_depth():
    ind = np.array([[0, 3, -1], [5, 2, 9]], np.int64)  # -1 counts from the end, 9 is out of range (all off)
    m = _model([helper.make_node("OneHot", ["ind", "depth", "vals"], ["y"], axis=1)],
               [helper.make_tensor_value_info("ind", TensorProto.INT64, [2, 3])],
               [helper.make_tensor_value_info("y", F, None)],
               [numpy_helper.from_array(np.array(6, np.int64), "depth"),
                numpy_helper.from_array(np.array([-2.0, 3.5], np.float32), "vals")])
    _check(m, {"ind": ind})


def test_einsum_attention_pattern_symbolic_batch():
    rng = np.random.default_rng(1)
    m = _model([helper.make_node("Einsum", ["q", "k"], ["s"], equation="bhqd,bhkd->bhqk")],
               [helper.make_tensor_value_info("q", F, ["b", 2, 5, 8]), helper.make_tensor_value_info("k", F, ["b", 2, 7, 8])],
               [helper.make_tensor_value_info("s", F, None)])
    q, k = rng.standard_normal((3, 2, 5, 8), np.float32), rng.standard_normal((3, 2, 7, 8), np.float32)
    _check(m, {"q": q, "k": k}, dims={"b": 4})


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_recurrent_symbolic_sequence_one_compile(op):
    """One compile with a symbolic sequence length, run at two lengths, bidirectional, with biases."""
    rng = np.random.default_rng(2)
    G = 4 if op == "LSTM" else 3
    H, I, B = 5, 3, 2
    w = (rng.standard_normal((2, G * H, I)) * 0.5).astype(np.float32)
    r = (rng.standard_normal((2, G * H, H)) * 0.5).astype(np.float32)
    bias = (rng.standard_normal((2, 2 * G * H)) * 0.1).astype(np.float32)
    outs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
    m = _model([helper.make_node(op, ["x", "w", "r", "b"], outs, hidden_size=H, direction="bidirectional")],
               [helper.make_tensor_value_info("x", F, ["seq", B, I])],
               [helper.make_tensor_value_info(o, F, None) for o in outs],
               [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (r, "r"), (bias, "b"))])
    ref = ReferenceEvaluator(m)
    b = sdk.compile(m, dims={"seq": 12})
    for seq in (7, 12):
        x = rng.standard_normal((seq, B, I)).astype(np.float32)
        got = b.run({"x": x})
        for name, want in zip(outs, ref.run(None, {"x": x})):
            np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-5, err_msg=f"{name} at seq={seq}")


def _one_step_cells(rng, B):
    """One time step of each recurrent cell with constant weights (a decoder step's form): GRU with
    linear_before_reset (layout 0, bias, initial state), GRU without it (layout 1, no bias), LSTM (bias, initial
    states, peepholes), RNN (no initial state)."""
    H, I = 6, 5
    cells = [("GRU", dict(linear_before_reset=1), 0, True, True), ("GRU", {}, 1, False, True),
             ("LSTM", {}, 0, True, True), ("RNN", {}, 0, True, False)]
    nodes, ins, outs, inits = [], [], [], []
    for k, (op, attrs, layout, bias, state) in enumerate(cells):
        G = {"GRU": 3, "LSTM": 4, "RNN": 1}[op]
        x, st = f"x{k}", ([1, B, H] if layout == 0 else [B, 1, H])
        ins.append(helper.make_tensor_value_info(x, F, [1, B, I] if layout == 0 else [B, 1, I]))
        w = (rng.standard_normal((1, G * H, I)) * 0.5).astype(np.float32)
        r = (rng.standard_normal((1, G * H, H)) * 0.5).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(r, f"r{k}")]
        args = [x, f"w{k}", f"r{k}", f"b{k}" if bias else "", "", f"h{k}" if state else ""]
        if bias:
            b = (rng.standard_normal((1, 2 * G * H)) * 0.3).astype(np.float32)
            inits.append(numpy_helper.from_array(b, f"b{k}"))
        if state:
            ins.append(helper.make_tensor_value_info(f"h{k}", F, st))
        if op == "LSTM":
            ins.append(helper.make_tensor_value_info(f"c{k}", F, st))
            inits.append(numpy_helper.from_array((rng.standard_normal((1, 3 * H)) * 0.3).astype(np.float32), f"p{k}"))
            args += [f"c{k}", f"p{k}"]
        o = [f"y{k}", f"yh{k}"]
        nodes.append(helper.make_node(op, args, o, hidden_size=H, layout=layout, **attrs))
        outs += [helper.make_tensor_value_info(n, F, None) for n in o]
    return _model(nodes, ins, outs, inits, opset=14)


@pytest.mark.parametrize("bound,rows", [(4, 3), (16, 11)])
def test_recurrent_one_step_constant_weights(bound, rows):
    """T = 1 with constant weights: the input and recurrent products are GEMM calls before the cell's kernel (the
    small-M GEMV at <= 8 rows: a beam search's decoder step; the GEMM schedules above); the JIT, and the C bundle at
    the GEMV's bound, agree with onnx's reference."""
    rng = np.random.default_rng(5)
    m = _one_step_cells(rng, "b")
    feeds = {}
    for vi in m.graph.input:
        shape = [rows if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    b = _check(m, feeds, dims={"b": bound})
    libs = [s.fn for s in b.program.steps if not hasattr(s, "body")]
    assert len(libs) == 7, libs  # an input product per cell, a recurrent one per cell with a state
    assert all(f == "sdk_gemv_f32" for f in libs) == (bound <= 8), libs
    if bound <= 8:
        ref = ReferenceEvaluator(m).run(None, feeds)
        got = b.run(feeds, engine="c")
        for name, r in zip(b.func.output_names, ref):
            np.testing.assert_allclose(got[name], r, rtol=1e-4, atol=1e-5, err_msg=name)


def test_scatter_elements_and_gridsample_with_symbolic_batch():
    rng = np.random.default_rng(3)
    m = _model([helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], axis=1, reduction="add"),
                helper.make_node("GridSample", ["img", "grid"], ["z"], align_corners=0)],
               [helper.make_tensor_value_info("x", F, ["n", 6]), helper.make_tensor_value_info("i", TensorProto.INT64, ["n", 4]),
                helper.make_tensor_value_info("u", F, ["n", 4]), helper.make_tensor_value_info("img", F, ["n", 2, 5, 6]),
                helper.make_tensor_value_info("grid", F, ["n", 3, 4, 2])],
               [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("z", F, None)], opset=20)
    n = 3
    feeds = {"x": rng.standard_normal((n, 6), np.float32), "i": rng.integers(-6, 6, (n, 4)).astype(np.int64),
             "u": rng.standard_normal((n, 4), np.float32), "img": rng.standard_normal((n, 2, 5, 6), np.float32),
             "grid": rng.uniform(-1.2, 1.2, (n, 3, 4, 2)).astype(np.float32)}
    _check(m, feeds, dims={"n": 4})


@pytest.mark.parametrize("mode,ctm,extra", [
    ("linear", "half_pixel", {}),
    ("cubic", "align_corners", {}),
    ("nearest", "asymmetric", {"nearest_mode": "round_prefer_ceil"}),
    ("linear", "pytorch_half_pixel", {"antialias": 1}),
])
def test_resize_constant_scales_symbolic_batch(mode, ctm, extra):
    rng = np.random.default_rng(4)
    up = "antialias" not in extra
    scales = np.array([1, 1, 2.0, 1.5] if up else [1, 1, 0.5, 0.6], np.float32)
    m = _model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                                 coordinate_transformation_mode=ctm, **extra)],
               [helper.make_tensor_value_info("x", F, ["n", 2, 6, 8])], [helper.make_tensor_value_info("y", F, None)],
               [numpy_helper.from_array(scales, "scales")], opset=19)
    _check(m, {"x": rng.standard_normal((3, 2, 6, 8), np.float32)}, dims={"n": 4})


@pytest.mark.parametrize("mode,hw", [("linear", [12, 9]), ("cubic", [4, 5]), ("linear", [6, 8])])
def test_resize_sizes_from_shape_symbolic_batch(mode, hw):
    """PyTorch's interpolate(size=...) exports sizes as Concat(Shape(x)[:2], [h, w]): the symbolic batch and the
    channels are kept, the spatial axes resized to constants; [6, 8] is the input's own size (a copy, the
    SegFormer decode head's first stage)."""
    rng = np.random.default_rng(5)
    m = _model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "zero", "two"], ["nc"]),
                helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
                helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode)],
               [helper.make_tensor_value_info("x", F, ["n", 2, 6, 8])], [helper.make_tensor_value_info("y", F, None)],
               [numpy_helper.from_array(np.array([0], np.int64), "zero"),
                numpy_helper.from_array(np.array([2], np.int64), "two"),
                numpy_helper.from_array(np.array(hw, np.int64), "hw")], opset=19)
    _check(m, {"x": rng.standard_normal((3, 2, 6, 8), np.float32)}, dims={"n": 4})


def test_resize_sizes_resizing_to_a_symbolic_dim():
    """Sizes from Shape that put the batch on a spatial axis ([2, 6, 8, n] for x [n, 2, 6, 8]): the last axis is
    resized from 8 to n, its coordinates computed at run time, one compile for every n."""
    m = _model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Concat", ["s", "s"], ["s2"], axis=0),
                helper.make_node("Slice", ["s2", "one", "five"], ["sizes"]),  # [2, 6, 8, n]: the batch to axis 3
                helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")],
               [helper.make_tensor_value_info("x", F, ["n", 2, 6, 8])], [helper.make_tensor_value_info("y", F, None)],
               [numpy_helper.from_array(np.array([1], np.int64), "one"),
                numpy_helper.from_array(np.array([5], np.int64), "five")], opset=19)
    rng = np.random.default_rng(11)
    for n in (3, 10):  # fewer and more columns than the input's 8
        x = rng.standard_normal((n, 2, 6, 8)).astype(np.float32)
        _check(m, {"x": x}, dims={"n": 10})


def test_transpose_reshape_over_a_product_of_symbols_in_c():
    """x [b*2, t, 16] -> Transpose(1, 0, 2) -> Reshape [t*b, 32] -> Gemm (WavLM's attention output, through
    torch's multi_head_attention_forward): the reshape's index divides by the symbolic dim b*t, which the C code
    must parenthesise (it printed i % d_b*d_t: wrong numbers, or a read out of bounds, at b > 1)."""
    rng = np.random.default_rng(6)
    i64 = lambda v, name: numpy_helper.from_array(np.array(v, np.int64), name)
    m = _model([helper.make_node("Reshape", ["x4", "flat"], ["x"]),
                helper.make_node("Shape", ["x4"], ["s"]), helper.make_node("Gather", ["s", "two"], ["t"]),
                helper.make_node("Gather", ["s", "zero"], ["b"]), helper.make_node("Mul", ["t", "b"], ["tb"]),
                helper.make_node("Concat", ["tb", "width"], ["shape"], axis=0),
                helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
                helper.make_node("Reshape", ["xt", "shape"], ["r"]),
                helper.make_node("Gemm", ["r", "w", "bias"], ["y"], transB=1)],
               [helper.make_tensor_value_info("x4", F, ["b", 2, "t", 16])], [helper.make_tensor_value_info("y", F, None)],
               [i64([-1, 0, 16], "flat"), i64([2], "two"), i64([0], "zero"), i64([32], "width"),
                numpy_helper.from_array(rng.standard_normal((32, 32)).astype(np.float32), "w"),
                numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "bias")], opset=17)
    b = sdk.compile(m, dims={"b": 4, "t": 80})
    for n, t in [(1, 39), (2, 65), (3, 5)]:
        feeds = {"x4": rng.standard_normal((n, 2, t, 16)).astype(np.float32)}
        ref = ReferenceEvaluator(m).run(None, feeds)[0]
        np.testing.assert_allclose(b.run(feeds, engine="c")["y"], ref, rtol=1e-4, atol=1e-4)


def test_torchscript_pad_amount_from_the_sequence_length():
    """TorchScript's F.pad(x, (0, p)) with p = (4 - seq % 4) % 4 (Longformer pads to a window multiple): the pads
    go through Concat, Reshape [-1, 2], a step -1 Slice along axis 0, Transpose and Reshape -1 before Pad. Each of
    those evaluates symbolically, so two such pads of the same length give one symbolic dim (their sum compiles)."""
    rng = np.random.default_rng(9)
    I64 = TensorProto.INT64
    c = lambda name, vals: numpy_helper.from_array(np.array(vals, np.int64), name)
    nodes = [helper.make_node("Shape", ["x"], ["shp"]), helper.make_node("Gather", ["shp", "one"], ["s"], axis=0),
             helper.make_node("Mod", ["s", "four"], ["m"]), helper.make_node("Sub", ["four", "m"], ["r"]),
             helper.make_node("Mod", ["r", "four"], ["p"]), helper.make_node("Unsqueeze", ["p", "zero1"], ["pu"]),
             helper.make_node("Concat", ["zero1", "pu", "zeros2"], ["flat"], axis=0),
             helper.make_node("Reshape", ["flat", "m1_2"], ["tab"]),
             helper.make_node("Slice", ["tab", "m1", "big", "zero1", "m1"], ["rev"]),
             helper.make_node("Transpose", ["rev"], ["tt"], perm=[1, 0]),
             helper.make_node("Reshape", ["tt", "m1"], ["pads"])]
    for k, v in (("a", "x"), ("b", "y")):
        nodes.append(helper.make_node("Pad", [v, "pads", "fill"], [f"pad_{k}"]))
    nodes.append(helper.make_node("Add", ["pad_a", "pad_b"], ["z"]))
    m = _model(nodes, [helper.make_tensor_value_info("x", F, ["b", "s"]), helper.make_tensor_value_info("y", F, ["b", "s"])],
               [helper.make_tensor_value_info("z", F, None)],
               [c("one", 1), c("four", 4), c("zero1", [0]), c("zeros2", [0, 0]), c("m1_2", [-1, 2]), c("m1", [-1]),
                c("big", [-(2 ** 63) + 1]), numpy_helper.from_array(np.array(0.5, np.float32), "fill")], opset=17)
    b = sdk.compile(m, dims={"b": 3, "s": 16})
    for n, s in ((1, 5), (3, 8), (2, 11)):
        feeds = {"x": rng.standard_normal((n, s)).astype(np.float32), "y": rng.standard_normal((n, s)).astype(np.float32)}
        ref = ReferenceEvaluator(m).run(None, feeds)[0]
        assert ref.shape == (n, s + (4 - s % 4) % 4)
        np.testing.assert_allclose(b.run(feeds)["z"], ref, rtol=1e-6, atol=1e-6)


def test_topk_symbolic_k_and_float_range_of_a_dim():
    """TopK with k = the batch (TorchScript's pack_padded_sequence sorts the lengths: TopK(lengths, k=Shape[0])),
    and a float Range from a dim (torch.arange(1, seq + 1, dtype=float32), the divisor of a running mean): both
    keep their symbolic lengths, so what follows broadcasts against the input at compile time."""
    rng = np.random.default_rng(10)
    I64 = TensorProto.INT64
    nodes = [helper.make_node("Shape", ["x"], ["shp"]), helper.make_node("Gather", ["shp", "zero"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "zero1"], ["k"]),
             helper.make_node("TopK", ["len", "k"], ["sorted", "order"], axis=0),
             helper.make_node("Gather", ["shp", "one"], ["s"], axis=0), helper.make_node("Add", ["s", "one"], ["s1"]),
             helper.make_node("Cast", ["s1"], ["s1f"], to=F), helper.make_node("Cast", ["one"], ["onef"], to=F),
             helper.make_node("Range", ["onef", "s1f", "onef"], ["ar"]),
             helper.make_node("Unsqueeze", ["ar", "m1"], ["arc"]),
             helper.make_node("CumSum", ["x", "one"], ["cs"]), helper.make_node("Div", ["cs", "arc"], ["mean"]),
             helper.make_node("Gather", ["mean", "order"], ["y"], axis=0)]
    c = lambda name, vals: numpy_helper.from_array(np.array(vals, np.int64), name)
    m = _model(nodes, [helper.make_tensor_value_info("x", F, ["b", "s", 4]), helper.make_tensor_value_info("len", F, ["b"])],
               [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("sorted", F, None)],
               [c("zero", 0), c("one", 1), c("zero1", [0]), c("m1", [-1])], opset=17)
    b = sdk.compile(m, dims={"b": 4, "s": 12})
    for n, s in ((1, 3), (4, 9)):
        feeds = {"x": rng.standard_normal((n, s, 4)).astype(np.float32), "len": rng.permutation(n).astype(np.float32)}
        ref = ReferenceEvaluator(m).run(None, feeds)
        got = b.run(feeds)
        for name, r in zip(("y", "sorted"), ref):
            np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("op,direction,layout", [("LSTM", "bidirectional", 0), ("GRU", "bidirectional", 0),
                                                 ("GRU", "reverse", 0), ("RNN", "forward", 0)])  # ORT: layout 0 only
def test_recurrent_sequence_lens_against_onnxruntime(op, direction, layout):
    """Per-row lengths (TorchScript's pack_padded_sequence): row b runs L_b steps, the reverse direction from its
    own last step; past L_b the state stays and Y is 0; the time and batch dims symbolic, one compile, onnxruntime
    as the oracle."""
    import onnxruntime as ort
    rng = np.random.default_rng(11)
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    D, Hs, I = (2 if direction == "bidirectional" else 1), 5, 3
    xs = ["t", "b", I] if layout == 0 else ["b", "t", I]
    inits = [numpy_helper.from_array((0.5 * rng.standard_normal((D, G * Hs, I))).astype(np.float32), "W"),
             numpy_helper.from_array((0.5 * rng.standard_normal((D, G * Hs, Hs))).astype(np.float32), "R"),
             numpy_helper.from_array((0.3 * rng.standard_normal((D, 2 * G * Hs))).astype(np.float32), "B")]
    m = _model([helper.make_node(op, ["x", "W", "R", "B", "lens"], ["y", "y_h"], hidden_size=Hs,
                                 direction=direction, layout=layout)],
               [helper.make_tensor_value_info("x", F, xs), helper.make_tensor_value_info("lens", TensorProto.INT32, ["b"])],
               [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("y_h", F, None)], inits, opset=14)
    b = sdk.compile(m, dims={"t": 9, "b": 4})
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, t in ((3, 6), (4, 9)):
        x = rng.standard_normal((t, n, I) if layout == 0 else (n, t, I)).astype(np.float32)
        lens = rng.integers(1, t + 1, n).astype(np.int32)
        lens[0] = t
        feeds = {"x": x, "lens": lens}
        ref = sess.run(None, feeds)
        got = b.run(feeds)
        for name, r in zip(("y", "y_h"), ref):
            np.testing.assert_allclose(got[name], r, rtol=1e-4, atol=1e-5, err_msg=name)
