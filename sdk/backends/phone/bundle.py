"""Write a phone (ARM64) bundle: the C project of ``writer.py`` built with the profile's cross compiler and
NEON/dotprod flags, plus a generic ``CMakeLists.txt`` for the Android NDK or Xcode and a CMake toolchain file
for Debian's aarch64 cross gcc.

The profile's ``[cpu]`` table says what the kernels may use: ``arch`` (``-march``), ``neon``
(``-DSDK_HAVE_NEON``: NEON micro-kernels), ``dotprod`` (``+dotprod``, ``-DSDK_HAVE_DOTPROD``: int8 SDOT),
``fp16`` (``+fp16``)."""
from __future__ import annotations

import copy
from pathlib import Path

from ..targets import Target
from .writer import _render, write_bundle


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


def write_phone_bundle(out: Path, bundle) -> Path:
    t = bundle.target
    flagged = copy.copy(bundle)
    flagged.target = Target(t.name, t.runner, t.cc, compile_flags(t), t.ldlibs, t.data)
    out = write_bundle(Path(out), flagged)
    bundle.path = out
    cpu, cm = t.data.get("cpu", {}), t.data.get("cmake", {})
    name = bundle.name
    lib_sources = [f"{name}.c"] + [p.name for p in sorted(out.glob("sdk_*.c"))]
    if (out / f"{name}_weights.S").exists():  # .incbin for ELF and Mach-O (sdk/codegen/weights.py)
        lib_sources.append(f"{name}_weights.S")
    kw = dict(name=name, target=t.name, arch=cpu.get("arch", "armv8-a"), lib_sources=" ".join(lib_sources),
              neon="ON" if cpu.get("neon", True) else "OFF", dotprod="ON" if cpu.get("dotprod") else "OFF",
              threads="ON" if cpu.get("threads", 1) > 1 else "OFF",
              android_abi=cm.get("android_abi", "arm64-v8a"), android_platform=cm.get("android_platform", "android-24"),
              cc=t.cc, cflags=" ".join(flagged.target.cflags))
    (out / "CMakeLists.txt").write_text(_render("phone/CMakeLists.txt", **kw))
    (out / "aarch64-linux-gnu.cmake").write_text(_render("phone/aarch64-linux-gnu.cmake", **kw))
    with open(out / "README.md", "a") as f:
        f.write(_render("phone/README_phone.md", **kw))
    return out
