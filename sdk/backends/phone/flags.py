"""Compile flags of phone (ARM64) bundles and tuning harnesses.

The profile's ``[cpu]`` table says what the kernels may use: ``arch`` (``-march``), ``neon``
(``-DSDK_HAVE_NEON``: NEON micro-kernels), ``dotprod`` (``+dotprod``, ``-DSDK_HAVE_DOTPROD``: int8 SDOT),
``fp16`` (``+fp16``)."""
from __future__ import annotations


def compile_flags(target) -> list:
    """The profile's C flags plus the ones its ``[cpu]`` options imply."""
    cpu = target.data.get("cpu", {})
    ext = "".join(f"+{e}" for e in ("dotprod", "fp16") if cpu.get(e))
    flags = list(target.cflags) + [f"-march={cpu.get('arch', 'armv8-a')}{ext}"]
    if cpu.get("neon", True):
        flags.append("-DSDK_HAVE_NEON=1")
    if cpu.get("dotprod"):
        flags.append("-DSDK_HAVE_DOTPROD=1")
    return flags
