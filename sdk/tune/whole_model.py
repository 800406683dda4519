"""Whole-model stage: which of a model's complete builds ``sdk build --db`` takes, decided by whole runs.

The other phases decide per workload (a kernel choice, a schedule), each against its default by the profile's
``[tune] tie_margin`` and its own A/A noise. Two things no per-workload measurement sees: the per-workload winners
together (cache state between steps, the arena's placement) need not be the fastest bundle, and several near-ties,
none above its noise, may add up. So ``sdk tune`` ends by building complete candidates of each model

    {"build": "untuned"}   no schedule or kernel-choice record applies (what ``sdk build`` makes without --db)
    {"build": "tuned"}     the per-workload picks (tie_margin, A/A noise): what --db built before this stage
    {"build": "near"}      every recorded candidate that read faster than its default at all (margin 0, no A/A
                           guard): the near-ties taken together

(each distinct build once: candidates with the same sources are one build) and running them alternately, whole
runs on one thread (``sdk/backends/host/model_runs.py``), with an A/A control (the untuned build twice). It appends
one record per candidate, keyed by the model's structure (``model_key``):

    {"hash": model key, "target", "model": MODEL_VERSION, "site": "<name>:(model)", "schedule": {"build": ...},
     "cost": median seconds a run, "unit": "s", "noise": A/A, "wins": share of rounds faster than untuned,
     "workload": "<what the key covers>"}

Then a greedy walk over whole-model decisions a rule makes (the profile's ``[tune] whole_model_knobs``: "section.key"
flips a boolean, "section.key=value" sets another value, e.g. ``layout.nhwc``, ``memory.align=256``): from the
stage's pick so far, each knob is a candidate build (the pick with that profile value); candidates whose sources
are a build's already measured are dropped (the knob does not reach this model); the others run alternately with
the untuned build, the pick and the A/A control, and the walk moves to the best candidate that ``decide`` takes, until
none does, the knobs or the budget run out. Their records name the knobs, ``{"build": "near", "knobs":
{"memory.align": 256}}``, with ``"ratio"``: the median over rounds of cost / the untuned build's in the same round.

A build with such records (``decide``) takes the fastest candidate only where it beats the untuned build by
``[tune] whole_model_margin`` and by the A/A noise (the larger of the control's median and half its rounds'
interquartile spread against the untuned build) in at least ``WINS`` of the rounds, else the untuned build: a tuned build is never one that ran
slower than the untuned one. Without model records (the stage did not run) the per-workload picks apply as before.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Dict, List, Optional, Tuple

from ..errors import SdkError

from .database import TuningDatabase

MODEL_VERSION = 1
BUILDS = ("untuned", "tuned", "near")  # the order breaks ties: the untuned build first
# share of the rounds a candidate must have run faster than the untuned build (at load 17 on the shared 2-vCPU machine
# a stage's medians read one build 0.94 of the untuned one, and 20 rounds of another measurement 1.01: the rounds
# had not agreed)
WINS = 0.75


def model_key(model, dims: Optional[Dict[str, int]], target: str) -> str:
    """The model's structure: nodes (op, attributes, wiring), inputs' and weights' shapes and types, the dims'
    bounds and the target; not the weights' values (a model exported again with other weights keeps its key)."""
    g = model.graph
    h = hashlib.sha256()

    def put(*xs):
        h.update(json.dumps(xs, sort_keys=True, default=str).encode())
        h.update(b"\0")
    put("target", target, sorted((dims or {}).items()))
    for vi in list(g.input) + list(g.output):
        t = vi.type.tensor_type
        put("io", vi.name, t.elem_type, [d.dim_value or d.dim_param for d in t.shape.dim])
    for w in g.initializer:
        put("w", w.name, w.data_type, list(w.dims))
    for n in g.node:
        put("n", n.op_type, n.domain, list(n.input), list(n.output),
            sorted((a.name, str(a).replace(a.name, "", 1)) for a in n.attribute if a.type != a.GRAPH))
    return h.hexdigest()[:16]


def is_model_record(r: Dict) -> bool:
    return "model" in r


def records_for(db: Optional[TuningDatabase], key: str, target: str) -> List[Dict]:
    if db is None:
        return []
    return [r for r in db.records if is_model_record(r) and r["hash"] == key and r["target"] == target
            and r.get("model") == MODEL_VERSION and (r.get("schedule") or {}).get("build") in BUILDS
            and isinstance((r.get("schedule") or {}).get("knobs", {}), dict) and r["cost"] is not None]


