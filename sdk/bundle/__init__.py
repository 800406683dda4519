"""Bundle writers. A target profile names its bundle kind (``bundle = "c_project"``)."""
from __future__ import annotations

import importlib

from ..errors import SdkError

WRITERS = {
    "c_project": "sdk.bundle.writer:write_bundle",
    "wasm": "sdk.bundle.wasm:write_wasm_bundle",
    "mcu": "sdk.bundle.mcu:write_mcu_bundle",
    "cuda": "sdk.bundle.cuda:write_cuda_bundle",
    "phone": "sdk.bundle.phone:write_phone_bundle",
}


def write(out, bundle):
    kind = bundle.target.data.get("bundle", "c_project")
    if kind not in WRITERS:
        raise SdkError(f"target '{bundle.target.name}': unknown bundle kind '{kind}'")
    mod, fn = WRITERS[kind].split(":")
    return getattr(importlib.import_module(mod), fn)(out, bundle)
