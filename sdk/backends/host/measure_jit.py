"""Measure schedules on the host through the in-process JIT: each batch of candidates is one LLVM module (the
scheduled kernels as IR, ``sdk/codegen/llvm_kernels.py``, the code the JIT runs for a model) with a timing
function per candidate, compiled in this process: no C compiler, no files, no processes.

A candidate's timing function calls its kernel on the workload's operands with the workload's sizes as constants
(as the C harness's call does, ``sdk/tune/harness.py``), first once, then ``repeat`` times ``number`` calls between
two ``clock_gettime`` readings (``number`` sized to ``budget_s``); the best mean is its time. Every candidate's
output is first checked against a NumPy reference (float64) before its time counts. The runtime library kernel
(``None`` in the list: the baseline the search also measures) is C: it is timed when a C compiler can build it
once (cached, ``kernel_lib.build_shared``), else reported as ``inf`` (the search then never picks it).
"""
from __future__ import annotations

import contextlib
import ctypes
import itertools
import time
from typing import Dict, List, Optional

import llvmlite.ir as ir
import numpy as np

from ...codegen.llvm import MathLib
from ...codegen.llvm_kernels import KernelGen, emit_core, emit_kernel
from ...errors import BuildError
from ...kernels import tunable
from ...resources import RUNTIME
from ...tune.harness import operands
from ...tune.kernels import pack_b_const, scratch_floats
from ...tune.workload import Workload

I32, I64, F32, F64 = ir.IntType(32), ir.IntType(64), ir.FloatType(), ir.DoubleType()
# the clock the timing functions read: the thread's CPU time where the platform has it (Linux, macOS)
CLOCK_ID = getattr(time, "CLOCK_THREAD_CPUTIME_ID", time.CLOCK_MONOTONIC)
PTR = ir.PointerType(ir.IntType(8))
_BENCH = ctypes.CFUNCTYPE(ctypes.c_double, *([ctypes.c_void_p] * 5 + [ctypes.c_int64] * 2))


def call_args(wl: Workload, ptrs: Dict[str, ir.Value], scratch):
    """The kernel's arguments as IR values, in its declaration's order: the operands A, B, C (or NULL) and Y,
    the workload's sizes as constants, float arguments 0.5 where the workload's is not the identity (as
    ``harness.kernel_call``), then ``scratch`` if given."""
    p, decl = wl.p, tunable(wl.kind)
    operand = dict(decl.tune.operands)
    out = []
    for q in decl.params:
        if q.pointer:
            present = not q.nullable or p["has_" + q.name]
            out.append(ptrs[operand[q.name]] if present else ir.Constant(PTR, None))
        elif q.ctype == "float":
            out.append(ir.Constant(F32, 0.5 if p[q.name] else float(q.default)))
        else:
            out.append(ir.Constant(I64, p[q.name]))
    return out + ([scratch] if scratch is not None else [])


def reference(wl: Workload, ops) -> np.ndarray:
    """What the workload's kernel writes to Y (flat), computed with NumPy in float64."""
    p = wl.p
    A, B, C = (ops[k].astype(np.float64) for k in "ABC")
    if wl.kind == "gemm":
        alpha, beta = (0.5 if p["alpha"] else 1.0), (0.5 if p["beta"] else 0.0)
        M, N, K = p["M"], p["N"], p["K"]
        out = np.zeros((p["batch"], M, N))
        view = np.lib.stride_tricks.as_strided
        for bt in range(p["batch"]):
            a = view(A[bt * p["a_bs"]:], (M, K), (8 * p["a_rs"], 8 * p["a_cs"]))
            b = view(B[bt * p["b_bs"]:], (K, N), (8 * p["b_rs"], 8 * p["b_cs"]))
            out[bt] = alpha * (a @ b)
            if p["has_C"] and beta != 0.0:
                out[bt] += beta * view(C, (M, N), (8 * p["c_rs"], 8 * p["c_cs"]))
        return out.ravel().astype(np.float32)
    n, c, h, w, m, g = p["N"], p["C"], p["H"], p["W"], p["M"], p["groups"]
    OH, OW, KH, KW = p["OH"], p["OW"], p["KH"], p["KW"]
    SH, SW, PH, PW, DH, DW = p["SH"], p["SW"], p["PH"], p["PW"], p["DH"], p["DW"]
    x = A[:n * c * h * w].reshape(n, c, h, w)
    cin, cout = c // g, m // g
    wt = B[:m * cin * KH * KW].reshape(m, cin, KH, KW)
    hp, wp = (OH - 1) * SH + (KH - 1) * DH + 1, (OW - 1) * SW + (KW - 1) * DW + 1
    xp = np.zeros((n, c, max(hp, PH + h), max(wp, PW + w)))
    xp[:, :, PH:PH + h, PW:PW + w] = x
    y = np.zeros((n, m, OH, OW))
    for kh, kw in itertools.product(range(KH), range(KW)):
        win = xp[:, :, kh * DH:kh * DH + (OH - 1) * SH + 1:SH, kw * DW:kw * DW + (OW - 1) * SW + 1:SW]
        for gi in range(g):
            y[:, gi * cout:(gi + 1) * cout] += np.einsum("mc,nchw->nmhw", wt[gi * cout:(gi + 1) * cout, :, kh, kw],
                                                         win[:, gi * cin:(gi + 1) * cin])
    if p["has_bias"]:
        y += C[:m][None, :, None, None]
    return y.ravel().astype(np.float32)


