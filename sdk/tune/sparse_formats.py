"""``sdk tune``'s sparse-format decision (``sdk/sparse/tuning.py``): for each weight that the sparse pass's ``auto``
mode would weigh (mostly zeros, large enough), every candidate format the cost model considered, ``dense``
included, is built as a one-product bundle for the target (the dense one with the database's GEMM schedules),
run by the target's runner, and recorded in the tuning database; ``sdk build --db`` then stores the weight in the
fastest one.

Costs: on the host the median time of ``repeat`` runs in the in-process engine (seconds); elsewhere what the target's
runner reports: wasm's median time, the Cortex-M firmware's cycles (the emulator's instruction clock), ARM64 guest
instructions per call under qemu."""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from .. import pipeline
from ..backends import backend_of
from ..frontend.onnx import ir_dims
from ..ir import sym
from ..ir.graph import Binding, Function
from ..sparse.tuning import NAME, SPACE
from ..transform.sparsify import sparse_options, sparse_reports, sparsify


@dataclass
class SparseSite:
    """One sparse-eligible product: where it is, its key, the binding and function it comes from, the candidate
    format names with the cost model's estimates (cycles), and the measured costs."""
    site: str                  # "model:weight"
    key: str                   # sdk/sparse/tuning.py weight_key
    binding: Binding
    func: Function
    estimate: Dict[str, float]
    measured: Dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def best(self) -> Optional[str]:
        ok = {k: v for k, v in self.measured.items() if math.isfinite(v)}
        return min(ok, key=ok.get) if ok else None


def sparse_sites(models: Dict[str, object], tgt, dims: Dict[str, Dict[str, int]]) -> List[SparseSite]:
    """The weights of ``models`` with more than one candidate format on ``tgt`` (one site per distinct key)."""
    opts = sparse_options(tgt, "auto")
    sites: Dict[str, SparseSite] = {}
    for name, model in models.items():
        model, bounds = ir_dims(model, dims.get(name))
        f, _ = pipeline.front(model, bounds, name)  # sparse off: the products as imported
        for r in sparse_reports(f, opts):
            if len(r["cycles"]) < 2 or r["key"] in sites:
                continue  # auto keeps it dense without asking (too dense, too small), or measured already
            b = next(b for b in f.bindings if b.name == r["node"])
            sites[r["key"]] = SparseSite(f"{name}:{r['weight']}", r["key"], b, f, dict(r["cycles"]))
    return list(sites.values())


def product_function(site: SparseSite) -> Function:
    """The site's product alone (its bias and epilogue, which every format fuses the same way, left out)."""
    b, f = site.binding, site.func
    x = b.inputs[0]
    syms = {s for d in x.shape for s in sym.free_vars(d)}
    return Function(f"{f.name}_sp", [x], list(b.outputs), [b], {k: v for k, v in f.bounds.items() if k in syms},
                    input_names=[x.onnx_name or x.name], output_names=[y.onnx_name or y.name for y in b.outputs],
                    opset=f.opset)


def build_format(site: SparseSite, fmt: str, tgt, db=None):
    """The bundle of the site's product with its weight in ``fmt`` ("dense" or a format name of the report)."""
    from ..api import Bundle
    g = product_function(site)
    if fmt != "dense":
        m = NAME.match(fmt)
        mode = "nm" if fmt.startswith("nm") else fmt[:3].rstrip("0123456789x")
        block = int(next(v for v in m.groups()[1:4] if v)) if mode in ("bsr", "ell", "hyb") else 1
        opts = dataclasses.replace(sparse_options(tgt, mode), block=block)
        g = sparsify(g, opts)
        chosen = [s for s in g.bindings if s.op == "SparseMatMul"]
        if len(chosen) != 1:
            raise ValueError(f"{site.site}: format {fmt} was not applied")
    bounds = dict(g.bounds)
    g, prog, mplan, file_plan = pipeline.plan(g, tgt, bounds, "sp", db)
    sources = pipeline.codegen(prog, mplan, "sp", tgt, bounds)
    return Bundle("sp", g, prog, mplan, sources, tgt, bounds, file_plan)


