"""CUDA code generation: every tir kernel becomes a ``__global__`` function whose output loop nest is bound to a
grid-stride loop over blockIdx/threadIdx (one thread per output element; reductions run serially in that thread),
library calls become launches of ``runtime_c/cuda`` kernels (implicit GEMMs for MatMul/Gemm and convolutions, on
tensor cores for --precision fp16|bf16, with the epilogue that follows them folded in),
and the model API takes one device arena laid out by the same symbolic memory plan as the C bundle."""
from __future__ import annotations

from typing import Dict

import numpy as np

from ...errors import SdkError
from ...memory.plan import MemoryPlan, nbytes
from ...ir import sym
from ...tir.expr import Assign, Bin, Buffer, Call, Const, DimE, For, Kernel, Let, LibCall, Seq, Select, Var
from ...transform.epilogue import ALL_ACT_CODE, epilogue_after
from ...transform.mixed_precision import assign_precision
from ...codegen.c import C_TYPE, CEmitter, banner_c, const_c, lib_args_c, scalar_c, sym_c
from ...codegen.host_api import api_h, buffer_storage, host_api_c, io_tables_c, n_offsets, output_checks_c
from ...codegen.weights import blob_of, embed_blob
from .linear import (ATTENTION_F16_PARAMS, LINEAR_F16_PARAMS, args_by_name, plan_linears, scratch2_offset_c,
                     scratch3_offset_c, scratch_at_bounds, scratch_c, slot3_bytes_c)
from .nhwc import NhwcPlan, is_half_kernel_free, plan_nhwc_with

_F32_DEVICE_FN = {"abs": "fabsf", "exp": "expf", "erf": "erff", "gelu": "sdk_gelu_erff"}
GEMM_MODE = {"fp32": "SDK_GEMM_F32", "fp16": "SDK_GEMM_F16", "bf16": "SDK_GEMM_BF16"}
WARP_REDUCE_MIN = 64  # reductions at least this long (at the bounds) get a warp per output element
_SHUFFLE_TYPES = ("float32", "float64", "int32", "int64")


class CudaEmitter(CEmitter):
    """The C printer with device spellings: CUDA math functions, device integer min/max."""

    subst: Dict[int, str] = {}  # id(expr) -> text printed in its place (the combine step of warp reductions)

    def expr(self, e) -> str:
        if id(e) in self.subst:
            return self.subst[id(e)]
        if isinstance(e, Bin) and e.op in ("min", "max") and e.dtype not in ("float32", "float64"):
            return f"sdk_di{e.op}({self.expr(e.a)}, {self.expr(e.b)})"
        return super().expr(e)

    def call(self, e: Call) -> str:
        if e.fn == "bitcast":  # BitCast: CUDA's bit-reinterpreting intrinsics (C++ has no C99 union pun)
            src, dst, x = e.args[0].dtype, e.dtype, self.expr(e.args[0])
            fn = {("float32", "int32"): "__float_as_int", ("float32", "uint32"): "__float_as_uint",
                  ("int32", "float32"): "__int_as_float", ("uint32", "float32"): "__uint_as_float",
                  ("float64", "int64"): "__double_as_longlong", ("int64", "float64"): "__longlong_as_double"}
            if (src, dst) in fn:
                return f"{fn[(src, dst)]}({x})"
            if (src, dst) in (("float64", "uint64"), ("uint64", "float64")):
                return (f"(({scalar_c(dst)})__double_as_longlong({x}))" if src == "float64"
                        else f"__longlong_as_double((long long)({x}))")
            return f"(({scalar_c(dst)})({x}))"  # integers of one size: the same bits
        # CUDA's own float math (expf, tanhf, ...), never the host's sdk_math.h helpers
        if e.args[0].dtype == "float32" and e.fn not in ("isnan", "isinf"):
            return f"{_F32_DEVICE_FN.get(e.fn, e.fn + 'f')}({', '.join(self.expr(a) for a in e.args)})"
        return super().call(e)


def output_loops(k: Kernel):
    """The kernel's perfectly nested output loops and the body inside them (a store, or a reduction)."""
    loops, body = [], k.body
    while isinstance(body, For):
        loops.append(body)
        body = body.body
    return loops, body


