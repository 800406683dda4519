"""C99 code generation: tir kernels, library calls, the memory plan and the
model's public API (``<name>_run``, ``<name>_workspace_size``...)."""
from __future__ import annotations

import math
import re
from typing import Dict, List

import numpy as np

from ..ir import sym
from ..ir.dtypes import HALF, LOWBIT, compute_type
from ..ir.runtime_syms import planning_size
from ..memory.plan import MemoryPlan, align_slack, nbytes
from ..tir.expr import (Assign, Bin, BindDims, Buffer, Call, Cast, Const, DimE, For, Kernel, Let, LibCall, Load, Select,
                        IfThen, LoopHead, LoopTail, Seq, Store, Var, binop)
from .parallel import MIN_WORK, if_clause, parallel_loops
from .host_api import api_h, buffer_storage, host_api_c, io_tables_c, n_offsets, output_checks_c
from .weights import embed_blob, weights_blob

C_TYPE = {"float32": "float", "float64": "double", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t",
          "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t",
          "uint64": "uint64_t", "bool": "uint8_t",
          "float16": "uint16_t", "bfloat16": "uint16_t",  # half types: 16-bit storage, float32 arithmetic
          **{t: "uint8_t" for t in LOWBIT}}  # low-bit types: their bytes (sdk/ir/dtypes.py)
_HALF_FN = {"float16": "f16", "bfloat16": "bf16"}  # sdk_half.h: sdk_<f>_to_f32, sdk_f32_to_<f>, sdk_<f>_round


def scalar_c(dtype) -> str:
    """C type of a scalar (local, cast) of ``dtype``: half types compute in float."""
    return C_TYPE[compute_type(dtype)]
_F32_FN = {"abs": "fabsf", "exp": "sdk_expf", "erf": "sdk_erff", "tanh": "sdk_tanhf", "gelu": "sdk_geluf"}  # sdk_math.h: vectorisable
_F64_FN = {"abs": "fabs"}
_MACROS = ("isnan", "isinf")
INLINE_WEIGHTS_MAX = 256 * 1024  # above this, weights go to a .bin embedded with .incbin


def sym_c(d) -> str:
    return sym.to_c(d, lambda n: f"d_{n}")


def _c_token(s: str) -> bool:
    """An identifier, a number or a parenthesised/called expression: safe as an operand of any C operator."""
    return s.isidentifier() or s.isdigit() or (s.startswith("(") and s.endswith(")") and _balanced_outer(s))


def _balanced_outer(s: str) -> bool:
    depth = 0
    for k, ch in enumerate(s):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and k < len(s) - 1:
            return False
    return True


def const_c(v, dtype) -> str:
    dtype = compute_type(dtype)
    if dtype in ("float32", "float64"):
        v = float(v)
        suffix = "f" if dtype == "float32" else ""
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return ("-" if v < 0 else "") + "INFINITY"
        # the shortest decimal that reads back as the same float32/float64 (numpy's repr; C compilers round
        # decimal literals correctly): 49.0f, 0.1f, 1e-07f
        s = str(np.float32(v)) if dtype == "float32" else repr(v)
        if "e" not in s and "." not in s:
            s += ".0"
        return f"{s}{suffix}" if math.copysign(1.0, v) > 0 else f"({s}{suffix})"
    v = int(v)
    if dtype == "bool":
        return "1" if v else "0"
    info = np.iinfo(np.dtype(dtype))
    if dtype.startswith("int") and v == info.min:
        return f"{dtype.upper()}_MIN"
    if dtype in ("int64", "uint64") and not -2**31 < v < 2**31:
        return f"{'U' if dtype == 'uint64' else ''}INT64_C({v})"
    if dtype == "uint32" and v >= 2**31:
        return f"{v}u"
    return str(v) if v >= 0 else f"({v})"


