"""Compile flags of wasm bundles: the profile's emcc flags plus what its ``[simd]`` table asks for."""
from __future__ import annotations


def compile_flags(target) -> list:
    flags = list(target.cflags)
    simd = target.data.get("simd", {})
    if simd.get("simd128") and "-msimd128" not in flags:
        flags.append("-msimd128")
    if simd.get("relaxed_simd"):
        flags.append("-mrelaxed-simd")
    return flags
