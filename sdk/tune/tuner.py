"""``tune(model, target, trials, db)``: extract a model's tunable workloads, search them, record the
measurements in the database that ``sdk build --db`` reads."""
from __future__ import annotations

import math
import sys
import time
from typing import Dict, List, Optional

from ..errors import SdkError
from ..frontend.onnx import import_onnx
from ..runners import get_runner  # noqa: F401  (other targets measure through their runners)
from ..targets import load_target
from ..transform.fold_scale import fold_scalar_into_matmul
from ..transform.lower_to_tir import lower_to_tir
from .database import TuningDatabase
from .measure import Measurer
from .search import Search, Task
from .space import space_of, target_facts
from .workload import workload_of


def extract_tasks(models: Dict[str, object], tgt, dims: Dict[str, Dict[str, int]]) -> List[Task]:
    """One task per distinct workload over all models (same GEMM twice: one task, count 2)."""
    facts = target_facts(tgt)
    tasks: Dict[str, Task] = {}
    for name, model in models.items():
        bounds = dict(dims.get(name) or {})
        f = fold_scalar_into_matmul(import_onnx(model, bounds, name))
        prog = lower_to_tir(f)
        for step in prog.steps:
            wl = workload_of(step, bounds)
            if wl is None:
                continue
            h = wl.hash(tgt.name)
            if h not in tasks:
                tasks[h] = Task(wl, space_of(wl, facts), h, count=0)
            tasks[h].count += 1
            tasks[h].sites.append(f"{name}:{step.outputs[0].name}")
    return list(tasks.values())


class _Bar:
    """Progress on stderr: trials, best estimated time of the tuned kernels, the task just measured."""

    def __init__(self, total, enabled, stream=None):
        self.total, self.enabled, self.stream = total, enabled, stream or sys.stderr
        self.t0 = time.perf_counter()

    def __call__(self, info):
        if not self.enabled:
            return
        n = min(info["trials"], self.total)
        filled = int(30 * n / max(self.total, 1))
        tot = info["total"]
        best = f"{tot * 1e3:8.4f} ms" if math.isfinite(tot) else "       - ms"
        self.stream.write(f"\rtune [{'#' * filled}{'.' * (30 - filled)}] {n}/{self.total} "
                          f"{time.perf_counter() - self.t0:6.1f}s best {best}  "
                          f"{str(info['task'].wl)[:40]:<40}")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")


def tune(models, target: str = "host", dims=None, trials: int = 200, db=None, seed: int = 0,
         time_budget_s: Optional[float] = None, progress: bool = True, batch: int = 8, plot=None,
         measurer=None) -> Search:
    """Tune every GEMM/convolution of ``models`` ({name: onnx model}, or one model) for ``target``.

    ``dims``: {model name: {dim: bound}} (or one dict for one model); kernels are tuned at the bounds.
    ``db``: path or TuningDatabase that receives every measurement. Returns the finished Search
    (``.tasks`` with best schedules, ``.history`` of (trials, seconds, estimated total))."""
    tgt = load_target(target)
    if not tgt.data.get("tune"):
        raise SdkError(f"target '{target}' has no [tune] table in targets/{target}.toml: nothing to tune")
    if tgt.runner != "host":
        raise SdkError(f"tuning measures on this machine; target '{target}' runs through its "
                       f"'{tgt.runner}' runner, which the tuner does not drive yet")
    if not isinstance(models, dict):
        models = {"model": models}
        dims = {"model": dims or {}}
    dims = dims or {}
    tasks = extract_tasks(models, tgt, dims)
    if not tasks:
        raise SdkError("no tunable kernels (GEMM/MatMul/Conv in float32) in the model")
    if db is not None and not isinstance(db, TuningDatabase):
        db = TuningDatabase(db)
    bar = _Bar(trials, progress)
    measurer = measurer or Measurer(tgt, seed=seed)
    search = Search(tasks, measurer.measure, tgt.name, seed=seed, batch=batch, db=db, progress=bar)
    try:
        search.run(trials, time_budget_s)
    finally:
        bar.close()
    if measurer is not None and getattr(measurer, "errors", None):
        for e in measurer.errors[:5]:
            print(f"warning: {e}", file=sys.stderr)
    if plot:
        plot_history(search, plot)
    return search


def plot_history(search: Search, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs = [h[0] for h in search.history]
    ys = [h[2] * 1e3 for h in search.history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(xs, ys, where="post")
    lib = sum(t.count * t.library_s for t in search.tasks) * 1e3
    dft = sum(t.count * t.default_s for t in search.tasks) * 1e3
    if math.isfinite(lib):
        ax.axhline(lib, ls=":", c="gray", label=f"runtime library kernels {lib:.3f} ms")
    if math.isfinite(dft):
        ax.axhline(dft, ls="--", c="orange", label=f"default schedules {dft:.3f} ms")
    ax.set_xlabel("trials")
    ax.set_ylabel("tuned kernels, ms (sum)")
    ax.set_title("best latency vs trials")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(search: Search) -> str:
    rows = [f"{'workload':<44} {'n':>2} {'library us':>10} {'default us':>10} {'tuned us':>9} {'GFLOP/s':>8}"]
    for t in sorted(search.tasks, key=lambda t: -t.count * t.best[1]):
        s, b = t.best
        rows.append(f"{str(t.wl)[:44]:<44} {t.count:>2} {t.library_s * 1e6:>10.1f} {t.default_s * 1e6:>10.1f} "
                    f"{b * 1e6:>9.1f} {t.wl.flops() / b * 1e-9:>8.1f}")
    return "\n".join(rows)