def label(schedule: Dict) -> str:
    """A candidate's name: its build, then its knobs in order ("near+memory.align=256+layout.nhwc=false")."""
    return "+".join([schedule["build"]] + [f"{k}={json.dumps(v)}" for k, v in sorted((schedule.get("knobs")
                                                                                        or {}).items())])


def schedule_of(name: str) -> Dict:
    """``label``'s inverse: {"build": ..., "knobs": {...}} (no "knobs" without any)."""
    build, *knobs = name.split("+")
    out = {"build": build}
    if knobs:
        out["knobs"] = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in knobs)}
    return out


def knobs_of(tgt) -> List[Tuple[str, object]]:
    """The profile's ``[tune] whole_model_knobs`` as (section.key, the candidate's value): "section.key" flips the
    profile's boolean, "section.key=value" (a JSON value; a bare word is a string) sets that value."""
    out = []
    for k in (tgt.data.get("tune") or {}).get("whole_model_knobs", []):
        name, _, v = k.partition("=")
        section, _, key = name.partition(".")
        have = (tgt.data.get(section) or {}).get(key)
        if not v:
            if not isinstance(have, bool):
                raise SdkError(f"[tune] whole_model_knobs: '{k}' flips a boolean, but [{section}] {key} is {have!r}")
            out.append((name, not have))
            continue
        try:
            value = json.loads(v)
        except json.JSONDecodeError:
            value = v
        out.append((name, value))
    return out


def named_knobs(tgt, names: List[str]) -> List[Tuple[str, object]]:
    """``knobs_of`` restricted to ``names`` (``sdk tune --whole-model-knobs``), in their order: a name is a profile
    entry ("memory.align=256") or its "section.key" ("memory.align"); an unknown one is an error naming the valid
    entries."""
    entries = list((tgt.data.get("tune") or {}).get("whole_model_knobs", []))
    knobs = knobs_of(tgt)  # one per entry, in the entries' order
    out = []
    for n in names:
        hit = [kv for e, kv in zip(entries, knobs) if n in (e, e.partition("=")[0])]
        if not hit:
            raise SdkError(f"--whole-model-knobs: unknown knob '{n}' for target '{tgt.name}' (valid: "
                           f"{', '.join(entries) or 'none: the profile has no [tune] whole_model_knobs'})")
        out += [kv for kv in hit if kv not in out]
    return out


def with_knobs(tgt, knobs: Optional[Dict]):
    """``tgt`` with the knobs' profile values (checked against the profile spec as a profile's own)."""
    if not knobs:
        return tgt
    from ..targets import check_profile
    data = dict(tgt.data)
    for name, v in knobs.items():
        section, _, key = name.partition(".")
        data[section] = dict(data.get(section) or {}, **{key: v})
        check_profile({section: {key: v}}, f"whole-model knob {name}")
    return dataclasses.replace(tgt, data=data)


def decide(recs: List[Dict], margin: float) -> Optional[str]:
    """The build a model's records pick (its ``label``): the fastest candidate where it beats the untuned build by
    ``margin`` and by its measurement's A/A noise, and ran faster than the untuned build in at least ``WINS`` of the
    rounds (``"wins"``: a steady gain, not a few lucky rounds), else "untuned"; None without records (or without the
    untuned build measured). Only the last stage counts (from the last record of the plain untuned build: a database
    tuned again measured the builds it has now), and in it each candidate's last record. A candidate is compared by
    its ``"ratio"`` to the untuned build of its own rounds where it has one (the walk's candidates), else by its cost
    over the untuned record's."""
    last = max((i for i, r in enumerate(recs) if r["schedule"] == {"build": "untuned"}), default=None)
    if last is None:
        return None
    base = float(recs[last]["cost"])
    if base <= 0:
        return "untuned"
    ratio: Dict[str, float] = {}
    ok: Dict[str, bool] = {}
    for r in recs[last:]:
        name = label(r["schedule"])
        ratio[name] = float(r["ratio"]) if "ratio" in r else float(r["cost"]) / base
        ok[name] = name == "untuned" or (float(r.get("wins", 1.0)) >= WINS
                                          and ratio[name] <= 1.0 - max(margin, float(r.get("noise", 0.0))))
    # min keeps the first of equal ratios: untuned, tuned, near, then the walk's candidates in their order
    best = min((n for n in ratio if ok[n]), key=lambda n: ratio[n])
    return best


