"""fp16 builds: model GEMMs whose B is a weight read it as fp16, stored transposed at build time.

For every ``sdk_gemm_f32`` step computed at fp16 (``sdk/transform/mixed_precision.py``) whose B operand is a
constant shared by the batch, with compile-time N and K (K a multiple of 8), the bundle stores B once more as
float16 ``Wt[N, K]`` (K contiguous: the K-major layout Hopper wgmma reads through TMA, 16-byte rows) and the step
launches ``sdk_cuda_linear_f16`` instead: A (fp32 activations) is rounded to fp16 into a scratch area at the end of
the device arena, then the wgmma + TMA GEMM runs with the fp32 epilogue (``runtime_c/cuda/sdk_cuda_kernels.cu``).
Consecutive such steps on the same A (a transformer's Q, K and V projections) convert it once; where A is the
output of the generated element-wise kernel right before (BERT's GELU before the second FFN GEMM) and nothing else
reads it, that kernel writes it as fp16 straight into the scratch (no fp32 copy, no conversion pass). An fp32 weight
that no other step reads is left out of the bundle. The numerics are those of the fp16 path before (operands
rounded to fp16 with round-to-nearest-even, fp32 accumulation); a weight with a finite value beyond fp16's range
keeps the fp32 path."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ...ir import sym
from ...tir.expr import Buffer, LibCall

F16_MAX = 65504.0


@dataclass
class Linear:
    """One GEMM step on fp16 weights: the key of its fp16 weight and whether it converts A (else it reuses the
    scratch the previous step filled with the same A)."""
    weight: tuple
    convert: bool


@dataclass
class Linears:
    steps: Dict[int, Linear] = field(default_factory=dict)  # step index -> Linear
    weights: Dict[tuple, np.ndarray] = field(default_factory=dict)  # key -> float16 Wt [N, K]
    dropped: set = field(default_factory=set)  # id() of fp32 constants no step reads any more
    scratch: List[tuple] = field(default_factory=list)  # (batch, M, K) of each step that fills the scratch
    producers: set = field(default_factory=set)  # indices of generated kernels that write their output as fp16
    # into the scratch (the next step is a GEMM on weights, the only reader of that output)


def _arg(step: LibCall, name: str):
    return step.args[step.decl.index(name)]


def _const_arrays(prog) -> Dict[int, np.ndarray]:
    return {id(b): arr for b, arr in prog.consts}


def _weight_t(prog, step, arrays) -> Optional[tuple]:
    """(key, fp16 Wt [N, K]) of the step's B when it qualifies, else None."""
    N, K, B = _arg(step, "N"), _arg(step, "K"), _arg(step, "B")
    batch, b_bs, b_rs, b_cs = (_arg(step, n) for n in ("batch", "b_bs", "b_rs", "b_cs"))
    if not all(isinstance(v, int) for v in (N, K, b_rs, b_cs)) or K < 8 or K % 8 or N < 1:
        return None
    if not isinstance(B, Buffer) or not (batch == 1 or b_bs == 0):
        return None
    root = prog.root(B)
    off = prog.offset_of(B)
    if id(root) not in arrays or not isinstance(off, int):
        return None
    flat = np.asarray(arrays[id(root)]).reshape(-1)
    if flat.dtype != np.float32:
        return None
    idx = off + np.arange(K)[None, :] * b_rs + np.arange(N)[:, None] * b_cs  # [N, K]: element (k, n) of B
    if idx.min() < 0 or idx.max() >= flat.size:
        return None
    w = flat[idx]
    big = np.abs(w[np.isfinite(w)])
    if big.size and float(big.max()) > F16_MAX:
        return None
    return (id(root), off, b_rs, b_cs, N, K), np.ascontiguousarray(w.astype(np.float16))


