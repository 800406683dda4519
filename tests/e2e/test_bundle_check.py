"""sdk tune's check of searched schedules in the bundle (sdk/backends/host/step_profile.check_schedules): the tuned
build against the default one with the step timer; its ``"bundle"`` records decide over the search's and the
confirmation's (sdk/tune/apply.pick_record), and the build still matches onnxruntime."""
import json

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.backends.host.step_profile import check_schedules
from sdk.targets import load_target
from sdk.tune.database import TuningDatabase
from sdk.tune.space import SPACE_VERSION, space_of, target_facts


def pw_model(seed=0):
    """A 1x1 convolution on a 24x24 plane (a GEMM the search covers) + ReLU."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((48, 32, 1, 1)) / np.sqrt(32)).astype(np.float32)
    b = (0.1 * rng.standard_normal(48)).astype(np.float32)
    g = h.make_graph([h.make_node("Conv", ["x", "w", "b"], ["c"]), h.make_node("Relu", ["c"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 32, 24, 24])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [nh.from_array(w, "w"), nh.from_array(b, "b")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _step(b):
    return next(s for s in b.program.steps if getattr(s, "workload", None) is not None)


def _other_schedule(step):
    """A valid schedule of the step's workload other than its default (a narrower register tile)."""
    sp = space_of(step.workload, target_facts(load_target("host")))
    d = sp.default()
    s = dict(d, nv=1, mr=max(sp.mr_for[1]))
    s = sp.repair(s, np.random.default_rng(0))
    assert sp.valid(s) and json.dumps(s, sort_keys=True) != json.dumps(d, sort_keys=True)
    return s, d


def _rec(h_, wl_key, s, cost, **extra):
    return dict({"hash": h_, "target": "host", "workload": wl_key, "site": "model:y", "space": SPACE_VERSION,
                 "schedule": s, "cost": cost, "unit": "s"}, **extra)


def test_bundle_records_decide_and_the_check_measures_both(tmp_path):
    m = pw_model()
    base = sdk.compile(m, name="model")
    st = _step(base)
    assert getattr(st, "tuning", None) is None  # untuned: no schedule from a database
    other, dflt = _other_schedule(st)
    ewl = st.workload.with_epilogue(st.generated["epilogue"])  # records key the workload with its fused epilogue
    db = TuningDatabase(tmp_path / "db.jsonl")
    db.add_many([_rec(ewl.hash("host"), ewl.key(), dflt, 2e-3, confirm=1),
                 _rec(ewl.hash("host"), ewl.key(), other, 1e-3, confirm=1)])
    tuned0 = sdk.compile(m, name="model", tuning_db=db)
    assert getattr(_step(tuned0), "tuning", None) is not None, "a faster confirmed record is taken"
    t = _step(tuned0).tuning
    assert t["schedule"] == other and t["default"] == dflt
    x = random_inputs(m, {}, seed=1)
    assert_outputs_close(tuned0.run(x), ort_run(m, x), rtol=1e-3, atol=1e-4)

    recs, info = check_schedules(m, db, budget_s=0.0, min_rounds=1, max_rounds=1, repeat=3)
    assert info["rounds"] == 1 and info["steps"] == 1 and len(recs) == 2, (recs, info)
    assert {json.dumps(r["schedule"], sort_keys=True) for r in recs} == {json.dumps(s, sort_keys=True)
                                                                       for s in (other, dflt)}
    assert all(r["bundle"] == 1 and r["hash"] == t["hash"] and 0 < r["cost"] < 1 for r in recs)

    # bundle records decide: the default 10 % faster there -> the build takes the default, despite the confirmation
    db.add_many([_rec(t["hash"], t["workload"], dflt, 1.0e-3, bundle=1), _rec(t["hash"], t["workload"], other, 1.1e-3,
                                                                              bundle=1)])
    b = sdk.compile(m, name="model", tuning_db=db)
    assert getattr(_step(b), "tuning", None) is None and _step(b).schedule == dflt
    assert_outputs_close(b.run(x), ort_run(m, x), rtol=1e-3, atol=1e-4)
    # and a tie (within [tune] tie_margin) is the default's too; a clear win is taken
    db.add_many([_rec(t["hash"], t["workload"], other, 0.99e-3, bundle=1)])
    assert _step(sdk.compile(m, name="model", tuning_db=db)).schedule == dflt
    db.add_many([_rec(t["hash"], t["workload"], other, 0.5e-3, bundle=1)])
    assert _step(sdk.compile(m, name="model", tuning_db=db)).schedule == other