class CEmitter:
    loop_pragma = None  # target profile [codegen] loop_pragma: put before innermost loops whose iterations are independent
    unit_vars = frozenset()  # indices of extent-1 loops, printed as 0
    reduce_pragma = None  # [codegen] reduce_pragma, e.g. "omp simd reduction({op}:{acc})": before float sum/max reduction loops

    def expr(self, e) -> str:
        if isinstance(e, Var):
            return "0" if e.name in self.unit_vars else e.name
        if isinstance(e, Const):
            return const_c(e.value, e.dtype)
        if isinstance(e, DimE):
            return sym_c(e.dim)
        if isinstance(e, Load):
            ref = f"{e.tensor.name}[{self.expr(flat_index(e.tensor, e.indices))}]"
            return f"sdk_{_HALF_FN[e.tensor.dtype]}_to_f32({ref})" if e.tensor.dtype in HALF else ref
        if isinstance(e, Bin):
            a, b = self.expr(e.a), self.expr(e.b)
            if e.op in ("min", "max"):
                if compute_type(e.dtype) in ("float32", "float64"):
                    return f"f{e.op}{'f' if compute_type(e.dtype) == 'float32' else ''}({a}, {b})"
                return f"sdk_i{e.op}({a}, {b})"
            op = "/" if e.op == "//" else e.op
            if op in ("/", "%") and isinstance(e.b, DimE) and not _c_token(b):
                b = f"({b})"  # a dim renders as "d_b*d_t": x % d_b*d_t would be (x % d_b)*d_t
            return f"({a} {op} {b})"
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, Select):
            return f"({self.expr(e.cond)} ? {self.expr(e.a)} : {self.expr(e.b)})"
        if isinstance(e, Cast):
            if e.dtype in HALF:  # the value a 16-bit tensor would hold
                return f"sdk_{_HALF_FN[e.dtype]}_round((float)({self.expr(e.x)}))"
            return f"(({scalar_c(e.dtype)})({self.expr(e.x)}))"
        raise TypeError(f"cannot print {e!r}")

    def call(self, e: Call) -> str:
        args = [self.expr(a) for a in e.args]
        if e.fn == "bitcast":  # the same bits as another type (BitCast): a union, C99's defined type pun
            return (f"((union {{ {scalar_c(e.args[0].dtype)} a; {scalar_c(e.dtype)} b; }}){{ .a = {args[0]} }}).b")
        if e.fn in _MACROS:
            return f"{e.fn}({args[0]})"
        adt = compute_type(e.args[0].dtype)
        if adt == "float32":
            return f"{_F32_FN.get(e.fn, e.fn + 'f')}({', '.join(args)})"
        if adt == "float64":
            return f"{_F64_FN.get(e.fn, e.fn)}({', '.join(args)})"
        # integer pow & co: compute in double, convert back
        inner = ", ".join(f"(double)({a})" for a in args)
        return f"(({scalar_c(e.dtype)}){_F64_FN.get(e.fn, e.fn)}({inner}))"

    def stmt(self, s, ind: str) -> List[str]:
        if isinstance(s, For) and _unit(s):
            # a loop of extent 1 is not printed: its index is the constant 0
            saved, self.unit_vars = self.unit_vars, self.unit_vars | {s.var.name}
            lines = self.stmt(s.body, ind)
            self.unit_vars = saved
            return lines
        if isinstance(s, For) and self._starts.get(id(s), (None,))[0] is not s:
            split = _split_select_loop(s)
            if split is not None:
                return self.split_loops(s, split, ind)
        if isinstance(s, For):
            v = s.var.name
            start = self._starts[id(s)][1] if self._starts.get(id(s), (None,))[0] is s else "0"
            lines = [f"{ind}for (int64_t {v} = {start}; {v} < {self.expr(s.extent)}; ++{v}) {{"]
            if self.reduce_pragma and s.kind.startswith("reduce:"):
                _, op, acc = s.kind.split(":")
                lines.insert(0, f"{ind}_Pragma(\"{self.reduce_pragma.format(op=op, acc=acc)}\")")
            elif self.loop_pragma and self.independent_iterations(s) and not (
                    self.loop_pragma.startswith("omp") and _assigns(s.body)):  # omp simd needs a reduction clause
                lines.insert(0, f"{ind}_Pragma(\"{self.loop_pragma}\")")
            lines += self.stmt(s.body, ind + "  ")
            return lines + [f"{ind}}}"]
        if isinstance(s, Store):
            val = self.expr(s.value)
            if s.buffer.dtype in HALF:
                val = f"sdk_f32_to_{_HALF_FN[s.buffer.dtype]}((float)({val}))"
            elif s.value.dtype != s.buffer.dtype:
                val = f"({C_TYPE[s.buffer.dtype]})({val})"
            return [f"{ind}{s.buffer.name}[{self.expr(flat_index(s.buffer, s.indices))}] = {val};"]
        if isinstance(s, Let):
            return [f"{ind}{scalar_c(s.var.dtype)} {s.var.name} = {self.expr(s.value)};"]
        if isinstance(s, Assign):
            return [f"{ind}{s.var.name} = {self.expr(s.value)};"]
        if isinstance(s, Seq):
            return [line for x in s.stmts for line in self.stmt(x, ind)]
        if isinstance(s, IfThen):
            return [f"{ind}if ({self.expr(s.cond)}) {{"] + self.stmt(s.body, ind + "  ") + [f"{ind}}}"]
        raise TypeError(f"cannot print {s!r}")


    # id(For) -> (that For, its first index in C), for the loops split_loops makes (0 otherwise). The For is kept and
    # compared: a loop made later may reuse a freed loop's id (the inner loop of a Concat's last input started at
    # the first input's end and wrote nothing)
    _starts: dict = {}

    def split_loops(self, s: For, segments, ind: str) -> List[str]:
        """``s`` as one loop per range of its index in which a select on that index (``i < c``) has one known
        value (a Concat along an outer axis: a plain copy loop per input instead of a select in every
        element, which vectorises poorly). Range k runs from c_(k-1) to c_k, each clamped to [previous, extent]."""
        v, ext = s.var.name, self.expr(s.extent)
        lines, prev = [f"{ind}{{"], "0"
        saved = dict(self._starts)
        for k, (bound, value) in enumerate(segments):
            if bound is None:
                end = ext
            else:
                end = f"{v}_end{k}"
                b = self.expr(bound)
                lines.append(f"{ind}  const int64_t {end} = {b} < {prev} ? {prev} : ({b} > {ext} ? {ext} : {b});")
            loop = For(s.var, s.extent if bound is None else Var(end), _with_store_value(s.body, value), s.kind)
            self._starts = {**self._starts, id(loop): (loop, prev)}
            lines += self.stmt(loop, ind + "  ")
            prev = end
        self._starts = saved
        return lines + [f"{ind}}}"]

    def independent_iterations(self, loop: For) -> bool:
        """An innermost loop whose every store indexes with the loop var and whose loads of a stored buffer read
        only the element stored (in-place element-wise kernels); scalar accumulators are fine (reductions)."""
        todo, stores, exprs = [loop.body], [], []
        while todo:
            s = todo.pop()
            if isinstance(s, Seq):
                todo.extend(s.stmts)
            elif isinstance(s, Store):
                stores.append(s)
                exprs += [s.value] + list(s.indices)
            elif isinstance(s, (Let, Assign)):
                exprs.append(s.value)
            else:
                return False  # a nested loop: not innermost
        written = {}
        for s in stores:
            idx = self.expr(flat_index(s.buffer, s.indices))
            if written.setdefault(s.buffer.name, idx) != idx or not any(
                    isinstance(x, Var) and x.name == loop.var.name for e in s.indices for x in _subexprs(e)):
                return False
        return all(self.expr(flat_index(x.tensor, x.indices)) == written[x.tensor.name]
                   for e in exprs for x in _subexprs(e) if isinstance(x, Load) and x.tensor.name in written)


