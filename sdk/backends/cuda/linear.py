"""fp16 builds: model GEMMs whose B is a weight read it as fp16, stored transposed at build time.

For every ``sdk_gemm_f32`` step computed at fp16 (``sdk/transform/mixed_precision.py``) whose B operand is a
constant shared by the batch, with compile-time N and K (K a multiple of 8), the bundle stores B once more as
float16 ``Wt[N, K]`` (K contiguous: the K-major layout Hopper wgmma reads through TMA, 16-byte rows) and the step
launches ``sdk_cuda_linear_f16`` instead: A (fp32 activations) is rounded to fp16 into a scratch area at the end of
the device arena, then the wgmma + TMA GEMM runs with the fp32 epilogue (``runtime_c/cuda/sdk_cuda_kernels.cu``).
Consecutive such steps on the same A (a transformer's Q, K and V projections) convert it once; where A is the
output of the generated element-wise kernel right before (BERT's GELU before the second FFN GEMM) and nothing else
reads it, that kernel writes it as fp16 straight into the scratch (no fp32 copy, no conversion pass); where A is the
output of the GEMM before (with its folded epilogue: BERT's FFN-1 with its GELU) and that GEMM is its only reader,
the GEMM before writes it as fp16 into a second scratch area after the first (``sdk_cuda_linear_f16_h``: its own A
may be in the first one) and this one reads it there. An fp32 weight that no other step reads is left out of the
bundle. Where A is a LayerNorm's output (``sdk_layernorm_f32`` with no GEMM between), the LayerNorm writes the
fp16 copy into the scratch next to its fp32 output (``sdk_cuda_layernorm_f32_h``: the residual still reads fp32).
A fused attention that reads its Q, K and V from one such GEMM's output (only there) and writes its output for the
next such GEMM alone runs on fp16 storage (``sdk_cuda_attention_f16``): that GEMM writes Q/K/V as fp16 into the
second scratch area, the attention writes its output as fp16 into the first, which the next GEMM reads as its A. The numerics are those of the fp16 path before (operands
rounded to fp16 with round-to-nearest-even, fp32 accumulation); a weight with a finite value beyond fp16's range
keeps the fp32 path.

The fp16 residual stream (``_residual_half``, a post-LayerNorm transformer's): a LayerNorm right after such a GEMM
whose output (with its folded residual epilogue) only that LayerNorm reads gets the sum as fp16 (the GEMM writes it
with ``sdk_cuda_linear_f16_h`` / ``_hr`` into slot 0 of a third scratch area, the LayerNorm reads it with
``sdk_cuda_layernorm_f16``); a LayerNorm whose output is read only as such GEMMs' A and as the fp16 residual of GEMMs
of that first kind (and is no program output) writes it only as fp16, into slot 1 or 2 (the one no earlier output
still needed occupies), and those GEMMs read it there (A without converting; R by ``sdk_cuda_linear_f16_hr``). The
sums and the LayerNorm outputs between the layers are then rounded to fp16 once each (statistics and epilogues in
fp32), as an fp16 PyTorch model keeps them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ...ir import sym
from ...tir.expr import Buffer, LibCall

F16_MAX = 65504.0

# The parameters of the fp16 launchers the code generator calls in place of a declared kernel's CUDA launcher
# (runtime_c/cuda/sdk_cuda.h; tests/unit/test_kernel_interface.py checks them against the prototypes): their
# arguments are those of the declared call by parameter name, with the fp16 ones (Wt, scratch, convert) added
LINEAR_F16_PARAMS = ("stream", "batch", "M", "N", "K", "alpha", "A", "a_bs", "a_rs", "a_cs", "Wt", "scratch", "convert",
                     "beta", "C", "c_rs", "c_cs", "Y", "R", "act", "act_a", "act_b")
ATTENTION_F16_PARAMS = ("stream", "B", "H", "Sq", "Sk", "D", "scale", "Q", "q_bs", "q_hs", "q_rs", "K", "k_bs",
                        "k_hs", "k_rs", "V", "v_bs", "v_hs", "v_rs", "mask", "m_bs", "m_hs", "m_qs", "m_ks", "causal",
                        "O", "o_bs", "o_hs", "o_rs")


def args_by_name(names, args, out_params, **replace) -> list:
    """The arguments ``args`` of a call whose parameters are ``names``, reordered for a launcher whose parameters are
    ``out_params`` (a name in neither: an error), with the arguments of ``replace`` (by name) put in."""
    named = {**dict(zip(names, args)), **replace}
    return [named[n] for n in out_params]


@dataclass
class Linear:
    """One GEMM step on fp16 weights: the key of its fp16 weight and whether it converts A (else it reuses the
    scratch the previous step filled with the same A)."""
    weight: tuple
    convert: bool
    half_out: bool = False  # writes its output as fp16 into the second scratch area (the next GEMM's A)
    a_in_h2: bool = False  # reads A from the second scratch area (the GEMM before wrote it there)


@dataclass
class Linears:
    steps: Dict[int, Linear] = field(default_factory=dict)  # step index -> Linear
    weights: Dict[tuple, np.ndarray] = field(default_factory=dict)  # key -> float16 Wt [N, K]
    dropped: set = field(default_factory=set)  # id() of fp32 constants no step reads any more
    scratch: List[tuple] = field(default_factory=list)  # (batch, M, K) of each step that fills the scratch
    scratch2: List[tuple] = field(default_factory=list)  # (rows, N) of each step writing the second area
    producers: set = field(default_factory=set)  # indices of generated kernels that write their output as fp16
    # into the scratch (the next step is a GEMM on weights, the only reader of that output)
    norms: set = field(default_factory=set)  # indices of LayerNorm steps that also write their output as fp16
    # into the scratch (the A of a GEMM on weights after them)
    attentions: set = field(default_factory=set)  # indices of fused attentions on fp16 storage: Q/K/V in the second
    # scratch area (the GEMM before wrote them), the output into the first (the next GEMM's A)
    # the fp16 residual stream (_residual_half): slots of the third scratch area
    res_y: Dict[int, Optional[int]] = field(default_factory=dict)  # GEMM step -> writes Y as fp16 into slot 0 (the
    # LayerNorm after it reads it there); the value: the slot of its fp16 residual R, or None (R fp32 or none)
    res_a: Dict[int, int] = field(default_factory=dict)  # GEMM step -> the slot its A is read from (fp16, as it is)
    res_norms: Dict[int, tuple] = field(default_factory=dict)  # LayerNorm step -> (X read as fp16 from slot 0,
    # the slot its output is written to as fp16 only, or None: written as fp32 as before)
    scratch3: List[tuple] = field(default_factory=list)  # (rows, cols) of every tensor kept in a slot


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
        convert, norm = prev != a_args, None
        if convert and _writes_half(prog, i, step):
            out.producers.add(i - 1)
            convert = False
            prev = None  # the scratch holds A, but A (fp32) was never written: no later step may reuse it
        elif convert:
            norm = _norm_writes_half(prog, i, step, out)
            if norm is not None:
                out.norms.add(norm)
                convert = False
        out.steps[i] = Linear(key, convert)
        if convert or i - 1 in out.producers or norm is not None:
            out.scratch.append((_arg(step, "batch"), _arg(step, "M"), _arg(step, "K")))
        for name in ("A", "C"):
            b = _arg(step, name)
            if isinstance(b, Buffer):
                uses.setdefault(id(prog.root(b)), []).append(i)
        Y = _arg(step, "Y")
        prev = None if prog.root(Y) is prog.root(A) or i - 1 in out.producers else a_args
    outputs = {id(prog.root(b)) for b in prog.outputs}
    out.dropped = {k[0] for k in out.weights} - set(uses) - outputs
    _chain_half(prog, out)
    _attention_half(prog, out)
    _residual_half(prog, out)
    return out


def _is_layernorm(s) -> bool:
    return isinstance(s, LibCall) and s.fn == "sdk_layernorm_f32" and s.decl is not None and s.impl is None


def _residual_half(prog, out: Linears):
    """The fp16 residual stream (see the module's docstring): fills ``res_y``, ``res_a``, ``res_norms``,
    ``scratch3``."""
    from ...transform.epilogue import epilogue_after
    outputs = {id(prog.root(b)) for b in prog.outputs}
    readers = _readers(prog)
    same = lambda a, b: str(a) == str(b)  # noqa: E731 (dims: ints or symbolic expressions)
    xh = {}  # LayerNorm step -> the GEMM step whose fp16 sum it reads
    for i in sorted(out.steps):
        step, epi = prog.steps[i], epilogue_after(prog, i)
        p = i + (2 if epi is not None else 1)
        if out.steps[i].half_out or p >= len(prog.steps) or not _is_layernorm(prog.steps[p]):
            continue
        ln, Y = prog.steps[p], _arg(step, "Y")
        X, C = _arg(ln, "X"), _arg(step, "C")
        R = epi[3] if epi is not None else None
        if prog.root(Y) is not Y or X is not Y or id(Y) in outputs or _arg(step, "batch") != 1 \
                or not same(_arg(step, "N"), _arg(ln, "cols")) or not same(_arg(step, "M"), _arg(ln, "rows")) \
                or readers.get(id(Y), set()) - {i, i + 1, p} or any(
                    isinstance(b, Buffer) and prog.root(b) is Y for b in (C, R, _arg(step, "A"))):
            continue
        xh[p] = i
    gemm_of_epi = {i + 1: i for i in out.steps if epilogue_after(prog, i) is not None}
    busy = {1: -1, 2: -1}  # slot -> the last step reading the LayerNorm output it holds
    for p, ln in enumerate(prog.steps):
        if not _is_layernorm(ln):
            continue
        Z, rows, cols = _arg(ln, "Y"), _arg(ln, "rows"), _arg(ln, "cols")
        a_steps, r_steps = [], []
        rd = readers.get(id(Z), set()) - {p}
        ok = prog.root(Z) is Z and id(Z) not in outputs and bool(rd) and min(rd) > p
        for j in sorted(rd) if ok else ():
            if j in out.steps:
                st = prog.steps[j]
                A = _arg(st, "A")
                if A is Z and _arg(st, "batch") == 1 and _arg(st, "a_cs") == 1 and same(_arg(st, "a_rs"), cols) \
                        and same(_arg(st, "K"), cols) and same(_arg(st, "M"), rows) and not out.steps[j].a_in_h2 \
                        and not any(isinstance(b, Buffer) and prog.root(b) is Z for b in (_arg(st, "C"), _arg(st, "Y"))):
                    a_steps.append(j)
                    continue
            elif j in gemm_of_epi:
                i = gemm_of_epi[j]
                R = epilogue_after(prog, i)[3]
                if R is Z and i in xh.values() and same(_arg(prog.steps[i], "M"), rows) \
                        and same(_arg(prog.steps[i], "N"), cols):
                    r_steps.append(i)
                    continue
            ok = False
            break
        slot = next((k for k in (1, 2) if busy[k] < p), None) if ok else None
        if slot is None:
            if p in xh:
                out.res_norms[p] = (True, None)
                out.scratch3.append((rows, cols))
            continue
        busy[slot] = max(rd)
        out.res_norms[p] = (p in xh, slot)
        out.scratch3.append((rows, cols))
        out.norms.discard(p)  # its fp16 copy goes to the slot instead of the first area
        for j in a_steps:
            out.res_a[j] = slot
            out.steps[j].convert = False
        for i in r_steps:
            out.res_y[i] = slot
    for p, i in xh.items():
        out.res_y.setdefault(i, None)


def _readers(prog):
    """id(root buffer) -> indices of the steps touching it."""
    readers = {}
    for k, s in enumerate(prog.steps):
        for b in (s.args if isinstance(s, LibCall) else list(s.inputs) + list(s.outputs)):
            if isinstance(b, Buffer):
                readers.setdefault(id(prog.root(b)), set()).add(k)
    return readers


def _attention_half(prog, out: Linears):
    """Fused attentions t between GEMMs i and j on fp16 weights: Q, K and V are views of i's output X (read by
    nothing else), and t's output O is exactly j's A (read by nothing else): i writes X as fp16 into the second
    scratch area, t reads it there and writes O as fp16 into the first, j reads it without converting."""
    from ...transform.epilogue import epilogue_after
    outputs = {id(prog.root(b)) for b in prog.outputs}
    readers = _readers(prog)
    for t, s in enumerate(prog.steps):
        if not (isinstance(s, LibCall) and s.fn == "sdk_attention_f32" and s.impl is None and t + 1 in out.steps):
            continue
        X = prog.root(_arg(s, "Q"))
        if any(prog.root(_arg(s, n)) is not X for n in ("K", "V")) or id(X) in outputs:
            continue
        i = next((k for k in range(t - 1, -1, -1) if k in out.steps), None)
        if i is None or out.steps[i].half_out or out.steps[i].a_in_h2:
            continue
        step = prog.steps[i]
        Y, i_end = _arg(step, "Y"), i + (2 if epilogue_after(prog, i) is not None else 1)
        if prog.root(Y) is not X or prog.offset_of(Y) != 0 or _arg(step, "batch") != 1 \
                or readers.get(id(X), set()) - set(range(i, i_end)) - {t}:
            continue
        j, O = t + 1, _arg(s, "O")
        nxt = prog.steps[j]
        A, K = _arg(nxt, "A"), _arg(nxt, "K")
        if not out.steps[j].convert or prog.root(A) is not prog.root(O) or prog.offset_of(A) != 0 \
                or prog.offset_of(O) != 0 or id(prog.root(O)) in outputs or _arg(nxt, "batch") != 1 \
                or _arg(nxt, "a_cs") != 1 or str(_arg(nxt, "a_rs")) != str(K) \
                or readers.get(id(prog.root(O)), set()) - {t, j}:
            continue
        out.steps[i].half_out = True
        out.scratch2.append((_arg(step, "M"), _arg(step, "N")))
        out.attentions.add(t)
        out.steps[j].convert = False  # the attention writes j's A (fp16) into the first area, which j's entry sizes


def _chain_half(prog, out: Linears):
    """GEMM pairs i -> j on fp16 weights where j's A is exactly i's output (contiguous rows, batch 1) and j is its
    only reader (i's folded epilogue step aside): i writes it as fp16 into the second scratch area, j reads it
    there instead of converting it."""
    from ...transform.epilogue import epilogue_after
    outputs = {id(prog.root(b)) for b in prog.outputs}
    readers = _readers(prog)
    for i in sorted(out.steps):
        step = prog.steps[i]
        j = i + 2 if epilogue_after(prog, i) is not None else i + 1
        if j not in out.steps or not out.steps[j].convert or out.steps[i].a_in_h2:
            continue
        nxt, Y = prog.steps[j], _arg(step, "Y")
        A, K = _arg(nxt, "A"), _arg(nxt, "K")
        if prog.root(A) is not prog.root(Y) or prog.offset_of(A) != 0 or prog.offset_of(Y) != 0 \
                or id(prog.root(Y)) in outputs or readers.get(id(prog.root(Y)), set()) - {i, i + 1, j}:
            continue
        if _arg(step, "batch") != 1 or _arg(nxt, "batch") != 1 or _arg(nxt, "a_cs") != 1 \
                or str(_arg(nxt, "a_rs")) != str(K) or str(_arg(step, "N")) != str(K) \
                or str(_arg(step, "M")) != str(_arg(nxt, "M")):
            continue
        out.steps[i].half_out = True
        out.steps[j].convert, out.steps[j].a_in_h2 = False, True
        out.scratch.remove((_arg(nxt, "batch"), _arg(nxt, "M"), K))  # j no longer fills the first area
        out.scratch2.append((_arg(step, "M"), K))


def _norm_writes_half(prog, i, step, out: Linears) -> Optional[int]:
    """The index of the LayerNorm step that last wrote GEMM step i's A, when A is exactly its output (contiguous
    rows of K, batch 1) and no step between them writes the scratch; else None."""
    A, K = _arg(step, "A"), _arg(step, "K")
    if _arg(step, "batch") != 1 or _arg(step, "a_cs") != 1 or str(_arg(step, "a_rs")) != str(K) \
            or prog.offset_of(A) != 0:
        return None
    for p in range(i - 1, -1, -1):
        s = prog.steps[p]
        if p in out.steps or p in out.producers or p in out.norms:
            return None  # writes the scratch
        if not any(prog.root(o) is prog.root(A) for o in s.outputs):
            continue
        if not (isinstance(s, LibCall) and s.fn == "sdk_layernorm_f32" and s.decl is not None and s.impl is None):
            return None
        Y = _arg(s, "Y")
        if prog.root(Y) is not prog.root(A) or prog.offset_of(Y) != 0 or str(_arg(s, "cols")) != str(K) \
                or str(_arg(s, "rows")) != str(_arg(step, "M")):
            return None
        return p
    return None


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


def _max_c(terms) -> str:
    terms = list(dict.fromkeys(terms))
    expr = terms[0] if terms else "(size_t)0"
    for t in terms[1:]:
        expr = f"sdk_zmax({expr}, {t})"
    return expr


def slots3(lin: Linears) -> int:
    """How many slots of the third scratch area the steps use (0, 1: slot 0 only, ..., 3)."""
    used = {s for _, s in lin.res_norms.values() if s is not None} | ({0} if lin.res_y else set())
    return max(used) + 1 if used else 0


def _areas_c(lin: Linears, sym_c) -> list:
    """The byte sizes (C expressions) of the scratch areas: the first, the second, the third (its slots)."""
    first = _max_c(f"(size_t)(({sym_c(b)}) * ({sym_c(m)}) * ({sym_c(k)}) * 2)" for b, m, k in lin.scratch)
    second = _max_c(f"(size_t)(({sym_c(m)}) * ({sym_c(n)}) * 2)" for m, n in lin.scratch2)
    third = f"{slots3(lin)} * {slot3_bytes_c(lin, sym_c)}" if lin.scratch3 else "(size_t)0"
    return [first, second, third]


def slot3_bytes_c(lin: Linears, sym_c) -> str:
    """The bytes of one slot of the third scratch area (a multiple of 256)."""
    one = _max_c(f"(size_t)(({sym_c(r)}) * ({sym_c(c)}) * 2)" for r, c in lin.scratch3)
    return f"((({one}) + 255) & ~(size_t)255)"


def scratch2_offset_c(lin: Linears, sym_c) -> str:
    """Where the second scratch area starts, in bytes from the first (a 256-byte boundary)."""
    return f"((({_areas_c(lin, sym_c)[0]}) + 255) & ~(size_t)255)"


def scratch3_offset_c(lin: Linears, sym_c) -> str:
    """Where the third scratch area (the fp16 residual stream's slots) starts, in bytes from the first."""
    if not lin.scratch2:
        return scratch2_offset_c(lin, sym_c)
    return f"({scratch2_offset_c(lin, sym_c)} + ((({_areas_c(lin, sym_c)[1]}) + 255) & ~(size_t)255))"


def scratch_c(lin: Linears, sym_c) -> Optional[str]:
    """The scratch bytes (a C expression of the dims ``d_<sym>``), or None when no step uses it."""
    if not lin.scratch and not lin.scratch2 and not lin.scratch3:
        return None
    first, second, third = _areas_c(lin, sym_c)
    if lin.scratch3:
        return f"{scratch3_offset_c(lin, sym_c)} + {third}"
    if not lin.scratch2:
        return first
    return f"{scratch2_offset_c(lin, sym_c)} + {second}"


def scratch_at_bounds(lin: Linears, bounds) -> int:
    def ub(v):
        return int(v) if isinstance(v, int) else int(sym.upper_bound(v, bounds))
    up = lambda n: (n + 255) // 256 * 256  # noqa: E731
    first = max((ub(b) * ub(m) * ub(k) * 2 for b, m, k in lin.scratch), default=0)
    second = max((ub(m) * ub(n) * 2 for m, n in lin.scratch2), default=0)
    if lin.scratch3:
        third = slots3(lin) * up(max(ub(r) * ub(c) * 2 for r, c in lin.scratch3))
        return up(first) + (up(second) if lin.scratch2 else 0) + third
    if not lin.scratch2:
        return first
    return up(first) + second
