"""Pointwise expansion + depthwise convolution fused band by band (sdk/transform/fuse_dw_project.py fuse_pw_dw,
runtime_c sdk_pwdw_nhwc_f32) against onnxruntime on random weights: inverted-residual blocks at stride 2 and 1, 3x3
and 5x5, channel counts that are not multiples of a vector (E = 37, 70: a tail; 48: whole vectors), ReLU6 /
HardSwish / SiLU (x * Sigmoid(x)) / no activation between, bands of one row and of several (the rows two bands share carried over), a
batch of 2 and 3 images (bands that cross an image), the depthwise's own activation and a residual after it folded
as its epilogue, the depthwise's strip form (stride 1, 5x5: partial last strips, tail vectors, one-row bands, rows
too narrow for a strip). The C bundle on 1 and 2 threads (bit-equal, -Werror), under AddressSanitizer +
UndefinedBehaviorSanitizer on 2 threads or the scalar build (-DSDK_FUSED_SCALAR), the in-process engine. The arena
does not grow; the host profile's rule fuses 3x3 chains with an expanded tensor of 1 MiB or more (4 MiB with a SiLU
between); larger chains are a tuning decision (``[tune] pw_dw_choice``)."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import (SANITIZE_FLAGS, assert_engines_and_builds, assert_outputs_close, fan_in_initializer,
                      float_model, ort_run, random_inputs)
from sdk import pipeline
from sdk.transform import fuse_dw_project as fdp
from sdk.transform import layout

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def block_model(C, E, M, H, W, K, S, act, dw_act="relu6", seed=0, res=False):
    """x [n, C, H, W] -> 1x1 C -> C -> expand C -> E (+act) -> KxK depthwise stride S (+ a 1x1 stride-S branch of
    the stem's output where ``res``: the depthwise's residual) (+dw_act) -> project E -> M."""
    inits = []
    w = fan_in_initializer(np.random.default_rng(seed), inits)

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
    if res:
        nodes += [h.make_node("Conv", ["xi", w("Wr", [E, C, 1, 1])], ["r0"], strides=[S, S]),
                  h.make_node("Add", ["d0", "r0"], ["d1"])]
        d = "d1"
    if dw_act == "relu6":
        nodes.append(h.make_node("Clip", [d, "lo", "hi"], ["d"]))
        d = "d"
    elif dw_act == "hardswish":
        nodes.append(h.make_node("HardSwish", [d], ["d"]))
        d = "d"
    elif dw_act == "silu":
        nodes += [h.make_node("Sigmoid", [d], ["ds"]), h.make_node("Mul", ["ds", d], ["d"])]
        d = "d"
    nodes.append(h.make_node("Conv", [d, w("Wp", [M, E, 1, 1]), w("bp", [M], 0.1)], ["p0"]))
    OH, OW = (H + 2 * p - K) // S + 1, (W + 2 * p - K) // S + 1
    nodes.append(h.make_node("Relu", ["p0"], ["y"]))
    return float_model(nodes, "ir", {"x": ["n", C, H, W]}, {"y": ["n", M, OH, OW]}, inits)


# C, E, M, H, W, K, S, act, dw_act, band_bytes, extra build: "sanitize" (ASan + UBSan, 2 threads) or "scalar"
CASES = [(16, 48, 24, 13, 12, 3, 2, "relu6", "relu6", 1, "sanitize"),      # one-row bands, odd H at stride 2
         (13, 37, 13, 11, 9, 3, 1, "silu", None, 20000, "scalar"),          # stride 1, E = 37: a tail; SiLU
         (20, 70, 24, 15, 10, 5, 2, "hardswish", "silu", 40000, "sanitize"),  # 5x5 stride 2, E = 70: 4 + 1 vectors
         (8, 40, 16, 9, 16, 5, 1, "relu6", "relu6", 1 << 20, "scalar"),     # one band a slot, 5x5 stride 1
         # the strip form of the depthwise (stride 1, 5x5): OW = 13 (a last strip that overlaps the one before),
         # E = 40 (AVX-512: two vectors and a tail vector overlapping the second), bands of 5 rows of 29 across
         # images, HardSwish between
         (12, 40, 16, 29, 13, 3, 1, "hardswish", "relu6", 20000, "sanitize"),
         (10, 33, 12, 9, 16, 5, 2, "relu6", "hardswish", 1, "sanitize"),     # 5x5/2 strips, one-row bands (no pairs)
         (8, 24, 8, 7, 6, 3, 1, "silu", "silu", 4000, "scalar"),           # OW = 6 < a strip: the per-row form
         (16, 48, 16, 30, 12, 3, 1, "relu6", "relu6", 30000, "sanitize", "res")]  # an Add after the depthwise


@pytest.mark.parametrize("case", CASES)
def test_fused_blocks_match_onnxruntime(case, tmp_path, monkeypatch):
    C, E, M, H, W, K, S, act, dw_act, band_bytes, extra, *res = case
    m = block_model(C, E, M, H, W, K, S, act, dw_act, res=bool(res))
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)  # a lone block has more borders than a net's
    monkeypatch.setattr(fdp, "fuse_options", lambda tgt: {"pw_dw": True, "dw_project": False,
                                                         "pw_dw_band_bytes": band_bytes, "slots": 2})
    monkeypatch.setattr(pipeline, "fuse_options", fdp.fuse_options)
    b = sdk.compile(m, dims={"n": 3})
    fused = [x for x in b.program.func.bindings if x.op == "PwDwNHWC"]
    assert len(fused) == 1 and "DwProjectNHWC" not in [x.op for x in b.program.func.bindings]
    call = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_pwdw_nhwc_f32")
    # the depthwise's Clip / SiLU folded as the call's epilogue
    if not res:  # (an Add after the depthwise folds into the residual branch's convolution, run after the call)
        assert call.arg("act") == {"relu6": 2, "hardswish": 4, "silu": 6, None: 0}[dw_act]
    build = (dict(cflags=" ".join(SANITIZE), threads=2) if extra == "sanitize" else
             dict(extra_cflags=["-DSDK_FUSED_SCALAR", "-Werror"], threads=1))
    assert_engines_and_builds(b, m, tmp_path / "m", [build], RTOL, ATOL, builds_at=({"n": 3}, 2))


def test_host_rule_fuses_3x3_chains_and_arena_does_not_grow(monkeypatch):
    """targets/host.toml [fuse]: pw_dw on, 3x3 depthwise at stride 1 and 2 of an expanded tensor of 1 MiB or more
    (4 MiB with a SiLU between); the arena is not larger than unfused."""
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    host = sdk.targets.load_target("host")
    opts = fdp.fuse_options(host)
    assert opts is not None and opts["pw_dw"] and not opts["dw_project"]
    assert opts["pw_dw_strides"] == [1, 2] and opts["pw_dw_kernels"] == [3] and opts["pw_dw_min_bytes"] == 1 << 20
    assert opts["pw_dw_silu_min_bytes"] == 4 << 20

    def fused(m, o):
        monkeypatch.setattr(pipeline, "fuse_options", lambda tgt: o)
        b = sdk.compile(m, dims={"n": 1})
        return [x for x in b.program.func.bindings if x.op == "PwDwNHWC"], b.plan.arena_bytes

    for s in (2, 1):
        blk = block_model(16, 96, 24, 56, 56, 3, s, "relu6")
        on, on_arena = fused(blk, opts)
        assert len(on) == 1 and fused(blk, None)[1] >= on_arena
    assert fused(block_model(16, 96, 24, 56, 56, 5, 2, "relu6"), opts)[0] == []  # 5x5
    assert fused(block_model(16, 96, 24, 40, 40, 3, 2, "relu6"), opts)[0] == []  # 0.6 MB expanded: stays in L2
    assert fused(block_model(16, 96, 24, 56, 56, 3, 1, "silu"), opts)[0] == []  # 1.2 MB with SiLU
    assert len(fused(block_model(16, 96, 24, 112, 112, 3, 2, "silu"), opts)[0]) == 1  # 4.8 MB with SiLU


def test_expansion_chains_are_a_tuning_decision(tmp_path, monkeypatch):
    """The host's ``[tune] pw_dw_choice``: each chain of an expanded tensor of ``pw_dw_choice_min_bytes`` or more is a
    kernel-choice point, the rule's form the default (a 3x3 stride-1 chain: fused; a 5x5 one: the pair). A database
    whose records measured the other form faster by more than the margin builds that one (the pair's two steps, the
    expansion and the depthwise, carry the point; the depthwise is then no depthwise + projection point), one within
    the margin keeps the rule's. ``sdk tune``'s variant builds time both forms."""
    from sdk.backends.host.step_profile import measure_choices, points_of
    from sdk.tune import kernel_choice as kc
    from sdk.tune.database import TuningDatabase
    monkeypatch.setattr(layout, "BORDER_PER_DEPTHWISE", 8)
    host = sdk.targets.load_target("host")
    assert host.data["tune"]["pw_dw_choice"] and host.data["tune"]["pw_dw_choice_min_bytes"] == 1 << 20
    m = block_model(16, 96, 24, 56, 56, 3, 1, "relu6")  # 56 x 56 x 96: 1.2 MB expanded

    def pwdw_points(b):
        return [p for p in points_of(b) if p.wl.kind == "pwdw"]

    base = sdk.compile(m, dims={"n": 1})
    (pt,) = pwdw_points(base)
    assert [kc.label(c) for c in pt.candidates] == ["fused", "pair"] and kc.label(pt.chosen) == "fused"
    assert str(pt.wl) == "pwdw 56x56x16 -> 96 3x3/s1"
    assert [s.fn for s in base.program.steps if getattr(s, "choice", None) is pt] == ["sdk_pwdw_nhwc_f32"]

    def built(pair_us, model=m, p=pt):
        db = TuningDatabase(tmp_path / f"db{pair_us}.jsonl")
        for c, us in ((fdp.FUSED, 100.0), (fdp.PAIR, pair_us)):
            db.add({"hash": p.hash("host"), "target": "host", "workload": p.wl.key(), "site": p.site,
                    "choice": kc.CHOICE_VERSION, "schedule": c, "cost": us * 1e-6, "unit": "s", "confirm": 1})
        return sdk.compile(model, dims={"n": 1}, tuning_db=db)

    assert "PwDwNHWC" in [x.op for x in built(98.0).program.func.bindings]  # within tie_margin (0.03)
    b = built(90.0)
    assert "PwDwNHWC" not in [x.op for x in b.program.func.bindings]
    (ppt,) = pwdw_points(b)
    assert kc.label(ppt.chosen) == "pair"
    carriers = [s.fn for s in b.program.steps if getattr(s, "choice", None) is ppt]
    assert len(carriers) == 2 and carriers[1] == "sdk_dwconv2d_nhwc_f32", carriers  # the expansion, the depthwise
    assert not [p for p in points_of(b) if p.wl.kind == "dwpw"]
    feeds = random_inputs(m, {"n": 1}, 3)
    assert_outputs_close(b.run(feeds, engine="c"), ort_run(m, feeds), RTOL, ATOL)
    # outside the rule (5x5): the pair by default, fused where measured faster
    m5 = block_model(16, 96, 24, 56, 56, 5, 1, "relu6")
    (pt5,) = pwdw_points(sdk.compile(m5, dims={"n": 1}))
    assert [kc.label(c) for c in pt5.candidates] == ["pair", "fused"] and kc.label(pt5.chosen) == "pair"
    db = TuningDatabase(tmp_path / "db5.jsonl")
    for c, us in ((fdp.PAIR, 100.0), (fdp.FUSED, 90.0)):
        db.add({"hash": pt5.hash("host"), "target": "host", "workload": pt5.wl.key(), "site": pt5.site,
                "choice": kc.CHOICE_VERSION, "schedule": c, "cost": us * 1e-6, "unit": "s", "confirm": 1})
    assert "PwDwNHWC" in [x.op for x in sdk.compile(m5, dims={"n": 1}, tuning_db=db).program.func.bindings]
    # below pw_dw_choice_min_bytes (28 x 28 x 96: 0.3 MB): no point
    assert not pwdw_points(sdk.compile(block_model(16, 96, 24, 28, 28, 3, 1, "relu6"), dims={"n": 1}))
    # sdk tune's measurement: variant 0 (fused) and variant 1 (the pair), the chain's sites summed in each
    points, costs, info = measure_choices(m, dims={"n": 1}, budget_s=0.0, min_rounds=1, max_rounds=1, repeat=2,
                                          workdir=tmp_path / "choices")
    (mp,) = [p for p in points if p.wl.kind == "pwdw"]
    assert info["variants"] >= 2 and set(costs[mp.hash("host")]) == {kc.key(fdp.PAIR), kc.key(fdp.FUSED)}
    assert all(t > 0 for t in costs[mp.hash("host")].values())


HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "sdk_fused.h"
static float *rd(size_t n) { float *p = malloc(n * sizeof(float)); if (fread(p, sizeof(float), n, stdin) != n) exit(2); return p; }
int main(int argc, char **argv) {
  int64_t v[11];
  if (argc != 12) return 1;
  for (int i = 0; i < 11; ++i) v[i] = atoll(argv[i + 1]);
  const int64_t N = v[0], H = v[1], W = v[2], K = v[3], C = v[4], KH = v[5], S = v[6], act = v[7], BH = v[8], slots = v[9];
  const int64_t e_act = v[10], Cp = (C + 15) / 16 * 16, P = KH / 2, OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KH) / S + 1;
  float *X = rd(N * H * W * K), *B = rd(K * Cp), *be = rd(Cp), *Wd = rd(KH * KH * C), *bd = rd(C), *R = rd(N * OH * OW * C);
  float *Y = malloc(N * OH * OW * C * sizeof(float)), *sc = malloc(slots * ((BH - 1) * S + KH) * W * C * sizeof(float));
  sdk_pwdw_nhwc_f32(N, H, W, K, C, Cp, X, B, be, e_act, 0.0f, 6.0f, OH, OW, KH, KH, S, S, P, P, Wd, bd, BH, slots, R, act,
                    0.0f, 6.0f, Y, sc);
  fwrite(Y, sizeof(float), N * OH * OW * C, stdout);
  return 0;
}
"""