def _runner(tgt):
    cls = backend_of(tgt).runner
    params = inspect.signature(cls).parameters
    return cls(count_instructions=True) if "count_instructions" in params else cls()


def measure_bundle(bundle, feeds, repeat: int = 20):
    """(cost, unit) of one call of ``bundle`` on its target: in this process where the backend has an in-process
    engine (host: the same library kernels, JIT-compiled steps, timed natively), else by the target's runner."""
    if backend_of(bundle.target).jit is not None:
        _, info = bundle.run_with_info(feeds, engine="llvm", repeat=repeat)
        return float(info["median_ms"]) * 1e-3, "s"
    runner = _runner(bundle.target)
    with tempfile.TemporaryDirectory() as td:
        path = bundle.save(Path(td) / "b")
        _, info = runner.run(path, feeds, repeat=repeat)
        if "cycles" in info:
            return float(info["cycles"]), "cycles"
        if "instructions" in info:  # the whole process: one call's share from 1 and 3 calls
            _, one = runner.run(path, feeds, repeat=1)
            _, three = runner.run(path, feeds, repeat=3)
            return (float(three["instructions"]) - float(one["instructions"])) / 2, "insn"
        return float(info["median_ms"]) * 1e-3, "s"


def tune_sparse(models, tgt, dims, db=None, repeat: int = 20, measure: Optional[Callable] = None,
                progress: Optional[Callable] = None) -> List[SparseSite]:
    """Measure every candidate format of every sparse site and append the records to ``db``; returns the sites.
    ``measure(site, fmt) -> (cost, unit)`` replaces building and running (tests)."""
    sites = sparse_sites(models, tgt, dims)
    rng = np.random.default_rng(0)
    trial = 0
    for site in sites:
        x = site.binding.inputs[0]
        feeds = {x.onnx_name or x.name: rng.standard_normal(
            [sym.upper_bound(d, site.func.bounds) for d in x.shape]).astype(np.float32)}
        for fmt in site.estimate:
            try:
                cost, unit = (measure(site, fmt) if measure is not None
                              else measure_bundle(build_format(site, fmt, tgt, db), feeds, repeat))
            except Exception as e:  # a candidate that fails to build or run is never chosen; the others still count
                cost, unit = math.inf, "s"
                if progress:
                    progress(f"{site.site} {fmt}: failed ({e})")
            site.measured[fmt] = cost
            trial += 1
            if db is not None:
                b = site.binding
                wl = {"op": b.op, "weight": site.site, "shape": [int(d) for d in b.inputs[1].shape]}
                db.add({"hash": site.key, "target": tgt.name, "workload": json.dumps(wl, sort_keys=True),
                        "site": site.site, "space": SPACE, "schedule": {"sparse_format": fmt},
                        "cost": cost if math.isfinite(cost) else None, "unit": unit, "trial": trial})
            if progress:
                progress(f"{site.site} {fmt}: {cost:.6g} {unit}")
    return sites


def sparse_summary(sites: List[SparseSite], clock_hz: float) -> str:
    """Per site: the cost model's pick, the measured best, and each candidate's estimate / measurement."""
    rows = [f"{'sparse weight':<36} {'estimated':>10} {'measured':>10}  candidates (estimate us / measured)"]
    for s in sites:
        est = min(s.estimate, key=s.estimate.get)
        cands = ", ".join(f"{k} {s.estimate[k] / clock_hz * 1e6:.1f}/{s.measured.get(k, math.nan):.4g}"
                          for k in s.estimate)
        rows.append(f"{s.site[:36]:<36} {est:>10} {str(s.best):>10}  {cands}")
    return "\n".join(rows)
