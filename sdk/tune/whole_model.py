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
            and r["cost"] is not None]


def decide(recs: List[Dict], margin: float) -> Optional[str]:
    """The build a model's records pick: the fastest candidate where it beats the untuned build by ``margin`` and
    by the records' A/A noise, and ran faster than the untuned build in at least ``WINS`` of the rounds (``"wins"``:
    a steady gain, not a few lucky rounds), else "untuned"; None without records (or without the untuned build
    measured). The last record of each build counts (a database tuned again: the last stage measured the builds it
    has now)."""
    costs: Dict[str, float] = {}
    wins: Dict[str, float] = {}
    noise = 0.0
    for r in recs:
        costs[r["schedule"]["build"]] = float(r["cost"])
        wins[r["schedule"]["build"]] = float(r.get("wins", 1.0))
        noise = float(r.get("noise", 0.0))
    if "untuned" not in costs:
        return None
    ok = [b for b in BUILDS if b in costs and (b == "untuned" or wins[b] >= WINS)]
    best = min(ok, key=lambda b: costs[b])  # min keeps the first of equal costs
    return best if costs[best] <= (1.0 - max(margin, noise)) * costs["untuned"] else "untuned"


def margin_of(tgt) -> float:
    return float((tgt.data.get("tune") or {}).get("whole_model_margin", 0.01))


def view(tgt, db: TuningDatabase, build: str) -> Tuple[object, Optional[TuningDatabase]]:
    """(profile, database) a build of ``build`` compiles with: "tuned" as given; "untuned": no schedule or
    kernel-choice records (sparse-format and model records stay); "near": ``tie_margin`` 0 and the kernel-choice
    records without their A/A noise (``kernel_choice.pick`` takes any candidate that read faster)."""
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
    for b, cost in (("untuned", 1.0), (build, 0.0)):
        out.records.append({"hash": key, "target": target, "model": MODEL_VERSION, "schedule": {"build": b},
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
