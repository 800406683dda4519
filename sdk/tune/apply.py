"""Pass: give every tunable library call of a program its schedule (tuning database, else default).

A scheduled call becomes a call to a generated C function (``LibCall.impl`` holds its source) with the
extra arguments its declaration's ``Tuning.extra`` names (``sdk/kernels/``): a packing scratch buffer that the
memory planner places like any temp (alive for that step only), and the residual of a fused epilogue. Records
that no longer fit are ignored with a warning; a database with records for a step's site but none for its
current workload also warns (the model or the kernel changed).
"""
from __future__ import annotations

import json
import warnings
from typing import Dict, Optional

import numpy as np

from ..tir.expr import Buffer
from ..transform.epilogue import epilogue_after, replace_folding_epilogues
from ..transform.weights_fp16 import weights_precision
from . import conv_pool, gconv, gconv_cv, gemv, kernel_choice, winograd
from .consts import float_const, store_derived
from .database import TuningDatabase
from .kernels import kernel_source, pack_b_const, pack_conv_t_const, scratch_floats
from .space import SPACE_VERSION, space_of, target_facts
from .workload import Workload, workload_of


def tunable(tgt) -> bool:
    return bool(tgt.data.get("tune"))


def c_kernels_available(tgt) -> bool:
    """Whether the C-only kernels that replace a schedule (Winograd, spatial-rows convolutions) may be chosen:
    always, except on a target run in process (the host) whose C compiler is missing. There the in-process engine
    is the only way to run the bundle and it builds those kernels with that compiler, while the scheduled
    GEMM/convolution kernels are LLVM IR (``sdk/codegen/llvm_kernels.py``): the schedules keep the program
    runnable without one. (GEMV is IR too, ``sdk/codegen/llvm_runtime.py``: chosen either way.)"""
    import shutil
    from ..backends import backend_of
    return backend_of(tgt).jit is None or shutil.which(tgt.cc) is not None


def kept_kernel(prog, i: int, wl, facts, default: str, c_kernels: bool) -> Optional[str]:
    """The kernel an untuned build gives step ``i`` in place of a GEMM/convolution schedule, or None: "gemv" (one
    row over a constant weight), "smallm" (a few rows times a run-time B), "direct" (the direct grouped / stem
    convolution, C only) or "spatial" (the default schedule's C-only forms: spatial rows of a pointwise
    convolution on a small plane, tap planes of a strided one). The search (``search.py``) measures the runtime
    library call and the GEMM schedules, never these kernels, so a record of it was not compared with them: a
    tuned build keeps them, as it keeps the profile's Winograd choice (``winograd.select``), and ``sdk tune``
    spends no trials on these steps. (Records did replace
    them once: ResNet-18's Winograd, direct-stem, tap-plane and spatial-row layers became searched im2col GEMMs, and
    the tuned build ran 2x slower than the untuned one.) Which of these kernels a convolution runs is itself a tuning
    decision measured in the bundle (``kernel_choice.py``: records with ``"choice"``, ``choice_points``)."""
    if default == "library":
        return None
    step = prog.steps[i]
    if gemv.applies(prog, step, wl):
        return "gemv"
    if c_kernels and gemv.dynamic_applies(prog, step, wl, epilogue_after(prog, i)):
        return "smallm"
    if c_kernels and gconv.schedule(wl, facts) is not None:
        return "direct"
    d = space_of(wl, facts).default()
    # the search's first batch measures default(spatial_rows=False), without these forms
    if c_kernels and (d.get("trans") or d.get("planes")):
        return "spatial"
    return None


