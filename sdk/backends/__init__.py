"""Runners build and run a bundle on its target and return outputs as numpy arrays.
A target profile names its runner (``runner = "host"``); this table maps names to classes."""
from __future__ import annotations

import importlib

from ..errors import SdkError

RUNNERS = {
    "host": "sdk.runners.host:HostRunner",
    "wasm": "sdk.runners.wasm:WasmRunner",
    "cortex_m": "sdk.runners.cortex_m:CortexMRunner",
    "cuda": "sdk.runners.cuda:CudaRunner",
    "arm64": "sdk.runners.arm64:Arm64Runner",
}


def get_runner(name: str, **kw):
    if name not in RUNNERS:
        raise SdkError(f"no runner named '{name}' (known: {', '.join(sorted(RUNNERS))})")
    mod, cls = RUNNERS[name].split(":")
    return getattr(importlib.import_module(mod), cls)(**kw)