def margin_of(tgt) -> float:
    return float((tgt.data.get("tune") or {}).get("whole_model_margin", 0.01))


def view(tgt, db: TuningDatabase, build: str) -> Tuple[object, Optional[TuningDatabase]]:
    """(profile, database) a build of ``build`` (a ``label``) compiles with: "tuned" as given; "untuned": no schedule
    or kernel-choice records (sparse-format and model records stay); "near": ``tie_margin`` 0 and the kernel-choice
    records without their A/A noise (``kernel_choice.pick`` takes any candidate that read faster); each with its
    knobs' profile values (``with_knobs``)."""
    sched = schedule_of(build)
    if sched.get("knobs"):
        t, d = view(tgt, db, sched["build"])
        return with_knobs(t, sched["knobs"]), d
    if build == "tuned":
        return tgt, db
    out = TuningDatabase(None)
    out.path = db.path  # warnings name the file
    if build == "untuned":
        out.records = [r for r in db.records if is_model_record(r) or "sparse_format" in (r.get("schedule") or {})]
        return tgt, out
    if build == "near":
        out.records = [{k: v for k, v in r.items() if k != "noise"} for r in db.records]
        tune = dict(tgt.data.get("tune") or {}, tie_margin=0.0)
        return dataclasses.replace(tgt, data={**tgt.data, "tune": tune}), out
    raise ValueError(f"unknown build '{build}' (expected one of {', '.join(BUILDS)})")


def applied(model, dims, tgt, db: Optional[TuningDatabase]):
    """``sdk.compile``'s profile and database for ``model`` after its model records (``decide``): unchanged
    without them. Returns (profile, database, the build taken or None)."""
    if db is None or not any(is_model_record(r) for r in db.records):
        return tgt, db, None
    build = decide(records_for(db, model_key(model, dims, tgt.name), tgt.name), margin_of(tgt))
    if build is None:
        return tgt, db, None
    t, d = view(tgt, db, build)
    return t, d, build


def forced(db: TuningDatabase, key: str, target: str, build: str) -> TuningDatabase:
    """``db`` with the model's own records replaced by two that make a build take ``build`` (the stage's candidate
    builds: exactly what ``sdk build --db`` compiles once the stage's records pick it)."""
    out = TuningDatabase(None)
    out.path = db.path
    out.records = [r for r in db.records if not (is_model_record(r) and r["hash"] == key)]
    for b, cost in (("untuned", 1.0),) + ((build, 0.0),) * (build != "untuned"):
        out.records.append({"hash": key, "target": target, "model": MODEL_VERSION, "schedule": schedule_of(b),
                            "cost": cost, "unit": "forced"})
    return out


def records(key: str, target: str, name: str, costs: Dict[str, float], noise: Optional[float],
            same: Dict[str, str], what: str, wins: Optional[Dict[str, float]] = None) -> List[Dict]:
    """The stage's records: one per candidate (``same[b]``: the candidate whose build ``b`` is, when they had the
    same sources and were run once; ``wins[b]``: the share of rounds it ran faster than the untuned build)."""
    out = []
    for b in BUILDS:
        src = same.get(b, b)
        if src not in costs:
            continue
        r = {"hash": key, "target": target, "workload": what, "site": f"{name}:(model)", "model": MODEL_VERSION,
             "schedule": {"build": b}, "cost": costs[src], "unit": "s"}
        if noise is not None:
            r["noise"] = round(noise, 4)
        if src != b:
            r["same_as"] = src
        if wins and src in wins and src != "untuned":
            r["wins"] = round(wins[src], 3)
        out.append(r)
    return out


def walk_records(key: str, target: str, name: str, ratios: Dict[str, float], costs: Dict[str, float], noise: float,
                 wins: Dict[str, float], what: str) -> List[Dict]:
    """The walk's records: one per candidate measured in one set of rounds (``ratios``: the median over rounds of
    its cost / the untuned build's)."""
    return [{"hash": key, "target": target, "workload": what, "site": f"{name}:(model)", "model": MODEL_VERSION,
             "schedule": schedule_of(b), "cost": costs[b], "unit": "s", "ratio": round(ratios[b], 4),
             "noise": round(noise, 4), "wins": round(wins[b], 3)} for b in ratios]
