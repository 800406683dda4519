"""Compile flags of MCU firmware: the profile's flags, the board's UART address and the DSP kernels where the core
has the DSP extension (``[cpu] dsp``)."""
from __future__ import annotations


def compile_flags(target) -> list:
    flags = list(target.cflags) + [f"-DUART_BASE={target.data['board']['uart_base']:#x}u"]
    if target.data["cpu"].get("dsp"):
        flags.append("-DSDK_HAVE_DSP=1")
    return flags
