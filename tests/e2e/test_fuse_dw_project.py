"""Depthwise convolution + pointwise projection fused band by band (sdk/transform/fuse_dw_project.py, runtime_c
sdk_dwpw_nhwc_f32) against onnxruntime on random weights: inverted-residual blocks (1x1 expand + act, KxK depthwise
+ act, 1x1 project [+ residual]) at stride 1 and 2, 3x3 and 5x5, channel counts that are not multiples of any vector
(C = 37, 20; M = 13, 40, 70: a tail, whole vectors, blocks of four), ReLU6 / HardSwish / no activation between the
depthwise and the projection, bands of one row and of several, a symbolic batch. The C bundle on 1 and 2 threads
(bit-equal, -Werror), under AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads, the in-process engine, and
the scalar build (-DSDK_FUSED_SCALAR). A squeeze-excite between depthwise and projection is left alone; the arena
does not grow."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import (SANITIZE_FLAGS, assert_c_threads_agree, assert_engines_and_builds, fan_in_initializer,
                      float_model, ort_run, random_inputs)
from sdk import pipeline
from sdk.transform import fuse_dw_project as fdp
from sdk.transform import layout

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def block_model(C, E, M, H, W, K, S, act, residual, se=False, seed=0):
    """x [n, C, H, W] -> 1x1 C -> C -> expand C -> E (+ReLU6) -> KxK depthwise stride S (+act) [-> squeeze-excite] -> project
    E -> M [+ x]."""
    inits = []
    w = fan_in_initializer(np.random.default_rng(seed), inits)

    inits += [nh.from_array(np.array(0.0, np.float32), "lo"), nh.from_array(np.array(6.0, np.float32), "hi")]
    p = K // 2
    # a 1x1 layer first, so the block's input (the residual) is channels-last too, as inside a network
    nodes = [h.make_node("Conv", ["x", w("Wi", [C, C, 1, 1]), w("bi", [C], 0.1)], ["xi"]),
             h.make_node("Conv", ["xi", w("We", [E, C, 1, 1]), w("be", [E], 0.1)], ["e0"]),
             h.make_node("Clip", ["e0", "lo", "hi"], ["e"]),
             h.make_node("Conv", ["e", w("Wd", [E, 1, K, K]), w("bd", [E], 0.1)], ["d0"], group=E,
                         pads=[p, p, p, p], strides=[S, S])]
    d = "d0"
    if act == "relu6":
        nodes.append(h.make_node("Clip", ["d0", "lo", "hi"], ["d"]))
        d = "d"
    elif act == "hardswish":
        nodes.append(h.make_node("HardSwish", ["d0"], ["d"]))
        d = "d"
    if se:
        nodes += [h.make_node("GlobalAveragePool", [d], ["g"]),
                  h.make_node("Conv", ["g", w("Wf", [E, E, 1, 1]), w("bf", [E], 0.1)], ["f0"]),
                  h.make_node("Sigmoid", ["f0"], ["f"]),
                  h.make_node("Mul", [d, "f"], ["ds"])]
        d = "ds"
    nodes.append(h.make_node("Conv", [d, w("Wp", [M, E, 1, 1]), w("bp", [M], 0.1)], ["p0"]))
    OH, OW = (H + 2 * p - K) // S + 1, (W + 2 * p - K) // S + 1
    if residual:
        assert S == 1 and M == C
        nodes.append(h.make_node("Add", ["p0", "xi"], ["y"]))
    else:
        nodes.append(h.make_node("Relu", ["p0"], ["y"]))  # an activation after the projection: its epilogue
    return float_model(nodes, "ir", {"x": ["n", C, H, W]}, {"y": ["n", M, OH, OW]}, inits)


# C, E, M, H, W, K, S, act, residual, band_bytes, extra build: "sanitize" (ASan + UBSan, 2 threads) or "scalar"
# (-DSDK_FUSED_SCALAR, 1 thread); one extra build a case, since each bundle build compiles sdk_kernels.c again
CASES = [(13, 37, 13, 9, 11, 3, 1, "relu6", True, 1, "sanitize"),     # one-row bands, tails everywhere, residual
         (20, 48, 40, 12, 13, 3, 2, "relu6", False, 4096, "scalar"),  # stride 2, M = 40: 2 vectors + a tail (16 lanes)
         (16, 70, 70, 10, 7, 5, 1, "hardswish", False, 1 << 20, "sanitize"),  # 5x5, 2-row bands, M = 70: 4 + 1
         (24, 40, 24, 15, 15, 5, 2, None, False, 2000, "scalar")]     # 5x5 stride 2, no activation between


@pytest.mark.parametrize("case", CASES)
def test_fused_blocks_match_onnxruntime(case, tmp_path, monkeypatch):
    C, E, M, H, W, K, S, act, residual, band_bytes, extra = case
    m = block_model(C, E, M, H, W, K, S, act, residual)
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # a lone block has more borders than a net's
    monkeypatch.setattr(fdp, "fuse_options", lambda tgt: {"dw_project": True, "band_bytes": band_bytes, "slots": 2})
    monkeypatch.setattr(pipeline, "fuse_options", fdp.fuse_options)
    b = sdk.compile(m, dims={"n": 3})
    fused = [x for x in b.program.func.bindings if x.op == "DwProjectNHWC"]
    assert len(fused) == 1 and "ConvNHWC" in [x.op for x in b.program.func.bindings]  # the expand stays a GEMM
    OW = (W + 2 * (K // 2) - K) // S + 1
    OH = (H + 2 * (K // 2) - K) // S + 1
    assert fused[0].attrs["band_rows"] == max(1, min(OH, band_bytes // (OW * E * 4), OH // 4))  # 2 slots: half of D
    call = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_dwpw_nhwc_f32")
    assert (call.arg("R") is not None) == residual and call.arg("act") == (0 if residual else 1)  # folded epilogue
    build = (dict(cflags=" ".join(SANITIZE), threads=2) if extra == "sanitize" else
             dict(extra_cflags=["-DSDK_FUSED_SCALAR", "-Werror"], threads=1))
    assert_engines_and_builds(b, m, tmp_path / "m", [build], RTOL, ATOL, builds_at=({"n": 3}, 2))


def test_squeeze_excite_between_is_not_fused_and_arena_does_not_grow(monkeypatch):
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    on_opts = {"dw_project": True, "band_bytes": 65536, "slots": 2}
    monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: on_opts)
    m = block_model(16, 48, 24, 14, 14, 3, 1, "hardswish", False, se=True)
    assert "DwProjectNHWC" not in [x.op for x in sdk.compile(m, dims={"n": 1}).program.func.bindings]
    m = block_model(16, 96, 16, 28, 28, 3, 1, "relu6", True)
    on = sdk.compile(m, dims={"n": 1})
    assert "DwProjectNHWC" in [x.op for x in on.program.func.bindings]
    monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: None)
    off = sdk.compile(m, dims={"n": 1})
    # the host profile ships with this fusion off (no whole-model gain measured yet; its expansion + depthwise
    # fusion, pw_dw, is on: tests/e2e/test_fuse_pw_dw.py)
    host_opts = fdp.fuse_options(sdk.targets.load_target("host"))
    assert host_opts is None or not host_opts.get("dw_project")
    assert "DwProjectNHWC" not in [x.op for x in off.program.func.bindings]
    assert on.plan.arena_bytes <= off.plan.arena_bytes


def test_host_rule_fuses_3x3_stride_2_blocks_with_a_small_projection(monkeypatch):
    """The host profile's rule on the shape (targets/host.toml [fuse], the pass turned on): 3x3 stride-2
    depthwise, projection weight at most max_weight_bytes; stride 1, 5x5 and a large projection stay two kernels.
    The arena does not grow."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    host = dict(sdk.targets.load_target("host").data["fuse"], dw_project=True)
    assert host["dw_strides"] == [2] and host["dw_kernels"] == [3]

    def fused(m, opts):
        monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: opts)
        b = sdk.compile(m, dims={"n": 1})
        return [x for x in b.program.func.bindings if x.op == "DwProjectNHWC"], b.plan.arena_bytes

    small = block_model(16, 96, 24, 28, 28, 3, 2, "relu6", False)  # 96 -> 24: 9 KB of projection weight
    on, on_arena = fused(small, host)
    assert len(on) == 1 and fused(small, None)[1] >= on_arena
    assert fused(block_model(16, 96, 24, 28, 28, 3, 1, "relu6", False), host)[0] == []  # stride 1
    assert fused(block_model(16, 96, 24, 28, 28, 5, 2, "relu6", False), host)[0] == []  # 5x5
    big = block_model(16, 576, 160, 14, 14, 3, 2, "relu6", False)  # 576 -> 160: 368 KB
    assert fused(big, host)[0] == [] and len(fused(big, dict(host, max_weight_bytes=1 << 20))[0]) == 1