def warp_reduction(k: Kernel, bounds):
    """For a kernel whose body is ``acc = init; for r...: acc = acc (+) term; store(post(acc))`` with a long
    reduction: (Let, reduction loops, Assign, term, Store). The combiner is the update itself with the other
    lane's partial in place of ``term``, so sum, product, and NaN-propagating max/min all combine correctly."""
    _, body = output_loops(k)
    if not (isinstance(body, Seq) and len(body.stmts) == 3 and isinstance(body.stmts[0], Let)
            and isinstance(body.stmts[1], For)):
        return None
    let, loops, inner = body.stmts[0], [], body.stmts[1]
    while isinstance(inner, For):
        loops.append(inner)
        inner = inner.body
    if not isinstance(inner, Assign) or inner.var is not let.var or let.var.dtype not in _SHUFFLE_TYPES:
        return None
    upd, acc = inner.value, let.var
    if isinstance(upd, Bin) and upd.a is acc and upd.op in ("+", "*"):
        term = upd.b
    elif isinstance(upd, Select) and upd.b is acc:
        term = upd.a
    else:
        return None
    n = _trip_count(loops, bounds)
    return (let, loops, inner, term, body.stmts[2]) if n is not None and n >= WARP_REDUCE_MIN else None


def _trip_count(loops, bounds):
    """The product of the loops' extents at the bounds, or None when an extent is neither a constant nor a dim."""
    n = 1
    for lp in loops:
        if isinstance(lp.extent, Const):
            n *= int(lp.extent.value)
        elif isinstance(lp.extent, DimE):
            n *= sym.upper_bound(lp.extent.dim, bounds)
        else:
            return None
    return n


INDEX32_MAX = 2 ** 30  # a flat index below this (at the bounds) is an int: grid-stride steps cannot overflow it


def _small_buffers(k: Kernel, bounds) -> bool:
    """Every buffer the kernel touches has fewer than ``INDEX32_MAX`` elements at the bounds (so index arithmetic
    on 32-bit loop variables and int constants cannot overflow)."""
    for b in list(k.inputs) + list(k.outputs):
        n = 1
        for d in b.shape:
            try:
                n *= int(sym.upper_bound(d, bounds))
            except Exception:  # noqa: BLE001 (a dim we cannot bound: stay 64-bit)
                return False
        if n >= INDEX32_MAX:
            return False
    return True


def index_type(loops, bounds) -> str:
    """``int32_t`` when the loop nest's element count at the bounds stays below ``INDEX32_MAX`` (32-bit divisions
    and multiplies decode the flat index: several times cheaper than 64-bit ones), else ``int64_t``."""
    n = _trip_count(loops, bounds)
    return "int32_t" if n is not None and n < INDEX32_MAX else "int64_t"


def _unflatten(loops, flat: str, ind: str, em, it: str = "int64_t") -> list:
    """Index variables of a loop nest from a flat index (row-major, innermost fastest), in type ``it``."""
    if not loops:
        return []
    lines = [f"{ind}{it} {flat}r_ = {flat};", f"{ind}(void){flat}r_;"]
    for lp in reversed(loops[1:]):
        ext = f"({it})({em.expr(lp.extent)})"
        lines.append(f"{ind}const {it} {lp.var.name} = {flat}r_ % {ext}; {flat}r_ /= {ext};")
    return lines + [f"{ind}const {it} {loops[0].var.name} = {flat}r_;"]


def kernel_cu(k: Kernel, symbols, em: CudaEmitter, bounds=None, half_out: bool = False) -> str:
    """``half_out``: the (one) output is written as fp16 (``linear.py``: into the scratch of the GEMM after it)."""
    loops, body = output_loops(k)
    red = warp_reduction(k, bounds or {})
    if red is not None:
        return _warp_kernel_cu(k, symbols, em, loops, red, bounds or {})
    it = index_type(loops, bounds or {}) if _small_buffers(k, bounds or {}) else "int64_t"
    params = [f"int64_t d_{s}" for s in symbols]
    params += [f"const {C_TYPE[b.dtype]} *{b.name}" for b in k.inputs]
    params += [f"{'__half' if half_out else C_TYPE[b.dtype]} *{b.name}" for b in k.outputs]
    lines = [f"  (void)d_{s};" for s in symbols]
    total = " * ".join(f"({it})({em.expr(lp.extent)})" for lp in loops) or "1"
    lines.append(f"  const {it} n_ = {total};")
    lines.append(f"  for ({it} t_ = blockIdx.x * ({it})blockDim.x + threadIdx.x; t_ < n_;"
                 f" t_ += ({it})gridDim.x * blockDim.x) {{")
    lines += _unflatten(loops, "t_", "    ", em, it)
    lines += em.stmt(body, "    ")
    lines.append("  }")
    return f"__global__ void {k.name}({', '.join(params)}) {{\n" + "\n".join(lines) + "\n}\n"