def schedule_for(wl, space, tgt, db: Optional[TuningDatabase], site: str, sites=None, default="heuristic"):
    """(schedule, source) where source is "db" or "default"; schedule {"library": True} keeps the call.

    A record is taken only where it beats the build's default (the default schedule, or the library call where the
    profile keeps it) by the profile's ``[tune] tie_margin`` in the same measurements: the confirmation records
    (``"confirm"``, ``Search.confirm``) where the database has them for the workload, else all of its records; the
    default wins ties."""
    h = wl.hash(tgt.name)
    dflt = {"library": True} if default == "library" else space.default()
    if db is not None:
        def ok(r):
            s = r["schedule"]
            return r.get("space") == SPACE_VERSION and (s.get("library") is True or space.valid(s))
        rec = pick_record(db, h, tgt.name, ok, dflt, float(tgt.data["tune"].get("tie_margin", 0.0)), site)
        if rec is not None:
            return rec["schedule"], ("default" if _same(rec["schedule"], dflt) else "db")
        plain = Workload(wl.kind, wl.params).hash(tgt.name)  # a site's other epilogue (another order): no change
        if sites and site in sites and not {h, plain} & sites[site]:
            warnings.warn(f"tuning database {db.path}: its records for {site} are for another kernel "
                          f"({wl} changed?); using the default schedule", stacklevel=3)
    return dflt, "default"


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def pick_record(db: TuningDatabase, h: str, target: str, ok, dflt, margin: float, label: str = ""):
    """The record a build takes for workload hash ``h``: among the confirmation records if any, else all valid
    ones, the fastest, unless the default schedule ``dflt`` was measured there and the fastest is not ``margin``
    faster than it (then the default's). Records ``ok`` rejects (another space version, a schedule that does not fit)
    are skipped with one warning. None without a usable record. Records measured in the bundle (``"bundle"``) decide
    over the confirmation records, which decide over the search's."""
    recs = [r for r in db.records if r["hash"] == h and r["target"] == target and not kernel_choice.is_choice_record(r)
            and r["cost"] is not None and r["cost"] != float("inf")]
    good = [r for r in recs if ok(r)]
    if recs and not good:
        versions = sorted({str(r.get("space")) for r in recs})
        warnings.warn(f"tuning database {db.path}: record for {label or h} does not match the kernel any more "
                      f"(schedule-space version {', '.join(versions)}, this sdk reads {SPACE_VERSION}: run sdk tune "
                      f"again); ignored", stacklevel=3)
        return None
    # measured in the model's bundle (``step_profile.check_schedules``), else the search's confirmation, else all
    pool = [r for r in good if r.get("bundle")] or [r for r in good if r.get("confirm")] or good
    if not pool:
        return None
    best = min(pool, key=lambda r: r["cost"])
    base = [r for r in pool if _same(r["schedule"], dflt)]
    if base:
        d = min(base, key=lambda r: r["cost"])
        if best is not d and best["cost"] > (1.0 - margin) * d["cost"]:
            return d
    return best


