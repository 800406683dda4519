"""Channels-last regions (sdk/transform/layout.py, runtime_c sdk_dwconv2d_nhwc_f32) against onnxruntime on random
inputs of a symbolic batch: a MobileNetV2 block (1x1 expand + ReLU6, 3x3 depthwise stride 1 and 2, 1x1 project +
residual), a squeeze-excite block (HardSwish, GlobalAveragePool and ReduceMean over the plane, FCs, HardSigmoid scale), a 5x5 depthwise at stride
2 with asymmetric padding and 20 channels (a vector and a tail), a dilated 3x3 without bias, two stems (3-channel image, NCHW in, NHWC out), and a ConvNeXt-style
7x7 depthwise followed by Transpose -> LayerNorm -> MatMul -> Transpose back. The C bundle on 1 and 2 threads
(bit-equal), the in-process LLVM engine, and the 4-lane vector build under AddressSanitizer + UndefinedBehavior-
Sanitizer; a plane too narrow for an interior column, and the arena slots on 64-byte lines."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from sdk import pipeline
from conftest import (SANITIZE_FLAGS, assert_c_threads_agree, assert_outputs_close, fan_in_initializer, float_model,
                      ort_run, random_inputs)
from sdk.backends.host.runner import HostRunner
from sdk.transform import layout

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def nhwc_model():
    inits = []
    w = fan_in_initializer(np.random.default_rng(5), inits)

    def c(name, value):
        inits.append(nh.from_array(np.array(value, np.float32), name))
        return name

    lo, hi = c("lo", 0.0), c("hi", 6.0)
    N = []
    # MobileNetV2 block on x [n, 16, 9, 11]: expand 16 -> 48, dw s1, project 48 -> 16 + residual; then dw s2
    N += [h.make_node("Conv", ["x", w("We", [48, 16, 1, 1]), w("be", [48], 0.1)], ["e0"]),
          h.make_node("Clip", ["e0", lo, hi], ["e"]),
          h.make_node("Conv", ["e", w("Wd", [48, 1, 3, 3]), w("bd", [48], 0.1)], ["d0"], group=48, pads=[1, 1, 1, 1]),
          h.make_node("Clip", ["d0", lo, hi], ["d"]),
          h.make_node("Conv", ["d", w("Wp", [16, 48, 1, 1]), w("bp", [16], 0.1)], ["p"]),
          h.make_node("Add", ["p", "x"], ["y1"]),
          h.make_node("Conv", ["y1", w("Ws", [16, 1, 3, 3])], ["s0"], group=16, pads=[1, 1, 1, 1], strides=[2, 2]),
          h.make_node("Relu", ["s0"], ["y2"])]
    # squeeze-excite on xs [n, 24, 7, 7]: dw + HardSwish, GAP -> FC -> ReLU -> FC -> HardSigmoid, scale, project
    N += [h.make_node("Conv", ["xs", w("Wsd", [24, 1, 3, 3]), w("bsd", [24], 0.1)], ["t0"], group=24,
                      pads=[1, 1, 1, 1]),
          h.make_node("HardSwish", ["t0"], ["t"]),
          h.make_node("GlobalAveragePool", ["t"], ["g"]),
          h.make_node("Conv", ["g", w("Wf1", [8, 24, 1, 1]), w("bf1", [8], 0.1)], ["f0"]),
          h.make_node("Relu", ["f0"], ["f"]),
          h.make_node("Conv", ["f", w("Wf2", [24, 8, 1, 1]), w("bf2", [24], 0.1)], ["q0"]),
          h.make_node("HardSigmoid", ["q0"], ["q"], alpha=1 / 6, beta=0.5),
          h.make_node("Mul", ["t", "q"], ["u0"]),
          h.make_node("ReduceMean", ["t"], ["g2"], axes=[-1, -2], keepdims=1),  # the dynamo exporter's pooling
          h.make_node("Add", ["u0", "g2"], ["u"]),
          h.make_node("Conv", ["u", w("Wsp", [32, 24, 1, 1]), w("bsp", [32], 0.1)], ["y3"])]
    # 5x5 depthwise, stride 2, asymmetric pads, 20 channels (16 + a 4-channel tail on AVX-512); dilated 3x3, no bias
    N += [h.make_node("Conv", ["xf", w("W5", [20, 1, 5, 5]), w("b5", [20], 0.1)], ["y4"], group=20,
                      pads=[2, 1, 1, 2], strides=[2, 2]),
          h.make_node("Conv", ["xf", w("W3d", [20, 1, 3, 3])], ["k0"], group=20, pads=[2, 2, 2, 2], dilations=[2, 2]),
          h.make_node("Sigmoid", ["k0"], ["k1"]), h.make_node("Mul", ["k0", "k1"], ["y5"])]  # SiLU
    # ConvNeXt-style: 7x7 dw -> Transpose to NHWC -> LayerNorm -> MatMul -> GELU-ish -> MatMul -> back -> scale + x
    N += [h.make_node("Conv", ["xc", w("W7", [32, 1, 7, 7]), w("b7", [32], 0.1)], ["c0"], group=32, pads=[3, 3, 3, 3]),
          h.make_node("Transpose", ["c0"], ["c1"], perm=[0, 2, 3, 1]),
          h.make_node("LayerNormalization", ["c1", w("lns", [32], 0.5), w("lnb", [32], 0.1)], ["c2"], axis=-1),
          h.make_node("MatMul", ["c2", w("M1", [32, 64])], ["c3"]), h.make_node("Relu", ["c3"], ["c4"]),
          h.make_node("MatMul", ["c4", w("M2", [64, 32])], ["c5"]),
          h.make_node("Transpose", ["c5"], ["c6"], perm=[0, 3, 1, 2]),
          h.make_node("Mul", ["c6", w("gam", [32, 1, 1], 0.5)], ["c7"]),
          h.make_node("Add", ["c7", "xc"], ["y6"])]
    # stems (NCHW image in, NHWC out): 16 outputs (whole vectors: taps read in place), 24 (the gathered form)
    N += [h.make_node("Conv", ["xi", w("Wst", [16, 3, 3, 3]), w("bst", [16], 0.1)], ["i0"], pads=[1, 1, 1, 1],
                      strides=[2, 2]),
          h.make_node("HardSwish", ["i0"], ["i1"]),
          h.make_node("Conv", ["i1", w("Wid", [16, 1, 3, 3])], ["y7"], group=16, pads=[1, 1, 1, 1]),
          h.make_node("Conv", ["xi", w("Wst2", [24, 3, 3, 3])], ["j0"], pads=[1, 1, 1, 1]),
          h.make_node("Relu", ["j0"], ["j1"]),
          h.make_node("Conv", ["j1", w("Wjd", [24, 1, 3, 3]), w("bjd", [24], 0.1)], ["y8"], group=24, pads=[1, 1, 1, 1])]
    ins = {"x": ["n", 16, 9, 11], "xs": ["n", 24, 7, 7], "xf": ["n", 20, 10, 9], "xc": ["n", 32, 8, 8],
           "xi": ["n", 3, 13, 12]}
    outs = {"y2": ["n", 16, 5, 6], "y3": ["n", 32, 7, 7], "y4": ["n", 20, 5, 5], "y5": ["n", 20, 10, 9],
            "y6": ["n", 32, 8, 8], "y7": ["n", 16, 7, 6], "y8": ["n", 24, 13, 12]}
    return float_model(N, "nhwc", ins, outs, inits), ins


def test_jit_ir_kernels_equal_the_c_kernels(monkeypatch):
    """The in-process engine's LLVM IR forms of the three kernels (sdk/codegen/llvm_runtime.py) give the same floats as the
    C kernels built by gcc and bound into the same JIT program (``ir_kernels=False``): every output of the regions
    model at two batch sizes (channel vectors and tails, border and interior pixels, both stem forms, fused
    activations, the squeeze-excite's NHWC global average pools) and of the planes without an interior column."""
    from sdk.backends.host.inprocess import JitModel
    from sdk.codegen import llvm_runtime
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    monkeypatch.setattr(llvm_runtime, "C_FIRST", frozenset())  # the IR kernels although gcc is here
    m, _ = nhwc_model()
    models = [(m, {"n": 2}, [{"n": 1}, {"n": 2}])]
    for n, C, H, W, K, S in NO_INTERIOR:
        mm, feeds = _no_interior_model(n, C, H, W, K, S)
        models.append((mm, None, [feeds]))
    for model, dims, runs in models:
        b = sdk.compile(model, dims=dims)
        assert {"sdk_dwconv2d_nhwc_f32"} <= {getattr(s, "fn", None) for s in b.program.steps}
        ir_m, c_m = JitModel(b), JitModel(b, ir_kernels=False)
        for k, d in enumerate(runs):
            feeds = random_inputs(model, d, k) if dims else d
            got, want = ir_m.run(feeds, info=False), c_m.run(feeds, info=False)
            for name, y in want.items():
                np.testing.assert_array_equal(got[name], y, err_msg=name)


def test_nhwc_regions_match_onnxruntime(tmp_path, monkeypatch):
    m, ins = nhwc_model()
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # these small regions have more borders than a net's
    # the MobileNetV2 block's depthwise + projection stay two kernels here (fused: tests/e2e/test_fuse_dw_project.py)
    monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: None)
    b = sdk.compile(m, dims={"n": 3})
    ops = [x.op for x in b.program.func.bindings]
    assert ops.count("ConvNHWC") == 15 and "Conv" not in ops  # every depthwise, 1x1 and stem conv of the model
    # the squeeze-excite's GlobalAveragePool and ReduceMean pool the NHWC tensor (49 pixels: a 4-pixel pass + 1)
    assert ops.count("GlobalAveragePoolNHWC") == 2 and "GlobalAveragePool" not in ops and "ReduceMean" not in ops
    assert sum(1 for s in b.program.steps if getattr(s, "fn", None) == "sdk_conv2d_stem_nhwc_f32") == 2
    dw = [s for s in b.program.steps if getattr(s, "fn", None) == "sdk_dwconv2d_nhwc_f32"]
    # ReLU6, ReLU, HardSwish, SiLU fused into the kernel; the 5x5, the 7x7 and the two after the stems have none
    assert sorted(s.arg("act") for s in dw) == [0, 0, 0, 0, 1, 2, 4, 6]
    assert all(s.offset_bound % 64 == 0 and s.size_bound % 64 == 0 for s in b.plan.slots)
    feeds = random_inputs(m, {"n": 2}, 1)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    out = b.save(tmp_path / "m")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    feeds = random_inputs(m, {"n": 3}, 2)
    got, _ = HostRunner(cflags=" ".join(SANITIZE), threads=2).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


