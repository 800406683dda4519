"""LLVM objects for CPU targets (``sdk build --codegen llvm``, ``sdk.compile(..., codegen="llvm")``).

The model's steps (``sdk/codegen/llvm.py``: every tir kernel and the calls between them) are compiled by
LLVM for the profile's ``[llvm]`` table (triple, cpu, features, relocation model) into ``<name>_llvm.o``.
The bundle keeps the same header and a small ``<name>.c`` (``codegen/c.py`` with ``llvm_layout``): the API
(dims checks, arena offsets, weights), which calls ``<name>_entry`` of the object; the library kernels
(runtime GEMM/conv/pooling, the scheduled kernels) stay C. The target's usual toolchain compiles the C
files and links the object: the Makefile, CMake and firmware builds list it with the sources.
"""
from __future__ import annotations

from typing import Dict

from ..errors import SdkError
from ..tir.expr import LibCall, LoopHead
from .c import generate as c_generate
from .llvm import Proto, generate

_ready = False


def _llvm():
    global _ready
    import llvmlite.binding as llvm
    if not _ready:
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        _ready = True
    return llvm


def target_machine(target):
    """(LLVM target machine, triple) of a profile's ``[llvm]`` table ("native": this machine's)."""
    spec = target.data.get("llvm")
    if not spec or "triple" not in spec:
        raise SdkError(f"target '{target.name}' has no [llvm] table (triple, cpu, features): "
                       f"--codegen llvm is not available for it")
    llvm = _llvm()
    triple = llvm.get_process_triple() if spec["triple"] == "native" else spec["triple"]
    cpu = llvm.get_host_cpu_name() if spec.get("cpu") == "native" else spec.get("cpu", "")
    features = llvm.get_host_cpu_features().flatten() if spec.get("features") == "native" else spec.get("features", "")
    tm = llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=3, reloc=spec.get("reloc", "default"), codemodel="default")
    return tm, triple


def externs(prog) -> Dict[str, Proto]:
    """Every library function the program calls, by the name the C files export."""
    out = {}
    for step in prog.steps:
        if isinstance(step, LibCall) and step.fn not in out:
            if step.decl is None:
                raise SdkError(f"--codegen llvm: library function {step.fn} has no declaration (sdk/kernels/)")
            out[step.fn] = Proto(step.fn, "void", ["ptr" if p.pointer else p.dtype
                                                   for p in step.decl.signature(len(step.args))])
    return out


def optimise(llvm, mod, tm):
    """LLVM's O3 pipeline with the loop and SLP vectorisers, no full unrolling (as the JIT)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = pto.slp_vectorization = True
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


def object_code(prog, plan, name: str, target):
    """(object file bytes, Layout) of the program's steps for the profile's ``[llvm]`` target."""
    if any(isinstance(s, LoopHead) for s in prog.steps) or \
            len(getattr(prog.func, "all_symbols", prog.func.symbols)()) != len(prog.func.symbols()):
        raise SdkError("--codegen llvm: models with run-time dims or loops (data-dependent shapes, Loop/Scan) are "
                       "not supported by LLVM objects yet; build them with the C path")
    llvm = _llvm()
    tm, triple = target_machine(target)
    text, layout = generate(prog, plan, name, externs(prog))
    mod = llvm.parse_assembly(text)
    mod.triple, mod.data_layout = triple, str(tm.target_data)
    mod.verify()
    optimise(llvm, mod, tm)
    return tm.emit_object(mod), layout


def llvm_sources(prog, plan, name: str, target, bounds, precision: str = "fp32") -> Dict[str, object]:
    """{file name: text or bytes}: the C renderer's files with the steps replaced by the LLVM object."""
    obj, layout = object_code(prog, plan, name, target)
    storage = target.data.get("weights", {}).get("storage", "incbin")
    opts = {k: v for k, v in target.data.get("codegen", {}).items()}
    files = c_generate(prog, plan, name, bounds, weights_storage=storage, llvm_layout=layout, **opts)
    files[f"{name}_llvm.o"] = obj
    return files
