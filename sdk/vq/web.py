"""The vq search runtime for browsers: runtime_c/src/sdk_vq.c built with emcc as a standalone wasm module
(`sdk_vq.wasm`, no emscripten JS glue) plus its ES module `vq.mjs` (templates/vq/web/), flags from the
wasm32-browser target profile."""
import shutil
import subprocess
from pathlib import Path

from ..errors import BuildError
from ..resources import RUNTIME, TEMPLATES

EXPORTS = ["sdk_vq_open", "sdk_vq_scratch_size", "sdk_vq_search", "sdk_vq_search_batch", "sdk_vq_batch_scratch_size",
           "sdk_status_str", "sdk_vq_heap_base", "sdk_vq_index_bytes"]


def build_vq_wasm(out, target="wasm32-browser"):
    """Write `sdk_vq.wasm` and `vq.mjs` into the folder `out`; returns the .wasm path."""
    from ..backends.wasm.bundle import EMCC_HINT
    from ..backends.wasm.flags import compile_flags
    from ..targets import load_target
    t = load_target(target)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which(t.cc) is None:
        raise BuildError(EMCC_HINT)
    ldflags = [f for f in t.data.get("toolchain", {}).get("ldflags", []) if "TOTAL_STACK" not in f]
    srcs = [RUNTIME / "src/sdk_vq.c", RUNTIME / "src/sdk_status.c", TEMPLATES / "vq/web/vq_glue.c"]
    cmd = [t.cc, *compile_flags(t), f"-I{RUNTIME / 'include'}", *map(str, srcs), *ldflags, "-sTOTAL_STACK=65536",
           "-sEXPORTED_FUNCTIONS=" + ",".join("_" + f for f in EXPORTS), "-o", str(out / "sdk_vq.wasm")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise BuildError(f"building sdk_vq.wasm failed:\n{(r.stderr or r.stdout)[-4000:]}")
    shutil.copyfile(TEMPLATES / "vq/web/vq.mjs", out / "vq.mjs")
    return out / "sdk_vq.wasm"
