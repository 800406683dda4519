"""Per-layer kernel choice (sdk/tune/kernel_choice.py): every candidate kernel a convolution can run builds from a
record and matches onnxruntime, the record is what the build applies, the default wins ties, records of another
version or of an unknown kernel are rejected with a warning, and the in-bundle measurement records every candidate."""
import json
import warnings

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.backends.host.step_profile import forced_db, measure_choices, points_of
from sdk.targets import load_target
from sdk.tune import kernel_choice as kc
from sdk.tune.database import TuningDatabase


def conv_model(seed=0):
    """Six convolutions, each a choice point of another kind."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def conv(x, cin, cout, k, s, p, g, name):
        w = (rng.standard_normal((cout, cin // g, k, k)) / np.sqrt(cin // g * k * k)).astype(np.float32)
        b = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        inits.extend([nh.from_array(w, name + "_w"), nh.from_array(b, name + "_b")])
        nodes.append(h.make_node("Conv", [x, name + "_w", name + "_b"], [name + "_c"], kernel_shape=[k, k],
                                 strides=[s, s], pads=[p] * 4, group=g))
        nodes.append(h.make_node("Relu", [name + "_c"], [name]))
        return name
    x = conv("x", 3, 16, 3, 1, 1, 1, "stem")   # direct (stem) by the rule; Winograd 4x4 / 2x2, GEMM
    x = conv(x, 16, 32, 3, 1, 1, 1, "c3")      # 3x3 stride 1 on 24x24: Winograd 4x4 by the rule
    x = conv(x, 32, 32, 1, 1, 0, 1, "pw24")    # 1x1 on 24x24 (whole vectors along the plane): GEMM; rows
    x = conv(x, 32, 32, 3, 2, 1, 4, "grp")     # grouped, stride 2: direct
    x = conv(x, 32, 32, 3, 2, 1, 1, "s2")      # 3x3 stride 2 on 12x12 -> 6x6: spatial rows, 12 x 2 (two rows); 6 x 2
    x = conv(x, 32, 64, 1, 1, 0, 1, "pw")      # 1x1 on 6x6: spatial rows
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 24, 24])],
                     [h.make_tensor_value_info(x, T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.fixture(scope="module")
def model():
    return conv_model()


def _choice_steps(b):
    return [s for s in b.program.steps if getattr(s, "choice", None) is not None]


def _kernel_of(step) -> str:
    """What the built step runs, read off the step itself (not its ChoicePoint)."""
    if step.fn == "sdk_winograd_f32":
        return f"winograd{step.arg('m')}"
    s = step.schedule or {}
    if s.get("direct"):
        return "direct"
    if s.get("trans") or s.get("planes"):
        alt = [c for c in step.choice.candidates if c.get("kernel") == "spatial" and c.get("tile")]  # the other tile
        if alt and s.get("trans") and [s["mr"], s["nv"]] == alt[0]["tile"]:
            return kc.label(alt[0])
        return "rows" if step.choice.candidates[0] == {"kernel": "gemm"} else "spatial"
    return "gemm"


def test_untuned_build_has_choice_points_with_the_rule_first(model):
    b = sdk.compile(model, name="model")
    pts = points_of(b)
    labels = {p.site.split(":")[1]: [kc.label(c) for c in p.candidates] for p in pts}
    assert len(pts) == 6, pts
    for s in _choice_steps(b):  # the untuned build runs each point's default, the rule's kernel
        assert s.choice.chosen == s.choice.candidates[0] and _kernel_of(s) == kc.label(s.choice.chosen), s.choice
    kinds = {tuple(v) for v in labels.values()}
    # c3: Winograd by the rule; spatial rows (space._wide_rows: 12 x 2, two rows of 24 / 2; 8 x 2 the other) and the
    # GEMM the other candidates
    assert ("winograd4", "winograd2", "direct", "spatial", "spatial8x2", "gemm") in kinds
    assert ("direct", "gemm") in kinds and ("spatial", "gemm") in kinds
    assert ("spatial", "spatial6x2", "gemm") in kinds  # s2: 12 x 2 (two rows of 6) by the rule, 6 x 2 the other
    assert ("gemm", "rows") in kinds  # pw24: the GEMM by the rule, spatial rows the other candidate
    assert all("gemm" in v for v in labels.values())


def test_every_candidate_builds_from_a_record_and_matches_onnxruntime(model, tmp_path):
    feeds = random_inputs(model, {}, seed=3)
    ref = ort_run(model, feeds)
    base = points_of(sdk.compile(model, name="model"))
    n = max(len(p.candidates) for p in base)
    seen = set()
    for k in range(1, n):
        db = forced_db(base, k, "host", tmp_path / f"f{k}.jsonl")
        b = sdk.compile(model, name="model", tuning_db=db)
        for s in _choice_steps(b):
            want = s.choice.candidates[k] if k < len(s.choice.candidates) else s.choice.candidates[0]
            assert s.choice.chosen == want and _kernel_of(s) == kc.label(want), (k, s.choice, _kernel_of(s))
            seen.add(kc.label(want))
        got, _ = b.run_with_info(feeds, engine="c")
        assert_outputs_close(got, ref, rtol=1e-3, atol=1e-4)
    assert seen == {"winograd4", "winograd2", "direct", "spatial", "spatial6x2", "spatial8x2", "gemm", "rows"}


def _c3(model):
    return next(p for p in points_of(sdk.compile(model, name="model")) if p.candidates[0].get("kernel") == "winograd")


def _rec(p, c, cost, version=kc.CHOICE_VERSION):
    return {"hash": p.hash("host"), "target": "host", "workload": p.wl.key(), "site": p.site, "choice": version,
            "schedule": c, "cost": cost, "unit": "s", "confirm": 1}


def test_default_wins_ties_and_a_faster_record_is_applied(model, tmp_path):
    p = _c3(model)
    margin = load_target("host").data["tune"]["tie_margin"]
    w2 = {"kernel": "winograd", "tile": 2}
    for cost, want in ((1.0 - margin / 2, "winograd4"), (1.0 - 2 * margin, "winograd2")):
        db = TuningDatabase(tmp_path / f"db{cost}.jsonl")
        db.add_many([_rec(p, p.candidates[0], 1e-3), _rec(p, w2, cost * 1e-3)])
        b = sdk.compile(model, name="model", tuning_db=db)
        s = next(s for s in _choice_steps(b) if s.choice.site == p.site)
        assert _kernel_of(s) == want, (cost, s.choice)
    # 2x the margin faster, but the measurement's A/A control read 3x the margin of noise: the default
    db = TuningDatabase(tmp_path / "noisy.jsonl")
    db.add_many([dict(_rec(p, p.candidates[0], 1e-3), noise=3 * margin), dict(_rec(p, w2, (1.0 - 2 * margin) * 1e-3),
                                                                           noise=3 * margin)])
    s = next(s for s in _choice_steps(sdk.compile(model, name="model", tuning_db=db)) if s.choice.site == p.site)
    assert _kernel_of(s) == "winograd4"
    # a record of a candidate without the default measured in the same records: the default
    db = TuningDatabase(tmp_path / "alone.jsonl")
    db.add(_rec(p, w2, 1e-9))
    s = next(s for s in _choice_steps(sdk.compile(model, name="model", tuning_db=db)) if s.choice.site == p.site)
    assert _kernel_of(s) == "winograd4"


@pytest.mark.parametrize("bad,msg", [(dict(version=0), "kernel-choice version 0"),
                                     (dict(c={"kernel": "fft"}), "unknown kernel"),
                                     (dict(c={"kernel": "winograd", "tile": 6}), "unknown kernel")])
def test_old_and_unknown_records_are_rejected_clearly(model, tmp_path, bad, msg):
    p = _c3(model)
    db = TuningDatabase(tmp_path / "db.jsonl")
    c = bad.get("c", {"kernel": "gemm"})
    db.add_many([_rec(p, p.candidates[0], 1.0, bad.get("version", kc.CHOICE_VERSION)),
                 _rec(p, c, 0.1, bad.get("version", kc.CHOICE_VERSION))])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        b = sdk.compile(model, name="model", tuning_db=db)
    text = " ".join(str(x.message) for x in w)
    assert msg in text and "rejected" in text and "sdk tune" in text, text
    s = next(s for s in _choice_steps(b) if s.choice.site == p.site)
    assert _kernel_of(s) == "winograd4"  # the default


def test_measured_choices_are_recorded_and_the_build_takes_them(model, tmp_path):
    """The in-bundle measurement (variant builds with the step timer) gives every candidate of every point a cost;
    the records it writes make a build that takes ``pick_costs``' choice and still matches onnxruntime."""
    pts, costs, info = measure_choices(model, name="model", budget_s=0.0, min_rounds=1, repeat=3,
                                       workdir=tmp_path / "wd")
    assert info["variants"] == max(len(p.candidates) for p in pts) and info["rounds"] == 1
    for p in pts:
        cs = costs[p.hash("host")]
        assert {kc.key(c) for c in p.candidates} == set(cs) and all(0 < t < 1 for t in cs.values()), (p, cs)
    # the A/A control (variant 0 again): a noise figure for every measured workload, kept in its records
    noise = info["noise"]
    assert set(noise) == {p.hash("host") for p in pts} and all(0 <= v < 10 for v in noise.values()), noise
    db = TuningDatabase(tmp_path / "db.jsonl")
    db.add_many(kc.records(pts, costs, "host", noise=noise))
    recs = [json.loads(x) for x in (tmp_path / "db.jsonl").read_text().splitlines()]
    assert len(recs) == sum(len(p.candidates) for p in pts) and all(r["choice"] == kc.CHOICE_VERSION for r in recs)
    assert all(r["noise"] == round(noise[r["hash"]], 4) for r in recs)
    b = sdk.compile(model, name="model", tuning_db=db)
    margin = load_target("host").data["tune"]["tie_margin"]
    for s in _choice_steps(b):  # a candidate must beat the default by the margin and by the control's noise
        h = s.choice.hash("host")
        want = kc.pick_costs(costs[h], s.choice.candidates, max(margin, round(noise[h], 4)))
        assert _kernel_of(s) == kc.label(want), (s.choice, costs[h], noise[h])
    feeds = random_inputs(model, {}, seed=4)
    got, _ = b.run_with_info(feeds, engine="c")
    assert_outputs_close(got, ort_run(model, feeds), rtol=1e-3, atol=1e-4)