def _act(v, code):
    return {0: v, 2: np.clip(v, 0, 6), 4: v * np.clip(v / 6 + 0.5, 0, 1), 6: v / (1 + np.exp(-v))}[code]


@pytest.mark.parametrize("geom", [(2, 29, 13, 12, 40, 3, 1, 2, 5, 2, 4),    # strips, partial strip, a tail vector
                                  (1, 17, 11, 10, 37, 5, 1, 6, 3, 2, 2),    # 5x5 strips, E = 37
                                  (3, 9, 16, 8, 33, 5, 2, 4, 1, 2, 6),      # 5x5/2 one-row bands
                                  (1, 12, 6, 8, 24, 3, 1, 2, 4, 1, 0)])     # OW = 6: the per-row form
def test_residual_and_activation_in_the_call(geom, tmp_path):
    """sdk_pwdw_nhwc_f32 called directly with a residual R (added before the activation, in registers in the strip
    form) against numpy, built with AddressSanitizer + UndefinedBehaviorSanitizer and -Werror on 2 threads."""
    import subprocess
    from sdk.resources import RUNTIME
    N, H, W, K, C, KH, S, act, BH, slots, e_act = geom
    P, Cp = KH // 2, -(-C // 16) * 16
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KH) // S + 1
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, H, W, K)).astype(np.float32)
    B = np.zeros((K, Cp), np.float32)
    B[:, :C] = rng.standard_normal((K, C)) / np.sqrt(K)
    be = (0.1 * rng.standard_normal(Cp)).astype(np.float32)
    Wd = rng.standard_normal((KH * KH, C)).astype(np.float32) / KH
    bd = (0.1 * rng.standard_normal(C)).astype(np.float32)
    R = rng.standard_normal((N, OH, OW, C)).astype(np.float32)
    (tmp_path / "h.c").write_text(HARNESS)
    exe = tmp_path / "h"
    subprocess.run(["gcc", *SANITIZE, "-O1", "-march=native", "-ffp-contract=fast", f"-I{RUNTIME / 'include'}",
                    str(tmp_path / "h.c"), str(RUNTIME / "src" / "sdk_fused.c"), "-lm", "-o", str(exe)], check=True)
    blob = b"".join(a.tobytes() for a in (X, B, be, Wd, bd, R))
    out = subprocess.run([str(exe), *map(str, geom)], input=blob, capture_output=True, check=True,
                         env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin", "ASAN_OPTIONS": "detect_leaks=0"})
    Y = np.frombuffer(out.stdout, np.float32).reshape(N, OH, OW, C)
    E = _act(X.astype(np.float64) @ B[:, :C] + be[:C], e_act)
    Ep = np.pad(E, ((0, 0), (P, P), (P, P), (0, 0)))
    D = np.zeros((N, OH, OW, C)) + bd
    for kh in range(KH):
        for kw in range(KH):
            D += Wd[kh * KH + kw] * Ep[:, kh:kh + S * (OH - 1) + 1:S, kw:kw + S * (OW - 1) + 1:S]
    np.testing.assert_allclose(Y, _act(D + R, act), rtol=1e-4, atol=1e-4)
