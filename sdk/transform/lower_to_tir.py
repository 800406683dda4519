"""Lower a graph Function to a Program: an ordered list of steps (tir kernels
and runtime library calls) over buffers.

Fusion happens here: the output of an injective op that has exactly one
consumer, itself injective/view/reduce, is not materialised; its definition
is inlined into the consumer's loop nest. View ops (Reshape & co.) whose
input is already in memory become aliases of that memory.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from ..errors import SdkError, ShapeError, UnsupportedOp
from ..ir import sym
from ..ir.graph import Function, Value
from ..ops import Node, get
from ..tir.build import build_kernel
from ..ir.dtypes import HALF
from ..tir.expr import BindDims, Buffer, Cast, Compute, Const, Kernel, LibCall
from .concat_in_place import concat_in_place
from .epilogue import EpilogueFuser, materialize_epilogues

INLINE_INTO = ("injective", "view", "reduce")


@dataclass(eq=False, slots=True)
class Program:
    func: Function
    steps: list = field(default_factory=list)          # Kernel | LibCall, in execution order
    inputs: List[Buffer] = field(default_factory=list)
    outputs: List[Buffer] = field(default_factory=list)
    consts: List[tuple] = field(default_factory=list)  # (Buffer, ndarray)
    temps: List[Buffer] = field(default_factory=list)  # planned in the arena
    alias: Dict[int, Buffer] = field(default_factory=dict)  # id(view buffer) -> buffer it shares memory with
    # id(view buffer) -> where it starts in the buffer it aliases, in elements (absent: 0): a Concat's inputs
    # written in place into its output (sdk/transform/concat_in_place.py)
    alias_offset: Dict[int, int] = field(default_factory=dict)
    origin: Dict[str, List[str]] = field(default_factory=dict)  # kernel name -> the ONNX nodes it computes
    views: List[Buffer] = field(default_factory=list)  # the view buffers, kept alive so their ids stay unique
    # id(output buffer) -> bytes the caller's memory must hold when more than its shape's (a key/value cache
    # written with room for more rows: sdk/ops/kv_cache.py)
    min_bytes: Dict[int, object] = field(default_factory=dict)

    def root(self, b: Buffer) -> Buffer:
        while id(b) in self.alias:
            b = self.alias[id(b)]
        return b

    def offset_of(self, b: Buffer) -> int:
        """Where ``b`` starts in its root buffer, in elements (0 but for a Concat's inputs written in place)."""
        off = 0
        while id(b) in self.alias:
            off += self.alias_offset.get(id(b), 0)
            b = self.alias[id(b)]
        return off

    def __str__(self):
        lines = [f"program {self.func.name}: {len(self.steps)} steps"]
        for s in self.steps:
            if isinstance(s, Kernel):
                lines.append(f"  kernel {s.name}({', '.join(b.name for b in s.inputs)}) -> {s.outputs[0].name}")
            elif not isinstance(s, LibCall):  # bind_dims, loop markers
                lines.append(f"  {s}")
            else:
                lines.append(f"  call_lib {s.fn} -> {', '.join(b.name for b in s.outputs)}")
        return "\n".join(lines)


# What the C library offers; a profile's [lower] table may turn a kernel off (CUDA has no such library calls).
# row_kernels: Softmax / LayerNormalization over the last axis as one library call (sdk_softmax_f32,
# sdk_layernorm_f32) instead of generated reduction and element-wise kernels (CUDA profiles turn it on).
# softmax_kernel: Softmax alone over the last axis as sdk_softmax_f32 (host: one vectorised pass for the maximum,
# one for exp and the sum, one scaling the row while it is in L1, instead of four generated loop nests that each
# read the whole tensor; sdk/pipeline.py turns it off where the in-process engine has no C compiler to build it).
# layernorm_kernel: LayerNormalization alone over the last axis as sdk_layernorm_f32 (host: a row at a time in
# vectors: mean, variance and the normalised row while the row is in L1, instead of three generated loop nests that
# each read the whole tensor; off without a C compiler in process, as softmax_kernel).
# conv_grad_weight_kernel: a convolution's weight gradient as sdk_conv2d_grad_weight_f32 (GEMMs on im2col panels).
# concat_in_place: a Concat whose inputs are temps written by earlier steps gets them written into its output
# (sdk/transform/concat_in_place.py) instead of copying them.
DEFAULT_OPTIONS = {"depthwise_kernel": True, "fuse_epilogues": True, "row_kernels": False, "softmax_kernel": False,
                   "layernorm_kernel": False, "conv_grad_weight_kernel": True, "concat_in_place": True,
                   "epilogue_gelu": False}


class LowerCtx:
    def __init__(self, prog: Program, options=None):
        self.prog = prog
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        self.tensors: Dict[int, object] = {}
        self.names: set = set()
        self.guards: list = []  # [(bool Buffer, flag)]: steps added now run only under these conditions (If)
        self.current_nodes: List[str] = []  # ONNX nodes of the binding being lowered (+ those inlined into it)
        self.inlined_nodes: Dict[int, List[str]] = {}  # id(inlined Compute) -> the ONNX nodes it computes
        self.bound_syms: set = set()  # run-time symbols defined by the BindDims steps so far
        # the function's dim checks that name run-time symbols: each is added to the BindDims step that defines
        # the last of its symbols (those of input symbols only are Function.dim_conditions, checked before the run)
        from ..ir import sym
        inputs = set(prog.func.symbols())
        self.pending_checks = [(d, why) for d, why in prog.func.dim_checks if not sym.free_vars(d) <= inputs]

    def add_step(self, step):
        if self.guards:
            step.guard = list(self.guards) + list(step.guard)
        if isinstance(step, LibCall) and self.current_nodes:  # the binding it was lowered from (Function.choices)
            step.binding = self.current_nodes[-1]
        self.prog.steps.append(step)

    def _uniq(self, name):
        # Names become C identifiers: ONNX node names such as "/relu/Relu" or "encoder.layer.0::attn" are
        # sanitised here, the one place kernel and buffer names are made.
        name = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not name or name[0].isdigit():
            name = "v" + name
        s, k = name, 1
        while s in self.names:
            s, k = f"{name}_{k}", k + 1
        self.names.add(s)
        return s

    def tensor(self, v: Value):
        if id(v) in self.tensors:
            return self.tensors[id(v)]
        if v.const is None:
            raise SdkError(f"value {v.name} used before it is defined")
        if v.const.size == 1:  # scalars become literals in the loop body
            val = v.const.reshape(-1)[0].item()
            t = Compute(v.name, v.shape, v.dtype, lambda i, val=val, dt=v.dtype: Const(val, dt))
        else:
            t = self.const(v.const, v.name)
        self.tensors[id(v)] = t
        return t

    def buffer(self, v: Value) -> Buffer:
        t = self.tensor(v)
        if isinstance(t, Compute):
            t = self.materialize(t)
            self.tensors[id(v)] = t
        return t

    def const(self, arr: np.ndarray, name: str) -> Buffer:
        b = Buffer(self._uniq("w_" + name), tuple(arr.shape), "bool" if arr.dtype == np.bool_ else arr.dtype.name)
        self.prog.consts.append((b, np.ascontiguousarray(arr)))
        return b

    def new_buffer(self, name, shape, dtype) -> Buffer:
        b = Buffer(self._uniq("t_" + name), tuple(shape), dtype)
        self.prog.temps.append(b)
        return b

    def materialize(self, c: Compute, into: Buffer = None) -> Buffer:
        out = into or self.new_buffer(c.name, c.shape, c.dtype)
        try:
            k = build_kernel(self._uniq("k_" + c.name), c, out)
        except ShapeError as e:  # an operand that does not fit its op: name the ONNX nodes of this kernel
            raise ShapeError(f"node '{', '.join(self.current_nodes) or c.name}': {e}") from None
        self.prog.origin[k.name] = list(self.current_nodes)
        self.add_step(k)
        return out

    def lib(self, call: LibCall):
        self.add_step(call)

    def kernel(self, k: Kernel):
        """A hand-built loop nest (sequential data-dependent code, e.g. NonZero's compaction)."""
        k.name = self._uniq(k.name)
        self.add_step(k)

    def bind_dims(self, name, defs, checks=()):
        """Define run-time symbols: ``defs`` [(symbol, Expr)] read tensor data; each gets the check
        ``0 <= value <= bound`` (SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS), then ``checks`` [(Expr, status)]."""
        from ..ir import sym
        from ..tir.expr import DimE, binop
        rts = self.prog.func.runtime_syms
        all_checks = []
        for s, _ in defs:
            r = rts[s]
            if r.is_dim and r.bound is None:
                from ..ir.runtime_syms import bound_error
                raise bound_error(r)
            if r.is_dim:
                v = DimE(sym.var(s))
                ok = binop("&&", binop(">=", v, 0), binop("<=", v, DimE(r.bound) if isinstance(r.bound, sym.Sym)
                                                          else Const(int(r.bound))))
                all_checks.append((ok, "SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS"))
        self.bound_syms |= {s for s, _ in defs}
        known = self.bound_syms | set(self.prog.func.symbols())
        ready = [c for c in self.pending_checks if sym.free_vars(c[0]) <= known]
        self.pending_checks = [c for c in self.pending_checks if c not in ready]
        dim_checks = [(binop(">=", DimE(d), 0), "SDK_ERR_SHAPE_MISMATCH") for d, _ in ready]
        self.add_step(BindDims(self._uniq("dims_" + name), list(defs), all_checks + list(checks) + dim_checks))


def lower_to_tir(f: Function, options=None) -> Program:
    """``options``: the target profile's ``[lower]`` table (see DEFAULT_OPTIONS)."""
    prog = Program(f)
    ctx = LowerCtx(prog, options)
    for v in f.inputs:
        b = Buffer(ctx._uniq("in_" + v.name), v.shape, v.dtype)
        prog.inputs.append(b)
        ctx.tensors[id(v)] = b
    consumers = f.consumers()
    out_ids = {id(v) for v in f.outputs}
    fuser = EpilogueFuser(ctx, f)
    in_place = ctx.options["concat_in_place"] and not any(b.op == "LoopBegin" for b in f.bindings)
    for b in f.bindings:
        if fuser.try_fuse(b):  # an activation / bias / residual add run by the GEMM or conv before it
            continue
        if in_place and b.op == "Concat" and concat_in_place(ctx, b, out_ids):
            b.impl = "in place"
            continue
        opdef = get(b.op, b.name)
        fused = [n for v in b.inputs for n in ctx.inlined_nodes.get(id(ctx.tensors.get(id(v))), [])]
        ctx.current_nodes = list(dict.fromkeys(fused + [b.name]))  # the ONNX nodes the kernels made here compute
        node = Node(b.op, b.name, b.inputs, b.attrs, len(b.outputs), f.opset)
        node.out_types = [v.type for v in b.outputs]
        node.rt = b.rt
        ctx.guards = [(ctx.buffer(v), flag) for v, flag in b.guard]
        try:
            results = opdef.lower(ctx, node)
        except SdkError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AssertionError, AttributeError) as e:
            if os.environ.get("SDK_DEBUG"):
                raise
            raise UnsupportedOp(b.op, b.name, f"lowering failed ({type(e).__name__}: {e})") from None
        impls = []
        for k, (v, t) in enumerate(zip(b.outputs, results)):
            users = consumers.get(id(v), [])
            # a view op's first output is its input's memory; others (Dropout's mask) are computed
            if (k == 0 and isinstance(t, Compute) and t.reduce is None and opdef.kind == "view"
                    and id(v) not in out_ids):
                src = ctx.tensors.get(id(b.inputs[0]))
                if isinstance(src, Buffer):  # reshape of memory: share it
                    view = Buffer(ctx._uniq("v_" + v.name), v.shape, v.dtype)
                    prog.alias[id(view)] = src
                    prog.views.append(view)  # an unused view freed here would let a later buffer reuse its id
                    ctx.tensors[id(v)] = view
                    impls.append("view")
                    continue
            inline = (isinstance(t, Compute) and t.reduce is None and id(v) not in out_ids and len(users) == 1
                      and get(users[0].op).kind in INLINE_INTO)
            if isinstance(t, Compute) and not inline:
                t = ctx.materialize(t)
            elif inline and t.dtype in HALF:  # a 16-bit result is rounded where it is inlined, as if stored
                t = Compute(t.name, t.shape, t.dtype, lambda i, f=t.fn, dt=t.dtype: Cast(f(i), dt))
            ctx.tensors[id(v)] = t
            if inline:
                ctx.inlined_nodes[id(t)] = ctx.current_nodes
            impls.append("inline" if inline else str(prog.steps[-1]) if prog.steps else "")
        b.impl = ", ".join(impls)
        ctx.guards = []
    if ctx.pending_checks:  # symbols no BindDims step defines (a loop's): the match cannot be checked
        d, why = ctx.pending_checks[0]
        raise ShapeError(f"{why} (run-time dims matched at compile time, but {sym.to_str(d)} >= 0 cannot be "
                         "checked where its symbols are defined)")
    # graph outputs live in caller memory: the producing step writes there directly
    written = set()
    for k, v in enumerate(f.outputs):
        t = ctx.tensors.get(id(v)) if id(v) in ctx.tensors else ctx.tensor(v)
        if (isinstance(t, Buffer) and t in prog.temps and id(t) not in written and id(t) not in prog.alias):
            prog.temps.remove(t)
            prog.outputs.append(t)
            written.add(id(t))
            continue
        ob = Buffer(ctx._uniq("out_" + v.name), v.shape, v.dtype)
        src = t if isinstance(t, Compute) else Compute(v.name, v.shape, v.dtype, lambda i, t=t: t[i])
        ctx.current_nodes = ctx.inlined_nodes.get(id(t), [])
        ctx.materialize(src, into=ob)
        prog.outputs.append(ob)
    return eliminate_dead_steps(materialize_epilogues(prog))