def _warp_kernel_cu(k, symbols, em, loops, red, bounds) -> str:
    """One warp per output element: lanes stride over the flattened reduction, then combine by shuffles."""
    let, rloops, assign, term, store = red
    small = _small_buffers(k, bounds)
    it, rt = (index_type(loops, bounds), index_type(rloops, bounds)) if small else ("int64_t", "int64_t")
    params = [f"int64_t d_{s}" for s in symbols]
    params += [f"const {C_TYPE[b.dtype]} *{b.name}" for b in k.inputs]
    params += [f"{C_TYPE[b.dtype]} *{b.name}" for b in k.outputs]
    total = " * ".join(f"({it})({em.expr(lp.extent)})" for lp in loops) or "1"
    rtotal = " * ".join(f"({rt})({em.expr(lp.extent)})" for lp in rloops)
    acc = let.var.name
    lines = [f"  (void)d_{s};" for s in symbols]
    lines += [f"  const {it} n_ = {total};", "  const int lane_ = (int)(threadIdx.x & 31);",
              f"  for ({it} t_ = (blockIdx.x * ({it})blockDim.x + threadIdx.x) >> 5; t_ < n_;"
              f" t_ += (({it})gridDim.x * blockDim.x) >> 5) {{"]
    lines += _unflatten(loops, "t_", "    ", em, it)
    lines += em.stmt(let, "    ")
    lines.append(f"    for ({rt} q_ = lane_; q_ < {rtotal}; q_ += 32) {{")
    lines += _unflatten(rloops, "q_", "      ", em, rt)
    lines += em.stmt(assign, "      ")
    lines.append("    }")
    em.subst = {id(term): "o_"}
    combine = em.expr(assign.value)
    em.subst = {}
    lines.append("    for (int s_ = 16; s_ > 0; s_ >>= 1) {")
    lines.append(f"      const {C_TYPE[let.var.dtype]} o_ = __shfl_xor_sync(0xffffffffu, {acc}, s_);")
    lines.append(f"      {acc} = {combine};")
    lines.append("    }")
    lines.append("    if (lane_ == 0) {")
    lines += em.stmt(store, "      ")
    lines += ["    }", "  }"]
    return f"__global__ void {k.name}({', '.join(params)}) {{\n" + "\n".join(lines) + "\n}\n"


def _epilogue_args(prog, i, impl, folded, pointer) -> list:
    """The launcher's trailing epilogue arguments (R, act, act_a, act_b) of library step i: those of the
    ``sdk_epilogue_f32`` step right after it on its output, which is then folded in (not launched), else none."""
    epi = epilogue_after(prog, i)
    if epi is None:
        return ["NULL", "0", "0.0f", "0.0f"]
    folded.add(i + 1)
    act, a, b, R = epi
    vals = {"R": R, "act": ALL_ACT_CODE.get(act, 0), "act_a": a, "act_b": b}
    return ["NULL" if vals[p.name] is None else pointer(vals[p.name]) if p.pointer else
            const_c(vals[p.name], "float32") if p.ctype == "float" else str(int(vals[p.name])) for p in impl.trailing]


def _init_c(N, nbytes) -> str:
    """``<name>_init``: copy the embedded weights to the caller's device memory; the graph state of ``<name>_run``
    cleared (graphs on where the model can replay them, unless built with ``-DSDK_CUDA_GRAPHS=0``)."""
    reset = (f"  memset(ctx, 0, sizeof *ctx);\n  ctx->graphs = SDK_CUDA_GRAPHS && {N.upper()}_GRAPH_OK;\n")
    if nbytes == 0:
        return (f"sdk_status {N}_init({N}_ctx *ctx, void *device_weights, size_t size) {{\n"
                f"  (void)size;\n  if (ctx == NULL) return SDK_ERR_NULL_ARG;\n{reset}"
                f"  ctx->weights = (const unsigned char *)device_weights;\n  return SDK_OK;\n}}\n")
    return f"""sdk_status {N}_init({N}_ctx *ctx, void *device_weights, size_t size) {{
  if (ctx == NULL || device_weights == NULL) return SDK_ERR_NULL_ARG;
  if (size < {N.upper()}_WEIGHTS_BYTES || ((uintptr_t)device_weights) % SDK_ALIGN != 0) return SDK_ERR_BAD_ARG;
{reset}  if (cudaMemcpy(device_weights, {N}_weights, {N.upper()}_WEIGHTS_BYTES, cudaMemcpyHostToDevice) != cudaSuccess)
    return SDK_ERR_CUDA;
  ctx->weights = (const unsigned char *)device_weights;
  return SDK_OK;
}}
"""


