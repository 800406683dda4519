"""A squeeze-excite's channel scale moved into the projection's weight (sdk/transform/channel_scale.py, the scaled
weight in ConvNHWC's lowering, sdk/ops/nn.py) against onnxruntime on random weights: odd channel counts (C = 37,
M = 13: vector tails in the GEMM and the weight kernel), the gate as Sigmoid or HardSigmoid, the Mul's operands in
either order, a residual Add after the projection (the GEMM's epilogue), a plane too small for the rule (left as
the Mul). The in-process engine, the C bundle on 1 and 2 threads (bit-equal, -Werror), AddressSanitizer +
UndefinedBehaviorSanitizer on 2 threads and the baseline x86-64 build (SSE2); the arena grows by the scaled weight
and its packed copy at most."""
import numpy as np
import pytest
from onnx import helper as h

import sdk
from conftest import SANITIZE_FLAGS, assert_engines_and_builds, fan_in_initializer, float_model
from sdk import pipeline
from sdk.transform import layout

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def se_model(C, M, H, W, gate="sigmoid", swap=False, res=False, seed=0):
    """x [1, C, H, W] -> 3x3 depthwise + ReLU -> squeeze-excite (global pool, 1x1 C -> R + ReLU, 1x1 R -> C, gate)
    -> Mul -> 1x1 projection C -> M (+ a 1x1 branch of x where ``res``)."""
    inits = []
    w = fan_in_initializer(np.random.default_rng(seed), inits)

    R = max(C // 4, 1)
    nodes = [h.make_node("Conv", ["x", w("Wd", [C, 1, 3, 3]), w("bd", [C], 0.1)], ["d0"], group=C, pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["d0"], ["d"]),
             h.make_node("GlobalAveragePool", ["d"], ["g"]),
             h.make_node("Conv", ["g", w("W1", [R, C, 1, 1]), w("b1", [R], 0.1)], ["f0"]),
             h.make_node("Relu", ["f0"], ["f"]),
             h.make_node("Conv", ["f", w("W2", [C, R, 1, 1], 1.0), w("b2", [C], 0.5)], ["s0"]),
             h.make_node("Sigmoid" if gate == "sigmoid" else "HardSigmoid", ["s0"], ["s"]),
             h.make_node("Mul", ["s", "d"] if swap else ["d", "s"], ["m"]),
             h.make_node("Conv", ["m", w("Wp", [M, C, 1, 1]), w("bp", [M], 0.1)], ["p" if res else "y"])]
    if res:
        nodes += [h.make_node("Conv", ["x", w("Wr", [M, C, 1, 1])], ["r"]), h.make_node("Add", ["p", "r"], ["y"])]
    return float_model(nodes, "se", {"x": [1, C, H, W]}, {"y": [1, M, H, W]}, inits)


def moved(b):
    return [x for x in b.program.func.bindings if x.op == "ConvNHWC" and len(x.inputs) == 4 and x.inputs[3] is not None]


# C, M, H, W, gate, swap, res, moved by the host rule (H * W >= 2 M), extra build
CASES = [(37, 13, 11, 9, "sigmoid", False, False, True, "sanitize"),
         (48, 24, 13, 12, "hardsigmoid", True, True, True, "baseline"),
         (20, 70, 5, 5, "sigmoid", False, False, False, "sanitize")]  # 25 pixels < 2 x 70 outputs: the Mul stays


@pytest.mark.parametrize("case", CASES)
def test_scale_in_weights_matches_onnxruntime(case, tmp_path, monkeypatch):
    C, M, H, W, gate, swap, res, expect, extra = case
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # a lone block has more borders than a net's
    m = se_model(C, M, H, W, gate, swap, res)
    b = sdk.compile(m)
    assert len(moved(b)) == int(expect)
    muls = [x for x in b.program.func.bindings if x.op == "Mul" and x.outputs[0].rank == 4
            and x.outputs[0].shape[1] == H]
    assert len(muls) == int(not expect)
    if expect:
        (k,) = [s for s in b.program.steps if getattr(s, "name", "").endswith("_scaled_w")]
    build = (dict(cflags=" ".join(SANITIZE), threads=2) if extra == "sanitize" else
             dict(cflags="-O2 -std=c99 -Wall -Wextra -Werror", threads=1))  # x86-64's baseline: SSE2 vectors
    assert_engines_and_builds(b, m, tmp_path / "m", [build], RTOL, ATOL, at=({}, 1), builds_at=({}, 2))
    monkeypatch.setattr(pipeline, "layout_options", lambda tgt: {"nhwc": True})  # the pass off
    off = sdk.compile(m)
    assert not moved(off)
    # the Mul ran in place; the moved block holds the scaled [C, M] weight and the GEMM's copy of it packed in
    # panels of 16 columns (a lone block's peak; in the zoo's nets the arena's peak lies elsewhere: unchanged)
    Mp = -(-M // 16) * 16
    assert b.plan.arena_bytes <= off.plan.arena_bytes + (4 * C * (M + Mp) + 128 if expect else 0)


def test_host_rule(monkeypatch):
    """targets/host.toml [layout] scale_into_weights = 2: moved where the plane has >= 2 pixels per output."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    host = sdk.targets.load_target("host")
    assert host.data["layout"]["scale_into_weights"] == 2
    assert len(moved(sdk.compile(se_model(16, 16, 4, 8)))) == 1      # 32 pixels, 16 outputs
    assert not moved(sdk.compile(se_model(16, 17, 4, 8)))            # 32 < 34
