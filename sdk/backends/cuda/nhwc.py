"""fp16 builds of convolution networks: activations between convolutions stored as fp16 NHWC.

For every ``sdk_conv2d_f32`` step computed at fp16 (``sdk/transform/mixed_precision.py``) with groups 1, a constant
weight (finite values within fp16's range) and a multiple of 8 output channels, the bundle stores the weight as
float16 ``Wt[M, KH, KW, Cp]`` (Cp: C rounded up to 8, zero-padded) and the step launches
``sdk_cuda_conv2d_nhwc_f16`` (``runtime_c/cuda/sdk_cuda_kernels.cu``): an implicit GEMM on wgmma whose im2col tiles
are 16-byte copies of fp16 NHWC rows, with the epilogue (bias, residual, activation) that follows it folded in.

A tensor is kept as fp16 NHWC ("half") when its producer is such a convolution (or a max pool reading a half
tensor) and every step that reads it can read it so: such a convolution (as its input or its residual) or a max
pool whose own output is half. It lives in the arena slot the memory plan gave its fp32 NCHW form (half of its
bytes used), so the plan is that of every other precision. Everything else reads and writes fp32 NCHW as before,
so the layout changes happen only at the edges: a convolution whose input is not half converts it first
(``sdk_cuda_nchw_to_nhwc_f16``, into the fp16 scratch after the arena's plan), and one whose output has a reader
that needs fp32 NCHW (a global average pool, a model output) writes that instead. Numerics: those of the fp16 path
before (operands rounded to fp16, fp32 accumulation and epilogue) plus the rounding of the stored activations."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ...tir.expr import Buffer, Kernel, LibCall
from ...transform.epilogue import epilogue_after
from .linear import F16_MAX


@dataclass
class NhwcConv:
    """A convolution on fp16 NHWC: its weight's key, X's padded channels, and which operands are half."""
    weight: tuple
    cp: int
    x_half: bool
    y_half: bool
    r_half: bool


@dataclass
class NhwcPlan:
    convs: Dict[int, NhwcConv] = field(default_factory=dict)  # step index -> NhwcConv
    pools: set = field(default_factory=set)  # indices of max pools on half tensors
    half: set = field(default_factory=set)  # id() of the root buffers stored as fp16 NHWC
    weights: Dict[tuple, np.ndarray] = field(default_factory=dict)  # key -> float16 Wt [M, KH, KW, Cp]
    dropped: set = field(default_factory=set)  # id() of fp32 weights no step reads any more
    scratch: List[tuple] = field(default_factory=list)  # (N, H * W, Cp) of each input conversion


def _ints(step: LibCall, *names) -> bool:
    return all(isinstance(step.arg(n), int) for n in names)


def _conv_weight(prog, step, arrays) -> Optional[tuple]:
    """(key, fp16 Wt [M, KH, KW, Cp], Cp) of an eligible convolution, else None."""
    if not _ints(step, "C", "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "groups"):
        return None
    C, M, KH, KW = (step.arg(n) for n in ("C", "M", "KH", "KW"))
    if step.arg("groups") != 1 or M % 8 or M < 8:
        return None
    Wt, Y = step.arg("Wt"), step.arg("Y")
    if not isinstance(Wt, Buffer) or id(prog.root(Wt)) not in arrays or prog.offset_of(Wt) != 0:
        return None
    if prog.root(Y) is not Y or prog.offset_of(Y) != 0:
        return None
    w = np.asarray(arrays[id(prog.root(Wt))])
    if w.dtype != np.float32 or w.size != M * C * KH * KW or not np.isfinite(w).all() \
            or (w.size and float(np.abs(w).max()) > F16_MAX):
        return None
    cp = (C + 7) // 8 * 8
    wt = np.zeros((M, KH, KW, cp), np.float16)
    wt[..., :C] = w.reshape(M, C, KH, KW).transpose(0, 2, 3, 1).astype(np.float16)
    return (id(prog.root(Wt)), "nhwc", cp), wt, cp


def _bufs(step) -> list:
    bufs = step.args if isinstance(step, LibCall) else list(step.inputs) + list(step.outputs)
    return [b for b in bufs if isinstance(b, Buffer)]


def plan_nhwc(prog, prec: Dict[int, str], exclude=frozenset()) -> NhwcPlan:
    """Which convolutions and max pools of ``prog`` run on fp16 NHWC, and which tensors are stored so (``exclude``:
    indices of convolutions kept on the fp32 path)."""
    out = NhwcPlan()
    arrays = {id(b): arr for b, arr in prog.consts}
    convs, pools, folded = {}, {}, {}  # index -> (key, wt, cp) / index -> step / epilogue index -> conv index
    for i, step in enumerate(prog.steps):
        if not isinstance(step, LibCall) or step.impl is not None or step.decl is None:
            continue
        if step.fn == "sdk_conv2d_f32" and prec.get(id(step)) == "fp16" and i not in exclude:
            w = _conv_weight(prog, step, arrays)
            if w is not None:
                convs[i] = w
                if epilogue_after(prog, i) is not None:
                    folded[i + 1] = i
        elif step.fn == "sdk_pool2d_f32" and step.arg("mode") == 0 and _ints(step, "C", "H", "W", "OH", "OW") \
                and step.arg("C") % 8 == 0 and prog.root(step.arg("Y")) is step.arg("Y") \
                and prog.offset_of(step.arg("Y")) == 0:
            pools[i] = step
    producer = {}  # id(root) -> index of the conv / pool writing it
    for i in list(convs) + list(pools):
        producer[id(prog.steps[i].arg("Y"))] = i
    outputs = {id(prog.root(b)) for b in prog.outputs}
    cand = {k for k, i in producer.items() if k not in outputs}
    access = {}  # id(root) -> [(step index, the buffer as the step names it)]
    for j, step in enumerate(prog.steps):
        for b in _bufs(step):
            access.setdefault(id(prog.root(b)), []).append((j, b))

    def reads_half(j, b) -> bool:
        """Step j may read (or, for its producer, write) the candidate b as fp16 NHWC."""
        s = prog.steps[j]
        if j in convs:
            return b is s.arg("X") or b is s.arg("Y")
        if j in folded:
            return b is s.arg("Y") or b is s.arg("R")
        if j in pools:
            return (b is s.arg("X") and id(s.arg("Y")) in cand) or (b is s.arg("Y") and id(prog.root(s.arg("X"))) in cand)
        return False

    changed = True
    while changed:  # drop candidates with a reader (or a pool producer) that needs fp32 NCHW, until none is left
        changed = False
        for k in list(cand):
            if not all(reads_half(j, b) and prog.root(b) is b for j, b in access.get(k, [])):
                cand.discard(k)
                changed = True
    out.half = cand
    out.pools = {i for i, s in pools.items() if id(s.arg("Y")) in cand}
    uses = {}  # id(weight root) -> steps reading it other than as a converted weight
    for j, step in enumerate(prog.steps):
        for b in _bufs(step):
            if not (j in convs and b is step.arg("Wt")):
                uses.setdefault(id(prog.root(b)), []).append(j)
    for i, (key, wt, cp) in convs.items():
        s = prog.steps[i]
        epi = epilogue_after(prog, i)
        R = epi[3] if epi is not None else None
        c = NhwcConv(key, cp, id(s.arg("X")) in cand,
                     id(s.arg("Y")) in cand, R is not None and id(prog.root(R)) in cand)
        out.convs[i] = c
        out.weights.setdefault(key, wt)
        if not c.x_half:
            out.scratch.append((s.arg("N"), s.arg("H") * s.arg("W"), cp))
    out.dropped = {k[0] for k in out.weights} - set(uses) - outputs
    return out


def conversions(nhwc: NhwcPlan) -> List[int]:
    """Indices of the convolutions that convert their input into the fp16 scratch (so overwrite it)."""
    return sorted(i for i, c in nhwc.convs.items() if not c.x_half)


def scratch_in_use(lin) -> List[tuple]:
    """(f, i): spans where the first scratch area holds an fp16 A that GEMM step i reads without converting it,
    written at step f (a GEMM that converted, a generated kernel, a LayerNorm or an attention writing it)."""
    fillers = sorted({i for i, s in lin.steps.items() if s.convert} | set(lin.producers) | set(lin.norms) |
                     set(lin.attentions))
    spans = []
    for i, s in lin.steps.items():
        if s.convert or s.a_in_h2:
            continue
        before = [f for f in fillers if f < i]
        if before:
            spans.append((before[-1], i))
    return spans


def plan_nhwc_with(prog, prec: Dict[int, str], lin) -> NhwcPlan:
    """``plan_nhwc`` leaving on the fp32 path each convolution whose input conversion would overwrite the scratch
    while an fp16-weight GEMM's A waits there (``scratch_in_use``), until no such conversion is left."""
    spans, exclude = scratch_in_use(lin), set()
    while True:
        nh = plan_nhwc(prog, prec, exclude)
        bad = {c for c in conversions(nh) if any(f < c < i for f, i in spans)}
        if not bad:
            return nh
        exclude |= bad


def is_half_kernel_free(prog, nhwc: NhwcPlan) -> bool:
    """No generated kernel touches a half tensor (the planning guarantees it; codegen asserts it)."""
    return not any(isinstance(s, Kernel) and any(id(prog.root(b)) in nhwc.half for b in _bufs(s))
                   for s in prog.steps)
