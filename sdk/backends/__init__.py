"""Backends: one folder per target kind, each behind the small interface of :class:`~sdk.backends.base.Backend`
(bundle writer, runner, and where the kind has them: renderer, compile flags, tuning measurer, in-process engine).

A target profile names its backend (``backend = "host"``); ``BACKENDS`` is the one table from that name to the
backend. Adding a target kind is a folder here, one row below, its templates and a profile."""
from __future__ import annotations

from ..errors import SdkError
from .base import Backend
from . import cuda, host, mcu, phone, wasm

BACKENDS: dict = {
    "host": host.BACKEND,
    "mcu": mcu.BACKEND,
    "phone": phone.BACKEND,
    "wasm": wasm.BACKEND,
    "cuda": cuda.BACKEND,
}


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``; SdkError naming the known ones otherwise."""
    if name not in BACKENDS:
        raise SdkError(f"no backend named '{name}' (known: {', '.join(BACKENDS)})")
    return BACKENDS[name]


def backend_of(target) -> Backend:
    """The backend of a loaded target profile (its ``backend`` key)."""
    if target.backend not in BACKENDS:
        raise SdkError(f"target '{target.name}': unknown backend '{target.backend}' (known: {', '.join(BACKENDS)})")
    return BACKENDS[target.backend]
