"""Per-layer kernel choice: which kernel a convolution runs, as a tuning decision.

An untuned build gives each convolution one kernel by rules (``winograd.choose``, ``apply.kept_kernel``): Winograd
F(4x4, 3x3) or F(2x2, 3x3) for 3x3 stride-1 layers the profile's ``[winograd]`` table picks, the spatial-rows /
tap-plane forms of the im2col GEMM (``space.GemmSpace.default``), the direct grouped / stem kernel (``gconv``), else
the plain im2col GEMM. The schedule search measures GEMM schedules only, so these rules were never compared per layer.
Here each such convolution is a *choice point* with candidates:

    {"kernel": "winograd", "tile": 4 | 2}   sdk_winograd_f32 (3x3, stride 1, one group, a constant weight)
    {"kernel": "winograd", "tile": m, "cache": bytes}
                                             the same with its tile block sized for ``bytes`` instead of the
                                             profile's ``[winograd] cache_bytes`` (``[tune] winograd_cache_bytes``:
                                             the rule's tile only, where the block differs)
    {"kernel": "direct"}                     the direct grouped / stem kernel (gconv.schedule)
    {"kernel": "spatial"}                    the default schedule with its C-only forms (spatial rows / tap planes)
    {"kernel": "spatial", "tile": [mr, nv]}  spatial rows in the register tile the rule did not take
                                             (``GemmSpace.trans_alternative``: taller or shorter than 8 pixels)
    {"kernel": "gemm"}                       the im2col GEMM's default schedule without those forms
    {"kernel": "rows"}                       spatial rows for a pointwise convolution the rule leaves to the GEMM
                                             (``GemmSpace.rows``: they fill as many lanes, not 10 % more; a deep
                                             1x1 layer's choice that went one way on Zen 4 and the other on a Xeon)
    {"kernel": "pair"} | {"kernel": "fused"} a depthwise + projection block (a "dwpw" workload) as its two steps (the
                                             default) or as one band-by-band call (``fuse_dw_project.py``, where
                                             the profile's ``[tune] dw_project_choice`` makes it a decision)

the rule's pick (the *default*) first. ``sdk tune`` measures them in the bundle itself (``measure_choices``: variant
builds with the step timer, run alternately; ``sdk/backends/host/step_profile.py``) and appends one record per
candidate and workload:

    {"hash", "target", "workload", "site", "choice": CHOICE_VERSION, "schedule": {"kernel": ...}, "cost", "unit",
     "confirm": 1}

A build takes the fastest candidate only where it beats the default's cost by the profile's ``[tune] tie_margin``, or
by the measurement's own noise where that is larger (``"noise"``: an A/A control of the default build, ``pick``);
the default wins ties. Records of another ``choice`` version, or naming a kernel this sdk does not
know, are ignored with a warning that says so.
"""
from __future__ import annotations

import json
import warnings
from typing import Dict, List, Optional

from . import gconv, winograd

CHOICE_VERSION = 1
KERNELS = ("winograd", "spatial", "direct", "gemm", "rows", "pair", "fused")


def key(c: Dict) -> str:
    return json.dumps(c, sort_keys=True)


def is_choice_record(r: Dict) -> bool:
    return "choice" in r


def valid(c: Dict) -> bool:
    """Whether ``c`` is a kernel choice this sdk can build."""
    if not isinstance(c, dict) or c.get("kernel") not in KERNELS:
        return False
    if c["kernel"] == "winograd":
        return (set(c) in ({"kernel", "tile"}, {"kernel", "tile", "cache"}) and c["tile"] in (2, 4)
                and (isinstance(c.get("cache", 1), int) and c.get("cache", 1) > 0))
    if c["kernel"] == "spatial" and "tile" in c:
        return (set(c) == {"kernel", "tile"} and isinstance(c["tile"], list) and len(c["tile"]) == 2
                and all(isinstance(v, int) and 0 < v <= 64 for v in c["tile"]))
    return set(c) == {"kernel"}