def apply_schedules(prog, tgt, bounds: Dict[str, int], name: str, db: Optional[TuningDatabase] = None,
                    default: Optional[str] = None) -> Dict[str, int]:
    """Rewrite ``prog``'s tunable library calls in place; returns counts by schedule source.
    ``default`` (None: the profile's ``[tune] default``, else "heuristic"): what steps without a record get,
    "heuristic" (the default schedule) or "library" (keep the runtime library call)."""
    c_kernels = c_kernels_available(tgt)
    # --weights fp16: GEMV weights stored as float16 (the C kernel; LLVM IR in the in-process engine)
    weights16 = weights_precision(tgt) == "fp16"
    default = default or (tgt.data.get("tune") or {}).get("default", "heuristic")
    # per-layer kernel choices (sdk/tune/kernel_choice.py): the rule's kernel unless a record beat it
    points = choice_points(prog, tgt, bounds, name, db, default) if tunable(tgt) and c_kernels else {}
    # 3x3 convolutions the profile's [winograd] rule (or a kernel-choice record) picks
    wino = winograd.select(prog, tgt, bounds, db, points=points) if c_kernels else 0
    if not tunable(tgt):
        n16 = float16_gemvs(prog, bounds) if weights16 else 0
        return {k: v for k, v in (("winograd", wino), ("gemv", n16)) if v}
    facts = target_facts(tgt)
    sites = db.sites(tgt.name) if db is not None else None
    stats = {"db": 0, "default": 0, "library": 0, "gemv": 0, "winograd": wino,
             "choice": sum(1 for p in points.values() if kernel_choice.key(p.chosen) != kernel_choice.key(p.candidates[0]))}
    fused = []  # sdk_epilogue_f32 steps folded into the generated kernel before them
    for i, step in enumerate(prog.steps):
        wl = workload_of(step, bounds)
        if wl is None:
            continue
        site = f"{name}:{step.outputs[0].name}"
        pt = points.get(id(step))
        kern = pt.chosen["kernel"] if pt is not None else None
        if kern == "rows":  # spatial rows where the rule left the convolution to the GEMM (a measured choice)
            sched, src, kern = space_of(wl, facts).rows(), "default", "taken"
        elif kern in ("spatial", "direct", "gemm") and kept_kernel(prog, i, wl, facts, default, c_kernels) is not None:
            # a kernel choice of a convolution the rule gives a C-only kernel: that choice's schedule
            sched, src = space_of(wl, facts).default(spatial_rows=kern != "gemm"), "default"
            if kern == "spatial" and pt.chosen.get("tile"):  # spatial rows in the other register tile
                sched = space_of(wl, facts).trans_schedule(*pt.chosen["tile"]) or sched
            if kern == "direct":
                sched = gconv.schedule(wl, facts)
            kern = "taken"
        elif kept_kernel(prog, i, wl, facts, default, c_kernels):  # kernels the search never measured
            sched, src = space_of(wl, facts).default(), "default"
        else:  # records are keyed by the workload with the epilogue fused into its kernel (what was measured)
            ewl = wl.with_epilogue(epilogue_after(prog, i))
            sched, src = schedule_for(ewl, space_of(wl, facts), tgt, db, site, sites, default)
            if src == "db":  # what sdk tune's check in the bundle compares (step_profile.check_schedules)
                tuning = {"hash": ewl.hash(tgt.name), "workload": ewl.key(), "schedule": sched,
                          "default": {"library": True} if default == "library" else space_of(wl, facts).default()}
        stats[src] += 1
        epi = epilogue_after(prog, i)
        # the GEMV kernel: by default where the profile generates kernels; with --weights fp16 also where it keeps the
        # library's (android-arm64), for the products whose weight it stores as float16 (the library reads float32)
        gemv_ok = src == "default" and (default != "library" or weights16)
        call = gemv.rewrite(prog, step, wl, epi, weights16, only16=default == "library") if gemv_ok else None
        if call is None and src == "default" and default != "library" and c_kernels:
            call = gemv.rewrite_dynamic(prog, step, wl, epi)  # a few rows times a run-time B (C only)
        if call is not None:  # one row / one output pixel: the GEMV kernel (sdk/tune/gemv.py)
            if epi is not None:
                fused.append(prog.steps[i + 1])
            prog.steps[i] = call
            stats["gemv"] += 1
            continue
        if sched.get("library"):
            stats["library"] += 1
            continue
        if src == "default" and default != "library" and c_kernels:
            base = space_of(wl, facts).default() if sched.get("cv") else sched  # (a choice taken: maybe cv)
            if kern != "taken":  # (a kernel choice was taken above)
                sched = gconv.schedule(wl, facts) or sched  # few channels a group: the direct kernel
            if sched.get("cv") and not prepack_gconv_cv(prog, step, sched):
                sched = gconv.schedule(wl, facts, cv=False) or base  # weights not constant: the pixel-vector form
        elif sched.get("planes"):  # tap planes (C only): without a C compiler the LLVM kernel packs from the image
            sched = {k: v for k, v in sched.items() if k not in ("planes", "stride")}
        if sched.get("trans") and not (c_kernels and prepack_conv_t(prog, step, sched)):
            sched = space_of(wl, facts).default(spatial_rows=False)  # weights not constant: vectors along the plane
        fn = f"{name}_tk{i}"
        b_packed = wl.kind == "gemm" and sched.get("pack_b") and prepack_b(prog, step, sched)
        scratch = Buffer(f"t_scratch{i}", (scratch_floats(sched, b_packed),), "float32")
        prog.temps.append(scratch)
        epi = epilogue_after(prog, i)
        if epi is not None:  # the scheduled kernel's extra parameters (its declaration's Tuning.extra)
            step.decl.extend(step, scratch=scratch, R=epi[3])
            fused.append(prog.steps[i + 1])
        else:
            step.decl.extend(step, scratch=scratch)
        step.fn, step.impl, step.header = fn, kernel_source(wl.kind, fn, sched, wl, epi, b_packed), None
        step.schedule, step.workload = sched, wl
        if pt is not None:
            step.choice = pt
        if src == "db":
            step.tuning = tuning
        step.generated = {"kind": wl.kind, "pointwise": wl.pointwise, "epilogue": epi, "b_packed": bool(b_packed)}
    prog.steps = [s for s in prog.steps if not any(s is f for f in fused)]
    stats["choice"] += attach_graph_choices(prog)
    # a direct stem convolution and the max pooling after it as one kernel (conv_pool.py: the convolution's output
    # never goes to memory whole), where the profile's [tune] conv_pool says so
    if c_kernels and (tgt.data.get("tune") or {}).get("conv_pool"):
        n = conv_pool.fuse_conv_maxpool(prog)
        if n:
            stats["conv_pool"] = n
    # Winograd layers that feed Winograd layers hand them the padded channels-last layout ([winograd] chain_layouts)
    if wino and (tgt.data.get("winograd") or {}).get("chain_layouts"):
        n = winograd.chain_layouts(prog, bounds, tgt.data.get("memory", {}).get("align", 16))
        if n:
            stats["winograd_chains"] = n
    return stats


def attach_graph_choices(prog) -> int:
    """The per-layer decisions a graph pass made (``Function.choices``: fuse_dw_project's blocks) on the steps lowered
    from those bindings (``LibCall.binding``), so a build's choice points (``step_profile.points_of``) and the step
    timer's sites include them: the pair's two steps carry the block's point, the fused step its own. Returns how
    many points took another candidate than the default."""
    choices = getattr(prog.func, "choices", None) or {}
    taken = set()
    for step in prog.steps:
        pt = choices.get(getattr(step, "binding", None))
        if pt is not None and getattr(step, "choice", None) is None:
            step.choice = pt
            if kernel_choice.key(pt.chosen) != kernel_choice.key(pt.candidates[0]):
                taken.add(id(pt))
    return len(taken)