NO_INTERIOR = [(1, 24, 2, 3, 3, 1), (2, 16, 6, 1, 3, 2), (1, 40, 4, 4, 5, 1)]  # n, C, H, W, K, stride


def _no_interior_model(n, C, H, W, K, S):
    """A lone K x K depthwise convolution on a plane too narrow for an interior column (or row), and its input."""
    rng = np.random.default_rng(3)
    Wt = nh.from_array((rng.standard_normal([C, 1, K, K]) / K).astype(np.float32), "W")
    p = K // 2
    node = h.make_node("Conv", ["x", "W"], ["y"], group=C, pads=[p, p, p, p], strides=[S, S])
    OH, OW = (H + 2 * p - K) // S + 1, (W + 2 * p - K) // S + 1
    m = float_model([node], "dw", {"x": [n, C, H, W]}, {"y": [n, C, OH, OW]}, [Wt])
    return m, {"x": rng.standard_normal([n, C, H, W]).astype(np.float32)}


@pytest.mark.parametrize("shape", NO_INTERIOR)
def test_depthwise_without_interior(shape, tmp_path, monkeypatch):
    """Planes where no output column (or row) has every tap inside: the border path only."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    m, feeds = _no_interior_model(*shape)
    b = sdk.compile(m)
    assert [x.op for x in b.program.func.bindings].count("ConvNHWC") == 1
    got, _ = HostRunner(cflags=" ".join(SANITIZE), threads=1).run(b.save(tmp_path / "m"), feeds)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


# n, C, H, W, K, stride, bias: rows wide enough for the eight-pixel interior blocks (7x7 and 5x5 at stride 1: 20 - 6 =
# 14 interior columns, a block of eight and six single pixels), channel counts with blocks of four vectors, a vector
# and a tail at every vector width (83 = 64 + 16 + 3; 4-lane builds: 20 vectors + 3), and
# a stride-2 row (one pixel at a time there); 7 x 7 at stride 1 with at least a vector of channels runs the small-plane
# form (dws_plane), fewer channels than a 16-lane vector (12) keep the interior blocks
WIDE_ROWS = [(2, 83, 9, 20, 7, 1, True), (1, 70, 6, 23, 5, 1, False), (1, 67, 9, 21, 7, 2, True),
             (1, 12, 9, 20, 7, 1, True)]


def _wide_model(n, C, H, W, K, S, bias):
    rng = np.random.default_rng(7)
    inits = [nh.from_array((rng.standard_normal([C, 1, K, K]) / K).astype(np.float32), "W")]
    ins = ["x", "W"]
    if bias:
        inits.append(nh.from_array(rng.standard_normal([C]).astype(np.float32), "B"))
        ins.append("B")
    p = K // 2
    node = h.make_node("Conv", ins, ["y"], group=C, pads=[p, p, p, p], strides=[S, S])
    OH, OW = (H + 2 * p - K) // S + 1, (W + 2 * p - K) // S + 1
    m = float_model([node], "dw", {"x": [n, C, H, W]}, {"y": [n, C, OH, OW]}, inits)
    return m, {"x": rng.standard_normal([n, C, H, W]).astype(np.float32)}


def _check_c_sanitized_and_jit(b, m, feeds, tmp_path, monkeypatch, sanitizer_threads):
    """The bundle against onnxruntime: C on one and two threads (bit-equal), C under the sanitizers, and the in-process
    engine's IR kernel giving the same floats as the C kernel."""
    from sdk.backends.host.inprocess import JitModel
    from sdk.codegen import llvm_runtime
    ref = ort_run(m, feeds)
    out = b.save(tmp_path / "m")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    got, _ = HostRunner(cflags=" ".join(SANITIZE), threads=sanitizer_threads).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ref, RTOL, ATOL)
    monkeypatch.setattr(llvm_runtime, "C_FIRST", frozenset())
    ir, c = JitModel(b).run(feeds, info=False), JitModel(b, ir_kernels=False).run(feeds, info=False)
    np.testing.assert_array_equal(ir["y"], c["y"])
    assert_outputs_close(c, ref, RTOL, ATOL)


