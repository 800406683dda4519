"""The direct grouped convolution (sdk/tune/gconv.py) against onnxruntime on random inputs (a symbolic batch of two):
RegNet's 3x3 groups of 8 channels at stride 1 and 2 on odd planes (ragged last tiles), groups with more output
than input channels, asymmetric padding, no padding, a 3-channel stem of one group (blocks of output channels), every epilogue form (BatchNorm folded + ReLU, residual Add +
ReLU, none): the C bundle on 1 and 2 threads (bit-equal), the in-process engine, and the 4-lane vector build under
AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads, with two images and with one (the stem's tiles split).
Rows wider than a register tile: tiles inside one output row stored from the registers, tiles across rows with
AVX-512 masked stores (bit-equal to the scalar path) (`wide_rows_model`)."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4


def gconv_model():
    rng = np.random.default_rng(5)

    def w(name, shape):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32), name)

    inits = [w("Wa", [24, 8, 3, 3]), w("ba", [24]), w("Wb", [24, 8, 3, 3]), w("bb", [24]),
             w("Wc", [48, 4, 3, 3]), w("Wd", [16, 8, 3, 3]), w("bd", [16]), w("We", [12, 6, 5, 5]), w("be", [12]),
             w("Ws", [24, 3, 3, 3]), w("bs", [24])]
    nodes = [
        h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], group=3, pads=[1, 1, 1, 1]), h.make_node("Relu", ["a0"], ["a"]),
        h.make_node("Conv", ["a", "Wb", "bb"], ["b0"], group=3, pads=[1, 1, 1, 1]),
        h.make_node("Add", ["b0", "a"], ["b1"]), h.make_node("Relu", ["b1"], ["yb"]),   # residual + ReLU
        h.make_node("Conv", ["yb", "Wc"], ["yc"], group=6, pads=[1, 1, 1, 1], strides=[2, 2]),  # 4 -> 8 a group
        h.make_node("Conv", ["xd", "Wd", "bd"], ["yd"], group=2, pads=[1, 0, 0, 1], strides=[2, 2]),
        h.make_node("Conv", ["xe", "We", "be"], ["ye"], group=2, pads=[0, 0, 0, 0]),  # 5x5, no padding
        h.make_node("Conv", ["xs", "Ws", "bs"], ["s0"], pads=[1, 1, 1, 1], strides=[2, 2]),  # a stem, one group
        h.make_node("Relu", ["s0"], ["ys"]),
    ]
    ins = {"x": ["n", 24, 15, 13], "xd": ["n", 16, 9, 12], "xe": ["n", 12, 11, 9], "xs": ["n", 3, 23, 21]}
    outs = {"yb": ["n", 24, 15, 13], "yc": ["n", 48, 8, 7], "yd": ["n", 16, 4, 6], "ye": ["n", 12, 7, 5], "ys": ["n", 24, 12, 11]}
    return float_model(nodes, "gconv", ins, outs, inits), ins


@pytest.mark.slow
def test_gconv_matches_onnxruntime(tmp_path):
    m, _ = gconv_model()
    b = sdk.compile(m, dims={"n": 3})
    direct = [s for s in b.program.steps if (getattr(s, "schedule", None) or {}).get("direct")]
    assert len(direct) == 6 and direct[-1].schedule["mb"] < 24  # the stem in blocks of channels
    assert not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)  # ReLU / Add+ReLU fused
    feeds = random_inputs(m, {"n": 2}, 1)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    out = b.save(tmp_path / "g")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    flags = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror", "-DSDK_PAR_MIN_WORK=1",
             "-DSDK_DW_PAD_FLOATS=1500"]  # groups split across threads, or one group's tiles
    for n in (2, 1):  # one image: fewer (image, group) pairs of the stem than threads, which split its tiles
        feeds = random_inputs(m, {"n": n}, 2)
        got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=n == 2)
        assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


def wide_rows_model():
    """Direct convolutions whose output rows are wider than a register tile (50 and 70 > 48 or 64 grid positions), so
    most tiles are stored from the registers (bias, residual, activation on the vectors) and the others, which reach
    past a row's end, through the scalar path: a 3-channel stem + ReLU, a grouped layer + residual + ReLU, a grouped
    layer with no bias or epilogue, a stem + Clip (an activation of compares and selects)."""
    rng = np.random.default_rng(9)

    def w(name, shape):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    inits = [w("Ws", [24, 3, 3, 3]), w("bs", [24]), w("Wg", [16, 8, 3, 3]), w("bg", [16]), w("Wn", [16, 8, 3, 3]),
             w("Wc", [16, 3, 5, 5]), w("bc", [16]), nh.from_array(np.array(0.0, np.float32), "lo"),
             nh.from_array(np.array(0.5, np.float32), "hi")]
    nodes = [
        h.make_node("Conv", ["xs", "Ws", "bs"], ["s0"], pads=[1, 1, 1, 1], strides=[2, 2]),
        h.make_node("Relu", ["s0"], ["ys"]),
        h.make_node("Conv", ["xg", "Wg", "bg"], ["g0"], group=2, pads=[1, 1, 1, 1]),
        h.make_node("Add", ["g0", "xg"], ["g1"]), h.make_node("Relu", ["g1"], ["yg"]),
        h.make_node("Conv", ["xg", "Wn"], ["yn"], group=2, pads=[1, 1, 1, 1]),
        h.make_node("Conv", ["xc", "Wc", "bc"], ["c0"], pads=[2, 2, 2, 2]),
        h.make_node("Clip", ["c0", "lo", "hi"], ["yc"]),
    ]
    ins = {"xs": ["n", 3, 100, 99], "xg": ["n", 16, 7, 70], "xc": ["n", 3, 6, 66]}
    outs = {"ys": ["n", 24, 50, 50], "yg": ["n", 16, 7, 70], "yn": ["n", 16, 7, 70], "yc": ["n", 16, 6, 66]}
    return float_model(nodes, "wide", ins, outs, inits)


@pytest.mark.slow
def test_gconv_wide_rows_match_onnxruntime(tmp_path):
    m = wide_rows_model()
    b = sdk.compile(m, dims={"n": 2})
    direct = [s for s in b.program.steps if (getattr(s, "schedule", None) or {}).get("direct")]
    assert len(direct) == 4
    assert any("one run of one output row" in s.impl for s in direct)
    feeds = random_inputs(m, {"n": 2}, 4)
    ref = ort_run(m, feeds)
    out = b.save(tmp_path / "w")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    flags = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror", "-DSDK_PAR_MIN_WORK=1",
                              "-DSDK_DW_PAD_FLOATS=1500"]
    got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ref, RTOL, ATOL)
    # tiles across output rows without a residual (the stems, the layer with no epilogue; the residual layer's
    # calls pass R and keep the scalar path): with AVX-512, two masked stores a vector from the registers; the same
    # floats as the scalar path (-DSDK_GCONV_MASKED16=0), 1 and 2 threads (without AVX-512 both builds are scalar)
    assert all("two masked stores a vector" in s.impl for s in direct)
    for threads in (1, 2):
        masked, _ = HostRunner(threads=threads).run(out, feeds, rebuild=True)
        scalar, _ = HostRunner(threads=threads, extra_cflags=["-DSDK_GCONV_MASKED16=0"]).run(out, feeds, rebuild=True)
        assert all(np.array_equal(masked[k], scalar[k]) for k in scalar)


def wide_groups_model():
    """ResNeXt's last stage in small: 32 channels a group (the largest the direct kernel takes, in blocks of at most 16
    output channels) at stride 1 on a 7x7 plane with BatchNorm folded + ReLU, at stride 2 from an odd 15x13 plane, and
    a 24-channel group (blocks of 12 or 8) with no bias on a plane wider than a register tile."""
    rng = np.random.default_rng(13)

    def w(name, shape):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    inits = [w("Wa", [64, 32, 3, 3]), w("ba", [64]), w("Wb", [64, 32, 3, 3]), w("bb", [64]), w("Wc", [48, 24, 3, 3]),
             nh.from_array(rng.uniform(0.5, 1.5, 64).astype(np.float32), "sc"), w("sh", [64]), w("mu", [64]),
             nh.from_array(rng.uniform(0.5, 1.5, 64).astype(np.float32), "var")]
    nodes = [
        h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], group=2, pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["a0", "sc", "sh", "mu", "var"], ["a1"]), h.make_node("Relu", ["a1"], ["ya"]),
        h.make_node("Conv", ["xb", "Wb", "bb"], ["yb"], group=2, pads=[1, 1, 1, 1], strides=[2, 2]),
        h.make_node("Conv", ["xc", "Wc"], ["yc"], group=2, pads=[1, 1, 1, 1]),
    ]
    ins = {"x": ["n", 64, 7, 7], "xb": ["n", 64, 15, 13], "xc": ["n", 48, 5, 37]}
    outs = {"ya": ["n", 64, 7, 7], "yb": ["n", 64, 8, 7], "yc": ["n", 48, 5, 37]}
    return float_model(nodes, "wideg", ins, outs, inits)


@pytest.mark.slow
def test_gconv_wide_groups_match_onnxruntime(tmp_path):
    m = wide_groups_model()
    b = sdk.compile(m, dims={"n": 2})
    direct = [s for s in b.program.steps if (getattr(s, "schedule", None) or {}).get("direct")]
    assert len(direct) == 3 and all(s.schedule.get("mb", 0) <= 16 for s in direct)
    lanes = direct[0].schedule["lanes"]  # groups of whole vectors of output channels: the channel-vector form
    assert [bool(s.schedule.get("cv")) for s in direct] == [32 % lanes == 0, 32 % lanes == 0, 24 % lanes == 0]
    feeds = random_inputs(m, {"n": 2}, 6)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    out = b.save(tmp_path / "wg")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    flags = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror", "-DSDK_PAR_MIN_WORK=1",
                              "-DSDK_DW_PAD_FLOATS=1500"]
    got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ref, RTOL, ATOL)


def channel_vector_model():
    """Groups whose output channels fill whole vectors (sdk/tune/gconv_cv.py): RegNetX's 16-channel groups on a
    7x7 plane with BatchNorm folded + ReLU, on an odd 9x11 plane with a residual Add + ReLU (ragged row and column
    tiles), at stride 2 from 15x13 with asymmetric padding, a 5x5 kernel without padding or bias, 8 -> 32 channels a
    group (two vectors a tile) with a Clip, 48 output channels a group (three blocks of 16) on a 28x28 plane."""
    rng = np.random.default_rng(17)

    def w(name, shape):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    inits = [w("Wa", [48, 16, 3, 3]), w("ba", [48]), nh.from_array(rng.uniform(0.5, 1.5, 48).astype(np.float32), "sc"),
             w("sh", [48]), w("mu", [48]), nh.from_array(rng.uniform(0.5, 1.5, 48).astype(np.float32), "var"),
             w("Wr", [32, 16, 3, 3]), w("br", [32]), w("Ws", [32, 16, 3, 3]), w("bs", [32]), w("Wf", [32, 16, 5, 5]),
             w("Wv", [64, 8, 3, 3]), w("bv", [64]), nh.from_array(np.array(-0.2, np.float32), "lo"),
             nh.from_array(np.array(0.4, np.float32), "hi"), w("Ww", [96, 16, 3, 3]), w("bw", [96])]
    nodes = [
        h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], group=3, pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["a0", "sc", "sh", "mu", "var"], ["a1"]), h.make_node("Relu", ["a1"], ["ya"]),
        h.make_node("Conv", ["xr", "Wr", "br"], ["r0"], group=2, pads=[1, 1, 1, 1]),
        h.make_node("Add", ["r0", "xr"], ["r1"]), h.make_node("Relu", ["r1"], ["yr"]),
        h.make_node("Conv", ["xs", "Ws", "bs"], ["ys"], group=2, pads=[1, 0, 0, 1], strides=[2, 2]),
        h.make_node("Conv", ["xf", "Wf"], ["yf"], group=2),
        h.make_node("Conv", ["xv", "Wv", "bv"], ["v0"], group=2, pads=[1, 1, 1, 1]),
        h.make_node("Clip", ["v0", "lo", "hi"], ["yv"]),
        h.make_node("Conv", ["xw", "Ww", "bw"], ["yw"], group=2, pads=[1, 1, 1, 1]),
    ]
    ins = {"x": ["n", 48, 7, 7], "xr": ["n", 32, 9, 11], "xs": ["n", 32, 15, 13], "xf": ["n", 32, 10, 9],
           "xv": ["n", 16, 6, 13], "xw": ["n", 32, 28, 28]}
    outs = {"ya": ["n", 48, 7, 7], "yr": ["n", 32, 9, 11], "ys": ["n", 32, 7, 7], "yf": ["n", 32, 6, 5],
            "yv": ["n", 64, 6, 13], "yw": ["n", 96, 28, 28]}
    return float_model(nodes, "cvec", ins, outs, inits)


@pytest.mark.slow
def test_gconv_channel_vectors_match_onnxruntime(tmp_path):
    m = channel_vector_model()
    b = sdk.compile(m, dims={"n": 2})
    steps = [s for s in b.program.steps if (getattr(s, "schedule", None) or {}).get("direct")]
    lanes = steps[0].schedule["lanes"]
    if 16 % lanes:
        pytest.skip(f"{lanes} lanes: no group here fills whole vectors")
    cv = [s for s in steps if s.schedule.get("cv")]
    assert len(steps) == len(cv) == 6
    assert [s.schedule["nvec"] for s in cv] == [1, 1, 1, 1, 32 // lanes if 32 // lanes <= 2 else 2, 1 if lanes > 8 else 2]
    assert not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)  # BN, ReLU, Add, Clip fused
    feeds = random_inputs(m, {"n": 2}, 8)
    ref = ort_run(m, feeds)
    out = b.save(tmp_path / "cv")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    # AddressSanitizer + UndefinedBehaviorSanitizer: 2 threads, groups split across threads with their own planes
    # (small planes), the shared copy with the tiles split (planes above 1500 floats; one image: fewer pairs); one
    # thread, planes above 1500 floats padded with their zeros on every copy, the others zeroed once
    flags = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror", "-DSDK_PAR_MIN_WORK=1",
                              "-DSDK_DW_PAD_FLOATS=1500"]
    for n, threads in ((2, 2), (1, 2), (2, 1)):
        feeds = random_inputs(m, {"n": n}, 9)
        got, _ = HostRunner(cflags=" ".join(flags), threads=threads).run(out, feeds, rebuild=n == 2 and threads == 2)
        assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


def test_gconv_channel_vectors_weights_at_run_time(tmp_path):
    """A grouped convolution whose weights are a model input cannot be packed at build time: 16 channels a group take
    the pixel-vector kernel, 48 a group (above its limit) the im2col GEMM; both match onnxruntime."""
    nodes = [h.make_node("Conv", ["x", "Wa"], ["ya"], group=2, pads=[1, 1, 1, 1]),
             h.make_node("Conv", ["x", "Wb"], ["yb"], group=2, pads=[1, 1, 1, 1])]
    ins = {"x": [1, 32, 7, 9], "Wa": [32, 16, 3, 3], "Wb": [96, 16, 3, 3]}
    m = float_model(nodes, "cvrt", ins, {"ya": [1, 32, 7, 9], "yb": [1, 96, 7, 9]}, [])
    b = sdk.compile(m)
    scheds = [s.schedule for s in b.program.steps if getattr(s, "schedule", None)]
    assert len(scheds) == 2 and not any(s.get("cv") for s in scheds) and scheds[0].get("direct")
    feeds = random_inputs(m, {}, 3)
    got, _ = HostRunner(threads=1).run(b.save(tmp_path / "rt"), feeds)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)