def generate_cuda(prog, plan: MemoryPlan, name: str, bounds: Dict[str, int], precision: str = "fp32",
                  nhwc_convs: bool = True):
    """{filename: text or bytes}: ``<name>.h`` (host API), ``<name>.cu`` (kernels, launches), and the weights as
    ``<name>_weights.bin`` embedded by ``<name>_weights.S`` (``.incbin``) in host memory; ``<name>_init`` copies them
    into caller-owned device memory with ``cudaMemcpy``. ``nhwc_convs``: fp16 builds run their convolutions on fp16
    NHWC activations (``nhwc.py``; the profile key ``[lower] fp16_nhwc_convs``)."""
    f = prog.func
    if f.runtime_syms:  # the device code would need the symbols back on the host between launches
        from ...errors import UnsupportedOp
        r = next(iter(f.runtime_syms.values()))
        raise UnsupportedOp(r.origin.split(" ")[0], r.origin.split("'")[1], "run-time (data-dependent) dims are not "
                            "supported on CUDA targets yet; build for a C target")
    symbols = f.symbols()
    N = name
    em = CudaEmitter()
    prec = assign_precision(prog, precision)
    lin = plan_linears(prog, prec)  # GEMMs on fp16 weights (linear.py)
    nh = plan_nhwc_with(prog, prec, lin) if nhwc_convs else NhwcPlan()  # convolutions on fp16 NHWC (nhwc.py)
    lin.scratch.extend(nh.scratch)  # input conversions share the first scratch area
    if not is_half_kernel_free(prog, nh):
        raise SdkError("internal: a generated kernel reads a tensor stored as fp16 NHWC")
    blob, woff = blob_of([(id(b), arr) for b, arr in prog.consts if id(b) not in lin.dropped | nh.dropped] +
                         list(lin.weights.items()) + list(nh.weights.items()))
    ptr = {i: addr for i, (_, addr, _) in buffer_storage(
        prog, plan, lambda b: f"(W + {woff[id(b)]})" if id(b) in woff else "NULL").items()}
    scratch = scratch_c(lin, sym_c)

    def pointer(b: Buffer, out: bool) -> str:
        r = prog.root(b)
        if id(r) not in ptr:
            raise SdkError(f"buffer {r.name} has no storage")
        off = prog.offset_of(b)  # a Concat's input written in place: its range of the output
        p = f"({'' if out else 'const '}{C_TYPE[b.dtype]} *)(void *)({ptr[id(r)]})"
        return f"({p} + {off})" if off else p

    def half_pointer(b: Buffer, out: bool) -> str:
        """A tensor stored as fp16 NHWC in its slot (nhwc.py: always a whole root buffer)."""
        return f"({'' if out else 'const '}__half *)(void *)({ptr[id(prog.root(b))]})"

    def nhwc_conv_c(i, step) -> list:
        """The launches of a convolution on fp16 NHWC (nhwc.py): the input conversion when X is fp32 NCHW, then
        sdk_cuda_conv2d_nhwc_f16 with the epilogue after it folded in."""
        c, a = nh.convs[i], step.arg
        lines, X = [], half_pointer(a("X"), False)
        if not c.x_half:
            lines.append(f"  st = sdk_cuda_nchw_to_nhwc_f16(stream, {sym_c(a('N'))}, {a('C')}, {a('H') * a('W')}, "
                         f"{c.cp}, {pointer(a('X'), False)}, H); if (st) return st;")
            X = "H"
        epi = epilogue_after(prog, i)
        act, ea, eb, R = epi if epi is not None else (None, 0.0, 0.0, None)
        if epi is not None:
            folded.add(i + 1)
        geo = ", ".join([sym_c(a("N")), str(c.cp)] + [str(a(n)) for n in (
            "H", "W", "M", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")])
        wt = f"(const __half *)(void *)(W + {woff[c.weight]})"
        bias = "NULL" if a("bias") is None else pointer(a("bias"), False)
        Y = half_pointer(a("Y"), True) if c.y_half else pointer(a("Y"), True)
        Rc = "NULL" if R is None else half_pointer(R, False) if c.r_half else pointer(R, False)
        lines.append(f"  st = sdk_cuda_conv2d_nhwc_f16(stream, {geo}, {X}, {wt}, {bias}, {Y}, {int(c.y_half)}, {Rc}, "
                     f"{int(c.r_half)}, {ALL_ACT_CODE.get(act, 0)}, {const_c(ea, 'float32')}, {const_c(eb, 'float32')}); "
                     f"if (st) return st;")
        return lines

    def nhwc_pool_c(step) -> str:
        a = step.arg
        geo = ", ".join([sym_c(a("N"))] + [str(a(n)) for n in ("C", "H", "W", "OH", "OW")] +
                        [sym_c(a(n)) for n in ("KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")])
        return (f"  st = sdk_cuda_maxpool_nhwc_f16(stream, {geo}, {half_pointer(a('X'), False)}, "
                f"{half_pointer(a('Y'), True)}); if (st) return st;")

    kernels, launches = [], []
    folded = set()  # indices of sdk_epilogue_f32 steps folded into the GEMM/convolution before them
    conds: Dict[int, str] = {}  # id(bool buffer of an If) -> its host copy's variable (read once, when needed)
    pending = [None, 0]  # the last step and where its launches start

    def close_step():
        """Wrap the last step's launches in its If guard: the conditions are copied to the host (a stream
        synchronisation) the first time a branch needs them; both branches used to run, the last one's result
        winning."""
        step, start = pending
        g = getattr(step, "guard", None) if step is not None else None
        if not g or start == len(launches):
            return
        reads = []
        for b, _ in g:
            if id(b) not in conds:
                conds[id(b)] = f"c_{len(conds)}"
            v = conds[id(b)]
            reads.append(f"  if ({v} < 0) {{ st = {N}_cond({pointer(b, False)}, stream, &{v}); if (st) return st; }}")
        test = " && ".join(f"{'' if flag else '!'}{conds[id(b)]}" for b, flag in g)
        launches[start:] = reads + [f"  if ({test}) {{"] + ["  " + ln for ln in launches[start:]] + ["  }"]

    for i, step in enumerate(prog.steps):
        close_step()
        pending[:] = [step, len(launches)]
        if i in folded:
            continue
        if isinstance(step, Kernel):
            half = i in lin.producers
            kernels.append(banner_c(prog, step) + kernel_cu(step, symbols, em, bounds, half))
            loops, _ = output_loops(step)
            total = " * ".join(f"(int64_t)({em.expr(lp.extent)})" for lp in loops) or "1"
            if warp_reduction(step, bounds) is not None:
                total = f"32 * {total}"  # a warp per output element
            args = [f"d_{s}" for s in symbols] + [pointer(b, False) for b in step.inputs] + \
                   (["H"] if half else [pointer(b, True) for b in step.outputs])
            launches.append(f"  {step.name}<<<sdk_cuda_blocks({total}), SDK_CUDA_THREADS, 0, stream>>>"
                            f"({', '.join(args)});")
        elif i in nh.convs:
            launches += nhwc_conv_c(i, step)
        elif i in nh.pools:
            launches.append(nhwc_pool_c(step))
        else:
            impl = step.decl.cuda if step.decl is not None and step.impl is None else None
            if impl is None:
                raise SdkError(f"library kernel '{step.fn}' has no CUDA version (int8 models are for MCU targets)")
            leading = {"stream": "stream", "precision": GEMM_MODE[prec[id(step)]]}
            args = [leading[p.name] for p in impl.leading]
            args += lib_args_c(step, lambda b: pointer(b, any(b is o for o in step.outputs)))
            if impl.trailing:
                args += _epilogue_args(prog, i, impl, folded, lambda b: pointer(b, False))
            names = [p.name for p in impl.leading + step.decl.signature(len(step.args)) + impl.trailing]
            if i in lin.steps:  # the weight as fp16 Wt [N, K] (B and its strides out), the scratch A, convert
                ls = lin.steps[i]
                wt = f"(const __half *)(void *)(W + {woff[ls.weight]})"
                half_y = {"Y": "H2"} if ls.half_out else {}  # Y as fp16 into the second scratch area: the next A
                fn = "sdk_cuda_linear_f16_h" if ls.half_out else "sdk_cuda_linear_f16"
                if i in lin.res_y:  # the fp16 residual stream: the sum as fp16 into slot 0, R maybe fp16 from a slot
                    half_y = {"Y": "HR0"}
                    fn = "sdk_cuda_linear_f16_h"
                    if lin.res_y[i] is not None:
                        half_y["R"] = f"HR{lin.res_y[i]}"
                        fn = "sdk_cuda_linear_f16_hr"
                scratch_a = f"HR{lin.res_a[i]}" if i in lin.res_a else "H2" if ls.a_in_h2 else "H"
                args = args_by_name(names, args, LINEAR_F16_PARAMS, Wt=wt, scratch=scratch_a,
                                    convert=str(int(ls.convert)), **half_y)
                launches.append(f"  st = {fn}({', '.join(args)}); if (st) return st;")
                continue
            if i in lin.attentions:  # fp16 storage: Q/K/V in the second scratch area, the output into the first
                half = {n: f"((__half *){area} + {prog.offset_of(step.arg(n))})"
                        for n, area in (("Q", "H2"), ("K", "H2"), ("V", "H2"), ("O", "H"))}
                args = args_by_name(names, args, ATTENTION_F16_PARAMS, **half)  # no precision, no Dv
                launches.append(f"  st = sdk_cuda_attention_f16({', '.join(args)}); if (st) return st;")
                continue
            if i in lin.res_norms:  # the fp16 residual stream: X fp16 from slot 0 and / or the output fp16 only
                x_half, slot = lin.res_norms[i]
                half = {"X": "HR0"} if x_half else {}
                if slot is not None:
                    half["Y"] = "NULL"
                yh = f"HR{slot}" if slot is not None else "H" if i in lin.norms else "NULL"
                args = args_by_name(names, args, names, **half)
                fn = "sdk_cuda_layernorm_f16" if x_half else "sdk_cuda_layernorm_f32_h"
                launches.append(f"  st = {fn}({', '.join(args + [yh])}); if (st) return st;")
                continue
            if i in lin.norms:  # a LayerNorm also writing its output as fp16: the next GEMM's scratch A
                launches.append(f"  st = {impl.symbol}_h({', '.join(args + ['H'])}); if (st) return st;")
                continue
            launches.append(f"  st = {impl.symbol}({', '.join(args)}); if (st) return st;")
    close_step()
    cond_vars = "".join(f"  int {v} = -1;\n" for v in conds.values())
    cond_fn = (f"\n/* An If's condition, copied to the host: the branch not taken launches nothing. */\n"
               f"static sdk_status {N}_cond(const void *p, cudaStream_t stream, int *out) {{\n"
               f"  unsigned char v = 0;\n"
               f"  if (cudaMemcpyAsync(&v, p, 1, cudaMemcpyDeviceToHost, stream) != cudaSuccess ||\n"
               f"      cudaStreamSynchronize(stream) != cudaSuccess) return SDK_ERR_CUDA;\n"
               f"  *out = v != 0;\n  return SDK_OK;\n}}\n") if conds else ""
    graph_ok = not conds  # an If reads its condition on the host (a synchronisation): no capture
    graphs_doc = ("on unless built with -DSDK_CUDA_GRAPHS=0" if graph_ok else
                  "off (this model cannot\n * replay: its If branches read their condition on the host)")
    outs, late_dims = output_checks_c(prog)
    n_off = n_offsets(plan)
    header = f"""/* Generated by sdk for a CUDA GPU. Model API: see README.md of this folder. */
#ifndef {N.upper()}_H
#define {N.upper()}_H
#include "sdk_cuda.h"

{api_h(N, prog, plan, 'device workspace at the upper bounds', scratch_at_bounds(lin, bounds))}
#define {N.upper()}_PRECISION "{precision}"
#define {N.upper()}_WEIGHTS_BYTES {len(blob)}u /* device memory for the weights (model_init copies them there) */

/* Device address of the model's weights, and the CUDA graph of the launch sequence ({N}_set_graphs). */
typedef struct {{
  const unsigned char *weights;
  int graphs;            /* 1: a run whose dims and buffers repeat the last run's replays a CUDA graph; 0: launches */
  int graph_state;       /* 0: no last run, 1: the key below is the last run's, 2: graph holds its launches */
  int64_t graph_runs;    /* runs that launched the graph (read-only; for tests and benchmarks) */
  cudaGraphExec_t graph; /* or NULL */
  {N}_dims graph_dims; /* the key: the last run's dims, arena and tensor data pointers */
  const void *graph_ptrs[{1 + len(prog.inputs) + len(prog.outputs)}];
}} {N}_ctx;

/* Copy the weights (embedded in the program's host memory) into device_weights: caller-owned device memory of at
 * least {N.upper()}_WEIGHTS_BYTES bytes, 256-byte aligned (cudaMalloc's). Synchronous; allocates nothing. Clears
 * ctx's graph state: graphs {graphs_doc}. {N}_release frees what runs captured. */
sdk_status {N}_init({N}_ctx *ctx, void *device_weights, size_t size);

/* Enqueue the model on stream; returns without synchronising. arena: device memory of at least workspace_size
 * bytes, 256-byte aligned (cudaMalloc's). inputs[k].data / outputs[k].data: device pointers; dims on the host.
 * With graphs on, the second of two runs in a row with the same dims, arena and data pointers captures the kernel
 * launches into a CUDA graph (stream capture; updated in place when the dims change where CUDA can, else
 * instantiated anew: the driver's memory, once a key) and every further such run replays it (one launch); a run
 * with another key launches the kernels (no allocation) and becomes the last. On a stream that is capturing already
 * (the caller's own graph) or cannot capture, a run launches. A failed capture turns graphs off for ctx (graphs reads
 * 0) and launches instead. Not reentrant for one ctx. */
sdk_status {N}_run({N}_ctx *ctx, void *arena, size_t arena_size, const sdk_tensor *inputs,
                   sdk_tensor *outputs, cudaStream_t stream);

/* Graphs on (1) or off (0: every run launches its kernels, nothing is allocated; the graph is freed). SDK_ERR_BAD_ARG
 * for on where the model cannot replay (If branches chosen on the host). */
sdk_status {N}_set_graphs({N}_ctx *ctx, int on);

/* Free the CUDA graph ctx holds (if any; the next runs capture again). ctx stays usable. */
sdk_status {N}_release({N}_ctx *ctx);

#endif
"""
    scratch_check = "" if scratch is None else f"""
  /* the fp16 scratch (A of the fp16-weight GEMMs, inputs of NHWC convolutions), after the plan's end */
  if (((need + 255) & ~(size_t)255) + {N}_scratch_bytes(d) > arena_size) return SDK_ERR_ARENA_TOO_SMALL;
  if (A == NULL) return SDK_ERR_NULL_ARG;"""
    scratch_run = "" if scratch is None else f"""
  const size_t h_off = (need + 255) & ~(size_t)255;
  __half *H = (__half *)(void *)(A + h_off);""" + ("" if not lin.scratch2 else f"""
  __half *H2 = (__half *)(void *)(A + h_off + {scratch2_offset_c(lin, sym_c)}); /* the second area */""") + (
        "" if not lin.scratch3 else f"""
  /* the third area: slots of {slot3_bytes_c(lin, sym_c)} bytes for the fp16 residual stream */
  unsigned char *H3 = A + h_off + {scratch3_offset_c(lin, sym_c)};""" + "".join(
            f"\n  __half *HR{k} = (__half *)(void *)(H3 + {k} * {slot3_bytes_c(lin, sym_c)});" for k in sorted(
                ({0} if lin.res_y else set()) | {s for _, s in lin.res_norms.values() if s is not None})))
    n_in, n_out = len(prog.inputs), len(prog.outputs)
    largs = "ctx->weights, d, off, need, A, inputs, outputs, stream"
    source = f"""/* Generated by sdk from {f.name} for CUDA (precision {precision}). Do not edit. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "{N}.h"

/* Models without temps or symbols leave the plan's parameters and dims unused: not worth a warning. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#pragma nv_diag_suppress 550

/* CUDA graphs of the launch sequence ({N}_run): on by default; -DSDK_CUDA_GRAPHS=0 builds with them off (a run
 * then only launches kernels, as with {N}_set_graphs(ctx, 0)). */
#ifndef SDK_CUDA_GRAPHS
#define SDK_CUDA_GRAPHS 1
#endif
#define {N.upper()}_GRAPH_OK {int(graph_ok)} /* 0: If branches read their condition on the host: no replay */

extern "C" const unsigned char {N}_weights[]; /* {N}_weights.S: .incbin "{N}_weights.bin" */

{io_tables_c(N, prog, bounds)}
{chr(10).join(kernels)}
{host_api_c(N, prog, plan, bounds, scratch)}
{_init_c(N, len(blob))}{cond_fn}
/* The kernel launches of one run, on stream, for checked dims and arena (the body of {N}_run, also what a graph
 * capture records). */
static sdk_status {N}_launch(const unsigned char *W, const {N}_dims *d, const size_t *off, size_t need,
                             unsigned char *A, const sdk_tensor *inputs, sdk_tensor *outputs, cudaStream_t stream) {{
  sdk_status st = SDK_OK;
{''.join(f'  const int64_t d_{s} = d->{s};{chr(10)}  (void)d_{s};{chr(10)}' for s in symbols)}{cond_vars}  (void)A;
  (void)W;
  (void)st;{scratch_run}
{chr(10).join(launches)}
  return cudaGetLastError() == cudaSuccess ? SDK_OK : SDK_ERR_CUDA;
}}

sdk_status {N}_release({N}_ctx *ctx) {{
  cudaError_t e = cudaSuccess;
  if (ctx == NULL) return SDK_ERR_NULL_ARG;
  if (ctx->graph != NULL) e = cudaGraphExecDestroy(ctx->graph);
  ctx->graph = NULL;
  ctx->graph_state = 0;
  return e == cudaSuccess ? SDK_OK : SDK_ERR_CUDA;
}}

sdk_status {N}_set_graphs({N}_ctx *ctx, int on) {{
  if (ctx == NULL) return SDK_ERR_NULL_ARG;
  if (on && !{N.upper()}_GRAPH_OK) return SDK_ERR_BAD_ARG;
  ctx->graphs = on != 0;
  return on ? SDK_OK : {N}_release(ctx);
}}

/* A run with graphs on: the key (dims, arena, tensor data pointers) against the last run's. A new key launches and
 * is kept; the same key a second time is captured (cudaStreamCaptureModeThreadLocal) into ctx->graph, updated in
 * place when CUDA can (cudaGraphExecUpdate), else instantiated anew; from then on it is replayed. */
static sdk_status {N}_graph_run({N}_ctx *ctx, const {N}_dims *d, const size_t *off, size_t need, unsigned char *A,
                                const sdk_tensor *inputs, sdk_tensor *outputs, cudaStream_t stream) {{
  const void *key[{1 + n_in + n_out}];
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  cudaGraph_t g = NULL;
  cudaError_t e;
  sdk_status st;
  int k;
  key[0] = A;
  for (k = 0; k < {n_in}; ++k) key[1 + k] = inputs[k].data;
  for (k = 0; k < {n_out}; ++k) key[{1 + n_in} + k] = outputs[k].data;
  if (cudaStreamIsCapturing(stream, &cs) != cudaSuccess || cs != cudaStreamCaptureStatusNone) {{
    (void)cudaGetLastError(); /* inside the caller's own capture (or a stream that cannot say): launches */
    return {N}_launch({largs});
  }}
  if (ctx->graph_state == 0 || memcmp(&ctx->graph_dims, d, sizeof *d) != 0 ||
      memcmp(ctx->graph_ptrs, key, sizeof key) != 0) {{
    ctx->graph_dims = *d;
    memcpy(ctx->graph_ptrs, key, sizeof key);
    ctx->graph_state = 1;
    return {N}_launch({largs});
  }}
  if (ctx->graph_state == 1) {{
    if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {{
      (void)cudaGetLastError(); /* a stream that cannot capture (the legacy default stream): launches */
      return {N}_launch({largs});
    }}
    st = {N}_launch({largs});
    e = cudaStreamEndCapture(stream, &g);
    if (st == SDK_OK && e == cudaSuccess && g != NULL && ctx->graph != NULL) {{
      cudaGraphExecUpdateResultInfo info;
      if (cudaGraphExecUpdate(ctx->graph, g, &info) != cudaSuccess) {{
        (void)cudaGetLastError(); /* another topology or kernel: a new graph */
        e = cudaGraphExecDestroy(ctx->graph);
        ctx->graph = NULL;
      }}
    }}
    if (st == SDK_OK && e == cudaSuccess && g != NULL && ctx->graph == NULL) {{
      cudaGraphExec_t x = NULL;
      e = cudaGraphInstantiate(&x, g, 0);
      if (e == cudaSuccess) ctx->graph = x;
    }}
    if (g != NULL) (void)cudaGraphDestroy(g);
    if (st != SDK_OK || e != cudaSuccess || g == NULL) {{ /* nothing ran: launch outside a capture */
      (void)cudaGetLastError();
      if (st != SDK_OK && st != SDK_ERR_CUDA) return st;
      (void){N}_release(ctx);
      ctx->graphs = 0;
      return {N}_launch({largs});
    }}
    ctx->graph_state = 2;
  }}
  if (cudaGraphLaunch(ctx->graph, stream) != cudaSuccess) return SDK_ERR_CUDA;
  ctx->graph_runs += 1;
  return SDK_OK;
}}

sdk_status {N}_run({N}_ctx *ctx, void *arena, size_t arena_size, const sdk_tensor *inputs,
                   sdk_tensor *outputs, cudaStream_t stream) {{
  {N}_dims dims;
  size_t off[{n_off}];
  sdk_status st;
  if (ctx == NULL || inputs == NULL || outputs == NULL) return SDK_ERR_NULL_ARG;
  memset(&dims, 0, sizeof dims); /* (a model without symbols: the key compares its placeholder field) */
  st = {N}_bind_dims(inputs, &dims);
  if (st) return st;
  const {N}_dims *d = &dims;
  const size_t need = {N}_offsets(d, off);
  unsigned char *A = (unsigned char *)arena;
{''.join(f'  const int64_t d_{s} = d->{s};{chr(10)}  (void)d_{s};{chr(10)}' for s in symbols)}  if (need > arena_size) return SDK_ERR_ARENA_TOO_SMALL;
  if (need > 0 && A == NULL) return SDK_ERR_NULL_ARG;
  if (((uintptr_t)A) % SDK_ALIGN != 0) return SDK_ERR_BAD_ARG;{scratch_check}
{chr(10).join(outs)}
  st = ctx->graphs ? {N}_graph_run(ctx, d, off, need, A, inputs, outputs, stream)
                   : {N}_launch({largs});
  if (st) return st;
{chr(10).join(late_dims)}
  return SDK_OK;
}}
"""
    return {f"{N}.h": header, f"{N}.cu": source, **embed_blob(N, blob, "incbin")}
