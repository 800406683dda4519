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

from ..errors import SdkError, UnsupportedOp
from ..ir.graph import Function, Value
from ..ops import Node, get
from ..tir.build import build_kernel
from ..tir.expr import Buffer, Compute, Const, Kernel, LibCall

INLINE_INTO = ("injective", "view", "reduce")


@dataclass(eq=False)
class Program:
    func: Function
    steps: list = field(default_factory=list)          # Kernel | LibCall, in execution order
    inputs: List[Buffer] = field(default_factory=list)
    outputs: List[Buffer] = field(default_factory=list)
    consts: List[tuple] = field(default_factory=list)  # (Buffer, ndarray)
    temps: List[Buffer] = field(default_factory=list)  # planned in the arena
    alias: Dict[int, Buffer] = field(default_factory=dict)  # id(view buffer) -> buffer it shares memory with
    views: List[Buffer] = field(default_factory=list)  # the view buffers, kept alive so their ids stay unique

    def root(self, b: Buffer) -> Buffer:
        while id(b) in self.alias:
            b = self.alias[id(b)]
        return b

    def __str__(self):
        lines = [f"program {self.func.name}: {len(self.steps)} steps"]
        for s in self.steps:
            if isinstance(s, Kernel):
                lines.append(f"  kernel {s.name}({', '.join(b.name for b in s.inputs)}) -> {s.outputs[0].name}")
            else:
                lines.append(f"  call_lib {s.fn} -> {', '.join(b.name for b in s.outputs)}")
        return "\n".join(lines)


class LowerCtx:
    def __init__(self, prog: Program):
        self.prog = prog
        self.tensors: Dict[int, object] = {}
        self.names: set = set()

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
        self.prog.steps.append(build_kernel(self._uniq("k_" + c.name), c, out))
        return out

    def lib(self, call: LibCall):
        self.prog.steps.append(call)


def lower_to_tir(f: Function) -> Program:
    prog = Program(f)
    ctx = LowerCtx(prog)
    for v in f.inputs:
        b = Buffer(ctx._uniq("in_" + v.name), v.shape, v.dtype)
        prog.inputs.append(b)
        ctx.tensors[id(v)] = b
    consumers = f.consumers()
    out_ids = {id(v) for v in f.outputs}
    for b in f.bindings:
        opdef = get(b.op, b.name)
        node = Node(b.op, b.name, b.inputs, b.attrs, len(b.outputs), f.opset)
        node.out_types = [v.type for v in b.outputs]
        try:
            results = opdef.lower(ctx, node)
        except SdkError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AssertionError, AttributeError) as e:
            if os.environ.get("SDK_DEBUG"):
                raise
            raise UnsupportedOp(b.op, b.name, f"lowering failed ({type(e).__name__}: {e})") from None
        impls = []
        for v, t in zip(b.outputs, results):
            users = consumers.get(id(v), [])
            if isinstance(t, Compute) and t.reduce is None and opdef.kind == "view" and id(v) not in out_ids:
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
            ctx.tensors[id(v)] = t
            impls.append("inline" if inline else str(prog.steps[-1]) if prog.steps else "")
        b.impl = ", ".join(impls)
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
        ctx.materialize(src, into=ob)
        prog.outputs.append(ob)
    return eliminate_dead_steps(prog)


def eliminate_dead_steps(prog: Program) -> Program:
    """Drop steps whose results nobody reads (e.g. Shape kernels whose values
    were folded into symbolic dims) and the temps only they wrote."""
    from ..memory.plan import step_io
    live = {id(b) for b in prog.outputs}
    kept = []
    for step in reversed(prog.steps):
        reads, writes = step_io(step)
        if any(id(prog.root(b)) in live or id(b) in live for b in writes):
            kept.append(step)
            for b in reads:
                live.add(id(b))
                live.add(id(prog.root(b)))
    prog.steps = kept[::-1]
    written = {id(prog.root(b)) for s in prog.steps for b in step_io(s)[1]}
    prog.temps = [b for b in prog.temps if id(b) in written]
    return prog
