"""Depthwise convolution kernel, epilogue fusion (bias / residual / activation run inside the GEMM or conv) and the
MatMul batch fold, against onnxruntime on odd shapes, under the default build, the library kernels and sanitizers."""
import re

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_outputs_close, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.tir.expr import LibCall

RNG = np.random.default_rng(7)


def _w(name, shape, scale=1.0):
    return nh.from_array((scale * RNG.standard_normal(shape)).astype(np.float32), name)


def _model(nodes, inputs, outputs, inits):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in inputs],
                     [h.make_tensor_value_info(n, T.FLOAT, None) for n in outputs], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _feeds(inputs, seed=0):
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in inputs}


# (C, H, W, kernel, strides, pads (t, l, b, r), dilations, channel multiplier, bias)
DW_CASES = [
    (5, 13, 11, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    (6, 12, 9, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, False),
    (4, 10, 40, (3, 3), (1, 1), (0, 2, 1, 0), (1, 1), 2, True),     # asymmetric pads, multiplier 2, wide rows
    (3, 15, 14, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), 1, True),
    (3, 9, 9, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1, True),
    (2, 16, 17, (7, 7), (1, 1), (3, 3, 3, 3), (1, 1), 1, True),
    (2, 17, 16, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, False),
    (3, 11, 12, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, True),     # dilation: the generic path
    (4, 9, 10, (2, 4), (3, 1), (0, 1, 1, 2), (1, 1), 1, True),      # non-square kernel, stride 3
    (3, 1, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),       # 1x1 image: all taps but one in the pad
    # stride 2 with rows of >= 16 outputs: the plane split by column parity (odd/even first and last columns)
    (4, 40, 37, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, True),
    (3, 33, 34, (5, 5), (2, 2), (2, 1, 1, 2), (1, 1), 1, True),
    (2, 36, 40, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, False),
    # narrow stride-2 planes (rows under 32 outputs): the four phase planes; odd padded sizes, asymmetric pads,
    # outputs in whole vectors, in one vector ending at the last output, and one at a time (a 2x2 output)
    (3, 30, 29, (5, 5), (2, 2), (2, 1, 1, 2), (1, 1), 1, True),
    (2, 13, 11, (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 2, True),
    (2, 4, 3, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, False),
    (3, 20, 36, (3, 3), (2, 2), (1, 0, 1, 1), (1, 1), 2, True),
]


def _dw_model():
    nodes, inits, inputs, outs = [], [], [], []
    for k, (C, H, W, ker, st, pads, dil, mult, bias) in enumerate(DW_CASES):
        inputs.append((f"x{k}", [1, C, H, W]))
        inits.append(_w(f"w{k}", [C * mult, 1, *ker]))
        ins = [f"x{k}", f"w{k}"]
        if bias:
            inits.append(_w(f"b{k}", [C * mult]))
            ins.append(f"b{k}")
        nodes.append(h.make_node("Conv", ins, [f"y{k}"], group=C, kernel_shape=list(ker), strides=list(st),
                                 pads=[pads[0], pads[1], pads[2], pads[3]], dilations=list(dil)))
        outs.append(f"y{k}")
    # 1-D depthwise (as 2-D with H = 1) and batch 2
    inputs += [("s", [2, 6, 19])]
    inits.append(_w("ws", [6, 1, 3]))
    nodes.append(h.make_node("Conv", ["s", "ws"], ["ys"], group=6, pads=[1, 1], strides=[2]))
    return _model(nodes, inputs, outs + ["ys"], inits), inputs


def test_depthwise_kernel_matches_onnxruntime():
    m, inputs = _dw_model()
    b = sdk.compile(m)
    assert sum(isinstance(s, LibCall) and s.fn == "sdk_dwconv2d_f32" for s in b.program.steps) == len(DW_CASES) + 1
    feeds = _feeds(inputs)
    for engine in ("c", "llvm"):
        assert_outputs_close(b.run(feeds, engine=engine), ort_run(m, feeds), rtol=1e-4, atol=1e-5)
    # the narrow planes' one-output-at-a-time form (what targets without vector registers run)
    scalar = HostRunner(extra_cflags=["-DSDK_DW_VEC=0"])
    assert_outputs_close(b.run(feeds, engine="c", runner=scalar), ort_run(m, feeds), rtol=1e-4, atol=1e-5)


def _epilogue_model():
    """Conv/Gemm/MatMul followed by the fusable patterns, plus ones that must not fuse."""
    C, H, W = 6, 9, 7
    inits = [_w("w1", [8, C, 3, 3], 0.3), _w("b1", [8]), _w("wd", [8, 1, 3, 3], 0.5), _w("wp", [8, 8, 1, 1], 0.4),
             _w("wq", [8, 8, 1, 1], 0.4), _w("ws", [8, 8, 1, 1], 0.4), _w("bs", [8]),
             nh.from_array(np.array(0.0, np.float32), "zero"), nh.from_array(np.array(6.0, np.float32), "six"),
             nh.from_array(np.array(-0.5, np.float32), "mhalf"), nh.from_array(np.array(0.7, np.float32), "p7"),
             _w("mw", [8, 10], 0.4), _w("mb", [10]), _w("mw2", [10, 10], 0.3)]
    nodes = [
        h.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Clip", ["c1", "zero", "six"], ["r6"]),                       # c1 is also read below: not fused
        h.make_node("Conv", ["r6", "wd"], ["d1"], group=8, pads=[1, 1, 1, 1]),
        h.make_node("HardSwish", ["d1"], ["hs"]),                                 # into the depthwise conv
        h.make_node("Conv", ["hs", "wp"], ["p1"]),
        h.make_node("Add", ["p1", "r6"], ["res"]),                                # residual into the 1x1 conv
        h.make_node("Relu", ["res"], ["y_res"]),                                  # then its activation
        h.make_node("Conv", ["y_res", "wq"], ["q1"]),
        h.make_node("Sigmoid", ["q1"], ["qs"]),
        h.make_node("Mul", ["q1", "qs"], ["y_silu"]),                             # x * sigmoid(x): SiLU
        h.make_node("Conv", ["y_silu", "ws", "bs"], ["s1"]),
        h.make_node("HardSigmoid", ["s1"], ["y_hsig"], alpha=0.25, beta=0.4),
        h.make_node("Conv", ["y_hsig", "wd"], ["d2"], group=8, pads=[1, 1, 1, 1]),
        h.make_node("Add", ["y_hsig", "d2"], ["d2r"]),                            # residual into the depthwise conv
        h.make_node("LeakyRelu", ["d2r"], ["y_dw"], alpha=0.1),
        h.make_node("Conv", ["y_dw", "wp"], ["p2"]),
        h.make_node("Clip", ["p2", "mhalf", "p7"], ["y_clip"]),
        h.make_node("Relu", ["y_clip"], ["y_twice"]),                             # a second activation: its own kernel
        # Linear layers on a [H*W, B, C]-like layout: MatMul + bias Add + residual Add + Sigmoid
        h.make_node("Transpose", ["y_twice"], ["tt"], perm=[2, 3, 0, 1]),         # [H, W, 1, 8]
        h.make_node("MatMul", ["tt", "mw"], ["mm"]),
        h.make_node("Add", ["mm", "mb"], ["mmb"]),
        h.make_node("MatMul", ["mmb", "mw2"], ["mm2"]),
        h.make_node("Add", ["mm2", "mmb"], ["mm2r"]),
        h.make_node("Sigmoid", ["mm2r"], ["y_mm"]),
        h.make_node("Relu", ["c1"], ["y_out2"]),                                  # c1 has two readers: no fusion
    ]
    return _model(nodes, [("x", [1, C, H, W])], ["y_mm", "y_out2", "r6"], inits), [("x", [1, C, H, W])]


@pytest.mark.parametrize("schedule", ["heuristic", "library"])
def test_epilogues_fuse_and_match_onnxruntime(schedule):
    m, inputs = _epilogue_model()
    b = sdk.compile(m, schedule_default=schedule)
    names = [s.name if not isinstance(s, LibCall) else s.fn for s in b.program.steps]
    fused = [bd for bd in b.func.bindings if str(bd.impl).startswith("fused")]
    assert {bd.op for bd in fused} == {"Clip", "HardSwish", "Add", "Relu", "Mul", "HardSigmoid", "LeakyRelu", "Sigmoid"}
    assert len(fused) == 11
    assert {bd.outputs[0].name for bd in b.func.bindings if bd.op in ("Clip", "Relu") and bd not in fused} == {
        "r6", "y_out2", "y_twice"}  # c1 has two readers; y_clip already has its activation
    if schedule == "library":
        assert names.count("sdk_epilogue_f32") == 5  # dense/1x1 convs and the GEMM keep a separate in-place pass
    else:
        assert "sdk_epilogue_f32" not in names
    for seed, engine in ((0, "c"), (1, "llvm")):  # the generated C and the in-process LLVM engine
        feeds = _feeds(inputs, seed)
        assert_outputs_close(b.run(feeds, engine=engine), ort_run(m, feeds), rtol=1e-4, atol=1e-5)


def test_fused_kernels_clean_under_sanitizers(tmp_path):
    for k, (m, inputs) in enumerate((_epilogue_model(), _dw_model())):
        b = sdk.compile(m)
        b.save(tmp_path / f"m{k}")
        feeds = _feeds(inputs, 3)
        got, _ = HostRunner(cflags=" ".join(SANITIZE)).run(b.path, feeds, rebuild=True)
        assert_outputs_close(got, ort_run(m, feeds), rtol=1e-4, atol=1e-5)


def test_residual_computed_later_is_not_fused():
    """Add(conv(x), r) where r is computed after the conv in the lowered order: stays its own kernel."""
    inits = [_w("w", [4, 4, 1, 1])]
    nodes = [h.make_node("Conv", ["x", "w"], ["c"]), h.make_node("Exp", ["x"], ["e"]),
             h.make_node("Transpose", ["e"], ["r"], perm=[0, 1, 3, 2]),
             h.make_node("Add", ["c", "r"], ["y"])]
    inputs = [("x", [1, 4, 5, 5])]
    m = _model(nodes, inputs, ["y"], inits)
    b = sdk.compile(m, reorder=False)
    assert not any(str(bd.impl).startswith("fused") for bd in b.func.bindings)
    feeds = _feeds(inputs)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), rtol=1e-4, atol=1e-5)


