"""Epilogue fusion: element-wise ops after a GEMM / convolution run inside that kernel, not as another pass.

During lowering, a node that follows a fusable library call (one whose declaration in ``sdk/kernels/library.py``
has an ``epilogue``: ``sdk_gemm_f32``, ``sdk_conv2d_f32``, ``sdk_dwconv2d_f32``) whose result it is the only reader
of is folded into that call as its epilogue, ``y = act(acc + bias + R)``, and its output shares the call's output
buffer:

- ``Add`` of a per-column constant (a Linear layer's bias after MatMul): the GEMM's ``C`` operand;
- ``Add`` of a same-shaped tensor already computed (a residual): ``R``;
- an activation (``ACTS``; ``x * Sigmoid(x)`` as SiLU): ``act``; ``Gelu`` (erf or tanh form, the one
  ``fuse_gelu.py`` makes) only where the profile's ``[lower] epilogue_gelu`` is on (host and CUDA: their kernels
  have it; MCU, wasm and phone profiles keep the Gelu as its own element-wise step).

Each part is taken at most once, in that order. Generated GEMM/conv kernels (``sdk/tune/kernels.py``) and the
depthwise kernel apply the epilogue on each tile while it is in cache; a call that stays a library GEMM/conv
gets an ``sdk_epilogue_f32`` step right after it (``materialize_epilogues``), same result, one more pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import kernels
from ..ir import sym
from ..tir.expr import Buffer, LibCall

# runtime_c/include/sdk_kernel_defs.h SDK_ACT_* codes, and the C expression of each over a float `v`; GELU (8, 9) is
# folded only where the profile's ``[lower] epilogue_gelu`` is on
ACT_CODE = {"relu": 1, "clip": 2, "hardsigmoid": 3, "hardswish": 4, "sigmoid": 5, "silu": 6, "leakyrelu": 7,
            "gelu": 8, "gelu_tanh": 9}
ALL_ACT_CODE = ACT_CODE


def act_c(act: str, a: float, b: float) -> str:
    """C expression of the activation of ``v`` (float), for generated kernels."""
    from ..codegen.c import const_c
    A, B = const_c(a, "float32"), const_c(b, "float32")
    clamp01 = "({x} < 0.0f ? 0.0f : ({x} > 1.0f ? 1.0f : {x}))"
    return {
        "relu": "(v > 0.0f ? v : 0.0f)",
        "clip": f"(v < {A} ? {A} : (v > {B} ? {B} : v))",
        "hardsigmoid": clamp01.format(x=f"({A} * v + {B})"),
        "hardswish": "(v * " + clamp01.format(x="(v * (1.0f / 6.0f) + 0.5f)") + ")",
        "sigmoid": "sdk_sigmoidf(v)",  # sdk_math.h: 1 / (1 + exp(-v)) by sdk_div1pf
        "silu": "sdk_siluf(v)",
        "leakyrelu": f"(v < 0.0f ? v * {A} : v)",
        "gelu": "sdk_geluf(v)",  # sdk_math.h: the Gelu op's lowering, operation for operation
        "gelu_tanh": "sdk_gelu_tanhf(v)",
    }[act]


@dataclass
class Epilogue:
    act: Optional[str] = None
    a: float = 0.0
    b: float = 0.0
    R: Optional[Buffer] = None   # residual, shaped like the output


def _activation(node, gelu: bool = False):
    """(name, a, b) if the node is an activation the kernels implement, else None (``gelu``: the target's
    epilogues implement GELU)."""
    op = node.op
    if op == "Gelu" and gelu:
        approx = node.attrs.get("approximate", "none")
        approx = approx.decode() if isinstance(approx, bytes) else approx
        return ({"none": "gelu", "tanh": "gelu_tanh"}[approx], 0.0, 0.0) if approx in ("none", "tanh") else None
    if op == "Relu":
        return "relu", 0.0, 0.0
    if op == "HardSwish":
        return "hardswish", 0.0, 0.0
    if op == "HardSigmoid":
        return "hardsigmoid", float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5))
    if op == "Sigmoid":
        return "sigmoid", 0.0, 0.0
    if op == "LeakyRelu":
        return "leakyrelu", float(node.attrs.get("alpha", 0.01)), 0.0
    if op == "Clip":
        lo, hi = node.attrs.get("min", -np.inf), node.attrs.get("max", np.inf)  # opset < 11: attributes
        for k in (1, 2):
            inp = node.inputs[k] if k < len(node.inputs) else None
            if inp is None:
                continue
            if inp.const is None or inp.const.size != 1:
                return None
            val = float(inp.const.reshape(-1)[0])
            lo, hi = (val, hi) if k == 1 else (lo, val)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return None  # one-sided clips stay element-wise kernels
        return "clip", float(lo), float(hi)
    return None


def _same_shape(a, b):
    return len(a) == len(b) and all(sym.sub(x, y) == 0 for x, y in zip(a, b))


class EpilogueFuser:
    """Folds nodes into the fusable library call that produced their input (see the module docstring)."""

    def __init__(self, ctx, func):
        self.ctx, self.func = ctx, func
        self.consumers = func.consumers()
        self.producer = {id(v): b for b in func.bindings for v in b.outputs}
        self.outputs = {id(v) for v in func.outputs}

    def _step_of(self, v):
        """(step, its index) if value v is the sole-reader output of a fusable float32 library call."""
        t = self.ctx.tensors.get(id(v))
        if not isinstance(t, Buffer) or t.dtype != "float32" or id(v) in self.outputs:
            return None
        steps = self.ctx.prog.steps
        for i in range(len(steps) - 1, -1, -1):
            s = steps[i]
            if (isinstance(s, LibCall) and s.decl is not None and s.decl.epilogue and s.outputs
                    and s.outputs[0] is t):
                return s, i
        return None

    def _sole_reader(self, v, node):
        users = self.consumers.get(id(v), [])
        return len(users) == 1 and users[0] is node

    def _ready_before(self, buf, index):
        """Is ``buf`` (its memory) complete before step ``index`` runs?"""
        prog = self.ctx.prog
        root = prog.root(buf)
        if root in prog.inputs or any(root is c for c, _ in prog.consts):
            return True
        from ..memory.plan import step_io
        written = [i for i, s in enumerate(prog.steps) if any(prog.root(w) is root for w in step_io(s)[1])]
        return bool(written) and max(written) < index

    def try_fuse(self, node) -> bool:
        """Fold ``node`` into its producer's epilogue; True if done (its output then shares the buffer)."""
        if not self.ctx.options.get("fuse_epilogues", True) or len(node.outputs) != 1:
            return False
        outv = node.outputs[0]
        if outv.dtype != "float32":
            return False
        act = _activation(node, bool(self.ctx.options.get("epilogue_gelu", False)))
        if act is not None:
            return self._fuse_act(node, node.inputs[0], act)
        if node.op == "Mul" and len(node.inputs) == 2:  # x * Sigmoid(x): SiLU
            for x, s in (node.inputs, node.inputs[::-1]):
                p = self.producer.get(id(s))
                if (p is not None and p.op == "Sigmoid" and p.inputs[0] is x and self._sole_reader(s, node)
                        and sorted(id(b) for b in self.consumers.get(id(x), [])) == sorted([id(p), id(node)])):
                    return self._fuse_act(node, x, ("silu", 0.0, 0.0), readers_ok=True)
            return False
        if node.op == "Add" and len(node.inputs) == 2:
            for y, r in (node.inputs, node.inputs[::-1]):
                if self._fuse_add(node, y, r):
                    return True
        return False

    def _epi(self, step) -> Epilogue:
        if step.epilogue is None:
            step.epilogue = Epilogue()
        return step.epilogue

    def _bind(self, node, step):
        self.ctx.tensors[id(node.outputs[0])] = step.outputs[0]
        node.impl = f"fused into {step.fn}->{step.outputs[0].name}"
        return True

    def _fuse_act(self, node, x, act, readers_ok=False):
        found = self._step_of(x)
        if found is None or not (readers_ok or self._sole_reader(x, node)):
            return False
        step, _ = found
        e = self._epi(step)
        if e.act is not None:
            return False
        e.act, e.a, e.b = act
        return self._bind(node, step)

    def _fuse_add(self, node, y, r):
        if r is None or y is r or not _same_shape(node.outputs[0].shape, y.shape) or not self._sole_reader(y, node):
            return False
        found = self._step_of(y)
        if found is None:
            return False
        step, index = found
        e = self._epi(step)
        if e.act is not None or e.R is not None:
            return False
        if step.decl is kernels.get("sdk_gemm_f32") and r.const is not None and step.arg("C") is None:
            # a bias over the last axis: the GEMM's C operand (row stride 0)
            if r.dtype == "float32" and len(r.shape) >= 1 and all(d == 1 for d in r.shape[:-1]) and \
                    sym.sub(r.shape[-1], step.arg("N")) == 0:
                C = self.ctx.const(np.ascontiguousarray(r.const.reshape(-1)), r.name)
                step.decl.set(step, beta=1.0, C=C, c_rs=0, c_cs=1)
                return self._bind(node, step)
        if r.dtype != "float32" or not _same_shape(r.shape, y.shape):
            return False
        R = self.ctx.tensors.get(id(r))
        if R is None and r.const is not None:
            R = self.ctx.buffer(r)
        if not isinstance(R, Buffer) or R is step.outputs[0] or not self._ready_before(R, index):
            return False
        e.R = R
        return self._bind(node, step)


