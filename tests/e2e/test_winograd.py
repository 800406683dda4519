"""Winograd F(4x4, 3x3) and F(2x2, 3x3) (sdk/tune/winograd.py, runtime_c/src/sdk_winograd.c) against onnxruntime on
random inputs (two images of a symbolic batch): odd planes (edge tiles), channel counts off the vector width and the 16-channel panels, padding 0, 1
and asymmetric, several tile blocks with a ragged last one, and every epilogue form (bias, ReLU, residual Add +
ReLU, HardSwish, Clip, none): the C bundle on 1 and 2 threads (bit-equal), the in-process LLVM engine, the 4-lane
vector build (what NEON / SSE / wasm SIMD compile) and the 8-lane AVX2 one under AddressSanitizer +
UndefinedBehaviorSanitizer, and the portable C build (-DSDK_WINO_SCALAR). Whole 4x4 and 2x2 tiles of 16-channel
groups (the vector width) with ReLU or no activation take the register-transpose output path, the rest the scalar one."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_engines_and_builds, float_model
from sdk.tune import winograd

RTOL, ATOL = 1e-4, 1e-4  # outputs are O(1); F(4x4) in float32 measured ~1e-5 of the largest output
# the builds besides -march=native: 4-lane vectors (what NEON / SSE / wasm SIMD compile) and 8-lane AVX2 ones under
# the sanitizers on 2 threads, and the portable C (each vector width has its own register transpose of whole tiles'
# outputs)
_SAN = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]
SANITIZED = dict(cflags=" ".join(_SAN), threads=2)
AVX2 = dict(cflags=" ".join(_SAN + ["-mavx2", "-mfma"]), threads=2)
PORTABLE = dict(cflags="-O2 -std=c99 -DSDK_WINO_SCALAR -Wall -Wextra -Werror", threads=1)


def weights(rng):
    """``w(name, shape)``: a float32 initializer of standard normal values over sqrt(fan-in), drawn from ``rng``."""
    def w(name, shape):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32), name)
    return w


def winograd_model():
    """Five 3x3 convolutions, each with another plane, channel counts, padding and epilogue."""
    w = weights(np.random.default_rng(11))
    inits = [w("Wa", [21, 19, 3, 3]), w("ba", [21]), w("Wb", [16, 21, 3, 3]), w("Wc", [16, 16, 3, 3]),
             w("bc", [16]), w("Wd", [40, 24, 3, 3]), w("bd", [40]), w("We", [17, 33, 3, 3]), w("be", [17])]
    nodes = [
        h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["a0"], ["a"]),
        h.make_node("Conv", ["a", "Wb"], ["yb"], pads=[0, 0, 0, 0]),                   # no bias, no padding
        h.make_node("Conv", ["yb", "Wc", "bc"], ["c0"], pads=[1, 1, 1, 1]),
        h.make_node("Add", ["c0", "yb"], ["c1"]), h.make_node("Relu", ["c1"], ["yc"]),   # residual + ReLU
        h.make_node("Conv", ["xd", "Wd", "bd"], ["d0"], pads=[1, 1, 1, 1]), h.make_node("HardSwish", ["d0"], ["yd"]),
        h.make_node("Conv", ["xe", "We", "be"], ["e0"], pads=[1, 0, 0, 1]),             # asymmetric padding
        h.make_node("Clip", ["e0", "lo", "hi"], ["ye"]),                                 # ReLU6
    ]
    inits += [nh.from_array(np.array(0, np.float32), "lo"), nh.from_array(np.array(6, np.float32), "hi")]
    ins = {"x": ["n", 19, 13, 11], "xd": ["n", 24, 10, 10], "xe": ["n", 33, 9, 15]}  # a symbolic batch
    outs = {"yb": ["n", 16, 11, 9], "yc": ["n", 16, 11, 9], "yd": ["n", 40, 10, 10], "ye": ["n", 17, 8, 15]}
    return float_model(nodes, "wino", ins, outs, inits), ins


def forced(tile, tb=winograd.BLOCK):
    """Every eligible convolution in ``tile`` x ``tile`` output tiles, blocks of ``tb`` tiles (several per image)."""
    return lambda wl, rule: {"algorithm": "winograd", "tile": tile, "tb": tb}


# blocks of one register tile: two threads split each phase; of three: each thread runs its own share of the tiles
# (2 x 2 tiles: 42 on the largest plane, so each thread's share is several blocks ending in partial register tiles);
# of two: each thread takes whole blocks and the tiles left over (42, 30, 25, 32 tiles in blocks of 2 x 12 on
# AVX-512: 18, 6, 1, 8) go through one shared block, split by phases
@pytest.mark.parametrize("tile,tb", [(4, winograd.BLOCK), (4, 3 * winograd.BLOCK), (2, winograd.BLOCK),
                                     (2, 2 * winograd.BLOCK), (2, 3 * winograd.BLOCK)])
def test_winograd_matches_onnxruntime(tile, tb, tmp_path, monkeypatch):
    m, ins = winograd_model()
    monkeypatch.setattr(winograd, "choose", forced(tile, tb))
    b = sdk.compile(m, dims={"n": 3})
    calls = [s for s in b.program.steps if getattr(s, "fn", None) == "sdk_winograd_f32"]
    assert len(calls) == 5 and all(c.arg("m") == tile for c in calls)
    assert [c.arg("act") for c in calls] == [1, 0, 1, 4, 2]  # ReLU, none, residual + ReLU, HardSwish, Clip
    assert calls[2].arg("R") is not None and not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)
    assert_engines_and_builds(b, m, tmp_path / "w", [SANITIZED, AVX2 if tb > winograd.BLOCK else PORTABLE], RTOL, ATOL,
                              builds_at=({"n": 2}, 2))


def chain_model():
    """Winograd layers reading each other's outputs (sdk/tune/winograd.py chain_layouts): a (ReLU) read by b and e,
    b (Clip) read by c only, c with a residual of the input, e (HardSwish) also read by a Sigmoid, so it keeps planes;
    20 and 24 channels (off the 16-channel groups), a 13 x 11 plane (edge tiles in both directions)."""
    w = weights(np.random.default_rng(12))
    inits = [w("Wa", [20, 20, 3, 3]), w("ba", [20]), w("Wb", [24, 20, 3, 3]), w("bb", [24]), w("Wc", [20, 24, 3, 3]),
             w("bc", [20]), w("We", [16, 20, 3, 3]), w("Wf", [16, 16, 3, 3]), w("bf", [16]),
             nh.from_array(np.array(0, np.float32), "lo"), nh.from_array(np.array(1, np.float32), "hi")]
    p = dict(pads=[1, 1, 1, 1])
    nodes = [
        h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], **p), h.make_node("Relu", ["a0"], ["a"]),
        h.make_node("Conv", ["a", "Wb", "bb"], ["b0"], **p), h.make_node("Clip", ["b0", "lo", "hi"], ["b"]),
        h.make_node("Conv", ["b", "Wc", "bc"], ["c0"], **p), h.make_node("Add", ["c0", "x"], ["c1"]),
        h.make_node("Relu", ["c1"], ["yc"]),
        h.make_node("Conv", ["a", "We"], ["e0"], **p), h.make_node("HardSwish", ["e0"], ["e"]),
        h.make_node("Conv", ["e", "Wf", "bf"], ["yf"], **p), h.make_node("Sigmoid", ["e"], ["ys"]),
    ]
    ins = {"x": ["n", 20, 13, 11]}
    outs = {"yc": ["n", 20, 13, 11], "yf": ["n", 16, 13, 11], "ys": ["n", 16, 13, 11]}
    return float_model(nodes, "wino_chain", ins, outs, inits), ins


@pytest.mark.parametrize("tile,tb", [(4, winograd.BLOCK), (2, 2 * winograd.BLOCK)])
def test_winograd_chain_layouts(tile, tb, tmp_path, monkeypatch):
    """Padded channels-last tensors between Winograd layers give onnxruntime's outputs in every build (1 / 2 threads,
    the in-process engine, 4-lane vectors and AVX2 under the sanitizers, the portable C), a batch of two images; the
    pass keeps a tensor's layout only where the arena does not grow."""
    m, _ = chain_model()
    monkeypatch.setattr(winograd, "choose", forced(tile, tb))
    with monkeypatch.context() as mp:  # every chain, whatever the arena (3 images: the padded tensors are larger)
        mp.setattr(winograd, "_arena", lambda prog, bounds, align: 0)
        b = sdk.compile(m, dims={"n": 3})
    calls = [s for s in b.program.steps if getattr(s, "fn", None) == "sdk_winograd_f32"]
    X, Y = winograd.X_PADDED, winograd.Y_PADDED
    assert sorted(c.arg("layout") for c in calls) == sorted([Y, X | Y, X, X, 0])  # a, b, c, e, f
    padded = [c.arg("Y") for c in calls if c.arg("layout") & Y]
    assert all(tuple(y.shape[1:]) == (-(-13 // tile) * tile + 2, -(-11 // tile) * tile + 2, 32) for y in padded)
    assert_engines_and_builds(b, m, tmp_path / "w", [SANITIZED, AVX2, PORTABLE], RTOL, ATOL)
    # the product's rule: per tensor, only where the arena does not grow; here every padded tensor would grow it
    # (ResNet-18's 56x56 pairs, one image, shrink it: bench/RESULTS_zoo.md, rs47)
    kept = sdk.compile(m, dims={"n": 3})
    with monkeypatch.context() as mp:
        mp.setattr(winograd, "chain_layouts", lambda prog, bounds, align=16: 0)
        plain = sdk.compile(m, dims={"n": 3})
    assert kept.plan.arena_bytes == plain.plan.arena_bytes < b.plan.arena_bytes
    assert not any(s.arg("layout") for s in kept.program.steps if getattr(s, "fn", None) == "sdk_winograd_f32")