@pytest.mark.parametrize("shape", WIDE_ROWS)
def test_depthwise_wide_rows(shape, tmp_path, monkeypatch):
    """The kernel's blocked paths (eight interior pixels at stride 1, four channel vectors on border pixels) against
    onnxruntime on one and two threads (bit-equal) and under the sanitizers (4-lane vectors), and the in-process
    engine's IR kernel giving the same floats as the C kernel (each output sums the bias then the taps in order)."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    m, feeds = _wide_model(*shape)
    b = sdk.compile(m)
    assert [s.fn for s in b.program.steps if hasattr(s, "fn")] == ["sdk_dwconv2d_nhwc_f32"]
    _check_c_sanitized_and_jit(b, m, feeds, tmp_path, monkeypatch, sanitizer_threads=1)


# n, C, H, W, K, stride, epilogue: the small-plane form (channel-vector columns, strips of 7 pixels, two rows at a
# time; runtime_c dws_plane), which runs 5 x 5 layers and 3 x 3 stride-1 ones on planes up to 28 wide: channel
# counts of vectors and a tail (40 = 2 x 16 + 8 and 36: the tail vector overlaps the one before it), two images
# (row pairs never cross one), odd row counts (a pair per band and a single row), a 13-wide row (two overlapping
# strips), stride 2, and fused epilogues (ReLU6 after a residual Add, HardSwish, SiLU); and 3 x 3 stride-1 planes
# wider than 28 (the same form in column tiles of 28: 61 = 28 + 28 + 5, a last strip overlapping the one before)
# with the activations applied in registers before the store (ReLU6, ReLU, HardSwish, sigmoid, SiLU: the vector exp
# sdk_v_expf; 19 and 23 channels: one vector and an overlapping tail at 16 lanes; SiLU at stride 2); and 3 x 3
# stride-1 planes of at least SDK_DWS_GROUP_BYTES with every channel in one group (dws_k3s1g at 16 lanes: the group's
# vectors one after another at each strip; 40 = 2 x 16 + a tail, two images, a residual; 48 = 3 x 16, ReLU6); and
# 7 x 7 at stride 1 (ConvNeXt's depthwise layers): odd rows and two images, a 13-wide row, a 7 x 7 plane (every
# column a padding column) with a residual, a plane wider than 28 with a tail vector
SMALL_PLANES = [(2, 40, 15, 13, 3, 1, "add_relu6"), (1, 24, 28, 28, 5, 2, "hardswish"), (2, 36, 7, 7, 5, 1, "silu"),
                (1, 40, 9, 61, 3, 1, "relu6"), (2, 19, 5, 33, 3, 1, "hardswish"), (1, 32, 6, 57, 3, 1, "relu"),
                (1, 20, 6, 30, 3, 1, "sigmoid"), (1, 19, 9, 40, 3, 1, "silu"), (2, 23, 13, 13, 5, 2, "silu"),
                (2, 40, 80, 90, 3, 1, "add_relu6"), (1, 48, 76, 76, 3, 1, "relu6"),
                (2, 40, 9, 13, 7, 1, ""), (1, 36, 7, 7, 7, 1, "add_relu6"), (1, 19, 6, 33, 7, 1, "relu")]


def _small_plane_model(n, C, H, W, K, S, epi):
    rng = np.random.default_rng(13)
    inits = [nh.from_array((rng.standard_normal([C, 1, K, K]) / K).astype(np.float32), "W"),
             nh.from_array(rng.standard_normal([C]).astype(np.float32) * 0.3, "B"),
             nh.from_array(np.array(0.0, np.float32), "lo"), nh.from_array(np.array(6.0, np.float32), "hi")]
    p = K // 2
    nodes = [h.make_node("Conv", ["x", "W", "B"], ["c"], group=C, pads=[p, p, p, p], strides=[S, S])]
    if epi == "add_relu6":  # a 1x1 convolution first, so that the residual is a channels-last value
        inits.append(nh.from_array((rng.standard_normal([C, C, 1, 1]) / np.sqrt(C)).astype(np.float32), "We"))
        nodes = [h.make_node("Conv", ["x", "We"], ["e"]), h.make_node("Conv", ["e", "W", "B"], ["c"], group=C,
                                                                       pads=[p, p, p, p], strides=[S, S]),
                 h.make_node("Add", ["c", "e"], ["a"]), h.make_node("Clip", ["a", "lo", "hi"], ["y"])]
    elif epi == "relu6":
        nodes += [h.make_node("Clip", ["c", "lo", "hi"], ["y"])]
    elif epi == "sigmoid":
        nodes += [h.make_node("Sigmoid", ["c"], ["y"])]
    elif epi == "relu":
        nodes += [h.make_node("Relu", ["c"], ["y"])]
    elif epi == "hardswish":
        nodes += [h.make_node("HardSwish", ["c"], ["y"])]
    elif epi == "silu":
        nodes += [h.make_node("Sigmoid", ["c"], ["s"]), h.make_node("Mul", ["c", "s"], ["y"])]
    else:
        nodes[0].output[0] = "y"
    OH, OW = (H + 2 * p - K) // S + 1, (W + 2 * p - K) // S + 1
    m = float_model(nodes, "dw", {"x": [n, C, H, W]}, {"y": [n, C, OH, OW]}, inits)
    return m, {"x": rng.standard_normal([n, C, H, W]).astype(np.float32)}


@pytest.mark.parametrize("shape", SMALL_PLANES)
def test_depthwise_small_planes(shape, tmp_path, monkeypatch):
    """The small-plane form against onnxruntime on one and two threads (bit-equal), under the sanitizers (4-lane
    vectors, other channel tails), and the in-process engine's IR kernel giving the same floats as the C kernel."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    m, feeds = _small_plane_model(*shape)
    b = sdk.compile(m)
    dw = [s for s in b.program.steps if getattr(s, "fn", None) == "sdk_dwconv2d_nhwc_f32"]
    assert len(dw) == 1
    if shape[-1]:  # the epilogue runs in the kernel (with the residual where there is one)
        assert dw[0].arg("act") != 0 and (dw[0].arg("R") is not None) == shape[-1].startswith("add")
    _check_c_sanitized_and_jit(b, m, feeds, tmp_path, monkeypatch, sanitizer_threads=2)



