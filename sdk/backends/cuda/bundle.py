"""Write a CUDA bundle: ``<name>.cu``/``<name>.h`` from ``codegen.py``, the host runtime core and the GPU
runtime (``runtime_c/cuda``), a Makefile and CMakeLists.txt for nvcc, and a demo ``main.cu``."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ...resources import GPU_HEADERS, GPU_RUNTIME
from ..project import RUNTIME, _io_doc, _render, write_plan, write_sources

HOST_CORE = ["sdk_status.c", "sdk_runtime.c"]


def write_cuda_bundle(out: Path, bundle) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name, prog, plan, target = bundle.name, bundle.program, bundle.plan, bundle.target
    precision = bundle.precision
    write_sources(out, bundle)  # from the CUDA renderer (codegen.py)
    for c in HOST_CORE:
        shutil.copy(RUNTIME / "src" / c, out / c)
    for h in ("sdk_status.h", "sdk_runtime.h"):
        shutil.copy(RUNTIME / "include" / h, out / h)
    for c in GPU_RUNTIME + GPU_HEADERS:
        shutil.copy(RUNTIME / "cuda" / c, out / c)
    lib_sources = [f"{name}.cu", f"{name}_weights.S"] + GPU_RUNTIME + HOST_CORE
    arch = target.data.get("arch", "sm_90")
    kw = dict(name=name, target=target.name, precision=precision, num_inputs=len(prog.inputs),
              num_outputs=len(prog.outputs), cc=target.cc, cflags=" ".join(target.cflags),
              ldlibs=" ".join(target.ldlibs), sources=" ".join(lib_sources + ["main.cu"]),
              lib_sources=" ".join(lib_sources), arch_num=arch.replace("sm_", ""),
              defines=" ".join(f[2:] for f in target.cflags if f.startswith("-D")),
              inputs=_io_doc(bundle.func.input_names, prog.inputs),
              outputs=_io_doc(bundle.func.output_names, prog.outputs),
              bounds=", ".join(f"{k} <= {v}" for k, v in bundle.bounds.items()) or "none", arena=plan.arena_bytes,
              train=getattr(bundle, "training", None) is not None, NAME=name.upper())
    for t in ("main.cu", "Makefile", "CMakeLists.txt", "README.md") + (("train_main.cu",) if kw["train"] else ()):
        (out / t).write_text(_render(f"cuda/{t}", **kw))
    write_plan(out, bundle)
    (out / "bundle.json").write_text(json.dumps({
        "name": name, "target": target.name, "precision": precision, "inputs": bundle.func.input_names,
        "outputs": bundle.func.output_names, "bounds": bundle.bounds}, indent=1))
    return out