def _bench_fn(module, name: str, kernel: ir.Function, wl: Workload, scratch: bool, clock) -> None:
    """``double name(A, B, C, Y, scratch, number, repeat)``: one call, then the best of ``repeat`` means over
    ``number`` calls (seconds), timed with ``clock_gettime(CLOCK_THREAD_CPUTIME_ID)``: the thread's CPU clock, as the
    gcc measurer and the bundle's step timer in ``sdk tune`` read it (time other processes take the core from this
    thread does not count; the wall clock on the shared 2-vCPU machine at load 10 read some candidates 1.8x)."""
    fn = ir.Function(module, ir.FunctionType(F64, [PTR] * 5 + [I64, I64]), name)
    A, B, C, Y, S, number, repeat = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ts = b.alloca(ir.LiteralStructType([I64, I64]))
    best = b.alloca(F64)
    b.store(ir.Constant(F64, 1e30), best)
    args = call_args(wl, {"A": A, "B": B, "C": C, "Y": Y}, S if scratch else None)
    b.call(kernel, args)

    def now():
        b.call(clock, [ir.Constant(I32, CLOCK_ID), ts])
        sec, ns = (b.sitofp(b.load(b.gep(ts, [ir.Constant(I32, 0), ir.Constant(I32, k)])), F64) for k in (0, 1))
        return b.fadd(sec, b.fmul(ns, ir.Constant(F64, 1e-9)))

    def loop(count, body, tag):
        i = b.alloca(I64)
        b.store(ir.Constant(I64, 0), i)
        head, blk, end = (fn.append_basic_block(f"{tag}.{x}") for x in ("head", "body", "end"))
        b.branch(head)
        b.position_at_end(head)
        v = b.load(i)
        b.cbranch(b.icmp_signed("<", v, count), blk, end)
        b.position_at_end(blk)
        body()
        b.store(b.add(v, ir.Constant(I64, 1)), i)
        b.branch(head)
        b.position_at_end(end)

    def one_repeat():
        t0 = now()
        loop(number, lambda: b.call(kernel, args), "n")
        t = b.fdiv(b.fsub(now(), t0), b.sitofp(number, F64))
        cur = b.load(best)
        b.store(b.select(b.fcmp_ordered("<", t, cur), t, cur), best)
    loop(repeat, one_repeat, "r")
    b.ret(b.load(best))


@contextlib.contextmanager
def _one_omp_thread(active: bool):
    """The C library kernel (built with the profile's ``-fopenmp``) timed on one thread, as the C harness does
    (the IR kernels are single-threaded)."""
    lib = None
    if active:
        try:
            lib = ctypes.CDLL("libgomp.so.1")
        except OSError:
            lib = None
    if lib is None:
        yield
        return
    before = lib.omp_get_max_threads()
    lib.omp_set_num_threads(1)
    try:
        yield
    finally:
        lib.omp_set_num_threads(before)


def _packed_b(wl: Workload, B: np.ndarray, s: Dict) -> np.ndarray:
    """The GEMM operand B ([K, N] at strides b_rs, b_cs) in the panel order of ``s`` (``pack_b_const``), as
    ``sdk.tune.apply.prepack_b`` stores a weight."""
    K, N, rs, cs = wl["K"], wl["N"], wl["b_rs"], wl["b_cs"]
    flat = np.ascontiguousarray(B).reshape(-1)
    return np.ascontiguousarray(pack_b_const(flat[np.arange(K)[:, None] * rs + np.arange(N)[None, :] * cs], s),
                                np.float32)


