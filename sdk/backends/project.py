"""The C project every backend's bundle starts from: generated sources, the runtime files they need, and project
files rendered from ``templates/``. ``write_c_project`` is the host backend's writer; the others reuse its pieces."""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import jinja2

from .. import kernels
from ..errors import SdkError
from ..ir import sym
from ..resources import RUNTIME, TEMPLATES

CORE = ["sdk_status.c", "sdk_runtime.c"]


THREADING = ("openmp", "pool")  # [cpu] threading: whose threads run the kernels' OpenMP regions


def threading(target) -> str:
    """The profile's ``[cpu] threading``: "pool" (the runtime's sdk_pool.c runs the regions gcc outlines for
    ``-fopenmp``; no libgomp) or "openmp" (libgomp / libomp; the default)."""
    mode = (target.data.get("cpu", {}).get("threading", "openmp") if target is not None else "openmp")
    if mode not in THREADING:
        raise SdkError(f"target {target.name}: [cpu] threading = {mode!r} (known: {', '.join(THREADING)})")
    return mode


def runtime_files(prog, target=None) -> list:
    """Runtime sources (relative to ``runtime_c/src``) this program compiles: the core (with the thread pool where
    the profile's threading is "pool") plus the files that implement the library kernels it calls on ``target``
    (``sdk.kernels.runtime_sources``)."""
    pool = ["sdk_pool.c"] if threading(target) == "pool" else []
    return list(CORE) + pool + kernels.runtime_sources(prog, target)


def copy_runtime(out: Path, files) -> list:
    """Copy runtime sources, with their headers (and the portable file an arch variant includes), into the flat
    folder ``out``; returns the file names to compile."""
    names = []
    for c in files:
        for src in dict.fromkeys([kernels.portable(c), c]):
            shutil.copy(RUNTIME / "src" / src, out / Path(src).name)
        h = Path(kernels.portable(c)).with_suffix(".h").name
        shutil.copy(RUNTIME / "include" / h, out / h)
        names.append(Path(c).name)
    return names


def kernel_units(bundle) -> list:
    """The scheduled kernels' own translation units (``[codegen] kernel_units``: ``<name>_tk<i>.c``)."""
    return sorted(f for f in bundle.sources if f.startswith(f"{bundle.name}_tk") and f.endswith(".c"))


def objects(bundle) -> list:
    """Object files among the generated sources (``--codegen llvm``: ``<name>_llvm.o``), linked with the C files."""
    return sorted(f for f in bundle.sources if f.endswith(".o"))


@functools.lru_cache(maxsize=None)
def template_env() -> jinja2.Environment:
    """The templates' one environment: it keeps each template compiled (parsing and compiling main.c's template
    took ~10 ms of every bundle written, about 40 ms of the four a host bundle renders)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def _render(template: str, **kw) -> str:
    return template_env().get_template(template).render(**kw)


def write_sources(out: Path, bundle):
    """Write what the backend's renderer returned (``bundle.sources``: text or bytes) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)  # emptied or created by sdk.backends.folder.prepare_output
    for fname, content in bundle.sources.items():
        if isinstance(content, bytes):
            (out / fname).write_bytes(content)
        else:
            (out / fname).write_text(content)


def write_plan(out: Path, bundle):
    """``plan.json`` (the memory plan) and ``<name>.ir.txt`` (the graph and the lowered program)."""
    (out / "plan.json").write_text(json.dumps(bundle.plan.to_json(), indent=1))
    (out / f"{bundle.name}.ir.txt").write_text(str(bundle.func) + "\n\n" + str(bundle.program) + "\n")


def write_c_project(out: Path, bundle, cflags=None) -> Path:
    """The C project: sources, runtime files, ``main.c`` demo, Makefile and CMakeLists.txt compiled with ``cflags``
    (default: the profile's)."""
    out = Path(out)
    name, prog, plan, target = bundle.name, bundle.program, bundle.plan, bundle.target
    write_sources(out, bundle)
    generate = bundle.generation is not None  # a decoder step with <name>_generate (sdk/generate/)
    train = getattr(bundle, "training", None) is not None  # a training step with <name>_train_step (sdk/train/)
    rt = copy_runtime(out, runtime_files(prog, target) + (["sdk_generate.c"] if generate else []))
    for h in ("sdk_status.h", "sdk_math.h", "sdk_half.h", "sdk_kernel_defs.h"):
        shutil.copy(RUNTIME / "include" / h, out / h)
    lib_sources = [f"{name}.c"] + kernel_units(bundle) + ([f"{name}_generate.c"] if generate else []) + rt + \
        ([f"{name}_weights.S"] if f"{name}_weights.S" in bundle.sources else []) + objects(bundle)
    kw = dict(name=name, target=target.name, num_inputs=len(prog.inputs), num_outputs=len(prog.outputs),
              cc=target.cc, cflags=" ".join(target.cflags if cflags is None else cflags),
              ldlibs=" ".join(target.ldlibs),
              sources=" ".join(lib_sources + ["main.c"]), lib_sources=" ".join(lib_sources),
              inputs=_io_doc(bundle.func.input_names, prog.inputs),
              outputs=_io_doc(bundle.func.output_names, prog.outputs),
              bounds=", ".join(f"{k} <= {v}" for k, v in bundle.bounds.items()) or "none",
              arena=plan.arena_bytes, generate=generate, tokenizer=getattr(bundle, "tokenizer", None) is not None,
              train=train, name_upper=name.upper(), pool=threading(target) == "pool")
    text = generate and getattr(bundle, "encoder", None) is not None  # text in, text out (sdk/generate/text.py)
    if text:
        from ..generate.text import text_files, text_params
        enc = bundle.encoder
        write_sources(out, enc)
        enc_rt = [f for f in copy_runtime(out, runtime_files(enc.program, target)) if f not in lib_sources]
        kw.update(text_sources=" ".join([f"{enc.name}.c"] + kernel_units(enc) + enc_rt + ([f"{enc.name}_weights.S"] if f"{enc.name}_weights.S"
                                         in enc.sources else []) + objects(enc) + [f"{name}_text.c"]),
                  **text_params(bundle))
        for fname, tpl in text_files(bundle).items():
            (out / fname).write_text(_render(tpl, **kw))
    kw["text"] = text
    for t in ("main.c", "Makefile", "CMakeLists.txt", "README.md") + (("generate_main.c",) if generate else ()) + \
            (("train_main.c",) if train else ()):
        (out / t).write_text(_render(f"c_project/{t}", **kw))
    write_plan(out, bundle)
    (out / "bundle.json").write_text(json.dumps({
        "name": name, "target": target.name, "inputs": bundle.func.input_names,
        "outputs": bundle.func.output_names, "bounds": bundle.bounds,
        **({"generate": {"vocab": bundle.generation.vocab,
                         "context": [bundle.func.input_names[k] for k in bundle.generation.context],
                         **({"cache_capacity": bundle.generation.capacity} if bundle.generation.capacity else {}),
                         **({"text": {"encoder": bundle.encoder.name, "demo": f"{name}_ask",
                                       "max_len": bundle.generation_max_len()}} if text else {})}}
           if generate else {})}, indent=1))
    return out


def _io_doc(names, bufs):
    return "".join(f"- `{n}`: {b.dtype}[{', '.join(sym.to_str(d) for d in b.shape)}]\n" for n, b in zip(names, bufs))
