"""The WebAssembly backend: the C sources built with emcc, an ES module with the JS API and a browser demo
(``bundle.py``, flags in ``flags.py``), run in node or headless Chromium (``runner.py``)."""
from __future__ import annotations

from ..base import Backend
from .bundle import write_wasm_bundle
from .flags import compile_flags
from .runner import WasmRunner

BACKEND = Backend("wasm", write_bundle=write_wasm_bundle, runner=WasmRunner, compile_flags=compile_flags)
