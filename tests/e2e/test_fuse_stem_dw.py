"""A network's first convolution (the stem) + the depthwise convolution after it, fused band by band
(sdk/transform/fuse_dw_project.py fuse_stem_dw, runtime_c sdk_stemdw_nhwc_f32) against onnxruntime on random
weights and inputs: stems of 1-3 image channels, 3x3 / 5x5 at stride 2 and 1 with odd image sizes, M = 16 / 24 / 37
channels (whole vectors, a half vector at AVX-512, a tail), ReLU6 / HardSwish / SiLU (x * Sigmoid(x)) / nothing
between, depthwise 3x3 / 5x5 at stride 1 and 2 with its own activation folded as the call's epilogue, bands of one
row and of several (the stem rows two bands share carried over), batches of 3 (bands across images). The C bundle
on 1 and 2 threads (bit-equal, -Werror), under AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads, the
in-process engine; the fused build's outputs equal the unfused build's (the same kernels compute each band); the
arena does not grow; the host profile fuses."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import (SANITIZE_FLAGS, assert_engines_and_builds, fan_in_initializer, float_model, random_inputs)
from sdk import pipeline
from sdk.backends.host.runner import HostRunner
from sdk.transform import fuse_dw_project as fdp
from sdk.transform import layout

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def stem_model(C, M, H, W, SK, SS, act, K, S, dw_act, seed=0):
    """x [n, C, H, W] -> SK x SK stem C -> M stride SS (pad SK // 2) (+act) -> K x K depthwise stride S (+dw_act)
    -> 1x1 projection M -> 8."""
    inits = []
    w = fan_in_initializer(np.random.default_rng(seed), inits)
    inits += [nh.from_array(np.array(0.0, np.float32), "lo"), nh.from_array(np.array(6.0, np.float32), "hi")]
    sp, p = SK // 2, K // 2
    nodes = [h.make_node("Conv", ["x", w("Ws", [M, C, SK, SK]), w("bs", [M], 0.1)], ["e0"], pads=[sp] * 4,
                         strides=[SS, SS])]

    def activation(a, v, o):
        if a == "relu6":
            nodes.append(h.make_node("Clip", [v, "lo", "hi"], [o]))
        elif a == "hardswish":
            nodes.append(h.make_node("HardSwish", [v], [o]))
        elif a == "silu":
            nodes.extend([h.make_node("Sigmoid", [v], [o + "s"]), h.make_node("Mul", [v, o + "s"], [o])])
        else:
            return v
        return o
    e = activation(act, "e0", "e")
    nodes.append(h.make_node("Conv", [e, w("Wd", [M, 1, K, K]), w("bd", [M], 0.1)], ["d0"], group=M,
                             pads=[p] * 4, strides=[S, S]))
    d = activation(dw_act, "d0", "d")
    nodes.append(h.make_node("Conv", [d, w("Wp", [8, M, 1, 1])], ["y"]))
    EH, EW = (H + 2 * sp - SK) // SS + 1, (W + 2 * sp - SK) // SS + 1
    OH, OW = (EH + 2 * p - K) // S + 1, (EW + 2 * p - K) // S + 1
    return float_model(nodes, "stem", {"x": ["n", C, H, W]}, {"y": ["n", 8, OH, OW]}, inits)


# C, M, H, W, stem K, stem S, act, dw K, dw S, dw act, band bytes
CASES = [(3, 32, 37, 29, 3, 2, "relu6", 3, 1, "relu6", 1),            # one-row bands, odd sizes, strips at stride 1
         (3, 24, 31, 34, 3, 2, "silu", 3, 1, "silu", 20000),           # 24: a half vector at AVX-512; SiLU both
         (3, 16, 33, 27, 3, 2, "hardswish", 3, 2, "relu6", 8000),      # MobileNetV3-S's: depthwise at stride 2
         (1, 37, 23, 26, 5, 1, None, 5, 2, None, 30000),               # a tail of 5 channels, 5x5 both, no acts
         (2, 16, 19, 40, 3, 1, "relu6", 3, 1, "hardswish", 1 << 20)]   # one band a slot


@pytest.mark.parametrize("case", CASES)
def test_fused_stem_matches_onnxruntime(case, tmp_path, monkeypatch):
    C, M, H, W, SK, SS, act, K, S, dw_act, band_bytes = case
    m = stem_model(C, M, H, W, SK, SS, act, K, S, dw_act)
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # a lone block has more borders than a net's
    opts = {"stem_dw": True, "stem_dw_band_bytes": band_bytes, "slots": 2}
    monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: opts)
    b = sdk.compile(m, dims={"n": 3})
    assert [x.op for x in b.program.func.bindings].count("StemDwNHWC") == 1
    call = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_stemdw_nhwc_f32")
    assert call.arg("s_act") == {"relu6": 2, "hardswish": 4, "silu": 6, None: 0}[act]
    assert call.arg("act") == {"relu6": 2, "hardswish": 4, "silu": 6, None: 0}[dw_act]  # the call's epilogue
    out = assert_engines_and_builds(b, m, tmp_path / "m", [dict(cflags=" ".join(SANITIZE), threads=2)], RTOL, ATOL,
                                    builds_at=({"n": 3}, 2))
    # the same floats as the two unfused calls
    monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: None)
    u = sdk.compile(m, dims={"n": 3})
    assert "StemDwNHWC" not in [x.op for x in u.program.func.bindings]
    assert u.plan.arena_bytes >= b.plan.arena_bytes
    feeds = random_inputs(m, {"n": 3}, 4)
    got, ref = (HostRunner(threads=2).run(x.save(tmp_path / d), feeds, rebuild=True)[0] for x, d in ((b, "f"), (u, "u")))
    assert out is not None and np.array_equal(got["y"], ref["y"])


def test_host_profile_fuses_the_stem():
    """targets/host.toml [fuse] stem_dw: on, no size limit, in fuse_options; a whole-model knob of sdk tune."""
    from sdk.tune import whole_model
    host = sdk.targets.load_target("host")
    assert dict(whole_model.knobs_of(host))["fuse.stem_dw"] is False
    opts = fdp.fuse_options(host)
    assert opts is not None and opts["stem_dw"] and opts["stem_dw_min_bytes"] == 0
    assert opts["stem_dw_band_bytes"] == 131072