def banner_c(prog, k: Kernel) -> str:
    """A one-line comment naming the ONNX nodes a kernel computes (fused ones first)."""
    nodes = getattr(prog, "origin", {}).get(k.name)
    if not nodes:
        return ""
    text = ", ".join(nodes).replace("*/", "* /")
    return f"/* ONNX {'nodes' if len(nodes) > 1 else 'node'}: {text} */\n"


def _store_of_nest(s):
    """The Store at the bottom of a perfect loop nest (For -> ... -> Store), or None."""
    while isinstance(s, For):
        s = s.body
    return s if isinstance(s, Store) else None


def _invariant(e) -> bool:
    """An index expression of dims and constants only (no loop variable, no load)."""
    return not any(isinstance(x, (Var, Load)) for x in _subexprs(e))


def _split_select_loop(s: For):
    """[(bound, value), ..., (None, value)] when the store below the perfect nest ``s`` selects on ``s``'s index
    (``select(i < c1, v1, select(i < c2, v2, v3))``, each c invariant): the value to store for i < c1, then for
    c1 <= i < c2, ..., then for the rest; None otherwise."""
    st = _store_of_nest(s.body) if isinstance(s.body, For) else (s.body if isinstance(s.body, Store) else None)
    if st is None:
        return None
    segments, e = [], st.value
    while (isinstance(e, Select) and isinstance(e.cond, Bin) and e.cond.op == "<" and isinstance(e.cond.a, Var)
           and e.cond.a is s.var and _invariant(e.cond.b)):
        segments.append((e.cond.b, e.a))
        e = e.b
    return segments + [(None, e)] if segments else None


