"""Python API: ``sdk.compile(model, target, dims) -> Bundle``."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .bundle import write as write_bundle
from .codegen.c import generate
from .errors import SdkError, ShapeError
from .frontend.onnx import import_onnx
from .ir import sym
from .memory.order import memory_aware_order, reordered
from .memory.plan import plan_memory
from .runners import get_runner
from .targets import load_target
from .transform.fold_scale import fold_scalar_into_matmul
from .transform.lower_to_tir import lower_to_tir
from .tune.apply import apply_schedules
from .tune.database import TuningDatabase

ENGINES = ("llvm", "c")


def default_engine(target) -> str:
    """How ``Bundle.run`` runs a target's bundles by default: host bundles in process (LLVM JIT)."""
    return "llvm" if target.runner == "host" else "c"


class Bundle:
    """A compiled model: generated sources, memory plan, and how to run them."""

    def __init__(self, name, func, program, plan, sources, target, bounds, file_order_plan=None):
        self.name, self.func, self.program, self.plan = name, func, program, plan
        self.sources, self.target, self.bounds = sources, target, bounds
        self.file_order_plan = file_order_plan
        self.path: Optional[Path] = None
        self._tmp = None
        self._jit = None
        self.engine = default_engine(target)

    def save(self, out) -> Path:
        self.path = write_bundle(Path(out), self)
        return self.path

    def _ensure_saved(self) -> Path:
        if self.path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"sdk_{self.name}_")
            self.save(self._tmp.name)
        return self.path

    def check_inputs(self, inputs: Dict[str, np.ndarray]):
        for v, name in zip(self.func.inputs, self.func.input_names):
            if name not in inputs:
                raise ShapeError(f"missing input '{name}' (inputs: {', '.join(self.func.input_names)})")
            a = np.asarray(inputs[name])
            dt = "bool" if a.dtype == np.bool_ else a.dtype.name
            if dt != v.dtype:
                raise ShapeError(f"input '{name}': dtype {dt}, the model expects {v.dtype}")
            if a.ndim != len(v.shape):
                raise ShapeError(f"input '{name}': rank {a.ndim} {list(a.shape)}, the model expects rank {len(v.shape)} "
                                 f"[{', '.join(sym.to_str(d) for d in v.shape)}]")
            for k, d in enumerate(v.shape):
                if sym.is_static(d) and a.shape[k] != d:
                    raise ShapeError(f"input '{name}': dim {k} is {a.shape[k]}, the model expects {d}")
        extra = set(inputs) - set(self.func.input_names)
        if extra:
            raise ShapeError(f"unknown input '{sorted(extra)[0]}' (inputs: {', '.join(self.func.input_names)})")

    def run(self, inputs: Dict[str, np.ndarray], **kw) -> Dict[str, np.ndarray]:
        return self.run_with_info(inputs, **kw)[0]

    def run_with_info(self, inputs, runner=None, engine=None, **kw):
        """Run on this machine; returns (outputs, info). ``engine="llvm"`` (the default for host targets):
        JIT-compiled in this process on the first call; ``engine="c"``: build and start the bundle's demo
        program (every target; ``runner`` picks another runner of that kind)."""
        self.check_inputs(inputs)
        engine = engine or self.engine
        if engine not in ENGINES:
            raise SdkError(f"engine '{engine}': expected one of {', '.join(ENGINES)}")
        if engine == "llvm" and runner is None:
            if self.target.runner != "host":
                raise SdkError(f"engine 'llvm' runs host bundles; target '{self.target.name}' runs with engine='c'")
            return self.jit().run(inputs, **kw)
        runner = runner or get_runner(self.target.runner)
        return runner.run(self._ensure_saved(), inputs, **kw)

    def jit(self):
        """The in-process JIT-compiled model (``sdk/runners/inprocess.py``), made on first use."""
        if self._jit is None:
            from .runners.inprocess import JitModel
            self._jit = JitModel(self)
        return self._jit

    def workspace_size(self, dims: Dict[str, int]) -> int:
        from .memory.plan import workspace_at
        return workspace_at(self.plan, dims)