def eliminate_dead_steps(prog: Program) -> Program:
    """Drop steps whose results nobody reads (e.g. Shape kernels whose values
    were folded into symbolic dims) and the temps only they wrote."""
    from ..memory.plan import step_io
    from ..tir.expr import LoopHead, LoopTail, loop_spans
    live = {id(b) for b in prog.outputs}
    in_loop = {t for b, e in loop_spans(prog.steps) for t in range(b, e + 1)}  # a body's data flows backwards
    for t in in_loop:
        for b in step_io(prog.steps[t])[0]:
            live.add(id(b))
            live.add(id(prog.root(b)))
    kept = []
    for t_step, step in reversed(list(enumerate(prog.steps))):
        if t_step in in_loop or isinstance(step, (LoopHead, LoopTail)):
            kept.append(step)
            continue
        reads, writes = step_io(step)
        if isinstance(step, BindDims) or any(id(prog.root(b)) in live or id(b) in live for b in writes):
            kept.append(step)
            for b in reads:
                live.add(id(b))
                live.add(id(prog.root(b)))
    prog.steps = kept[::-1]
    written = {id(prog.root(b)) for s in prog.steps for b in step_io(s)[1]}
    prog.temps = [b for b in prog.temps if id(b) in written]
    read = {id(prog.root(b)) for s in prog.steps for b in step_io(s)[0]} | {id(b) for s in prog.steps for b in step_io(s)[0]}
    prog.consts = [(b, a) for b, a in prog.consts if id(b) in read]  # weights only dead steps read
    return prog
