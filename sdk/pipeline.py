"""The one compilation sequence, parameterised by the target profile:

    import -> graph passes -> lower (+ fuse) -> schedule -> plan memory (best of two orders) -> codegen

``sdk.compile`` (api.py) runs all of it; the tuner (tune/tuner.py) runs the front half to find its workloads;
backends (``sdk/backends/``) only write what ``codegen`` returned. Each stage is a function of the previous stage's result."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

from .backends import backend_of
from .errors import SdkError
from .frontend.onnx import import_onnx
from .ir.graph import Function
from .memory.order import memory_aware_order, reordered
from .memory.plan import MemoryPlan, plan_memory
from .targets import Target
from .tir.build import fresh_ids
from .tir.expr import Kernel
from .tir.partition import partition_selects
from .tir.split_divmod import split_divmod_loops
from .transform.attention import attention_options, fuse_attention
from .transform.branch_order import pointwise_branches_last
from .transform.channel_scale import scale_into_weights
from .transform.concat_readers import split_concat_readers
from .transform.einsum_matmul import einsum_as_matmul
from .transform.fold_scale import fold_scalar_into_matmul
from .transform.fold_transpose import fold_transpose_into_matmul
from .transform.fuse_dw_project import choice_options, fuse_dw_project, fuse_options
from .transform.fuse_gelu import fuse_gelu
from .transform.fuse_rmsnorm import fuse_rmsnorm
from .transform.kv_cache import kv_cache_in_place
from .transform.layout import nhwc_layout
from .transform.matmul_views import fold_views_into_matmul, has_views
from .transform.split_projection import split_viewed_projection
from .transform.lower_to_tir import Program, lower_to_tir
from .transform.sparsify import SparseOptions, sparsify
from .transform.weights_fp16 import round_matrix_weights, weights_precision
from .tune.apply import apply_schedules

# Graph passes, in order: Function -> Function; a pass with options takes them as keyword arguments (front's
# caller gives them, keyed by the pass's name).
GRAPH_PASSES = [split_concat_readers, einsum_as_matmul, fuse_gelu, fuse_rmsnorm, fold_scalar_into_matmul,
                fuse_attention, fold_transpose_into_matmul, fold_views_into_matmul, split_viewed_projection,
                round_matrix_weights, kv_cache_in_place, sparsify, nhwc_layout, fuse_dw_project, scale_into_weights,
                pointwise_branches_last]


@dataclass
class Compiled:
    func: Function            # after the graph passes, in the execution order chosen
    program: Program          # lowered and scheduled
    plan: MemoryPlan
    file_order_plan: MemoryPlan  # the plan in the model file's order (reported next to the chosen one)
    sources: Dict[str, object]   # {file name: text or bytes} from the target's renderer


def front(model, bounds: Dict[str, int], name: str, quantize=None, calibration=None, empty_dims=(),
          sparse: Optional[SparseOptions] = None, layout: Optional[dict] = None, attention: Optional[dict] = None,
          kv_cache: Optional[dict] = None, weights: Optional[str] = None, views: Optional[dict] = None,
          fuse: Optional[dict] = None):
    """Import and graph passes: (Function, quantization record or None). ``empty_dims``: symbols that may be 0.
    ``sparse``: the sparse-weight pass's options (``sdk/transform/sparsify.py``; None: off); ``attention``: the
    fused-attention pass's (``sdk/transform/attention.py attention_options``; None: off); ``kv_cache``: the
    in-place key/value cache pass's (``sdk/transform/kv_cache.py``; None: off); ``weights``: the profile's
    ``[weights] precision`` ("fp16": matrix weights rounded, ``sdk/transform/weights_fp16.py``); ``views``: the
    strided-operand pass's (``sdk/transform/matmul_views.py``; None: off); ``fuse``: the depthwise + projection
    fusion's (``sdk/transform/fuse_dw_project.py fuse_options``; None: off)."""
    f = import_onnx(model, bounds, name, empty_dims)
    quant = None
    if quantize is not None:
        from .transform.quantize import quantize_int8
        f, quant = quantize_int8(f, model, calibration)
    options = {sparsify: dict(opts=sparse or SparseOptions("off")), nhwc_layout: dict(layout=layout),
               scale_into_weights: dict(layout=layout), pointwise_branches_last: dict(layout=layout),
               split_concat_readers: dict(layout=layout),
               fuse_attention: dict(opts=attention), kv_cache_in_place: dict(opts=kv_cache),
               round_matrix_weights: dict(opts=weights), fold_views_into_matmul: dict(opts=views),
               split_viewed_projection: dict(opts=views), fuse_dw_project: dict(opts=fuse)}
    for p in GRAPH_PASSES:
        f = p(f, **options.get(p, {}))
    return f, quant


def view_options(tgt: Target) -> Optional[dict]:
    """The strided-operand pass's options: on ({}) for a profile with ``[lower] matmul_views``."""
    return {} if (tgt.data.get("lower") or {}).get("matmul_views") else None


def layout_options(tgt: Target) -> Optional[dict]:
    """The profile's ``[layout]`` table for the layout pass (None: off). Its kernels are C in a bundle and LLVM IR
    in the in-process engine (``sdk/codegen/llvm_runtime.py``), so it needs no C compiler there."""
    return tgt.data.get("layout")


def lower(f: Function, tgt: Optional[Target] = None, bounds=None, name="model", db=None,
          schedule_default=None, options=None) -> Program:
    """Lower to tir (fusing; ``options``: the profile's ``[lower]`` table) and, given a target, apply its schedules
    to the GEMM/convolution calls."""
    if tgt is not None:
        options = dict(tgt.data.get("lower") or {})
        for k in ("softmax_kernel", "layernorm_kernel"):  # C runtime kernels: only where they can be built (or are
            if options.get(k):                            # not run in process)
                from .tune.apply import c_kernels_available
                options[k] = c_kernels_available(tgt)
    with fresh_ids():
        prog = lower_to_tir(f, options)
    if tgt is not None:
        apply_schedules(prog, tgt, bounds or {}, name, db, schedule_default)
    return prog


