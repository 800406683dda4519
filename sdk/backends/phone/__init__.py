"""The phone (ARM64) backend: the C project cross-compiled with NEON/dotprod flags (``bundle.py``, ``flags.py``),
run under qemu-aarch64 (``runner.py``); schedules are measured in guest instructions (``measure.py``)."""
from __future__ import annotations

from ..base import Backend
from .bundle import write_phone_bundle
from .flags import compile_flags
from .measure import Arm64Measurer
from .runner import Arm64Runner

BACKEND = Backend("phone", write_bundle=write_phone_bundle, runner=Arm64Runner, compile_flags=compile_flags,
                  measurer=Arm64Measurer)
