"""Library kernels for the in-process engine. The scheduled GEMM/convolution kernels (``LibCall.impl``, from
``sdk/tune/kernels.py``) are emitted as LLVM IR into the JIT's module from the same schedule
(``sdk/codegen/llvm_kernels.py``): no C compiler. The runtime's other kernels (pooling, depthwise convolution,
GEMV, NMS, int8, sparse: the portable source their declaration names, ``sdk/kernels/``) are C, so they are
compiled once per machine with the target's C compiler into shared libraries cached by content under
``~/.cache/sdk/kernels`` (``SDK_CACHE`` overrides the folder). The JIT binds their addresses (``llvm.add_symbol``).
With ``ir_kernels=False`` the scheduled kernels are built with the C compiler too (as before).

A tuned kernel's source differs from another's only by its name when the schedule is the same, so each is
renamed to ``sdk_tk_<hash of its source>``: a model's 50 convolutions usually need a few builds, and other
models reuse them. Small calls (up to ``SITE_FLOPS``), where the C bundle gains most from the compiler
specialising the kernel on the call's constant arguments, get their own build through ``call_site``.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

from ...codegen.c import const_c
from ...codegen.llvm import Proto
from ...ir import sym
from ...errors import BuildError
from ...resources import RUNTIME
from ...tir.expr import LibCall

# what the generated model.c includes before the tuned kernels (fused epilogues call sdk_expf & co)
TUNED_PRELUDE = ('#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include "sdk_runtime.h"\n'
                 '#include "sdk_math.h"\n#include "sdk_half.h"\n')
SITE_FLOPS = 1 << 22  # calls up to this many flops get a specialised build (call_site); larger ones share kernels
_loaded: Dict[str, ctypes.CDLL] = {}  # path -> library, kept for the life of the process


def cache_dir() -> Path:
    return Path(os.environ.get("SDK_CACHE") or Path.home() / ".cache" / "sdk") / "kernels"


def _flags(target) -> List[str]:
    # the bundle's flags (same code as the C path) minus warnings, as position-independent shared code
    return [f for f in target.cflags if not f.startswith("-W")] + ["-fPIC", "-shared"]


def _machine_key(cc: str) -> str:
    try:
        cpu = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "")
    except OSError:
        cpu = ""
    return f"{cc}|{platform.machine()}|{cpu}"


def build_shared(source: str, target, tag: str) -> Path:
    """Compile C ``source`` (runtime headers on the include path) into a cached shared library."""
    cc = target.cc
    flags = _flags(target)
    key = hashlib.sha256("\0".join([source, " ".join(flags), _machine_key(cc)]).encode()).hexdigest()[:20]
    out = cache_dir() / f"{tag}_{key}.so"
    if out.exists():
        return out
    if shutil.which(cc) is None:
        raise BuildError(f"the in-process engine needs the C compiler '{cc}' once to build library kernel {tag} "
                         f"(GEMM/convolution/pooling are C; cached afterwards in {cache_dir()})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / f"{tag}.c"
        src.write_text(source)
        tmp = Path(td) / out.name
        r = subprocess.run([cc, *flags, "-I", str(RUNTIME / "include"), "-o", str(tmp), str(src), "-lm"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"building library kernel {tag} failed:\n{r.stderr[-3000:]}")
        os.replace(tmp, out)  # atomic: a concurrent build of the same key writes the same bytes
    return out


def _load(path: Path) -> ctypes.CDLL:
    key = str(path)
    if key not in _loaded:
        _loaded[key] = ctypes.CDLL(key)
    return _loaded[key]


def call_site(step: LibCall, kernel: str) -> str:
    """An exported ``SDK_SITE`` function with the tuned kernel's parameters that calls the (static) kernel
    with this step's compile-time arguments as literals (dims, strides, alpha/beta, NULL pointers), as
    ``model.c`` calls it: the C compiler inlines the kernel and specialises it on them, as it does in the
    C bundle (tiny GEMMs run ~1.5x faster so)."""
    sig = step.decl.signature(len(step.args))
    args = []
    for p, a in zip(sig, step.args):
        if p.pointer:
            args.append("NULL" if a is None else p.name)
        elif p.ctype == "float":
            args.append(const_c(a, "float32"))
        else:
            args.append(str(int(a)) if sym.is_static(a) else p.name)
    unused = "".join(f"(void){p.name}; " for p, a in zip(sig, args) if a != p.name)
    return (f"void SDK_SITE({', '.join(p.c() for p in sig)});\n"
            f"void SDK_SITE({', '.join(p.c() for p in sig)}) {{\n  {unused}\n  {kernel}({', '.join(args)});\n}}\n")


def library_symbols(prog, target, ir_kernels: bool = True):
    """({called name: Proto with the symbol to call}, {symbol: address}, {symbol: emit_kernel spec}) for every
    library call of ``prog``. Scheduled GEMM/convolution kernels are emitted as LLVM IR into the module
    (``sdk/codegen/llvm_kernels.py``: the third dict) unless ``ir_kernels`` is False; the other library kernels
    are C: libraries missing from the cache are built in parallel (one compiler process per core)."""
    from ...codegen.llvm_kernels import spec_key, spec_of
    from ...codegen.llvm_runtime import C_FIRST, RUNTIME_IR
    protos, jobs, specs = {}, {}, {}  # jobs: symbol -> (C source, tag)
    have_cc = shutil.which(target.cc) is not None
    for step in prog.steps:
        if not isinstance(step, LibCall) or step.fn in protos:
            continue
        if step.decl is None:
            raise BuildError(f"in-process engine: library function {step.fn} has no declaration (sdk/kernels/)")
        params = ["ptr" if p.pointer else p.dtype for p in step.decl.signature(len(step.args))]
        spec = spec_of(step) if ir_kernels else None
        if ir_kernels and step.impl is None and step.fn in RUNTIME_IR and not (step.fn in C_FIRST and have_cc):
            protos[step.fn] = Proto(f"sdk_ir_{step.fn}", "void", params)
            specs[f"sdk_ir_{step.fn}"] = {"runtime": step.fn}
            continue
        if spec is not None:
            sym_name = f"sdk_ik_{spec_key(spec)}"
            protos[step.fn] = Proto(sym_name, "void", params)
            specs[sym_name] = spec
            continue
        if step.impl is None:
            src = RUNTIME / "src" / step.decl.source
            protos[step.fn] = Proto(step.fn, "void", params)
            jobs[step.fn] = (src.read_text(), src.stem)
            continue
        digest = hashlib.sha256(step.impl.replace(step.fn, "SDK_TK").encode()).hexdigest()[:16]
        src = re.sub(rf"\b{re.escape(step.fn)}", f"sdk_tk_{digest}", step.impl)
        if step.workload is not None and step.workload.flops() <= SITE_FLOPS:
            src += call_site(step, f"sdk_tk_{digest}")
            sym_name = f"sdk_site_{hashlib.sha256(src.encode()).hexdigest()[:16]}"
            src = src.replace("SDK_SITE", sym_name)
        else:
            sym_name = f"sdk_tk_{digest}"
            src = re.sub(rf"^static void {sym_name}\(", f"void {sym_name}(", src, flags=re.M)  # export the entry
        protos[step.fn] = Proto(sym_name, "void", params)
        jobs[sym_name] = (TUNED_PRELUDE + src, sym_name)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        paths = dict(zip(jobs, pool.map(lambda job: build_shared(job[0], target, job[1]), jobs.values())))
    addrs = {name: ctypes.cast(getattr(_load(p), name), ctypes.c_void_p).value for name, p in paths.items()}
    return protos, addrs, specs
