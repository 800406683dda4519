"""sdk tune's whole-model stage (sdk/tune/whole_model.py, sdk/backends/host/model_runs.py): a model's complete
candidate builds (untuned, tuned, near) run as whole runs; its records decide which one ``sdk build --db`` takes,
never a build that ran slower than the untuned one."""
import json

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.backends.host.model_runs import measure_builds
from sdk.targets import load_target
from sdk.tune import whole_model
from sdk.tune.database import TuningDatabase
from sdk.tune.space import SPACE_VERSION, space_of, target_facts


def pw_model(seed=0, plane=24):
    """A 1x1 convolution (a GEMM the schedule search covers) + ReLU."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((48, 32, 1, 1)) / np.sqrt(32)).astype(np.float32)
    b = (0.1 * rng.standard_normal(48)).astype(np.float32)
    g = h.make_graph([h.make_node("Conv", ["x", "w", "b"], ["c"]), h.make_node("Relu", ["c"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 32, plane, plane])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [nh.from_array(w, "w"), nh.from_array(b, "b")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _step(b):
    return next(s for s in b.program.steps if getattr(s, "workload", None) is not None)


def _near_tie_db(m, path):
    """A database whose only schedule record reads 2 % faster than the default: under the host's tie_margin (3 %),
    so the per-workload pick keeps the default, while the "near" build takes it."""
    st = _step(sdk.compile(m, name="model"))
    sp = space_of(st.workload, target_facts(load_target("host")))
    d = sp.default()
    other = sp.repair(dict(d, nv=1, mr=max(sp.mr_for[1])), np.random.default_rng(0))
    assert sp.valid(other) and other != d
    ewl = st.workload.with_epilogue(st.generated["epilogue"])
    db = TuningDatabase(path)
    for s, cost in ((d, 1.0e-3), (other, 0.98e-3)):
        db.add({"hash": ewl.hash("host"), "target": "host", "workload": ewl.key(), "site": "model:y",
                "space": SPACE_VERSION, "schedule": s, "cost": cost, "unit": "s", "confirm": 1})
    return db, d, other


def test_decide_takes_a_clear_winner_else_the_untuned_build():
    def recs(costs, noise=0.0):
        return [{"schedule": {"build": b}, "cost": c, "noise": noise} for b, c in costs.items()]
    assert whole_model.decide(recs({"untuned": 1.0, "tuned": 0.95, "near": 0.90}), 0.01) == "near"
    assert whole_model.decide(recs({"untuned": 1.0, "tuned": 0.95, "near": 0.96}), 0.01) == "tuned"
    assert whole_model.decide(recs({"untuned": 1.0, "tuned": 0.995}), 0.01) == "untuned"  # within the margin
    assert whole_model.decide(recs({"untuned": 1.0, "tuned": 0.97}, noise=0.04), 0.01) == "untuned"  # within A/A
    assert whole_model.decide(recs({"untuned": 1.0, "tuned": 1.10}), 0.01) == "untuned"  # tuned ran slower
    assert whole_model.decide(recs({"untuned": 1.0, "tuned": 0.9, "near": 0.9}), 0.01) == "tuned"  # ties: earlier
    assert whole_model.decide(recs({"tuned": 0.9}), 0.01) is None  # the untuned build not measured: no decision
    # faster by the medians but not in 3 of 4 rounds: not a steady gain
    assert whole_model.decide([{"schedule": {"build": "untuned"}, "cost": 1.0},
                               {"schedule": {"build": "near"}, "cost": 0.9, "wins": 0.6}], 0.01) == "untuned"
    assert whole_model.decide([{"schedule": {"build": "untuned"}, "cost": 1.0},
                               {"schedule": {"build": "near"}, "cost": 0.9, "wins": 0.8}], 0.01) == "near"
    # tuned again: the last stage's records count, not the fastest ever read
    assert whole_model.decide(recs({"untuned": 1.0, "near": 0.9}) + recs({"untuned": 1.0, "near": 1.02}), 0.01) \
        == "untuned"


def test_model_key_is_the_structure_not_the_weights():
    k = whole_model.model_key(pw_model(0), None, "host")
    assert whole_model.model_key(pw_model(1), None, "host") == k  # other weights, same structure
    assert whole_model.model_key(pw_model(0, plane=20), None, "host") != k
    assert whole_model.model_key(pw_model(0), {"batch": 4}, "host") != k
    assert whole_model.model_key(pw_model(0), None, "android-arm64") != k


@pytest.mark.parametrize("near_s, picked", [(0.95e-3, "near"), (1.05e-3, "untuned")])
def test_stage_records_decide_the_build(tmp_path, near_s, picked):
    """A deterministic stand-in for the runs: the near build (the 2 % record taken) 5 % faster or slower than the
    untuned one; the tuned build is the untuned one (the record is under tie_margin), measured once."""
    m = pw_model()
    db, dflt, other = _near_tie_db(m, tmp_path / "db.jsonl")
    assert _step(sdk.compile(m, name="model", tuning_db=db)).schedule == dflt  # per workload: a tie, the default
    seen = []

    def run_fn(build, bundle, repeat):
        seen.append(build)
        return {"untuned": 1.0e-3, "control": 1.0e-3, "near": near_s}[build]
    recs, info = measure_builds(m, db, budget_s=0.0, min_rounds=2, max_rounds=2, run_fn=run_fn, knobs=[])
    assert info["same"] == {"tuned": "untuned"} and info["builds"] == 2 and info["rounds"] == 2
    assert seen == ["untuned", "near", "control"] * 2  # alternating rounds, the tuned build not run twice
    assert info["picked"] == picked and info["noise"] == 0.0
    by = {r["schedule"]["build"]: r for r in recs}
    assert set(by) == {"untuned", "tuned", "near"} and by["tuned"]["same_as"] == "untuned"
    assert by["near"]["wins"] == (1.0 if picked == "near" else 0.0) and "wins" not in by["untuned"]
    assert all(r["model"] == whole_model.MODEL_VERSION and r["hash"] == whole_model.model_key(m, None, "host")
               for r in recs)
    db.add_many(recs)
    b = sdk.compile(m, name="model", tuning_db=db)
    assert _step(b).schedule == (other if picked == "near" else dflt)
    x = random_inputs(m, {}, seed=1)
    assert_outputs_close(b.run(x), ort_run(m, x), rtol=1e-3, atol=1e-4)
    # the records are the model's: another model (other plane) in the same database keeps its per-workload picks
    assert TuningDatabase(tmp_path / "db.jsonl").records[-1]["model"] == whole_model.MODEL_VERSION


def test_untuned_pick_drops_a_clear_per_workload_winner(tmp_path):
    """Records that make the tuned build take another schedule (50 % faster as a kernel), and a stage that read the
    tuned build slower as a whole: the build is the untuned one."""
    m = pw_model()
    db, dflt, other = _near_tie_db(m, tmp_path / "db.jsonl")
    r = dict(db.records[-1], cost=0.5e-3)
    db.add(r)
    assert _step(sdk.compile(m, name="model", tuning_db=db)).schedule == other
    recs, info = measure_builds(m, db, budget_s=0.0, min_rounds=1, max_rounds=1, knobs=[],
                                run_fn=lambda b, bundle, repeat: {"tuned": 1.2e-3}.get(b, 1.0e-3))
    assert info["same"] == {"near": "tuned"} and info["picked"] == "untuned"
    db.add_many(recs)
    assert _step(sdk.compile(m, name="model", tuning_db=db)).schedule == dflt
    # forced: the stage's candidate builds are what a build with the picking records compiles
    key = whole_model.model_key(m, None, "host")
    assert _step(sdk.compile(m, name="model", tuning_db=whole_model.forced(db, key, "host", "tuned"))).schedule == other


def test_stage_runs_the_builds(tmp_path):
    """The real runs (demos on one thread, process CPU clock): two distinct builds and the control, costs recorded."""
    m = pw_model()
    db, dflt, other = _near_tie_db(m, tmp_path / "db.jsonl")
    recs, info = measure_builds(m, db, budget_s=0.0, min_rounds=1, max_rounds=1, repeat=3, walk_rounds=1)
    first = [r for r in recs if "ratio" not in r]
    assert info["same"] == {"tuned": "untuned"} and len(first) == 3
    assert all(0 < r["cost"] < 1 and r["unit"] == "s" for r in recs)
    # the walk with the profile's knobs: the alignment and the pointwise order reach this model (their own demos)
    walk = [r for r in recs if "ratio" in r]
    assert info["builds"] >= 4 and info["walk"] and {"memory.align", "tune.pointwise_ij"} <= {
        k for r in walk for k in (r["schedule"].get("knobs") or {})}
    assert all(0.2 < r["ratio"] < 5 and 0 <= r["wins"] <= 1 for r in walk)
    assert info["picked"] == whole_model.decide(recs, 0.01) and json.dumps(recs[0], sort_keys=True)


def _sources(b):
    return {f: t for f, t in b.sources.items() if isinstance(t, str)}


def _forced_build(m, db, label):
    key = whole_model.model_key(m, None, "host")
    return sdk.compile(m, name="model", tuning_db=whole_model.forced(db, key, "host", label))


def test_knobs_are_profile_values_that_change_the_generated_c(tmp_path):
    """A walk candidate is the build with the knob's profile value: the slots' alignment moves the arena's
    offsets, the pointwise tile order changes the kernel; the label names it and parses back."""
    m = pw_model()
    db, dflt, other = _near_tie_db(m, tmp_path / "db.jsonl")
    knobs = dict(whole_model.knobs_of(load_target("host")))
    assert knobs["memory.align"] == 256 and knobs["tune.pointwise_ij"] is False and knobs["layout.nhwc"] is False
    base = _sources(_forced_build(m, db, "untuned"))
    for k, v in (("memory.align", 256), ("tune.pointwise_ij", False)):
        lab = whole_model.label({"build": "untuned", "knobs": {k: v}})
        assert whole_model.schedule_of(lab) == {"build": "untuned", "knobs": {k: v}}
        b = _forced_build(m, db, lab)
        assert _sources(b) != base, k
        if k == "memory.align":
            assert b.plan.align == 256 and "% 256u" in b.sources["model.c"]
        x = random_inputs(m, {}, seed=2)
        assert_outputs_close(b.run(x), ort_run(m, x), rtol=1e-3, atol=1e-4)
    t = whole_model.with_knobs(load_target("host"), {"memory.order": "other"})
    assert t.data["memory"]["order"] == "other" and load_target("host").data["memory"].get("order") is None
    with pytest.raises(sdk.SdkError, match="memory"):
        whole_model.with_knobs(load_target("host"), {"memory.align": "wide"})


def test_named_knobs_restrict_the_walk_and_unknown_names_list_the_valid_ones():
    """``sdk tune --whole-model-knobs``: a knob by its profile entry or its section.key, in the order given; an unknown
    name is one error naming every valid entry."""
    host = load_target("host")
    entries = host.data["tune"]["whole_model_knobs"]
    assert whole_model.named_knobs(host, ["tune.pointwise_ij", "memory.align=256"]) == [
        ("tune.pointwise_ij", False), ("memory.align", 256)]
    assert whole_model.named_knobs(host, ["memory.align"]) == [("memory.align", 256)] and whole_model.named_knobs(
        host, []) == []
    with pytest.raises(sdk.SdkError, match="unknown knob 'memory.alignment'") as e:
        whole_model.named_knobs(host, ["memory.align", "memory.alignment"])
    assert all(k in str(e.value) for k in entries), str(e.value)


def test_decide_compares_walk_candidates_by_their_ratio_to_the_untuned_build():
    u = {"schedule": {"build": "untuned"}, "cost": 1.0}
    a = {"schedule": {"build": "untuned", "knobs": {"memory.align": 256}}, "cost": 5.0, "ratio": 0.95, "wins": 1.0,
         "noise": 0.01}
    assert whole_model.decide([u, a], 0.01) == "untuned+memory.align=256"  # by the ratio of its own rounds
    assert whole_model.decide([u, dict(a, ratio=0.995)], 0.01) == "untuned"  # within the margin
    assert whole_model.decide([u, dict(a, noise=0.06)], 0.01) == "untuned"  # within its rounds' A/A
    assert whole_model.decide([u, dict(a, wins=0.5)], 0.01) == "untuned"  # not in 3 of 4 rounds
    assert whole_model.decide([u, a, dict(a, ratio=1.02, wins=0.0)], 0.01) == "untuned"  # measured again: slower


@pytest.mark.parametrize("align_s, picked", [(0.95e-3, "untuned+memory.align=256"), (1.06e-3, "untuned")])
def test_walk_takes_a_faster_knob_never_a_slower_one_and_the_pick_reproduces(tmp_path, align_s, picked):
    """A deterministic stand-in for the runs: the tuned and near builds no faster, the arena alignment knob 5 %
    faster or 6 % slower, the pointwise order knob 3 % slower. The walk measures both knobs from the untuned
    build, takes the faster one only, and a build with the records is that candidate's sources."""
    m = pw_model()
    db, dflt, other = _near_tie_db(m, tmp_path / "db.jsonl")
    knobs = [("memory.align", 256), ("tune.pointwise_ij", False), ("layout.nhwc", False)]  # nhwc: no depthwise here
    times = {"untuned+memory.align=256": align_s, "untuned+tune.pointwise_ij=false": 1.03e-3,
             "untuned+memory.align=256+tune.pointwise_ij=false": 1.1e-3}
    seen = []

    def run_fn(build, bundle, repeat):
        seen.append(build)
        return times.get(build, 1.0e-3)
    recs, info = measure_builds(m, db, budget_s=0.0, min_rounds=2, max_rounds=2, run_fn=run_fn, knobs=knobs)
    assert info["picked"] == picked
    first = ["untuned+memory.align=256", "untuned+tune.pointwise_ij=false"]  # layout.nhwc: the untuned sources
    assert info["walk"][0] == (first, picked)
    assert seen[6:10] == ["untuned"] + first + ["control"]  # after the two rounds of untuned / near / control
    if picked != "untuned":  # from the new pick, the pointwise knob again (1.1: slower), then nothing left
        assert info["walk"][1] == (["untuned+memory.align=256+tune.pointwise_ij=false"], picked)
    assert len(info["walk"]) == (2 if picked != "untuned" else 1)
    walk = [r for r in recs if "ratio" in r]
    assert all(r["model"] == whole_model.MODEL_VERSION and r["unit"] == "s" for r in walk)
    assert {whole_model.label(r["schedule"]): r["ratio"] for r in walk if r is walk[0] or True}[
        "untuned+tune.pointwise_ij=false"] == pytest.approx(1.03, abs=1e-3)
    db.add_many(recs)
    got = sdk.compile(m, name="model", tuning_db=TuningDatabase(tmp_path / "db.jsonl"))
    assert _sources(got) == _sources(_forced_build(m, db, picked))
    assert got.plan.align == (256 if picked != "untuned" else 64)
    x = random_inputs(m, {}, seed=1)
    assert_outputs_close(got.run(x), ort_run(m, x), rtol=1e-3, atol=1e-4)
