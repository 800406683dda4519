"""The microcontroller backend: the model's C sources plus a bare-metal firmware checked against the profile's
flash/RAM budget (``bundle.py``, flags in ``flags.py``), run on the emulated board or a real one over the serial
protocol (``runner.py``)."""
from __future__ import annotations

from ..base import Backend
from .bundle import firmware_report, write_mcu_bundle
from .flags import compile_flags
from .runner import CortexMRunner

BACKEND = Backend("mcu", write_bundle=write_mcu_bundle, runner=CortexMRunner, compile_flags=compile_flags,
                  report=firmware_report)