def test_variant_builds_keep_to_the_time_budget(model, tmp_path):
    """A budget smaller than one build stops the variant builds after the untuned one (they ran past the budget
    before: 500 s of a 150 s share on ResNet-18): nothing measured, no records, the variants left out counted."""
    calls = []

    def compile_fn(db):
        calls.append(db)
        return sdk.compile(model, name="model", tuning_db=db)
    pts, costs, info = measure_choices(model, name="model", budget_s=1e-3, min_rounds=1, repeat=3,
                                       workdir=tmp_path / "wd", compile_fn=compile_fn)
    n = max(len(p.candidates) for p in pts)
    assert n > 1 and len(calls) == 1 and calls[0] is None
    assert costs == {} and kc.records(pts, costs, "host") == []
    assert info["variants"] == 1 and info["skipped"] == n - 1 and info["rounds"] == 0


def test_winograd_tile_block_candidate_builds_and_matches_onnxruntime(tmp_path):
    """``[tune] winograd_cache_bytes``: the rule's Winograd tile with a tile block sized for another cache budget is a
    candidate where the block differs (128 -> 128 channels on 24x24: 24 tiles a block for 1 MiB, all 36 for 2 MiB);
    forced, the build runs that block and matches onnxruntime on one and two threads, bit for bit between them."""
    from conftest import assert_c_threads_agree
    from sdk.tune import winograd
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((128, 128, 3, 3)) / np.sqrt(128 * 9)).astype(np.float32)
    b = (0.1 * rng.standard_normal(128)).astype(np.float32)
    g = h.make_graph([h.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
                      h.make_node("Relu", ["c"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 128, 24, 24])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], [nh.from_array(w, "w"), nh.from_array(b, "b")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    cache = load_target("host").data["tune"]["winograd_cache_bytes"][0]
    want = {"kernel": "winograd", "tile": 4, "cache": cache}
    pts = points_of(sdk.compile(m, name="model"))
    assert len(pts) == 1 and pts[0].candidates[:2] == [{"kernel": "winograd", "tile": 4}, want], pts
    k = pts[0].candidates.index(want)
    built = sdk.compile(m, name="model", tuning_db=forced_db(pts, k, "host", tmp_path / "f.jsonl"))
    s = _choice_steps(built)[0]
    tb = {c: winograd.tile_block(4, 128, 128, 36, c) for c in (1 << 20, cache)}
    assert s.fn == "sdk_winograd_f32" and s.choice.chosen == want and kc.label(want) == f"winograd4@{cache >> 10}K"
    assert s.arg("tb") == tb[cache] != tb[1 << 20], (s.arg("tb"), tb)
    feeds = random_inputs(m, {}, seed=2)
    assert_c_threads_agree(built.save(tmp_path / "b"), feeds, ort_run(m, feeds), 1e-4, 1e-4)