def _split_depth(body):
    """The number of printed loops above the first loop of the perfect nest ``body`` that split_loops prints as
    several, or None when none is."""
    n, s = 0, body
    while isinstance(s, For):
        if not _unit(s) and _split_select_loop(s) is not None:
            return n
        n += not _unit(s)
        s = s.body
    return None


def _with_store_value(s, value):
    """A copy of the perfect nest ``s`` whose store writes ``value``."""
    if isinstance(s, For):
        return For(s.var, s.extent, _with_store_value(s.body, value), s.kind)
    return Store(s.buffer, s.indices, value)


def _unit(loop: For) -> bool:
    return isinstance(loop.extent, Const) and int(loop.extent.value) == 1


def _assigns(s) -> bool:
    if isinstance(s, Assign):
        return True
    if isinstance(s, Seq):
        return any(_assigns(x) for x in s.stmts)
    return isinstance(s, For) and _assigns(s.body)


def _subexprs(e):
    yield e
    for sub in [getattr(e, f, None) for f in ("a", "b", "x", "cond")] + list(getattr(e, "args", None) or []) + \
            list(getattr(e, "indices", None) or []):
        if sub is not None and not isinstance(sub, (str, int, float)):
            yield from _subexprs(sub)


def flat_index(buf: Buffer, idx):
    flat = idx[0] if idx else Const(0)
    for i, d in zip(idx[1:], buf.shape[1:]):
        flat = binop("+", binop("*", flat, DimE(d) if isinstance(d, sym.Sym) else Const(d)), i)
    return flat


def kernel_c(k: Kernel, symbols: List[str], loop_pragma=None, outer_pragma=None, reduce_pragma=None,
             min_work: int = MIN_WORK, bounds=None) -> str:
    em = CEmitter()
    em.loop_pragma = loop_pragma
    em.reduce_pragma = reduce_pragma
    params = [f"int64_t d_{s}" for s in symbols]
    params += [f"const {C_TYPE[b.dtype]} *{b.name}" for b in k.inputs]
    params += [f"{C_TYPE[b.dtype]} *{b.name}" for b in k.outputs]
    body = [f"  (void)d_{s};" for s in symbols]
    body += em.stmt(k.body, "  ")
    split = parallel_loops(k.body, lambda loop: not _unit(loop)) if outer_pragma else None
    depth = _split_depth(k.body)
    if split and depth is not None:  # collapse only the loops above one printed as several (split_loops)
        split = (min(split[0], depth), split[1]) if depth > 0 else None
    cond = if_clause(split[1], min_work, em.expr, bounds) if split else None
    if cond is not None and any(line.lstrip().startswith("for (") for line in body):
        # output loops whose iterations write disjoint elements (sdk/codegen/parallel.py) run in parallel,
        # collapsed (all but a vectorised innermost one) so a batch of 1 still splits
        n = split[0]
        at = next(i for i, line in enumerate(body) if line.lstrip().startswith("for ("))
        body.insert(at, f"  _Pragma(\"{outer_pragma}{f' collapse({n})' if n > 1 else ''}{cond}\")")
    return f"static void {k.name}({', '.join(params) or 'void'}) {{\n" + "\n".join(body) + "\n}\n"