def test_matmul_folds_leading_dims_into_rows():
    """[7, 3, 5] x [5, 6] is one 21 x 5 GEMM (the ViT [seq, batch, dim] layout), not 7 GEMMs of 3 rows."""
    inputs = [("a", [7, 3, 5])]
    m = _model([h.make_node("MatMul", ["a", "w"], ["y"])], inputs, ["y"], [_w("w", [5, 6])])
    b = sdk.compile(m)
    gemm = [s for s in b.program.steps if isinstance(s, LibCall)][0]
    assert gemm.args[:4] == [1, 21, 6, 5]
    feeds = _feeds(inputs)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), rtol=1e-4, atol=1e-5)


def _pointwise_small_planes_model():
    """Pointwise convolutions on small planes (the "trans" schedule: plane as GEMM rows, channels as vectors):
    rows and columns that do not fill a register tile, groups, batch 2, residuals and activations."""
    # (C, M, HW, groups, activation, residual)
    cases = [(160, 96, 7, 1, None, True), (64, 40, 5, 1, "Relu", True), (72, 200, 7, 1, "HardSwish", False),
             (33, 50, 3, 1, "Sigmoid", False), (64, 96, 7, 2, "Clip", False), (48, 37, 7, 1, "Relu", True),
             (96, 64, 6, 1, "Relu", False)]
    nodes, inits, inputs, outs = [], [], [], []
    for k, (C, M, HW, g, act, res) in enumerate(cases):
        inputs.append((f"x{k}", [2, C, HW, HW]))
        inits += [_w(f"w{k}", [M, C // g, 1, 1], 1 / np.sqrt(C)), _w(f"b{k}", [M], 0.1)]
        nodes.append(h.make_node("Conv", [f"x{k}", f"w{k}", f"b{k}"], [f"c{k}"], group=g))
        _conv_tail(k, M, HW, act, res, nodes, inits, inputs, outs)
    return _model(nodes, inputs, outs, inits), inputs


def _conv_tail(k, M, OH, act, res, nodes, inits, inputs, outs):
    """Case ``k``'s residual Add (an input [2, M, OH, OH]) and activation after its Conv c{k}; output y{k}."""
    last = f"c{k}"
    if res:
        inputs.append((f"r{k}", [2, M, OH, OH]))
        nodes.append(h.make_node("Add", [last, f"r{k}"], [f"a{k}"]))
        last = f"a{k}"
    if act == "Clip":
        inits += [nh.from_array(np.array(0, np.float32), f"lo{k}"), nh.from_array(np.array(6, np.float32), f"hi{k}")]
        nodes.append(h.make_node("Clip", [last, f"lo{k}", f"hi{k}"], [f"y{k}"]))
    elif act:
        nodes.append(h.make_node(act, [last], [f"y{k}"]))
    else:
        nodes[-1].output[0] = f"y{k}"
    outs.append(f"y{k}")


def _dense_small_planes_model():
    """k x k convolutions of one group on small planes (the "trans" schedule after an im2col copy): strides,
    padding, dilation, 3- and 5-wide kernels, batch 2, residuals and activations."""
    # (C, M, HW, kernel, stride, pad, dilation, activation, residual)
    cases = [(64, 80, 7, 3, 1, 1, 1, "Relu", True), (48, 96, 14, 3, 2, 1, 1, None, False),
             (40, 64, 9, 3, 1, 0, 1, "Sigmoid", False), (24, 40, 11, 5, 2, 2, 1, "Relu", False),
             (32, 48, 9, 3, 1, 2, 2, None, True), (17, 33, 7, 3, 1, 1, 1, "Relu", False)]
    nodes, inits, inputs, outs = [], [], [], []
    for k, (C, M, HW, kk, st, pad, dil, act, res) in enumerate(cases):
        inputs.append((f"x{k}", [2, C, HW, HW]))
        inits += [_w(f"w{k}", [M, C, kk, kk], 1 / np.sqrt(C * kk * kk)), _w(f"b{k}", [M], 0.1)]
        nodes.append(h.make_node("Conv", [f"x{k}", f"w{k}", f"b{k}"], [f"c{k}"], kernel_shape=[kk, kk],
                                 strides=[st, st], pads=[pad] * 4, dilations=[dil, dil]))
        _conv_tail(k, M, (HW + 2 * pad - dil * (kk - 1) - 1) // st + 1, act, res, nodes, inits, inputs, outs)
    return _model(nodes, inputs, outs, inits), inputs


@pytest.mark.parametrize("make, least, seed", [(_pointwise_small_planes_model, 1, 4),
                                               (_dense_small_planes_model, 4, 5)], ids=["pointwise", "dense"])
def test_small_plane_convs_match_onnxruntime(make, least, seed, tmp_path):
    """The spatial-rows ("trans") schedule: on 1 and 2 threads and under ASan/UBSan, equal to onnxruntime."""
    m, inputs = make()
    b = sdk.compile(m)
    trans = [s for s in b.program.steps if getattr(s, "schedule", None) and s.schedule.get("trans")]
    assert len(trans) >= least, "the small-plane convolutions did not take the spatial-rows schedule"
    feeds = _feeds(inputs, seed)
    want = ort_run(m, feeds)
    for threads in (1, 2):
        got = b.run(feeds, runner=HostRunner(threads=threads), engine="c")
        assert_outputs_close(got, want, rtol=1e-4, atol=1e-5)
    b.save(tmp_path / "m")
    got, _ = HostRunner(cflags=" ".join(SANITIZE)).run(b.path, feeds, rebuild=True)
    assert_outputs_close(got, want, rtol=1e-4, atol=1e-5)


def test_padded_spatial_rows_at_and_below_the_bounds(tmp_path):
    """A spatial-rows 3x3 convolution of symbolic size: at the bounds its tiles (whole output rows: two of 7) read a
    zero-padded copy of the image through a column offset table, also below the bounds (4 x 7, 5 x 7); at sizes whose
    rows the tile does not divide (5 x 5) it falls back to the im2col copy. Both equal onnxruntime, also under
    ASan/UBSan."""
    inputs = [("x", [1, 64, "h", "w"])]
    inits = [_w("w", [96, 64, 3, 3], 1 / np.sqrt(64 * 9)), _w("b", [96], 0.1)]
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
             h.make_node("Relu", ["c"], ["y"])]
    m = _model(nodes, inputs, ["y"], inits)
    b = sdk.compile(m, dims={"h": 7, "w": 7})
    (step,) = [s for s in b.program.steps if getattr(s, "schedule", None)]
    # two output rows a tile (14 pixels, ``span``): the plane's last tile one row, 5 x 7 below the bounds too
    assert step.schedule.get("trans") and step.schedule.get("pad") and step.schedule["mr"] == 14, step.schedule
    assert step.schedule.get("span") == (7, 9), step.schedule
    b.save(tmp_path / "m")
    for hw in ((7, 7), (4, 7), (5, 7), (5, 5)):
        feeds = _feeds([("x", [1, 64, *hw])], seed=hw[0])
        want = ort_run(m, feeds)
        for threads in (1, 2):
            assert_outputs_close(b.run(feeds, runner=HostRunner(threads=threads), engine="c"), want, rtol=1e-4,
                                 atol=1e-5)
        got, _ = HostRunner(cflags=" ".join(SANITIZE)).run(b.path, feeds, rebuild=hw == (7, 7))
        assert_outputs_close(got, want, rtol=1e-4, atol=1e-5)


def test_scalar_constant_added_after_a_gemm():
    """MatMul + a rank-0 constant (log(power @ mel + eps) in a spectrogram front-end): not the GEMM's bias row (it
    crashed the bias check on r.shape[-1]); added as a broadcast, matching onnxruntime."""
    m = _model([h.make_node("MatMul", ["x", "w"], ["y"]), h.make_node("Add", ["y", "eps"], ["z"])],
               [("x", ["n", 12])], ["z"], [_w("w", (12, 7)), nh.from_array(np.asarray(0.25, np.float32), "eps")])
    feeds = _feeds([("x", (5, 12))])
    got = sdk.compile(m, dims={"n": 8}).run(feeds)
    assert_outputs_close(got, ort_run(m, feeds), rtol=1e-5, atol=1e-5)


def test_residual_in_register_tiles_matches_onnxruntime(tmp_path):
    """A residual fused into a scheduled GEMM / convolution is added in its full register tiles (before the
    activation, as the tile epilogue pass adds it), the partial tiles keep the pass; the erf GELU too (its vector
    form, sdk/tune/kernels.py _vgelu). Planes of whole tiles and ragged ones, 1x1 and 3x3 convolutions,
    a Linear layer, batch 2; on 1 and 2 threads and under ASan/UBSan, equal to onnxruntime."""
    # (C, M, HW, kernel, activation): HW 12 = 144 pixels (whole 48-wide tiles), 13 = ragged rows and columns; the
    # 3x3 ones dilated (implicit im2col, not Winograd)
    cases = [(64, 48, 12, 1, None), (64, 48, 12, 1, "Relu"), (40, 24, 13, 1, "Relu"), (32, 48, 12, 3, "Clip"),
             (64, 48, 12, 1, "Gelu"), (48, 40, 13, 3, "Sigmoid")]
    nodes, inits, inputs, outs = [], [], [], []
    for k, (C, M, HW, kk, act) in enumerate(cases):
        inputs.append((f"x{k}", [2, C, HW, HW]))
        inits += [_w(f"w{k}", [M, C, kk, kk], 1 / np.sqrt(C * kk * kk)), _w(f"b{k}", [M], 0.1)]
        nodes.append(h.make_node("Conv", [f"x{k}", f"w{k}", f"b{k}"], [f"c{k}"], kernel_shape=[kk, kk],
                                 pads=[kk // 2 * 2] * 4, dilations=[2, 2]))
        if act == "Gelu":  # opset 20's Gelu is not in opset 17: erf form, which the front end fuses
            inputs.append((f"r{k}", [2, M, HW, HW]))
            inits += [nh.from_array(np.array(v, np.float32), f"g{k}_{i}") for i, v in enumerate((2 ** -0.5, 1.0, 0.5))]
            nodes += [h.make_node("Add", [f"c{k}", f"r{k}"], [f"a{k}"]),
                      h.make_node("Mul", [f"a{k}", f"g{k}_0"], [f"s{k}"]), h.make_node("Erf", [f"s{k}"], [f"e{k}"]),
                      h.make_node("Add", [f"e{k}", f"g{k}_1"], [f"p{k}"]), h.make_node("Mul", [f"a{k}", f"p{k}"], [f"q{k}"]),
                      h.make_node("Mul", [f"q{k}", f"g{k}_2"], [f"y{k}"])]
            outs.append(f"y{k}")
        else:
            _conv_tail(k, M, HW, act, True, nodes, inits, inputs, outs)
    # a Linear layer: [2, 96, 64] x [64, 96] + bias + residual, ReLU
    inputs += [("lx", [2, 96, 64]), ("lr", [2, 96, 96])]
    inits += [_w("lw", [64, 96], 0.125), _w("lb", [96], 0.1)]
    nodes += [h.make_node("MatMul", ["lx", "lw"], ["lm"]), h.make_node("Add", ["lm", "lb"], ["lmb"]),
              h.make_node("Add", ["lmb", "lr"], ["lmr"]), h.make_node("Relu", ["lmr"], ["ly"])]
    outs.append("ly")
    m = _model(nodes, inputs, outs, inits)
    b = sdk.compile(m)
    fused = [s for s in b.program.steps if (getattr(s, "generated", None) or {}).get("epilogue")]
    assert len(fused) == len(cases) + 1 and all(s.generated["epilogue"][3] is not None for s in fused)
    b.save(tmp_path / "m")
    src = "".join(p.read_text() for p in (tmp_path / "m").glob("*.h"))
    lanes = [int(v) for v in re.findall(r"c0_0 \+= SDK_VLOAD(\d+)\(res \+ 0 \* ldy", src)]
    assert lanes and "&& epi && !epi->C;" in src, "no register tile reads its residual"
    feeds = _feeds(inputs, 8)
    want = ort_run(m, feeds)
    for threads in (1, 2):
        got = b.run(feeds, runner=HostRunner(threads=threads), engine="c")
        assert_outputs_close(got, want, rtol=1e-4, atol=1e-5)
    got, _ = HostRunner(cflags=" ".join(SANITIZE), threads=2).run(b.path, feeds, rebuild=True)
    assert_outputs_close(got, want, rtol=1e-4, atol=1e-5)