def choice_points(prog, tgt, bounds: Dict[str, int], name: str, db, default: str) -> Dict[int, "kernel_choice.ChoicePoint"]:
    """id(step) -> its ``kernel_choice.ChoicePoint`` for every convolution with kernels to choose from (not a
    GEMV / few-rows step): the candidates, the rule's kernel first, and what the database's kernel-choice records
    pick (``kernel_choice.pick``: the default unless beaten by ``[tune] tie_margin``)."""
    facts = target_facts(tgt)
    margin = kernel_choice.margin_of(tgt)
    out = {}
    for i, step in enumerate(prog.steps):
        wl = workload_of(step, bounds)
        if wl is None or wl.kind != "conv2d" or default == "library":
            continue
        if kept_kernel(prog, i, wl, facts, default, True) in ("gemv", "smallm"):
            continue
        dflt = kernel_choice.default_choice(step, wl, facts, tgt)
        cands = kernel_choice.candidates(step, wl, facts, tgt, dflt) if dflt is not None else []
        if not cands:
            continue
        site = f"{name}:{step.outputs[0].name}"
        ewl = wl.with_epilogue(epilogue_after(prog, i))
        chosen = kernel_choice.pick(db, ewl.hash(tgt.name), tgt.name, dflt, cands, margin, site)
        recorded = bool(kernel_choice.records_for(db, ewl.hash(tgt.name), tgt.name, site, warn=False))
        out[id(step)] = kernel_choice.ChoicePoint(site, ewl, cands, chosen, recorded)
    return out


def float16_gemvs(prog, bounds: Dict[str, int]) -> int:
    """``--weights fp16`` on a profile without a ``[tune]`` table (wasm32, Cortex-M): the library GEMM/convolution
    calls that are matrix-vector products over a weight of float16 values become ``sdk_gemv_f16w_f32`` calls (their
    epilogue folded in); every other call stays the library's. Returns how many."""
    def rewrite(i, step, epi):
        wl = workload_of(step, bounds)
        return None if wl is None else gemv.rewrite(prog, step, wl, epi, weights16=True, only16=True)
    return replace_folding_epilogues(prog, rewrite)


def b_prepackable(prog, step) -> bool:
    """Whether a GEMM step's B is a weight ``prepack_b`` stores packed (one float32 constant matrix, static
    strides): a ``pack_b`` schedule then pays no packing at run time (``sdk tune`` measures it so)."""
    dims = [step.arg(n) for n in ("batch", "K", "N", "b_rs", "b_cs")]
    return (float_const(prog, step.arg("B")) is not None and all(isinstance(d, int) for d in dims)
            and (dims[0] == 1 or step.arg("b_bs") == 0))


def prepack_b(prog, step, sched) -> bool:
    """A GEMM whose B is a weight (one matrix, static strides): store it packed in the schedule's panel order
    (``pack_b_const``) so the kernel reads it in place instead of packing it on every run (what onnxruntime
    does with constant weights at session start). The packed weight replaces the original when no other step
    reads it, else is added next to it. Returns whether the call now passes packed B."""
    if not b_prepackable(prog, step):
        return False
    const = float_const(prog, step.arg("B"))
    _, K, N, rs, cs = [step.arg(n) for n in ("batch", "K", "N", "b_rs", "b_cs")]
    flat = const[1].reshape(-1)
    packed = pack_b_const(flat[np.arange(K)[:, None] * rs + np.arange(N)[None, :] * cs], sched)
    step.args[step.decl.index("B")] = store_derived(prog, const[0], packed, "_packed")
    return True


def prepack_gconv_cv(prog, step, sched) -> bool:
    """A channel-vector grouped convolution's weights packed for its kernel (``gconv_cv.pack_const``); False when
    the weights are not a float32 constant."""
    const = float_const(prog, step.arg("Wt"))
    M, groups = step.arg("M"), step.arg("groups")
    if const is None or not all(isinstance(v, int) for v in (groups, M)):
        return False
    packed = gconv_cv.pack_const(const[1].reshape(M, -1), groups, sched)
    step.args[step.decl.index("Wt")] = store_derived(prog, const[0], packed, "_packed_cv")
    return True


def prepack_conv_t(prog, step, sched) -> bool:
    """A "trans" pointwise convolution's weights stored transposed per group, packed for its kernel
    (``pack_conv_t_const``); False when the weights are not a float32 constant."""
    const = float_const(prog, step.arg("Wt"))
    M, groups = step.arg("M"), step.arg("groups")
    if const is None or not all(isinstance(v, int) for v in (groups, M)):
        return False
    packed = pack_conv_t_const(const[1].reshape(M, -1), groups, sched)
    step.args[step.decl.index("Wt")] = store_derived(prog, const[0], packed, "_packed_t")
    return True