def generate(prog, plan: MemoryPlan, name: str, bounds: Dict[str, int], loop_pragma=None, outer_pragma=None,
             reduce_pragma=None, weights_storage="incbin", parallel_min_work=MIN_WORK, llvm_layout=None,
             kernel_units=False):
    """Return {filename: text or bytes} for the model's C sources. ``loop_pragma`` (from the target profile)
    goes before innermost loops with independent iterations, e.g. to let clang vectorise in-place kernels;
    ``outer_pragma`` before the output loops of kernels that may split across threads and do at least
    ``parallel_min_work`` iterations (``sdk/codegen/parallel.py``).
    Weights above ``INLINE_WEIGHTS_MAX`` bytes go to one blob embedded as ``weights_storage`` says
    (``incbin`` | ``c_array``: ``sdk/codegen/weights.py``).
    ``llvm_layout`` (``codegen.llvm.Layout``; ``sdk/codegen/llvm_object.py``): the steps are the LLVM object's
    ``<name>_entry``, called with every storage's address in that layout's order; this file keeps the API
    (dims checks, arena offsets, weights) and exports the scheduled GEMM/conv kernels the entry calls."""
    f = prog.func
    symbols = f.symbols()
    rt_symbols = [s for s in f.all_symbols() if s not in symbols]  # defined by BindDims steps during run
    N = name
    # ---- weights: small ones as C arrays (readable), else one blob embedded with .incbin
    total_w = sum(arr.nbytes for _, arr in prog.consts)
    inline_w = total_w <= INLINE_WEIGHTS_MAX
    arrays = [_c_array(b, arr) for b, arr in prog.consts] if inline_w else []
    blob, wl = (b"", {}) if inline_w else weights_blob(prog)
    # ---- pointer of every buffer at run time
    const_ids = {id(b) for b, _ in prog.consts}
    where = buffer_storage(prog, plan, lambda b: b.name if inline_w else f"({N}_weights + {wl[id(b)]})")
    ptr: Dict[int, str] = {i: addr if inline_w and i in const_ids else
                           f"({'' if writable else 'const '}{C_TYPE[b.dtype]} *){addr}"
                           for i, (b, addr, writable) in where.items()}

    def pointer(b: Buffer) -> str:
        r = prog.root(b)
        if id(r) not in ptr:
            # a temp nobody reads (dead output of a multi-output op): give it scratch-free storage
            raise KeyError(f"buffer {r.name} has no storage")
        p = ptr[id(r)]
        off = prog.offset_of(b)  # a Concat's input written in place: its range of the output
        if off:
            return f"(({C_TYPE[b.dtype]} *)(void *)({p}) + {off})"
        return p if r is b else f"({C_TYPE[b.dtype]} *)(void *)({p})"

    # ---- kernels and steps
    kernels, calls, tuned = [], [], []
    shared: Dict[str, str] = {}  # a scheduled kernel's text, its name taken out -> the function that has it
    kernel_units = kernel_units and llvm_layout is None
    units: Dict[str, list] = {}  # kernel_units: the function that has a kernel text -> [its text, wrappers...]
    sym_args = [f"d_{s}" for s in symbols + rt_symbols]
    for step in (prog.steps if llvm_layout is None else ()):
        if isinstance(step, BindDims):
            calls.append(guard_c(step, pointer) + bind_dims_c(step, pointer))
            continue
        if isinstance(step, LoopHead):
            calls.append(guard_c(step, pointer) + loop_head_c(step, pointer))
            continue
        if isinstance(step, LoopTail):
            calls.append(f"  }} /* {step.name} */")
            continue
        if isinstance(step, Kernel):
            kernels.append(banner_c(prog, step) + kernel_c(step, symbols + rt_symbols, loop_pragma, outer_pragma,
                                                            reduce_pragma, parallel_min_work, bounds))
            args = sym_args + [pointer(b) for b in step.inputs] + [pointer(b) for b in step.outputs]
            call = f"{step.name}({', '.join(args)});"
        else:
            call = lib_call_c(step, pointer)
            if step.impl is not None:  # a scheduled GEMM/conv (sdk/tune/apply.py): in <name>_tuned.h, one function
                # per kernel text (a transformer's 12 layers make 12 identical products each: one copy per call made
                # BERT-base's header 2.4 MB, 96 kernels of which 6 differ, and gcc -O3 take minutes)
                first = shared.setdefault(step.impl.replace(step.fn, "SDK_TK"), step.fn)
                if kernel_units:
                    proto, wrapper, call = site_wrapper_c(step, first, pointer)
                    units.setdefault(first, [step.impl]).append(wrapper)
                    tuned.append(proto)
                elif first == step.fn:
                    tuned.append(step.impl)
                else:
                    call = first + call[len(step.fn):]
        label = step.name if isinstance(step, Kernel) else f"{step.fn}->{step.outputs[0].name}"
        calls.append(guard_c(step, pointer) + f"  {{ SDK_PROF_BEGIN(); {call} SDK_PROF_END(\"{label}\"); }}")
    entry_decl = ""
    if llvm_layout is not None:
        tuned = [s.impl for s in prog.steps if isinstance(s, LibCall) and s.impl is not None]
        calls, entry_decl = _entry_call_c(N, prog, llvm_layout, symbols, pointer)
    headers = sorted({s.header for s in prog.steps if isinstance(s, LibCall) and s.header})
    outs, late_dims = output_checks_c(prog, rt_symbols)
    n_off = n_offsets(plan)
    slack = align_slack(plan)  # the slots are aligned to plan.align: align the arena's start up to it
    align_run = f"\n    if (need > 0) need += {slack};" if slack else ""
    align_up = f"\n    A += ({plan.align}u - (uintptr_t)A % {plan.align}u) % {plan.align}u;" if slack else ""
    io = io_tables_c(N, prog, bounds)
    header = f"""/* Generated by sdk. Model API: see README.md of this folder. */
#ifndef {N.upper()}_H
#define {N.upper()}_H
#include "sdk_runtime.h"
#ifdef __cplusplus
extern "C" {{
#endif

{api_h(N, prog, plan)}
/* Run the model. arena: at least workspace_size bytes, aligned to 16 bytes.
 * outputs[k].data/.size: caller memory; dtype, rank and dims are filled in. */
sdk_status {N}_run(void *arena, size_t arena_size, const sdk_tensor *inputs, sdk_tensor *outputs);

/* Threads for the runs started from the calling thread afterwards: n >= 1 threads (1: the single-threaded
 * kernels, same results), n <= 0 all cores (the default). Returns the count now in effect; always 1 where the
 * target profile has no threads (built without OpenMP). Profiles with [cpu] threading = "pool" (host): the pool
 * attached to the calling thread (sdk_pool_start, sdk_pool.h), 1 if none is. The arena and the results do not
 * depend on it. */
int {N}_set_threads(int n);

#ifdef __cplusplus
}}
#endif
#endif
"""
    weights_decl = "" if inline_w else f"extern const unsigned char {N}_weights[];\n"
    source = f"""/* Generated by sdk from {f.name}. Do not edit. */
#if defined(SDK_PROFILE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#endif
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "{N}.h"
#include "sdk_math.h"
#include "sdk_half.h"
{''.join(f'#include "{h}"' + chr(10) for h in headers)}
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunknown-pragmas" /* omp simd, when built without -fopenmp-simd */
#endif
#if defined(__clang__) /* an omp simd hint clang cannot honour (NaN-propagating max) is a missed speed-up, not a bug */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
{f'#include "{N}_tuned.h" /* the scheduled GEMM/convolution kernels, one per schedule */' + chr(10) if tuned else ''}
#ifdef SDK_PROFILE /* host-only: -DSDK_PROFILE prints the time of every step to stderr */
#include <stdio.h>
#include <time.h>
#ifndef SDK_PROF_CLOCK /* -DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID: one thread's CPU time (sdk tune's kernel choices) */
#define SDK_PROF_CLOCK CLOCK_MONOTONIC
#endif
static double sdk_prof_now(void) {{
  struct timespec ts;
  clock_gettime(SDK_PROF_CLOCK, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}}
#define SDK_PROF_BEGIN() double sdk_t0_ = sdk_prof_now()
#define SDK_PROF_END(name) fprintf(stderr, "step %-40s %9.3f us\\n", name, 1e6 * (sdk_prof_now() - sdk_t0_))
#else
#define SDK_PROF_BEGIN() (void)0
#define SDK_PROF_END(name) (void)0
#endif

{weights_decl}{''.join(arrays)}
{io}{entry_decl}
{chr(10).join(kernels)}
{host_api_c(N, prog, plan, bounds)}
int {N}_set_threads(int n) {{ return sdk_set_threads(n); }}

sdk_status {N}_run(void *arena, size_t arena_size, const sdk_tensor *inputs, sdk_tensor *outputs) {{
  {N}_dims dims;
  size_t off[{n_off}];
  sdk_status st;
  if (inputs == NULL || outputs == NULL) return SDK_ERR_NULL_ARG;
  st = {N}_bind_dims(inputs, &dims);
  if (st) return st;
  {{
    const {N}_dims *d = &dims;
    size_t need = {N}_offsets(d, off);
    unsigned char *A = (unsigned char *)arena;{align_run}
{chr(10).join('    int64_t d_' + s + ' = d->' + s + ';' for s in symbols)}
{chr(10).join('    int64_t d_' + s + ' = 0; (void)d_' + s + '; /* run-time symbol: set by its bind_dims step */' for s in rt_symbols)}
    if (need > arena_size) return SDK_ERR_ARENA_TOO_SMALL;
    if (need > 0 && A == NULL) return SDK_ERR_NULL_ARG;
    if (((uintptr_t)A) % SDK_ALIGN != 0) return SDK_ERR_BAD_ARG;{align_up}
    (void)A;
{chr(10).join('  ' + x for x in outs)}
{chr(10).join('  ' + c for c in calls)}
{chr(10).join('  ' + x for x in late_dims)}
  }}
  return SDK_OK;
}}
"""
    files = {f"{N}.h": header, f"{N}.c": source}
    if tuned and llvm_layout is not None:  # the LLVM entry calls them: exported, with prototypes
        fns = "|".join(s.fn for s in prog.steps if isinstance(s, LibCall) and s.impl is not None)
        tuned = [re.sub(rf"^static void ({fns})\(([^{{]*?)\) \{{", r"void \1(\2);\nvoid \1(\2) {", t, flags=re.M)
                 for t in tuned]
    if units:  # one translation unit per kernel; <name>_tuned.h declares the call sites' wrappers
        guard = f"{N.upper()}_TUNED_H"
        files[f"{N}_tuned.h"] = (f"/* Generated by sdk: the call sites of the scheduled GEMM/convolution kernels of {N}.c, each\n"
                                 f" * kernel in its own file <kernel>.c (sdk/tune/kernels.py). Included by {N}.c only. */\n"
                                 f"#ifndef {guard}\n#define {guard}\n#include <stddef.h>\n#include <stdint.h>\n"
                                 + "\n".join(tuned) + f"\n#endif /* {guard} */\n")
        for fn, (impl, *wrappers) in units.items():
            files[f"{fn}.c"] = kernel_unit_c(N, fn, impl, wrappers)
    elif tuned:  # static functions, included by <name>.c only: no build file changes, nothing exported
        guard = f"{N.upper()}_TUNED_H"
        files[f"{N}_tuned.h"] = (f"/* Generated by sdk: the scheduled GEMM/convolution kernels of {N}.c (sdk/tune/kernels.py),\n"
                                 f" * one per schedule, shared by every call with that schedule. Included by {N}.c only. */\n"
                                 f"#ifndef {guard}\n#define {guard}\n" + "\n".join(tuned) + f"\n#endif /* {guard} */\n")
    if not inline_w:
        files.update(embed_blob(N, blob, weights_storage))
    return files