def candidates(step, wl, facts, tgt, default: Dict) -> List[Dict]:
    """The kernels conv step ``step`` (workload ``wl``, unscheduled) can run, ``default`` first; [] where there is
    nothing to choose (one candidate)."""
    from .space import space_of
    if wl.kind != "conv2d":
        return []
    out = [default]
    rule = tgt.data.get("winograd")
    if rule is not None and winograd.eligible(step):
        p = wl.p
        if default.get("kernel") == "winograd":  # the rule's tile with other tile blocks
            m = default["tile"]
            tiles = -(-p["OH"] // m) * -(-p["OW"] // m)
            tb = winograd.tile_block(m, p["C"], p["M"], tiles, winograd.rule_cache_bytes(rule, m, p["C"], p["M"]))
            for cb in (tgt.data.get("tune") or {}).get("winograd_cache_bytes", []):
                if winograd.tile_block(m, p["C"], p["M"], tiles, int(cb)) != tb:
                    out.append({"kernel": "winograd", "tile": m, "cache": int(cb)})
        cap = rule.get("max_weight_bytes", 0)
        for m in (4, 2):
            if min(p["OH"], p["OW"]) >= m and not (cap and winograd.weight_bytes(m, p["C"], p["M"]) > cap):
                out.append({"kernel": "winograd", "tile": m})
    if gconv.schedule(wl, facts) is not None:
        out.append({"kernel": "direct"})
    sp = space_of(wl, facts)
    if key(sp.default()) != key(sp.default(spatial_rows=False)):
        out.append({"kernel": "spatial"})
        alt = sp.trans_alternative()
        if alt is not None:
            out.append({"kernel": "spatial", "tile": [alt["mr"], alt["nv"]]})
    elif sp.rows() is not None:
        out.append({"kernel": "rows"})
    out.append({"kernel": "gemm"})
    seen, uniq = set(), []
    for c in out:
        if key(c) not in seen:
            seen.add(key(c))
            uniq.append(c)
    return uniq if len(uniq) > 1 else []


def records_for(db, h: str, target: str, label: str = "", warn: bool = True) -> List[Dict]:
    """The usable kernel-choice records of workload hash ``h``; others (another version, an unknown kernel) warn."""
    if db is None:
        return []
    recs = [r for r in db.records if r["hash"] == h and r["target"] == target and is_choice_record(r)]
    good = [r for r in recs if r.get("choice") == CHOICE_VERSION and valid(r["schedule"])
            and r["cost"] is not None and r["cost"] != float("inf")]
    bad = [r for r in recs if r.get("choice") != CHOICE_VERSION or not valid(r["schedule"])]
    if bad and warn:
        r = bad[0]
        why = (f"kernel-choice version {r.get('choice')}, this sdk reads {CHOICE_VERSION}"
               if r.get("choice") != CHOICE_VERSION else f"unknown kernel {json.dumps(r['schedule'])} "
               f"(this sdk builds {', '.join(KERNELS)})")
        warnings.warn(f"tuning database {db.path}: kernel-choice record for {label or h} rejected ({why}): run "
                      f"sdk tune again; {len(bad)} record(s) ignored", stacklevel=3)
    return good


def pick(db, h: str, target: str, default: Dict, cands: List[Dict], margin: float, label: str = "") -> Dict:
    """The kernel a build gives workload ``h``: the fastest recorded candidate (among ``cands``) only where the
    default was measured in the same records and is beaten by ``margin`` (``pick_costs``); else ``default``."""
    allowed = {key(c) for c in cands}
    costs: Dict[str, float] = {}
    recs = records_for(db, h, target, label)
    for r in recs:
        k = key(r["schedule"])
        if k in allowed:
            costs[k] = min(costs.get(k, float("inf")), r["cost"])
    # the measurement's own noise (its A/A control, ``step_profile.measure_choices``) where larger than the margin
    margin = max([margin] + [float(r.get("noise", 0.0)) for r in recs])
    return dict(pick_costs(costs, [default] + [c for c in cands if key(c) != key(default)], margin))


def pick_costs(costs: Dict[str, float], cands: List[Dict], margin: float) -> Dict:
    """``pick`` over measured costs ({candidate key: cost}) instead of records."""
    d = costs.get(key(cands[0]))
    have = [c for c in cands if key(c) in costs]
    if d is None or not have:
        return cands[0]
    best = min(have, key=lambda c: costs[key(c)])
    return best if costs[key(best)] <= (1.0 - margin) * d else cands[0]


def label(c: Dict) -> str:
    if c.get("kernel") == "winograd":
        return f"winograd{c['tile']}" + (f"@{c['cache'] >> 10}K" if "cache" in c else "")
    if c.get("kernel") == "spatial" and "tile" in c:
        return f"spatial{c['tile'][0]}x{c['tile'][1]}"
    return c.get("kernel", "?")


def margin_of(tgt) -> float:
    return float((tgt.data.get("tune") or {}).get("tie_margin", 0.0))


class ChoicePoint:
    """One convolution of a build with kernels to choose from: its workload (with the fused epilogue), the
    candidates (the default first) and what the build took."""

    def __init__(self, site: str, wl, cands: List[Dict], chosen: Dict, recorded: bool = False):
        self.site, self.wl, self.candidates, self.chosen = site, wl, cands, chosen
        self.recorded = recorded  # the database has kernel-choice records of the workload (else: the rule decided)

    def hash(self, target: str) -> str:
        return self.wl.hash(target)

    def __repr__(self):
        return f"ChoicePoint({self.site}, {self.wl}, {[label(c) for c in self.candidates]}, {label(self.chosen)})"


def winograd_decision(c: Dict, wl, rule) -> Optional[Dict]:
    """``winograd.rewrite``'s decision for choice ``c`` (None: not Winograd)."""
    if c.get("kernel") != "winograd":
        return None
    p = wl.p
    m = c["tile"]
    tiles = -(-p["OH"] // m) * -(-p["OW"] // m)
    cache = c.get("cache", winograd.rule_cache_bytes(rule or {}, m, p["C"], p["M"]))
    return {"algorithm": "winograd", "tile": m, "tb": winograd.tile_block(m, p["C"], p["M"], tiles, cache)}


def default_choice(step, wl, facts, tgt, db=None) -> Optional[Dict]:
    """The untuned rule's kernel for conv ``step`` as a choice (None: not a convolution with kernels to choose
    from, e.g. a GEMV or a plain GEMM that the schedule search covers)."""
    from .space import space_of
    if wl.kind != "conv2d":
        return None
    rule = tgt.data.get("winograd")
    if rule is not None and winograd.eligible(step):
        d = winograd.choose(wl, rule)
        if d is not None:
            return {"kernel": "winograd", "tile": d["tile"]}
    if gconv.schedule(wl, facts) is not None:
        return {"kernel": "direct"}
    sp = space_of(wl, facts)
    if key(sp.default()) != key(sp.default(spatial_rows=False)):
        return {"kernel": "spatial"}
    return {"kernel": "gemm"}


def records(points: List[ChoicePoint], costs: Dict[str, Dict[str, float]], target: str, unit: str = "s",
            noise: Optional[Dict[str, float]] = None) -> List[Dict]:
    """Database records of measured choice points: ``costs[hash][key(candidate)]`` = seconds (summed over the
    workload's sites); ``noise[hash]``: the relative difference an A/A control read (kept in each record: ``pick``
    wants a candidate to beat the default by more than that)."""
    out, seen = [], set()
    for pt in points:
        h = pt.hash(target)
        if h in seen or h not in costs:
            continue
        seen.add(h)
        for c in pt.candidates:
            t = costs[h].get(key(c))
            if t is None:
                continue
            out.append({"hash": h, "target": target, "workload": pt.wl.key(), "site": pt.site,
                        "choice": CHOICE_VERSION, "schedule": c, "cost": t, "unit": unit, "confirm": 1})
            if noise and h in noise:
                out[-1]["noise"] = round(noise[h], 4)
    return out