def compile(model, target: str = "host", dims: Optional[Dict[str, int]] = None, name: str = "model",
            reorder: bool = True, budget: Optional[Dict[str, int]] = None, quantize: Optional[str] = None,
            calibration: Optional[Dict[str, np.ndarray]] = None, precision: str = "fp32",
            progress=None, tuning_db=None, schedule_default: Optional[str] = None,
            engine: Optional[str] = None) -> Bundle:
    """Compile an ONNX model (path, bytes or ModelProto) into a bundle for ``target``.

    ``dims`` gives the upper bound of each symbolic dim (``{"seq": 128}``).
    ``budget`` overrides the MCU profile's budget (``{"ram_bytes": 65536, "flash_bytes": ...}``).
    ``quantize="int8"`` with ``calibration`` ({input name: float array}) quantizes after import
    (``sdk/transform/quantize.py``).
    ``precision="fp16"|"bf16"`` (CUDA targets): matrix products on tensor cores, the rest in fp32
    (``sdk/transform/mixed_precision.py``).
    ``tuning_db`` (path or ``sdk.tune.TuningDatabase``): schedules found by ``sdk tune`` for the GEMMs and
    convolutions; the others (and every one without a database) get the profile's ``[tune] default``:
    the default schedule, or the runtime library kernels (``schedule_default`` overrides: "heuristic" |
    "library").
    ``engine`` ("llvm" | "c"): how ``Bundle.run`` runs it on this machine (default: "llvm", in process, for
    host targets; "c": the bundle's demo program, as every other target)."""
    if engine is not None and engine not in ENGINES:
        raise SdkError(f"engine '{engine}': expected one of {', '.join(ENGINES)}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SdkError(f"bundle name '{name}' must be a C identifier")
    tgt = load_target(target)
    if precision not in ("fp32", "fp16", "bf16"):
        raise SdkError(f"precision '{precision}': expected fp32, fp16 or bf16")
    if precision != "fp32" and tgt.data.get("bundle") != "cuda":
        raise SdkError(f"precision '{precision}' needs a CUDA target (e.g. --target cuda-sm90); '{tgt.name}' is fp32")
    say = progress or (lambda stage: None)  # progress("import") etc., for long compiles
    say("import")
    f = import_onnx(model, dims, name)
    bounds = dict(dims or {})
    quant = None
    if quantize is not None:
        from .transform.quantize import quantize_int8
        if quantize != "int8":
            raise SdkError(f"quantize='{quantize}': only 'int8' is supported")
        if not calibration:
            raise SdkError("quantize='int8' needs calibration data ({input name: array}, --calibration data.npz)")
        f, quant = quantize_int8(f, model, calibration)
    say("lower + plan memory")
    f = fold_scalar_into_matmul(f)
    db = tuning_db
    if db is not None and not isinstance(db, TuningDatabase):
        if not Path(db).exists():
            raise SdkError(f"tuning database '{db}' not found (make one with: sdk tune MODEL --db {db})")
        db = TuningDatabase(db)

    def lower(func):
        p = lower_to_tir(func)
        apply_schedules(p, tgt, bounds, name, db, schedule_default)
        return p

    prog = lower(f)
    plan = plan_memory(prog, bounds)
    file_plan = plan
    if reorder and len(f.bindings) > 2:
        say("memory-aware order")
        g = reordered(f, memory_aware_order(f, bounds))
        prog2 = lower(g)
        plan2 = plan_memory(prog2, bounds)
        if (plan2.arena_bytes, plan2.lower_bound_bytes) < (plan.arena_bytes, plan.lower_bound_bytes):
            f, prog, plan = g, prog2, plan2
    say("generate C")
    sources = generate(prog, plan, name, bounds, **tgt.data.get("codegen", {}))  # profile options
    bundle = Bundle(name, f, prog, plan, sources, tgt, bounds, file_plan)
    bundle.budget = dict(budget or {})
    bundle.quant = quant
    bundle.precision = precision
    if engine is not None:
        bundle.engine = engine
    return bundle
