"""Pointwise expansion + depthwise convolution fused band by band (sdk/transform/fuse_dw_project.py fuse_pw_dw,
runtime_c sdk_pwdw_nhwc_f32) against onnxruntime on random weights: inverted-residual blocks at stride 2 and 1, 3x3
and 5x5, channel counts that are not multiples of a vector (E = 37, 70: a tail; 48: whole vectors), ReLU6 /
HardSwish / SiLU (x * Sigmoid(x)) / no activation between, bands of one row and of several (the rows two bands share carried over), a
batch of 2 and 3 images (bands that cross an image), the depthwise's own activation and a residual after it folded
as its epilogue. The C bundle on 1 and 2 threads (bit-equal, -Werror), under AddressSanitizer +
UndefinedBehaviorSanitizer on 2 threads or the scalar build (-DSDK_FUSED_SCALAR), the in-process engine. The arena
does not grow; the host profile's rule fuses only 3x3 stride-2 chains with an expanded tensor of 1 MiB or more."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk import pipeline
from sdk.backends.host.runner import HostRunner
from sdk.transform import fuse_dw_project as fdp
from sdk.transform import layout

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def block_model(C, E, M, H, W, K, S, act, dw_act="relu6", seed=0):
    """x [n, C, H, W] -> 1x1 C -> C -> expand C -> E (+act) -> KxK depthwise stride S (+dw_act) -> project E -> M."""
    rng = np.random.default_rng(seed)
    inits = []

    def w(name, shape, scale=None):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        a = rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(fan))
        inits.append(nh.from_array(a.astype(np.float32), name))
        return name

    inits += [nh.from_array(np.array(0.0, np.float32), "lo"), nh.from_array(np.array(6.0, np.float32), "hi")]
    p = K // 2
    nodes = [h.make_node("Conv", ["x", w("Wi", [C, C, 1, 1]), w("bi", [C], 0.1)], ["xi"]),
             h.make_node("Conv", ["xi", w("We", [E, C, 1, 1]), w("be", [E], 0.1)], ["e0"])]
    e = "e0"
    if act == "relu6":
        nodes.append(h.make_node("Clip", ["e0", "lo", "hi"], ["e"]))
        e = "e"
    elif act == "hardswish":
        nodes.append(h.make_node("HardSwish", ["e0"], ["e"]))
        e = "e"
    elif act == "silu":
        nodes += [h.make_node("Sigmoid", ["e0"], ["es"]), h.make_node("Mul", ["e0", "es"], ["e"])]
        e = "e"
    nodes.append(h.make_node("Conv", [e, w("Wd", [E, 1, K, K]), w("bd", [E], 0.1)], ["d0"], group=E,
                             pads=[p, p, p, p], strides=[S, S]))
    d = "d0"
    if dw_act == "relu6":
        nodes.append(h.make_node("Clip", ["d0", "lo", "hi"], ["d"]))
        d = "d"
    elif dw_act == "silu":
        nodes += [h.make_node("Sigmoid", ["d0"], ["ds"]), h.make_node("Mul", ["ds", "d0"], ["d"])]
        d = "d"
    nodes.append(h.make_node("Conv", [d, w("Wp", [M, E, 1, 1]), w("bp", [M], 0.1)], ["p0"]))
    OH, OW = (H + 2 * p - K) // S + 1, (W + 2 * p - K) // S + 1
    nodes.append(h.make_node("Relu", ["p0"], ["y"]))
    return float_model(nodes, "ir", {"x": ["n", C, H, W]}, {"y": ["n", M, OH, OW]}, inits)


# C, E, M, H, W, K, S, act, dw_act, band_bytes, extra build: "sanitize" (ASan + UBSan, 2 threads) or "scalar"
CASES = [(16, 48, 24, 13, 12, 3, 2, "relu6", "relu6", 1, "sanitize"),      # one-row bands, odd H at stride 2
         (13, 37, 13, 11, 9, 3, 1, "silu", None, 20000, "scalar"),          # stride 1, E = 37: a tail; SiLU
         (20, 70, 24, 15, 10, 5, 2, "hardswish", "silu", 40000, "sanitize"),  # 5x5 stride 2, E = 70: 4 + 1 vectors
         (8, 40, 16, 9, 16, 5, 1, "relu6", "relu6", 1 << 20, "scalar")]     # one band a slot, 5x5 stride 1


@pytest.mark.parametrize("case", CASES)
def test_fused_blocks_match_onnxruntime(case, tmp_path, monkeypatch):
    C, E, M, H, W, K, S, act, dw_act, band_bytes, extra = case
    m = block_model(C, E, M, H, W, K, S, act, dw_act)
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # a lone block has more borders than a net's
    monkeypatch.setattr(fdp, "fuse_options", lambda tgt: {"pw_dw": True, "dw_project": False,
                                                         "pw_dw_band_bytes": band_bytes, "slots": 2})
    monkeypatch.setattr(pipeline, "fuse_options", fdp.fuse_options)
    b = sdk.compile(m, dims={"n": 3})
    fused = [x for x in b.program.func.bindings if x.op == "PwDwNHWC"]
    assert len(fused) == 1 and "DwProjectNHWC" not in [x.op for x in b.program.func.bindings]
    call = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_pwdw_nhwc_f32")
    # the depthwise's Clip / SiLU folded as the call's epilogue
    assert call.arg("act") == {"relu6": 2, "silu": 6, None: 0}[dw_act]
    feeds = random_inputs(m, {"n": 2}, 1)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    out = b.save(tmp_path / "m")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    feeds = random_inputs(m, {"n": 3}, 2)
    ref = ort_run(m, feeds)
    if extra == "sanitize":
        got, _ = HostRunner(cflags=" ".join(SANITIZE), threads=2).run(out, feeds, rebuild=True)
    else:
        got, _ = HostRunner(extra_cflags=["-DSDK_FUSED_SCALAR", "-Werror"], threads=1).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ref, RTOL, ATOL)


def test_host_rule_fuses_stride_2_chains_and_arena_does_not_grow(monkeypatch):
    """targets/host.toml [fuse]: pw_dw on, stride-2 depthwise only; the arena is not larger than unfused."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    host = sdk.targets.load_target("host")
    opts = fdp.fuse_options(host)
    assert opts is not None and opts["pw_dw"] and not opts["dw_project"]
    assert opts["pw_dw_strides"] == [2] and opts["pw_dw_kernels"] == [3] and opts["pw_dw_min_bytes"] == 1 << 20

    def fused(m, o):
        monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: o)
        b = sdk.compile(m, dims={"n": 1})
        return [x for x in b.program.func.bindings if x.op == "PwDwNHWC"], b.plan.arena_bytes

    s2 = block_model(16, 96, 24, 56, 56, 3, 2, "relu6")
    on, on_arena = fused(s2, opts)
    assert len(on) == 1 and fused(s2, None)[1] >= on_arena
    assert fused(block_model(16, 96, 24, 56, 56, 3, 1, "relu6"), opts)[0] == []  # stride 1: the strip kernel
    assert fused(block_model(16, 96, 24, 56, 56, 5, 2, "relu6"), opts)[0] == []  # 5x5
    assert fused(block_model(16, 96, 24, 40, 40, 3, 2, "relu6"), opts)[0] == []  # 0.6 MB expanded: stays in L2