@pytest.mark.parametrize("M,stride,act", [(32, 2, "silu"), (48, 1, "sigmoid"), (40, 2, "silu")])
def test_stem_activation_in_registers(M, stride, act, tmp_path, monkeypatch):
    """EfficientNet's stem (3 -> 32, 3 x 3, stride 2, SiLU): the activation applied to the sums in registers where
    every channel is in vectors (32, 48 at 16 lanes; 40: a tail, the row's epilogue pass) against onnxruntime on one
    and two threads, under the sanitizers, and the IR kernel giving the same floats as the C kernel."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # a region this small has more borders than a net's
    # the stem kernel alone (with the depthwise after it: one StemDwNHWC, tests/e2e/test_fuse_stem_dw.py)
    monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: None)
    rng = np.random.default_rng(5)
    inits = [nh.from_array((rng.standard_normal([M, 3, 3, 3]) / 3).astype(np.float32), "W"),
             nh.from_array(rng.standard_normal([M]).astype(np.float32) * 0.3, "B")]
    nodes = [h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], strides=[stride, stride])]
    nodes += ([h.make_node("Sigmoid", ["c"], ["s"]), h.make_node("Mul", ["c", "s"], ["a"])] if act == "silu"
              else [h.make_node("Sigmoid", ["c"], ["a"])])
    # a depthwise convolution after it: the channels-last region that gives the stem its NHWC kernel
    inits.append(nh.from_array((rng.standard_normal([M, 1, 3, 3]) / 3).astype(np.float32), "Wd"))
    nodes.append(h.make_node("Conv", ["a", "Wd"], ["y"], group=M, pads=[1, 1, 1, 1]))
    H, W = 37, 45
    OH, OW = (H - 1) // stride + 1, (W - 1) // stride + 1
    m = float_model(nodes, "stem", {"x": [1, 3, H, W]}, {"y": [1, M, OH, OW]}, inits)
    b = sdk.compile(m)
    st = [s for s in b.program.steps if getattr(s, "fn", None) == "sdk_conv2d_stem_nhwc_f32"]
    assert len(st) == 1 and st[0].arg("act") != 0
    feeds = {"x": (rng.standard_normal([1, 3, H, W]) * 2).astype(np.float32)}
    _check_c_sanitized_and_jit(b, m, feeds, tmp_path, monkeypatch, sanitizer_threads=2)

def _convnext_model():
    """A ConvNeXt in miniature: 4x4 stride-4 stem, LayerNorm over channels between permutes, a block (7x7 depthwise,
    LayerNorm, MLP with the exact GELU, layer scale, residual), a 2x2 stride-2 downsampling convolution behind its
    LayerNorm (96 taps: more than a stem's), a second block, global average pooling."""
    import math
    inits = []
    w = fan_in_initializer(np.random.default_rng(11), inits)

    for name, v in (("r2", math.sqrt(2.0)), ("one", 1.0), ("half", 0.5)):
        inits.append(nh.from_array(np.array(v, np.float32), name))

    def ln2d(x, C, tag):  # torchvision's LayerNorm2d: permute, layer_norm over channels, permute back
        return [h.make_node("Transpose", [x], [f"{tag}_t"], perm=[0, 2, 3, 1]),
                h.make_node("LayerNormalization", [f"{tag}_t", w(f"{tag}_s", [C], 0.5), w(f"{tag}_b", [C], 0.1)],
                            [f"{tag}_n"], axis=-1, epsilon=1e-6),
                h.make_node("Transpose", [f"{tag}_n"], [f"{tag}_o"], perm=[0, 3, 1, 2])]

    def block(x, C, tag):
        g = [f"{tag}_{k}" for k in range(12)]
        return [h.make_node("Conv", [x, w(f"{tag}_dw", [C, 1, 7, 7]), w(f"{tag}_dwb", [C], 0.1)], [g[0]], group=C,
                            pads=[3, 3, 3, 3]),
                h.make_node("Transpose", [g[0]], [g[1]], perm=[0, 2, 3, 1]),
                h.make_node("LayerNormalization", [g[1], w(f"{tag}_s", [C], 0.5), w(f"{tag}_b", [C], 0.1)], [g[2]],
                            axis=-1, epsilon=1e-6),
                h.make_node("MatMul", [g[2], w(f"{tag}_m1", [C, 4 * C])], [g[3]]),
                h.make_node("Div", [g[3], "r2"], [g[4]]), h.make_node("Erf", [g[4]], [g[5]]),
                h.make_node("Add", [g[5], "one"], [g[6]]), h.make_node("Mul", [g[3], g[6]], [g[7]]),
                h.make_node("Mul", [g[7], "half"], [g[8]]),
                h.make_node("MatMul", [g[8], w(f"{tag}_m2", [4 * C, C])], [g[9]]),
                h.make_node("Transpose", [g[9]], [g[10]], perm=[0, 3, 1, 2]),
                h.make_node("Mul", [g[10], w(f"{tag}_gam", [C, 1, 1], 0.5)], [g[11]]),
                h.make_node("Add", [g[11], x], [f"{tag}_out"])]

    N = [h.make_node("Conv", ["x", w("stem", [24, 3, 4, 4]), w("stemb", [24], 0.1)], ["s0"], strides=[4, 4],
                     kernel_shape=[4, 4])]
    N += ln2d("s0", 24, "sl") + block("sl_o", 24, "b1") + ln2d("b1_out", 24, "dl")
    N += [h.make_node("Conv", ["dl_o", w("down", [40, 24, 2, 2]), w("downb", [40], 0.1)], ["d0"], strides=[2, 2],
                      kernel_shape=[2, 2])]
    N += block("d0", 40, "b2") + [h.make_node("GlobalAveragePool", ["b2_out"], ["p"]),
                                  h.make_node("Flatten", ["p"], ["y"])]
    return float_model(N, "convnext", {"x": ["n", 3, 40, 44]}, {"y": ["n", 40]}, inits)


def test_convnext_all_channels_last(tmp_path):
    """The default rule takes a whole ConvNeXt channels-last: the stem (its region has no border transposes), both
    depthwise convolutions and the 2x2 stride-2 downsampling ("patch" form: its patches copied into rows for one
    GEMM), with no full-size transpose left; against onnxruntime on one and two threads and in process."""
    m = _convnext_model()
    b = sdk.compile(m, dims={"n": 2})
    ops = [x.op for x in b.program.func.bindings]
    assert ops.count("ConvNHWC") == 4 and "Conv" not in ops and "Transpose" not in ops
    assert "GlobalAveragePoolNHWC" in ops and ops.count("Gelu") == 2
    feeds = random_inputs(m, {"n": 2}, 4)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(b.save(tmp_path / "m"), feeds, ref, RTOL, ATOL)
