"""Write a WebAssembly bundle: the model's C sources built with emcc into ``<name>.wasm``, an ES module
with the JS API (``Model.load``, ``run``, ``workspaceSize``), a browser demo page and a node runner script.

What differs from the C project comes from the target profile: the SIMD flags (``[simd]``, which also pick the
SIMD128 variant of the library kernels that their declarations name, ``sdk/kernels/library.py``) and the emcc
flags; the weights come from codegen as the profile's ``[weights] storage`` says (a C array: wasm objects have no
.incbin)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ...errors import BuildError
from ...ir import sym
from ...ir.dtypes import DTYPE_CODE, js_arrays
from ...memory.plan import nbytes
from ..project import RUNTIME, TEMPLATES, _io_doc, _render, copy_runtime, runtime_files, write_plan, write_sources
from .flags import compile_flags

EMCC_HINT = "emcc not found: install Debian's emscripten ('apt-get install emscripten', or 'make setup')"


def _tensor_meta(names, values, bufs, bounds):
    out = []
    for n, v, b in zip(names, values, bufs):
        shape = []
        for d in b.shape:
            if not isinstance(d, sym.Sym):
                shape.append(int(d))
            else:
                shape.append(sym._render(d, lambda n: n, "/", "Math.min", "Math.max"))  # JS; floored by the loader
        out.append({"name": n, "dtype": DTYPE_CODE[b.dtype], "dtypeName": b.dtype, "shape": shape,
                    "maxShape": [int(sym.upper_bound(d, bounds)) for d in b.shape],
                    "maxBytes": int(sym.upper_bound(nbytes(b), bounds))})
    return out


WASM_PAGE = 65536


def initial_memory(prog, plan) -> int:
    """Initial wasm memory from the plan: the weights (a data segment that must fit at instantiation;
    emscripten's default of 16 MiB made wasm-ld fail for ResNet-18-sized models), the stack, the arena up to
    64 MiB (larger arenas grow memory at load time) and 1 MiB of slack, in 64 KiB pages, at least 16 MiB."""
    weights = sum(int(arr.nbytes) + 64 for _, arr in prog.consts)
    need = weights + 262144 + min(int(plan.arena_bytes), 64 << 20) + (1 << 20)
    return max(16 << 20, -(-need // WASM_PAGE) * WASM_PAGE)


def write_wasm_bundle(out: Path, bundle) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name, prog, plan, target = bundle.name, bundle.program, bundle.plan, bundle.target
    if prog.func.runtime_syms:  # the JS loader sizes outputs from the input symbols only
        from ...errors import UnsupportedOp
        raise UnsupportedOp("run-time (data-dependent) dims", "", "the wasm32 JS API does not read them back yet; "
                            f"build for a C target ({', '.join(prog.func.runtime_syms)})")
    files = bundle.sources  # generated with the profile's [codegen] options and [weights] storage (sdk.pipeline)
    sources = [fname for fname in files if fname.endswith((".c", ".o"))]  # .o: --codegen llvm
    write_sources(out, bundle)
    generate = bundle.generation is not None  # <name>_generate.c is in files; its runtime half is sdk_generate.c
    sources += copy_runtime(out, runtime_files(prog, target) + (["sdk_generate.c"] if generate else []))
    for h in sorted((RUNTIME / "include").glob("*.h")):  # headers are small; generated code may use any
        shutil.copy(h, out / h.name)
    text = generate and getattr(bundle, "encoder", None) is not None  # text in, text out (sdk/generate/text.py)
    if text:
        sources += _write_text_path(out, bundle, target, sources)
    (out / f"{name}_glue.c").write_text(_render("wasm/wasm_glue.c", name=name, generate=generate, text=text))
    sources.append(f"{name}_glue.c")

    f = bundle.func
    symbols = prog.func.symbols()
    meta = {"name": name, "prefix": f"{name}_", "wasm": f"{name}.wasm", "symbols": symbols,
            "bounds": {s: int(bundle.bounds[s]) for s in symbols}, "arenaBytes": int(plan.arena_bytes),
            "inputs": _tensor_meta(f.input_names, f.inputs, prog.inputs, bundle.bounds),
            "outputs": _tensor_meta(f.output_names, f.outputs, prog.outputs, bundle.bounds)}
    if generate:
        meta["generate"] = {"vocab": bundle.generation.vocab, "maxLen": bundle.generation_max_len(),
                            "context": [f.input_names[k] for k in bundle.generation.context],
                            **({"text": {"encoder": bundle.encoder.name}} if text else {})}
    tok = getattr(bundle, "tokenizer", None)
    if tok is not None:  # wordpiece.mjs and the vocab are written next to the module (sdk.text.bundle)
        meta["tokenizer"] = {"vocab": f"{name}_vocab.txt", "lowercase": tok.lowercase,
                             "maxCharsPerWord": tok.max_chars_per_word, "unk": tok.vocab[tok.unk_id]}
    meta_js = json.dumps(meta)
    arrays = js_arrays()
    (out / f"{name}.mjs").write_text((TEMPLATES / "wasm" / "model.mjs").read_text().replace("/*@META@*/null", meta_js)
                                     .replace("/*@ARRAYS@*/null", arrays))
    (out / "index.html").write_text((TEMPLATES / "wasm" / "index.html").read_text()
                                    .replace("@NAME@", name).replace("/*@META@*/null", meta_js))
    (out / "run_node.mjs").write_text(_render("wasm/run_node.mjs", name=name).replace("/*@ARRAYS@*/null", arrays))
    if generate:
        (out / "generate_node.mjs").write_text(_render("wasm/generate_node.mjs", name=name))
    if text:
        (out / "ask_node.mjs").write_text(_render("wasm/ask_node.mjs", name=name))
    train = getattr(bundle, "training", None)
    if train is not None:  # the step runs in wasm; train.mjs keeps the state (sdk/train/), train_node.mjs: node CLI
        _write_train_node(out, name, train)
    fns = ("run", "workspace_size", "bind_dims", "heap_base") + (
        ("gen_params_size", "gen_params", "gen_workspace", "gen") if generate else ()) + (
        ("gen_text_workspace", "gen_text") if text else ())
    exports = ",".join(f"_{name}_{fn}" for fn in fns) + ",_sdk_status_str"
    memory = initial_memory(prog, plan) + (initial_memory(bundle.encoder.program, bundle.encoder.plan) if text else 0)
    ldflags = list(target.data.get("toolchain", {}).get("ldflags", [])) + [f"-sINITIAL_MEMORY={memory}"]
    if generate:  # the streaming import (wasm_glue.c): declared to emcc as a JS library symbol, so it links as an import
        (out / f"{name}_imports.js").write_text(
            f"// {name}_on_token: the JS host's streaming callback ({name}.mjs generate({{onToken}})), a wasm import\n"
            f"mergeInto(LibraryManager.library, {{ {name}_on_token: function () {{}} }});\n")
        ldflags.append(f"--js-library {name}_imports.js")
    kw = dict(name=name, target=target.name, cc=target.cc, cflags=" ".join(compile_flags(target)),
              ldflags=" ".join(ldflags), sources=" ".join(sources),
              exports=exports, inputs=_io_doc(f.input_names, prog.inputs), outputs=_io_doc(f.output_names, prog.outputs),
              bounds=", ".join(f"{k} <= {v}" for k, v in bundle.bounds.items()) or "none", arena=plan.arena_bytes,
              first_input=f.input_names[0] if f.input_names else "x",
              dims_example=", ".join(f"{s}: {bundle.bounds[s]}" for s in symbols))
    for t in ("Makefile", "README.md"):
        (out / t).write_text(_render(f"wasm/{t}", **kw))
    write_plan(out, bundle)
    (out / "bundle.json").write_text(json.dumps({
        "name": name, "target": target.name, "inputs": f.input_names, "outputs": f.output_names,
        "bounds": bundle.bounds, "wasm": f"{name}.wasm", "module": f"{name}.mjs",
        **({"generate": meta["generate"]} if generate else {})}, indent=1))
    build_wasm(out)
    return out


def _write_text_path(out: Path, bundle, target, sources) -> list:
    """The text path in the module (as in the C project, sdk/generate/text.py): the encoder's sources and runtime
    files, the C tokenizer with the vocabulary, ``<name>_text.c``; returns the C sources not yet in ``sources``."""
    from ...generate.text import text_params
    from ...text.bundle import write_tokenizer
    name, enc = bundle.name, bundle.encoder
    write_sources(out, enc)
    new = [f for f in enc.sources if f.endswith((".c", ".o"))]
    new += copy_runtime(out, runtime_files(enc.program, target))
    new += write_tokenizer(out, bundle.tokenizer, name, js=False)
    kw = dict(name=name, name_upper=name.upper(), **text_params(bundle))
    for ext in ("h", "c"):
        (out / f"{name}_text.{ext}").write_text(_render(f"c_project/text_generate.{ext}", **kw))
    new.append(f"{name}_text.c")
    return [f for f in dict.fromkeys(new) if f not in sources]


def _write_train_node(out: Path, name: str, ts):
    import numpy as np
    blob, params = bytearray(), []
    for p in ts.params:
        params.append({"name": p.name, "shape": list(p.init.shape), "offset": len(blob),
                       "slots": [s.onnx_name for s in p.slots]})
        blob.extend(np.ascontiguousarray(p.init, "<f4").tobytes())
    (out / f"{name}_train_init.bin").write_bytes(bytes(blob))
    meta = {"numInputs": ts.n_model_inputs, "optimizer": ts.options.optimizer, "betas": list(ts.options.betas),
            "params": params}
    (out / "train.mjs").write_text(_render("wasm/train.mjs", name=name).replace("/*@TRAIN@*/null", json.dumps(meta)))
    (out / "train_node.mjs").write_text(_render("wasm/train_node.mjs", name=name))


def build_wasm(out: Path) -> Path:
    """Run the bundle's Makefile (emcc); returns the .wasm path."""
    out = Path(out)
    meta = json.loads((out / "bundle.json").read_text())
    cc = next(ln.split("=", 1)[1].strip() for ln in (out / "Makefile").read_text().splitlines() if ln.startswith("CC ="))
    if shutil.which(cc) is None:
        raise BuildError(EMCC_HINT)
    r = subprocess.run(["make", "-s", "-C", str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"building {out / meta['wasm']} failed:\n{(r.stderr or r.stdout)[-4000:]}")
    return out / meta["wasm"]
