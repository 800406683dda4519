"""The declared library-kernel interface (as IREE's ukernel headers): one declaration per ``runtime_c`` kernel in
``library.py``; ops build their calls from it (``call``), and codegen (C, CUDA, LLVM), the tuner, mixed precision,
epilogue fusion and the bundle writers read it instead of positional argument lists."""
from __future__ import annotations

from typing import List, Optional

from ..errors import SdkError
from ..tir.expr import LibCall
from .interface import CudaImpl, LibKernel, Param, Tuning, Variant, named_args
from .library import KERNELS

__all__ = ["CudaImpl", "KERNELS", "LibKernel", "Param", "Tuning", "Variant", "call", "get", "named_args",
           "portable", "runtime_sources", "tunable"]


def get(name: str) -> LibKernel:
    if name not in KERNELS:
        raise SdkError(f"no library kernel named {name} (declared: {', '.join(sorted(KERNELS))})")
    return KERNELS[name]


def call(name: str, **kwargs) -> LibCall:
    """A checked call of the library kernel ``name`` (see ``LibKernel.call``)."""
    return get(name).call(**kwargs)


def tunable(kind: str) -> LibKernel:
    """The library kernel whose calls are tuning workloads of ``kind`` ("gemm", "conv2d")."""
    for k in KERNELS.values():
        if k.tune is not None and k.tune.kind == kind:
            return k
    raise SdkError(f"no tunable library kernel of kind {kind}")


def runtime_sources(prog, target=None) -> List[str]:
    """Sources (relative to ``runtime_c/src``) that implement the runtime library kernels ``prog`` calls, in a
    stable order: each kernel's portable file, or the arch variant that replaces it where ``target`` selects one
    (a variant ``#include``s its portable file, which then has to be next to it)."""
    files = set()
    for step in prog.steps:
        decl: Optional[LibKernel] = getattr(step, "decl", None)
        if isinstance(step, LibCall) and decl is not None:
            files.add(_implementation(decl.source, target))
    return sorted(files)


def portable(source: str) -> str:
    """The portable file of ``source`` (itself, or the file an arch variant includes)."""
    return next((k.source for k in KERNELS.values() for v in k.variants if v.source == source), source)


def _implementation(source: str, target) -> str:
    """``source`` or the variant of it that ``target`` selects (a variant replaces the whole file, whichever of
    its kernels a program calls)."""
    chosen = {v.source for k in KERNELS.values() if k.source == source for v in k.variants if v.applies(target)}
    if len(chosen) > 1:
        raise SdkError(f"{source}: more than one variant applies to target {target.name}: {sorted(chosen)}")
    return chosen.pop() if chosen else source