def site_wrapper_c(step: LibCall, fn: str, pointer):
    """(prototype, definition, call) of the exported wrapper ``<step.fn>_site`` through which ``<name>.c`` calls the
    scheduled kernel ``fn`` at ``step``: the pointers it passes (not NULL) and the run-time dims (``d_*``) are its
    parameters, every other argument a constant in the kernel's unit (gcc specialises the kernel on them there)."""
    params, inner, passed = [], [], []
    for p, a in zip(step.decl.signature(len(step.args)), lib_args_c(step, pointer)):
        if (p.pointer and a != "NULL") or (not p.pointer and re.search(r"\bd_\w", a)):
            name = f"a{len(params)}"
            params.append(f"{p.ctype}{'' if p.ctype.endswith('*') else ' '}{name}")
            inner.append(name)
            passed.append(a)
        else:
            inner.append(a)
    w = f"{step.fn}_site"
    sig = f"void {w}({', '.join(params) or 'void'})"
    return (f"{sig};", f"{sig};\n{sig} {{\n  {fn}({', '.join(inner)});\n}}\n", f"{w}({', '.join(passed)});")


def kernel_unit_c(N: str, fn: str, impl: str, wrappers: List[str]) -> str:
    """``<fn>.c``: scheduled kernel ``fn`` (static, as in ``<name>_tuned.h``) and its call sites' wrappers, with the
    runtime headers the kernels use (fused epilogues call sdk_expf & co; the JIT's ``kernel_lib.TUNED_PRELUDE``): the
    same text in every build whose kernel and call sites are the same."""
    return (f"/* Generated by sdk: scheduled kernel {fn} of {N}.c (sdk/tune/kernels.py) and its call sites. */\n"
            "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n"
            '#include "sdk_runtime.h"\n#include "sdk_math.h"\n#include "sdk_half.h"\n'
            "#if defined(__GNUC__)\n#pragma GCC diagnostic ignored \"-Wunused-parameter\"\n"
            "#pragma GCC diagnostic ignored \"-Wunknown-pragmas\"\n#endif\n"
            "#if defined(__clang__)\n#pragma clang diagnostic ignored \"-Wpass-failed\"\n#endif\n"
            + impl + "\n" + "\n".join(wrappers))