def plan(f: Function, tgt: Target, bounds, name, db=None, schedule_default=None, reorder=True, say=None):
    """Lower, schedule and plan in the file's order and in a memory-aware order; keep the smaller arena (the
    profile's ``[memory] order = "other"``: the larger one, where the two differ; a whole-model decision of
    ``sdk tune``, ``sdk/tune/whole_model.py``). Returns (func, program, plan, file-order plan)."""
    prog = lower(f, tgt, bounds, name, db, schedule_default)
    align = tgt.data.get("memory", {}).get("align", 16)  # slot alignment: a profile fact
    keep = tgt.data.get("memory", {}).get("order", "smaller")
    if keep not in ("smaller", "other"):
        raise SdkError(f"[memory] order = {keep!r}: expected \"smaller\" or \"other\"")
    cache = tgt.data.get("memory", {}).get("cache_bytes", 0)  # placement by modelled cache misses (sdk/memory/plan.py)
    best = file_plan = plan_memory(prog, bounds, align, cache)
    if reorder and len(f.bindings) > 2 and not any(b.op == "LoopBegin" for b in f.bindings):  # loops keep order
        (say or (lambda s: None))("memory-aware order")
        order = memory_aware_order(f, bounds)
        # the file's own order (a chain such as VGG's) lowers to the same program and plan, which would not be kept:
        # lowering it again (weight transposes and GEMV packing included: ~8 s of VGG-19's compile) is skipped
        if [id(b) for b in order] != [id(b) for b in f.bindings]:
            g = reordered(f, order)
            prog2 = lower(g, tgt, bounds, name, db, schedule_default)
            plan2 = plan_memory(prog2, bounds, align, cache)
            if ((plan2.arena_bytes, plan2.lower_bound_bytes) < (best.arena_bytes, best.lower_bound_bytes)) \
                    != (keep == "other"):
                f, prog, best = g, prog2, plan2
    if (tgt.data.get("lower") or {}).get("split_divmod", True):  # after planning: the plan stays as it was
        prog.steps = [split_divmod_loops(s) if isinstance(s, Kernel) else s for s in prog.steps]
    if (tgt.data.get("lower") or {}).get("partition_selects", True):  # after planning: the plan stays as it was
        prog.steps = [partition_selects(s) if isinstance(s, Kernel) else s for s in prog.steps]
    return f, prog, best, file_plan


def codegen(prog: Program, mplan: MemoryPlan, name: str, tgt: Target, bounds, precision="fp32",
            kind: str = "c") -> Dict[str, object]:
    """The renderer of the target's backend (``Backend.codegen``: the shared C generator with the profile's
    ``[codegen]`` options and ``[weights] storage``, or the backend's own, e.g. CUDA); ``kind="llvm"``: the
    steps as an LLVM object for the profile's ``[llvm]`` target (``sdk/codegen/llvm_object.py``)."""
    if kind == "llvm":
        from .codegen.llvm_object import llvm_sources
        return llvm_sources(prog, mplan, name, tgt, bounds, precision)
    return backend_of(tgt).codegen(prog, mplan, name, tgt, bounds, precision)


def run(model, tgt: Target, bounds: Dict[str, int], name: str, *, quantize=None, calibration=None, db=None,
        schedule_default=None, reorder=True, precision="fp32", check: Callable = None, say=None, empty_dims=(),
        sparse: Optional[SparseOptions] = None, codegen_kind="c", kv_cache: Optional[dict] = None):
    """The whole pipeline: (Compiled, quantization record). ``check(plan)`` runs before codegen (arena limits)."""
    say = say or (lambda stage: None)
    say("import")
    views = view_options(tgt)

    # the depthwise + projection fusion: the profile's rule where it is on, else (``[tune] dw_project_choice``) a
    # per-block tuning decision that the database's kernel-choice records make; the expansion + depthwise fusion
    # (``[fuse] pw_dw``, in fuse_options) by its own rule in either
    fuse = fuse_options(tgt)
    if not (fuse or {}).get("dw_project"):
        choice = choice_options(tgt, db)
        if choice is not None:
            fuse = dict(choice, **{k: v for k, v in (fuse or {}).items()
                                   if k.startswith(("pw_dw", "stem_dw")) and k not in choice})

    def front_with(v):
        return front(model, bounds, name, quantize, calibration, empty_dims, sparse, layout_options(tgt),
                     attention_options(tgt, precision), kv_cache, weights_precision(tgt), v, fuse)
    f, quant = front_with(views)
    say("lower + plan memory")
    f, prog, mplan, file_plan = plan(f, tgt, bounds, name, db, schedule_default, reorder, say)
    if views is not None and has_views(f):
        # a strided operand keeps its whole source live until the product runs (ViT's in-projection output across
        # the softmax): the views are kept only where the planned arena does not grow
        say("plan without strided operands")
        g, _ = front_with(None)
        g, prog2, plan2, file2 = plan(g, tgt, bounds, name, db, schedule_default, reorder, say)
        if plan2.arena_bytes < mplan.arena_bytes:
            f, prog, mplan, file_plan = g, prog2, plan2, file2
    if check is not None:
        check(mplan)
    say("generate code")
    return Compiled(f, prog, mplan, file_plan, codegen(prog, mplan, name, tgt, bounds, precision, codegen_kind)), quant
