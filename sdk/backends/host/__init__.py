"""The host backend: the C project built with the machine's gcc and run as a process (``runner.py``) or JIT-compiled
in this process with LLVM (``inprocess.py``, ``kernel_lib.py``); schedules are timed here (``measure.py``)."""
from __future__ import annotations

from ..base import Backend
from ..project import write_c_project
from .measure import Measurer
from .runner import HostRunner


def jit(bundle):
    """The bundle compiled in this process (``inprocess.JitModel``; llvmlite is imported on first use)."""
    from .inprocess import JitModel
    return JitModel(bundle)


BACKEND = Backend("host", write_bundle=write_c_project, runner=HostRunner, measurer=Measurer, jit=jit)
