"""Write a phone (ARM64) bundle: the C project (``sdk/backends/project.py``) built with the profile's cross compiler
and NEON/dotprod flags (``flags.py``), plus a generic ``CMakeLists.txt`` for the Android NDK or Xcode and a CMake
toolchain file for Debian's aarch64 cross gcc."""
from __future__ import annotations

from pathlib import Path

from ... import kernels
from ..project import _render, objects, runtime_files, write_c_project
from .flags import compile_flags


def write_phone_bundle(out: Path, bundle) -> Path:
    t = bundle.target
    cflags = compile_flags(t)
    out = write_c_project(Path(out), bundle, cflags)
    cpu, cm = t.data.get("cpu", {}), t.data.get("cmake", {})
    name = bundle.name
    # every runtime file in the folder but the portable ones an arch variant #includes (compiled through it)
    included = {Path(kernels.portable(f)).name for f in runtime_files(bundle.program, t) if kernels.portable(f) != f}
    lib_sources = [f"{name}.c"] + ([f"{name}_generate.c"] if (out / f"{name}_generate.c").exists() else []) + \
        [p.name for p in sorted(out.glob("sdk_*.c")) if p.name not in included]
    if (out / f"{name}_weights.S").exists():  # .incbin for ELF and Mach-O (sdk/codegen/weights.py)
        lib_sources.append(f"{name}_weights.S")
    lib_sources += objects(bundle)  # --codegen llvm
    kw = dict(name=name, target=t.name, arch=cpu.get("arch", "armv8-a"), lib_sources=" ".join(lib_sources),
              neon="ON" if cpu.get("neon", True) else "OFF", dotprod="ON" if cpu.get("dotprod") else "OFF",
              threads="ON" if cpu.get("threads", 1) > 1 else "OFF",
              android_abi=cm.get("android_abi", "arm64-v8a"), android_platform=cm.get("android_platform", "android-24"),
              cc=t.cc, cflags=" ".join(cflags))
    (out / "CMakeLists.txt").write_text(_render("phone/CMakeLists.txt", **kw))
    (out / "aarch64-linux-gnu.cmake").write_text(_render("phone/aarch64-linux-gnu.cmake", **kw))
    with open(out / "README.md", "a") as f:
        f.write(_render("phone/README_phone.md", **kw))
    return out
