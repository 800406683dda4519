"""The interface of a backend: what one target kind brings to the shared compiler.

A backend is a folder ``sdk/backends/<kind>/`` whose ``__init__.py`` builds one :class:`Backend` from its own modules
(bundle writer, runner, and where the kind has them: a renderer, compile-flag logic, a tuning measurer); the table in
``sdk/backends/__init__.py`` registers it under the name a target profile gives (``backend = "<kind>"``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..codegen.c import generate


def c_sources(prog, plan, name: str, target, bounds: Dict[str, int], precision: str = "fp32") -> Dict[str, object]:
    """The shared C renderer (``sdk/codegen/c.py``) with the profile's ``[codegen]`` options and ``[weights]
    storage``: {file name: text or bytes}. ``precision`` is always fp32 here (``Backend.precisions``)."""
    storage = target.data.get("weights", {}).get("storage", "incbin")
    return generate(prog, plan, name, bounds, weights_storage=storage, **target.data.get("codegen", {}))


def profile_flags(target) -> List[str]:
    """The profile's ``[toolchain] cflags`` as they are."""
    return list(target.cflags)


@dataclass(frozen=True)
class Backend:
    """One target kind. Every entry takes the loaded profile (``sdk.targets.Target``) where it needs one."""
    name: str
    # (folder, sdk.api.Bundle) -> folder: write the bundle's files into a folder sdk.backends.folder prepared
    write_bundle: Callable[[Path, object], Path]
    # runner class: runner(**options).run(folder, {input name: array}, arena=, repeat=, rebuild=) -> (outputs, info)
    runner: Callable[..., object]
    # (program, memory plan, name, target, bounds, precision) -> {file name: text or bytes}
    codegen: Callable[..., Dict[str, object]] = c_sources
    # target -> the C flags its bundles (and its measurer's harnesses) compile with
    compile_flags: Callable[[object], List[str]] = profile_flags
    # tuning measurer class, or None (sdk tune refuses the kind): measurer(target, seed=).measure(workload,
    # schedules) -> [cost]; its ``unit`` names the cost ("s", "insn")
    measurer: Optional[Callable[..., object]] = None
    # per-layer kernel choices measured in the bundle (sdk/tune/kernel_choice.py), or None (not searched):
    # choice_measurer(model, target=, dims=, name=, budget_s=, progress=) -> (points, {hash: {candidate: cost}}, info)
    choice_measurer: Optional[Callable[..., object]] = None
    # the schedule search's winners measured in the bundle against the defaults, or None (not checked):
    # schedule_checker(model, db, target=, dims=, name=, budget_s=, progress=) -> ([records], info)
    schedule_checker: Optional[Callable[..., object]] = None
    # model_measurer(model, db, target=, dims=, name=, budget_s=, progress=) -> ([records], info): the whole-model
    # stage's candidate builds run as whole runs (sdk/tune/whole_model.py)
    model_measurer: Optional[Callable[..., object]] = None
    # bundle -> an in-process model (``.run(inputs)``), for ``engine="llvm"``; None: bundles run as programs only
    jit: Optional[Callable[[object], object]] = None
    # precisions its codegen accepts (sdk.compile's ``precision``)
    precisions: Tuple[str, ...] = ("fp32",)
    # folder -> one line about the built bundle for ``sdk build`` to print (e.g. firmware size), or None
    report: Optional[Callable[[Path], Optional[str]]] = None