def _c_array(b: Buffer, arr: np.ndarray) -> str:
    flat = arr.reshape(-1)
    ct = C_TYPE[b.dtype]
    if b.dtype in HALF:  # the 16-bit patterns
        vals = [f"0x{x:04x}" for x in flat.view(np.uint16).tolist()]
    elif b.dtype in LOWBIT:  # their bytes
        vals = [f"0x{x:02x}" for x in flat.view(np.uint8).tolist()]
    elif b.dtype in ("float32", "float64"):
        vals = [const_c(x, b.dtype) for x in flat.tolist()]
    else:
        vals = [const_c(int(x), b.dtype) for x in flat.astype(np.int64 if b.dtype != "uint64" else np.uint64).tolist()]
    lines = []
    for i in range(0, len(vals), 8):
        lines.append("  " + ", ".join(vals[i:i + 8]) + ",")
    return f"static const {ct} {b.name}[{max(len(vals), 1)}] = {{\n" + ("\n".join(lines) or "  0") + "\n};\n"


def _entry_call_c(N: str, prog, layout, symbols, pointer):
    """(lines of ``run`` that call the LLVM entry, its declaration)."""
    addr = {}
    for b in list(prog.inputs) + list(prog.outputs) + [c for c, _ in prog.consts] + list(prog.temps) + list(prog.views):
        if id(b) in layout.of and layout.of[id(b)] not in addr:
            addr[layout.of[id(b)]] = f"(void *){pointer(b)}"
    ptrs = ", ".join(addr[i] for i in range(len(layout.keys))) or "NULL"
    syms = ", ".join(f"d_{s}" for s in symbols) or "0"
    n_out = max(len(prog.outputs), 1) * 8  # SDK_MAX_RANK per output
    call = (f"  {{ /* every step: {N}_entry of the LLVM object */\n"
            f"    void *const ptrs[] = {{{ptrs}}};\n    const int64_t syms[] = {{{syms}}};\n"
            f"    int64_t out_dims[{n_out}];\n"
            f"    const int32_t rc = {N}_entry(syms, ptrs, out_dims);\n"
            f"    if (rc != 0) return (sdk_status)rc;\n  }}")
    decl = (f"\n/* The model's steps, compiled by LLVM into {N}_llvm.o (sdk/codegen/llvm.py). */\n"
            f"int32_t {N}_entry(const int64_t *syms, void *const *ptrs, int64_t *out_dims);\n")
    return [call], decl