def materialize_epilogues(prog):
    """Turn the pending epilogues into arguments and steps (before dead-step elimination and memory planning,
    which read step arguments): the depthwise kernel takes them as arguments; a GEMM/conv gets an in-place
    ``sdk_epilogue_f32`` step right after it, which ``sdk/tune/apply.py`` folds into the generated kernel when
    it schedules the call."""
    out = []
    for s in prog.steps:
        out.append(s)
        e = s.epilogue if isinstance(s, LibCall) else None
        if e is None or (e.act is None and e.R is None):
            continue
        code = ALL_ACT_CODE.get(e.act, 0)
        if s.decl.epilogue == "args":
            s.decl.set(s, R=e.R, act=code, act_a=e.a, act_b=e.b)
        else:
            Y = s.outputs[0]
            n = 1
            for d in Y.shape:
                n = sym.mul(n, d)
            out.append(kernels.call("sdk_epilogue_f32", n=n, Y=Y, R=e.R, act=code, a=e.a, b=e.b))
        s.epilogue = None  # materialized (or passed as arguments): nothing left to fold
    prog.steps = out
    return prog


def epilogue_after(prog, i):
    """(act name or None, a, b, R) of the ``sdk_epilogue_f32`` step that follows step i on its output, or None."""
    if i + 1 >= len(prog.steps):
        return None
    s, nxt = prog.steps[i], prog.steps[i + 1]
    if not (isinstance(nxt, LibCall) and nxt.decl is kernels.get("sdk_epilogue_f32") and nxt.arg("Y") is s.outputs[0]):
        return None
    names = {v: k for k, v in ALL_ACT_CODE.items()}
    return names.get(nxt.arg("act")), nxt.arg("a"), nxt.arg("b"), nxt.arg("R")


def replace_folding_epilogues(prog, rewrite) -> int:
    """Replace each step for which ``rewrite(i, step, epi)`` (``epi``: ``epilogue_after(prog, i)``) returns a call;
    the call folds that epilogue in, so its ``sdk_epilogue_f32`` step is dropped. Returns how many were replaced."""
    fused, n = [], 0
    for i, step in enumerate(prog.steps):
        epi = epilogue_after(prog, i)
        call = rewrite(i, step, epi)
        if call is None:
            continue
        if epi is not None:
            fused.append(prog.steps[i + 1])
        prog.steps[i] = call
        n += 1
    prog.steps = [s for s in prog.steps if not any(s is f for f in fused)]
    return n
