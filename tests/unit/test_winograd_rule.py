"""Winograd F(m x m, 3 x 3) without a C compiler (sdk/tune/winograd.py): the build-time weight transform and its
packing reproduce a direct convolution through numpy's Winograd (the kernel's B^T, A^T, written independently
here); the default rule's decisions on ResNet-18 / SqueezeNet shapes; which calls are rewritten (3x3, stride 1,
dilation 1, one group, on a profile with a [winograd] table; the epilogue folded); a tuning record decides over
the rule."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from sdk.tune import winograd
from sdk.tune.database import TuningDatabase
from sdk.tune.space import SPACE_VERSION
from sdk.tune.workload import Workload

BT = {2: np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64),
      4: np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                   [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)}
AT = {2: np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64),
      4: np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64)}


def _unpack(U, m, C, M):
    """[a*a, C, M] from pack_weight's panels."""
    a, Cp, Mp = m + 2, -(-C // 16) * 16, -(-M // 16) * 16
    return U.reshape(a * a, Mp // 16, Cp, 16).transpose(0, 2, 1, 3).reshape(a * a, Cp, Mp)[:, :C, :M]


@pytest.mark.parametrize("m", [2, 4])
def test_packed_transform_reproduces_direct_convolution(m):
    rng = np.random.default_rng(m)
    C, M, H, W = 5, 19, 2 * m + 2, 3 * m + 2  # 2 x 3 tiles, no padding; C, M off the 16 granule
    w = rng.standard_normal((M, C, 3, 3)).astype(np.float32)
    x = rng.standard_normal((C, H, W))
    U = winograd.pack_weight(w, m)
    a = m + 2
    Cp, Mp = -(-C // 16) * 16, -(-M // 16) * 16
    assert U.dtype == np.float32 and U.size == a * a * Cp * Mp
    full = U.reshape(a * a, Mp // 16, Cp, 16).transpose(0, 2, 1, 3).reshape(a * a, Cp, Mp)
    assert not full[:, C:, :].any() and not full[:, :, M:].any()  # zero padding rows and columns
    Uq = _unpack(U, m, C, M).astype(np.float64)
    y = np.zeros((M, H - 2, W - 2))
    for ty in range((H - 2) // m):
        for tx in range((W - 2) // m):
            d = x[:, ty * m:ty * m + a, tx * m:tx * m + a]
            V = np.einsum("ij,cjk,lk->cil", BT[m], d, BT[m]).reshape(C, a * a)
            P = np.einsum("cq,qck->kq", V, Uq).reshape(M, a, a)
            y[:, ty * m:ty * m + m, tx * m:tx * m + m] = np.einsum("ij,kjl,ml->kim", AT[m], P, AT[m])
    ref = np.zeros_like(y)
    for i in range(3):
        for j in range(3):
            ref += np.einsum("kc,chw->khw", w[:, :, i, j], x[:, i:i + H - 2, j:j + W - 2])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def _wl(C, M, P):
    return Workload("conv2d", tuple(sorted(dict(N=1, C=C, H=P, W=P, M=M, OH=P, OW=P, KH=3, KW=3, SH=1, SW=1, PH=1,
                                                PW=1, DH=1, DW=1, groups=1, has_bias=1).items())))


RULE = dict(enabled=True, min_channels=16, min_tiles=16, tile4_min_plane=8, cache_bytes=1 << 20)


@pytest.mark.parametrize("C, M, P, tile", [(64, 64, 56, 4), (256, 256, 14, 4), (512, 512, 7, 2), (16, 64, 55, 4),
                                           (8, 64, 56, None), (64, 64, 6, None), (64, 8, 32, None)])
def test_default_rule(C, M, P, tile):
    d = winograd.choose(_wl(C, M, P), RULE)
    assert (d and d["tile"]) == tile
    if d:
        tiles = (-(-P // tile)) ** 2
        assert d["tb"] % winograd.BLOCK == 0 and d["tb"] <= -(-tiles // winograd.BLOCK) * winograd.BLOCK
        a = tile + 2
        assert d["tb"] == winograd.BLOCK or a * a * d["tb"] * 4 * (C + M) <= RULE["cache_bytes"]
    assert winograd.choose(_wl(C, M, P), dict(RULE, enabled=False)) is None


def test_weight_cap():
    """max_weight_bytes: 2x2 tiles where the 4x4 form's transformed weight is over it, im2col where both are."""
    capped = dict(RULE, max_weight_bytes=12 << 20)
    assert winograd.choose(_wl(256, 256, 14), capped)["tile"] == 4             # 9 MiB
    assert winograd.choose(_wl(384, 384, 14), capped)["tile"] == 2             # 20.25 MiB in 4x4, 9 MiB in 2x2
    assert winograd.choose(_wl(512, 512, 7), capped) is None                  # 16 MiB in 2x2
    assert winograd.weight_bytes(4, 512, 512) == winograd.pack_weight(np.zeros((512, 512, 3, 3), np.float32), 4).nbytes


def test_streamed_weight_block():
    """streamed_weight_bytes / streamed_cache_bytes: a layer whose transformed weight has at least the first takes
    its tile block for the second (ResNet-18's 256 -> 256 on 14x14, 4 MiB in 2x2 tiles: one block of all 49 tiles
    instead of 24 a block), smaller weights keep cache_bytes (its 128 -> 128 on 28x28, 2.25 MiB; 64 -> 64 on 56x56);
    the kernel-choice candidates and decisions take the same budget."""
    from sdk.targets import load_target
    from sdk.tune import kernel_choice as kc
    base = dict(RULE, tile4_min_plane=14, max_weight_bytes=8 << 20)
    rule = dict(base, streamed_weight_bytes=4 << 20, streamed_cache_bytes=2 << 20)
    assert winograd.weight_bytes(2, 256, 256) == 4 << 20
    assert winograd.choose(_wl(256, 256, 14), base) == {"algorithm": "winograd", "tile": 2, "tb": 24}
    assert winograd.choose(_wl(256, 256, 14), rule) == {"algorithm": "winograd", "tile": 2, "tb": 60}
    for C, P, tb in ((128, 28, 24), (64, 56, 48)):
        assert winograd.choose(_wl(C, C, P), rule) == winograd.choose(_wl(C, C, P), base)
        assert winograd.choose(_wl(C, C, P), rule)["tb"] == tb
    wl = _wl(256, 256, 14)
    assert kc.winograd_decision({"kernel": "winograd", "tile": 2}, wl, rule)["tb"] == 60
    assert kc.winograd_decision({"kernel": "winograd", "tile": 2, "cache": 1 << 20}, wl, rule)["tb"] == 24
    host = load_target("host").data["winograd"]
    assert winograd.rule_cache_bytes(host, 2, 256, 256) == 2 << 20
    assert winograd.rule_cache_bytes(host, 4, 128, 128) == host["cache_bytes"]
    # in a host build: the streamed layer runs the block of 60, and sdk tune gets the block of cache_bytes (the rule
    # before streamed_cache_bytes) as a candidate, not the 2 MiB one the default already is
    from sdk.backends.host.step_profile import points_of
    built = sdk.compile(_conv_model(C=256, M=256, P=14), name="model")
    assert [s.arg("tb") for s in built.program.steps if s.fn == "sdk_winograd_f32"] == [60]
    (pt,) = points_of(built)
    assert pt.candidates[0] == {"kernel": "winograd", "tile": 2}
    assert {"kernel": "winograd", "tile": 2, "cache": 1 << 20} in pt.candidates
    assert {"kernel": "winograd", "tile": 2, "cache": 2 << 20} not in pt.candidates


def _conv_model(C=32, M=32, P=20, stride=1, group=1, dil=1, act="Relu"):
    rng = np.random.default_rng(0)
    o = (P + 2 - dil * 2 - 1) // stride + 1
    nodes = [h.make_node("Conv", ["x", "W", "b"], ["z"], pads=[1, 1, 1, 1], strides=[stride] * 2, group=group,
                         dilations=[dil] * 2), h.make_node(act, ["z"], ["y"])]
    g = h.make_graph(nodes, "c", [h.make_tensor_value_info("x", T.FLOAT, [1, C, P, P])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, M, o, o])],
                     [nh.from_array(rng.standard_normal((M, C // group, 3, 3)).astype(np.float32), "W"),
                      nh.from_array(rng.standard_normal(M).astype(np.float32), "b")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("what, kw, target, expected", [
    ("3x3 stride 1 + relu", {}, "host", True),
    ("stride 2", dict(stride=2), "host", False),
    ("dilation 2", dict(dil=2), "host", False),
    ("two groups", dict(group=2), "host", False),
    ("few channels", dict(C=4), "host", False),
    ("no [winograd] table", {}, "cortex-m4", False),
    ("phone profile", {}, "android-arm64", True),
    ("browser profile: 32 channels", {}, "wasm32-browser", False),
    ("browser profile: 64 channels", dict(C=64, M=64), "wasm32-browser", True),
])
def test_selection(what, kw, target, expected):
    b = sdk.compile(_conv_model(**kw), target=target)
    fns = [getattr(s, "fn", None) for s in b.program.steps]
    assert ("sdk_winograd_f32" in fns) == expected, (what, fns)
    if expected:
        call = next(s for s in b.program.steps if getattr(s, "fn", None) == "sdk_winograd_f32")
        assert fns == ["sdk_winograd_f32"] and call.arg("act") == 1  # the ReLU is the kernel's epilogue
        names = [c.name for c, _ in b.program.consts]
        assert any(n.endswith("_wino4") for n in names) and "w_W" not in names  # transformed in place of the original


def test_tuning_record_decides():
    """A record naming Winograd (tile 2) turns it on where the rule would not (few tiles). Records of the im2col GEMM
    alone do not turn it off where the rule gives a layer to it (the search never measured this kernel against them,
    and `sdk tune` leaves such layers out); next to a slower Winograd measurement, the im2col record wins."""
    from sdk import pipeline
    from sdk.targets import load_target
    from sdk.tune.space import space_of, target_facts
    from sdk.tune.tuner import extract_tasks
    from sdk.tune.workload import workload_of
    tgt = load_target("host")
    small, big = _conv_model(P=6), _conv_model(P=20)
    assert extract_tasks({"model": big}, tgt, {}) == []  # the rule's Winograd layer: nothing to search

    def wl_of(model):
        f, _ = pipeline.front(model, {}, "model", layout=pipeline.layout_options(tgt))  # as sdk tune sees it
        prog = pipeline.lower(f, options=tgt.data.get("lower"))
        wl, = [w for w in map(lambda s: workload_of(s, {}), prog.steps) if w is not None]
        return wl
    db = TuningDatabase()
    for model, sched in ((small, {"algorithm": "winograd", "tile": 2, "tb": 12}), (big, None)):
        wl = wl_of(model)
        db.add({"hash": wl.hash("host"), "target": "host", "space": SPACE_VERSION, "cost": 1e-6,
                "schedule": sched or space_of(wl, target_facts(tgt)).default()})
    s = sdk.compile(small, tuning_db=db).program.steps
    assert [x.fn for x in s] == ["sdk_winograd_f32"] and s[0].arg("m") == 2
    fns = lambda b: [getattr(x, "fn", None) for x in b.program.steps]  # noqa: E731
    assert "sdk_winograd_f32" in fns(sdk.compile(big, tuning_db=db))  # im2col alone: not compared, the rule stands
    db.add({"hash": wl_of(big).hash("host"), "target": "host", "space": SPACE_VERSION, "cost": 2e-6,
            "schedule": {"algorithm": "winograd", "tile": 4, "tb": 12}})
    assert "sdk_winograd_f32" not in fns(sdk.compile(big, tuning_db=db))  # compared, and im2col was faster