def loop_head_c(step: LoopHead, pointer) -> str:
    """The ``for`` of an ONNX Loop/Scan body; the steps up to the LoopTail are its body."""
    it = f"({pointer(step.counter)})[0]"
    conds = []
    if isinstance(step.trip, Buffer):
        conds.append(f"{it} < ({pointer(step.trip)})[0]")
    elif step.trip is not None:
        conds.append(f"{it} < {sym_c(step.trip)}")
    if step.cond is not None:
        conds.append(f"({pointer(step.cond)})[0]")
    lines = [f"  for ({it} = 0; ; ++{it}) {{ /* {step.name} */",
             f"    if (!({' && '.join(conds) or '1'})) break;"]
    if step.row_bound is not None:
        lines.append(f"    if ({it} >= {sym_c(step.row_bound)}) return SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS;")
    lines.append(f"    d_{step.iter_sym} = {it};")
    return "\n".join(lines)


def guard_c(step, pointer) -> str:
    """``if (cond) `` before a step of an If branch (empty for other steps)."""
    g = getattr(step, "guard", None)
    if not g:
        return ""
    conds = " && ".join(f"{'' if flag else '!'}(({pointer(b)})[0])" for b, flag in g)
    return f"  if ({conds})\n"


def bind_dims_c(step: BindDims, pointer) -> str:
    """Run-time symbols defined inline in ``run``: read the tensor data, check, or return the status."""
    em = CEmitter()
    lines = [f"  {{ /* {step.name}: run-time symbols {', '.join(n for n, _ in step.defs)} */"]
    for b in step.inputs:
        lines.append(f"      const {C_TYPE[b.dtype]} *{b.name} = {pointer(b)};")
    for n, e in step.defs:
        lines.append(f"      d_{n} = (int64_t)({em.expr(e)});")
    for cond, status in step.checks:
        lines.append(f"      if (!{em.expr(cond)}) return {status};")
    return "\n".join(lines + ["    }"])


def lib_args_c(step: LibCall, pointer) -> list:
    """C arguments of a library call, each as its declared parameter type takes it (``sdk/kernels/``)."""
    args = []
    for p, a in zip(step.decl.signature(len(step.args)), step.args):
        if p.pointer:
            args.append("NULL" if a is None else pointer(a))
        elif p.ctype == "float":
            args.append(const_c(a, "float32"))
        else:
            args.append(sym_c(a))
    return args


def lib_call_c(step: LibCall, pointer) -> str:
    return f"{step.fn}({', '.join(lib_args_c(step, pointer))});"