def plan_linears(prog, prec: Dict[int, str]) -> Linears:
    """Which steps of ``prog`` run on fp16 weights (``prec``: ``assign_precision``'s map)."""
    out = Linears()
    arrays = _const_arrays(prog)
    uses = {}  # id(const root) -> steps reading it other than as a converted B
    prev = None  # (A's arguments) of the last converting step, while no step wrote A since
    for i, step in enumerate(prog.steps):
        lin = None
        if isinstance(step, LibCall) and step.fn == "sdk_gemm_f32" and step.impl is None and step.decl is not None \
                and prec.get(id(step)) == "fp16":
            lin = _weight_t(prog, step, arrays)
        if lin is None:
            for b in (step.args if isinstance(step, LibCall) else list(step.inputs) + list(step.outputs)):
                if isinstance(b, Buffer):
                    uses.setdefault(id(prog.root(b)), []).append(i)
            if prev is not None and any(id(prog.root(o)) == prev[0] for o in step.outputs):
                prev = None  # A changed; other steps leave the scratch (only these GEMMs write it) and A alone
            continue
        key, wt = lin
        out.weights.setdefault(key, wt)
        A = _arg(step, "A")
        a_args = (id(prog.root(A)), prog.offset_of(A)) + tuple(
            str(_arg(step, n)) for n in ("batch", "M", "K", "a_bs", "a_rs", "a_cs"))
        convert = prev != a_args
        if convert and _writes_half(prog, i, step):
            out.producers.add(i - 1)
            convert = False
            prev = None  # the scratch holds A, but A (fp32) was never written: no later step may reuse it
        out.steps[i] = Linear(key, convert)
        if convert or i - 1 in out.producers:
            out.scratch.append((_arg(step, "batch"), _arg(step, "M"), _arg(step, "K")))
        for name in ("A", "C"):
            b = _arg(step, name)
            if isinstance(b, Buffer):
                uses.setdefault(id(prog.root(b)), []).append(i)
        Y = _arg(step, "Y")
        prev = None if prog.root(Y) is prog.root(A) or i - 1 in out.producers else a_args
    outputs = {id(prog.root(b)) for b in prog.outputs}
    out.dropped = {k[0] for k in out.weights} - set(uses) - outputs
    return out


def _writes_half(prog, i, step) -> bool:
    """The step before GEMM step i is a generated element-wise kernel whose one output is exactly A (contiguous
    rows of K), read by no other step and no program output: it can write A as fp16 into the scratch instead."""
    from ...tir.expr import Kernel
    from .codegen import warp_reduction
    if i == 0 or not isinstance(prog.steps[i - 1], Kernel):
        return False
    k, A = prog.steps[i - 1], _arg(step, "A")
    if len(k.outputs) != 1 or k.outputs[0] is not A or prog.root(A) is not A or prog.offset_of(A) != 0 \
            or any(b is A for b in k.inputs) or warp_reduction(k, {}) is not None:
        return False
    K = _arg(step, "K")
    if _arg(step, "batch") != 1 or _arg(step, "a_rs") != K or _arg(step, "a_cs") != 1 or A.shape[-1] != K:
        return False
    if any(b is A for b in prog.outputs):
        return False
    for j, s in enumerate(prog.steps):
        if j in (i - 1, i):
            continue
        bufs = s.args if isinstance(s, LibCall) else list(s.inputs) + list(s.outputs)
        if any(isinstance(b, Buffer) and prog.root(b) is A for b in bufs):
            return False
    return True


def scratch_c(lin: Linears, sym_c) -> Optional[str]:
    """The scratch bytes (a C expression of the dims ``d_<sym>``), or None when no step converts."""
    if not lin.scratch:
        return None
    terms = list(dict.fromkeys(f"(size_t)(({sym_c(b)}) * ({sym_c(m)}) * ({sym_c(k)}) * 2)" for b, m, k in lin.scratch))
    expr = terms[0]
    for t in terms[1:]:
        expr = f"sdk_zmax({expr}, {t})"
    return expr


def scratch_at_bounds(lin: Linears, bounds) -> int:
    def ub(v):
        return int(v) if isinstance(v, int) else int(sym.upper_bound(v, bounds))
    return max((ub(b) * ub(m) * ub(k) * 2 for b, m, k in lin.scratch), default=0)
