"""The host backend: the C project built with the machine's gcc and run as a process (``runner.py``) or JIT-compiled
in this process with LLVM (``inprocess.py``, ``kernel_lib.py``); schedules are searched through the JIT
(``measure_jit.py``, the default; or in gcc batches, ``measure.py``, ``sdk tune --measure c``) and each task's winners
are confirmed in gcc batches with their fused epilogue, as the bundle builds them (``measure.py``), where the compiler
is installed."""
from __future__ import annotations

from ..base import Backend
from ..project import write_c_project
from .runner import HostRunner


def jit(bundle):
    """The bundle compiled in this process (``inprocess.JitModel``; llvmlite is imported on first use)."""
    from .inprocess import JitModel
    return JitModel(bundle)


def measurer(tgt, **kw):
    """The host's tuning measurer: candidates timed through the JIT (llvmlite is imported on first use)."""
    from .measure_jit import JitMeasurer
    return JitMeasurer(tgt, **kw)


def choice_measurer(model, **kw):
    """Per-layer kernel choices measured in variant builds of the bundle (``step_profile.py``)."""
    from .step_profile import measure_choices
    return measure_choices(model, **kw)


def schedule_checker(model, db, **kw):
    """The searched schedules measured in the tuned bundle against the default build (``step_profile.py``)."""
    from .step_profile import check_schedules
    return check_schedules(model, db, **kw)


def model_measurer(model, db, **kw):
    """A model's complete candidate builds (untuned, tuned, near) run alternately as whole runs (``model_runs.py``)."""
    from .model_runs import measure_builds
    return measure_builds(model, db, **kw)


BACKEND = Backend("host", write_bundle=write_c_project, runner=HostRunner, measurer=measurer, jit=jit,
                  choice_measurer=choice_measurer, schedule_checker=schedule_checker, model_measurer=model_measurer)