def test_blocks_are_a_tuning_decision(tmp_path, monkeypatch):
    """With the pass off and the host's ``[tune] dw_project_choice``, each block is a kernel-choice point (the pair
    of steps, the default, or the fused call): an untuned build keeps the pair, both of its steps carrying the block's
    point (the step timer's sites); a database whose records measured the fused step faster by more than the margin
    fuses that block (its one step carrying the point), one whose fused step was within the margin keeps the pair.
    ``sdk tune``'s variant builds measure both forms of the block; the fused build agrees with onnxruntime on 1 and 2
    threads (bit-equal)."""
    from sdk.backends.host.step_profile import measure_choices, points_of
    from sdk.tune import kernel_choice as kc
    from sdk.tune.database import TuningDatabase
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    host = sdk.targets.load_target("host")
    assert host.data["tune"]["dw_project_choice"] and not (fdp.fuse_options(host) or {}).get("dw_project")
    m = block_model(16, 96, 24, 28, 28, 3, 2, "relu6", False)
    base = sdk.compile(m, dims={"n": 1})
    assert "DwProjectNHWC" not in [x.op for x in base.program.func.bindings]
    (pt,) = points_of(base)
    assert [kc.label(c) for c in pt.candidates] == ["pair", "fused"] and kc.label(pt.chosen) == "pair"
    assert str(pt.wl) == "dwpw 28x28x96 3x3/s2 -> 24"
    carriers = [s.fn for s in base.program.steps if getattr(s, "choice", None) is pt]
    assert len(carriers) == 2 and carriers[0] == "sdk_dwconv2d_nhwc_f32", carriers  # the depthwise, the projection

    def built(fused_us):
        db = TuningDatabase(tmp_path / f"db{fused_us}.jsonl")
        for c, us in ((fdp.PAIR, 100.0), (fdp.FUSED, fused_us)):
            db.add({"hash": pt.hash("host"), "target": "host", "workload": pt.wl.key(), "site": pt.site,
                    "choice": kc.CHOICE_VERSION, "schedule": c, "cost": us * 1e-6, "unit": "s", "confirm": 1})
        return sdk.compile(m, dims={"n": 1}, tuning_db=db)

    assert "DwProjectNHWC" not in [x.op for x in built(98.0).program.func.bindings]  # within tie_margin (0.03)
    b = built(90.0)
    assert "DwProjectNHWC" in [x.op for x in b.program.func.bindings]
    (fpt,) = points_of(b)
    assert kc.label(fpt.chosen) == "fused"
    assert [s.fn for s in b.program.steps if getattr(s, "choice", None) is fpt] == ["sdk_dwpw_nhwc_f32"]
    feeds = random_inputs(m, {"n": 1}, 3)
    ref = ort_run(m, feeds)
    assert_c_threads_agree(b.save(tmp_path / "fused"), feeds, ref, RTOL, ATOL)
    # sdk tune's measurement: variant 0 (the pair) and variant 1 (fused), the block's sites summed in each
    points, costs, info = measure_choices(m, dims={"n": 1}, budget_s=0.0, min_rounds=1, max_rounds=1, repeat=2,
                                          workdir=tmp_path / "choices")
    (mp,) = points
    assert info["variants"] == 2 and set(costs[mp.hash("host")]) == {kc.key(fdp.PAIR), kc.key(fdp.FUSED)}
    assert all(t > 0 for t in costs[mp.hash("host")].values())