def c_only_form(s: Optional[Dict]) -> bool:
    """Whether schedule ``s`` has a form only the C kernels build: spatial rows ("trans", ``kernels.conv_t_source``)
    or tap planes ("planes"). The LLVM kernels (``llvm_kernels.py``) ignore those keys: timed here they would be the
    plain im2col GEMM of the same tiles, not the kernel the bundle runs."""
    return s is not None and bool(s.get("trans") or s.get("planes"))


class JitMeasurer:
    """Times candidate schedules of workloads on this machine through the JIT (the host backend's measurer)."""

    unit = "s"
    measures_packed_b = True  # measure(..., b_packed=True): B packed beforehand, as the build stores a weight

    def __init__(self, tgt, workdir: Optional[str] = None, seed: int = 0, budget_s: float = 0.002,
                 repeat: int = 5, jobs: int = 1):
        self.tgt, self.seed, self.budget_s, self.repeat = tgt, seed, budget_s, repeat
        self._n = 0
        self._ops: Dict[str, dict] = {}
        self._engines: list = []  # compiled batches stay alive (their code is freed with the engine)
        self._core_engines: list = []
        self._library: Dict[str, Optional[int]] = {}
        self._cores: Dict[str, int] = {}  # blocked products compiled so far (by code-shaping decisions): address
        self.errors: List[str] = []
        self.compile_s = 0.0

    def confirm_measurer(self):
        """The measurer of the search's confirmation (``Search.confirm``): the gcc batches (``measure.py``) with the
        epilogue fused in, what the bundle runs, where the target's C compiler is installed; else None (this one).
        The JIT's LLVM kernels, timed without their epilogue, rank schedules differently: a register tile it timed
        equal to the default ran 1.3-1.7x slower built by gcc, 27 % slower in EfficientNet-B0's bundle."""
        import shutil
        if shutil.which(self.tgt.cc) is None:
            return None
        from .measure import Measurer
        return Measurer(self.tgt, seed=self.seed, repeat=10)

    def _c_measurer(self):
        """The gcc batches (``measure.py``) for the schedules with a C-only form, made once; None without the
        target's C compiler (a build then runs those steps without the form, ``apply`` drops it: the JIT's plain
        GEMM of the same tiles is then what the build runs)."""
        if not hasattr(self, "_gcc"):
            import shutil
            from .measure import Measurer
            self._gcc = Measurer(self.tgt, seed=self.seed, repeat=self.repeat) if shutil.which(self.tgt.cc) else None
        return self._gcc

    def _operands(self, wl: Workload):
        k = wl.key()
        if k not in self._ops:
            ops = operands(wl, np.random.default_rng(self.seed))
            self._ops[k] = (ops, reference(wl, ops))
        return self._ops[k]

    def _library_address(self, wl: Workload) -> Optional[int]:
        """Address of the runtime library kernel (C, built once per machine and cached), or None without a C
        compiler."""
        decl = tunable(wl.kind)
        if decl.name not in self._library:
            from .kernel_lib import _load, build_shared
            try:
                src = RUNTIME / "src" / decl.source
                lib = _load(build_shared(src.read_text(), self.tgt, src.stem))
                self._library[decl.name] = ctypes.cast(getattr(lib, decl.name), ctypes.c_void_p).value
            except BuildError:
                self._library[decl.name] = None
        return self._library[decl.name]

    def _compile_cores(self, wl: Workload, cores: Dict[str, Dict]):
        """Compile the blocked products (``llvm_kernels.emit_core``) this batch needs and no earlier batch had, in
        one module, and bind their addresses: candidates that differ only in cache blocks (most mutations)
        reuse them, so a batch compiles little besides its small kernel entries."""
        if not cores:
            return
        import llvmlite.binding as llvm

        from .inprocess import optimized_module
        module = ir.Module(f"sdk_tune_cores{self._n}")
        math = MathLib(module)
        for s, bp in cores.values():
            emit_core(module, math, wl.kind, s, wl.pointwise, b_packed=bp)
        tm, mod = optimized_module(str(module))
        engine = llvm.create_mcjit_compiler(mod, tm)
        engine.finalize_object()
        self._core_engines.append(engine)  # kept for the measurer's life: later batches call into it
        for name in cores:
            addr = engine.get_function_address(f"{name}_mm")
            llvm.add_symbol(f"{name}_mm", addr)
            self._cores[name] = addr

    def measure(self, wl: Workload, schedules: List[Optional[Dict]], b_packed: bool = False) -> List[float]:
        """Seconds per call of each schedule (None: the runtime library kernel); inf if wrong or unavailable.
        ``b_packed`` (a GEMM whose B is a weight): a ``pack_b`` schedule reads B packed beforehand
        (``pack_b_const``), as the build stores it, instead of packing it on every call."""
        import time

        import llvmlite.binding as llvm

        from .inprocess import _llvm, optimized_module
        c_only = [i for i, s in enumerate(schedules) if c_only_form(s)]
        gcc = self._c_measurer() if c_only else None
        if gcc is not None:  # spatial rows / tap planes: C kernels the IR has no form of, timed as the build runs them
            rest = [i for i in range(len(schedules)) if i not in set(c_only)]
            out = [float("inf")] * len(schedules)
            for idx, ts in ((c_only, gcc.measure(wl, [schedules[i] for i in c_only], b_packed=b_packed)),
                            (rest, self.measure(wl, [schedules[i] for i in rest], b_packed=b_packed) if rest else [])):
                for i, t in zip(idx, ts):
                    out[i] = t
            self.errors.extend(e for e in gcc.errors if e not in self.errors)
            return out
        _llvm()
        self._n += 1
        module = ir.Module(f"sdk_tune{self._n}")
        math = MathLib(module)
        clock = ir.Function(module, ir.FunctionType(I32, [I32, ir.LiteralStructType([I64, I64]).as_pointer()]),
                            "clock_gettime")
        if llvm.address_of_symbol("clock_gettime") is None:
            llvm.add_symbol("clock_gettime", ctypes.cast(ctypes.CDLL(None).clock_gettime, ctypes.c_void_p).value)
        decl = tunable(wl.kind)
        names: Dict[int, str] = {}
        new_cores: Dict[str, tuple] = {}
        one_b = wl.kind == "gemm" and (wl["batch"] == 1 or wl["b_bs"] == 0)  # one matrix for every batch
        packed = [bool(b_packed and one_b and s is not None and s.get("pack_b")) for s in schedules]
        for i, s in enumerate(schedules):
            if s is None:
                addr = self._library_address(wl)
                if addr is None:
                    continue
                sym_name = f"sdk_tune_lib_{decl.name}"
                llvm.add_symbol(sym_name, addr)
                kern = module.globals.get(sym_name) or ir.Function(
                    module, ir.FunctionType(ir.VoidType(), [PTR if q.pointer else (F32 if q.ctype == "float" else I64)
                                                            for q in decl.params]), sym_name)
            else:
                kern = emit_kernel(module, math, f"tk{i}", wl.kind, s, wl.pointwise, b_packed=packed[i],
                                   linkage="internal", declare_core=True)
                new_cores.setdefault(KernelGen(None, None, "", wl.kind, s, wl.pointwise, b_packed=packed[i]).core,
                                     (s, packed[i]))
            names[i] = f"bench{i}"
            _bench_fn(module, names[i], kern, wl, s is not None, clock)
        t0 = time.perf_counter()
        self._compile_cores(wl, {k: v for k, v in new_cores.items() if k not in self._cores})
        tm, mod = optimized_module(str(module))
        engine = llvm.create_mcjit_compiler(mod, tm)
        engine.finalize_object()
        self.compile_s += time.perf_counter() - t0
        self._engines.append(engine)
        ops, ref = self._operands(wl)
        tol = 1e-4 * max(1.0, float(np.abs(ref).max(initial=0)))
        times = [float("inf")] * len(schedules)
        for i, name in names.items():
            f = _BENCH(engine.get_function_address(name))
            s = schedules[i]
            scratch = np.zeros(max(scratch_floats(s, packed[i]), 1) if s else 1, np.float32)
            y = np.full_like(ops["Y"], np.nan)
            b = _packed_b(wl, ops["B"], s) if packed[i] else ops["B"]
            args = [ops["A"].ctypes.data, b.ctypes.data, ops["C"].ctypes.data, y.ctypes.data, scratch.ctypes.data]
            with _one_omp_thread(s is None):
                t1 = f(*args, 1, 1)
                ok = np.allclose(y, ref, rtol=1e-4, atol=tol)
                if ok:
                    number = int(max(1, min(10000, self.budget_s / max(t1, 1e-9))))
                    times[i] = f(*args, number, self.repeat)
            if not ok:
                self.errors.append(f"{wl}: schedule {s} gives wrong results (max err "
                                   f"{float(np.nanmax(np.abs(y - ref))):.3g})")
        if len(self._engines) > 64:  # the search never calls back into old batches
            self._engines = self._engines[-8:]
        return times
