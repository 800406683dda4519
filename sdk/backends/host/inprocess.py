"""In-process execution of a host bundle: the program is JIT-compiled once with LLVM (llvmlite's MCJIT,
``sdk/codegen/llvm.py``), weights and arena stay in memory, and every run is one ctypes call with numpy
buffers: no process, no files.

Inputs are checked exactly as the generated C checks them (``<name>_bind_dims``: dtype, rank, fixed dims,
1 <= dim <= bound, agreement of symbols, derived dims; then the arena size), with the C runtime's status
codes and ``sdk_status_str`` texts, raised as :class:`~sdk.errors.BuildError` like the process path's.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import sys
import time
from typing import Dict

import numpy as np

from ...ir.dtypes import DTYPE_CODE
from ...codegen.llvm import MAX_RANK, generate, status_codes
from ...ir.dtypes import dtype_name, np_dtype
from ...ir.runtime_syms import planning_size
from ...memory.plan import align_slack
from ...errors import BuildError
from ...ir import sym
from .kernel_lib import RUNTIME, library_symbols

ALIGN = 64


def _status_table():
    """{code: text} from the C runtime itself, so both paths say the same."""
    c = (RUNTIME / "src" / "sdk_status.c").read_text()
    codes = status_codes()
    return {codes[m.group(1)]: m.group(2) for m in re.finditer(r'case (SDK_\w+): return "([^"]*)";', c)}


STATUS = _status_table()
SDK_ERR_ARENA_TOO_SMALL, SDK_ERR_DIM_OUT_OF_BOUNDS, SDK_ERR_SHAPE_MISMATCH, SDK_ERR_DTYPE_MISMATCH = 2, 3, 4, 5


def status_error(code: int, detail: str = "") -> BuildError:
    return BuildError(f"model run failed: {STATUS.get(code, 'unknown status')} (status {code})"
                      + (f": {detail}" if detail else ""))


def _bounds_hint(name: str, axis: int, s: str, actual: int, low: int, high: int) -> str:
    """What a run-time dim outside its compiled range is, and how to compile for it."""
    msg = f"input '{name}' axis {axis}: {s} = {actual}, compiled for {low}..{high}"
    if actual > high:
        return msg + f" (compile with dims={{'{s}': {actual}}} or more; sdk build --dim {s}={actual})"
    return msg + (f" (a dim that may be 0, e.g. an empty cache: compile with empty_dims=['{s}']; "
                  f"sdk build --empty-dim {s})")


_llvm_ready = False


def _llvm():
    global _llvm_ready
    import llvmlite.binding as llvm
    if not _llvm_ready:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _llvm_ready = True
    return llvm


def optimized_module(ir_text: str):
    """(target machine, module): ``ir_text`` parsed, verified and optimised with LLVM's O3 pipeline (loop and SLP
    vectorisers) for this machine's CPU (``-march=native``)."""
    llvm = _llvm()
    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                      opt=3, jit=True)
    mod = llvm.parse_assembly(ir_text)
    mod.triple, mod.data_layout = llvm.get_process_triple(), str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = pto.slp_vectorization = True
    pto.loop_unrolling = False  # full unrolling of constant outer loops multiplies the code (and compile time) ~5x
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return tm, mod


def _aligned(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``arr`` at an ``ALIGN``-byte boundary."""
    buf = np.empty(arr.nbytes + ALIGN, np.uint8)
    off = (-buf.ctypes.data) % ALIGN
    out = buf[off:off + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


def timer_ir(entry: str) -> str:
    """``int32_t sdk_timed_entry(syms, ptrs, out_dims, int64_t n, double *times)``: ``n`` runs of ``entry``,
    each timed with ``clock_gettime(CLOCK_MONOTONIC)`` into ``times`` (seconds), as the C demo program times
    ``model_run`` (no ctypes call inside the measurement); stops at the first non-zero status."""
    import llvmlite.ir as ir
    i32, i64, dbl = ir.IntType(32), ir.IntType(64), ir.DoubleType()
    m = ir.Module("sdk_timer")
    ts = ir.LiteralStructType([i64, i64])
    clock = ir.Function(m, ir.FunctionType(i32, [i32, ts.as_pointer()]), "clock_gettime")
    params = [i64.as_pointer(), ir.IntType(8).as_pointer().as_pointer(), i64.as_pointer()]
    run = ir.Function(m, ir.FunctionType(i32, params), entry)
    fn = ir.Function(m, ir.FunctionType(i32, params + [i64, dbl.as_pointer()]), "sdk_timed_entry")
    syms, ptrs, dims, n, times = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    t = b.alloca(ts)
    k = b.alloca(i64)
    b.store(ir.Constant(i64, 0), k)
    head, body, done = (fn.append_basic_block(x) for x in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.load(k)
    b.cbranch(b.icmp_signed("<", i, n), body, done)
    b.position_at_end(body)

    def now():
        b.call(clock, [ir.Constant(i32, 1), t])  # CLOCK_MONOTONIC
        sec, ns = (b.sitofp(b.load(b.gep(t, [ir.Constant(i32, 0), ir.Constant(i32, f)])), dbl) for f in (0, 1))
        return b.fadd(sec, b.fmul(ns, ir.Constant(dbl, 1e-9)))
    t0 = now()
    st = b.call(run, [syms, ptrs, dims])
    b.store(b.fsub(now(), t0), b.gep(times, [i]))
    b.store(b.add(i, ir.Constant(i64, 1)), k)
    ok = fn.append_basic_block("ok")
    fail = fn.append_basic_block("fail")
    b.cbranch(b.icmp_signed("==", st, ir.Constant(i32, 0)), ok, fail)
    b.position_at_end(fail)
    b.ret(st)
    b.position_at_end(ok)
    b.branch(head)
    b.position_at_end(done)
    b.ret(ir.Constant(i32, 0))
    return str(m)


class JitModel:
    """One bundle compiled in this process. ``run(inputs)`` -> ({output name: array}, info)."""

    def __init__(self, bundle, profile: bool = False, ir_kernels: bool = True):
        """``profile``: time every step (``step_times()`` after a run), like the C path's -DSDK_PROFILE.
        ``ir_kernels``: the scheduled GEMM/convolution kernels as LLVM IR (else built by the C compiler)."""
        llvm = _llvm()
        t0 = time.perf_counter()
        self.bundle, prog, plan = bundle, bundle.program, bundle.plan
        self.prog, self.plan, self.bounds = prog, plan, bundle.bounds
        self.symbols = prog.func.symbols()
        self.empty = set(prog.func.empty_dims())  # symbols that may be 0
        self.dim_conditions = prog.func.dim_conditions()
        protos, addrs, kernels = library_symbols(prog, bundle.target, ir_kernels)
        self.lib_s = time.perf_counter() - t0
        ir_text, self.layout = generate(prog, plan, bundle.name, protos, profile, kernels)
        self.ir_text = ir_text
        self._marks = None
        if profile:
            self._marks = []
            self._prof_cb = ctypes.CFUNCTYPE(None, ctypes.c_int32)(
                lambda i: self._marks.append((i, time.perf_counter())))
            addrs = dict(addrs, sdk_prof_step=ctypes.cast(self._prof_cb, ctypes.c_void_p).value)
        for name, addr in addrs.items():
            llvm.add_symbol(name, addr)
        tm, mod = optimized_module(ir_text)
        self._bind_libm(llvm, mod)
        self.engine = llvm.create_mcjit_compiler(mod, tm)
        timer = llvm.parse_assembly(timer_ir(f"{bundle.name}_entry"))
        timer.triple, timer.data_layout = mod.triple, mod.data_layout
        self.engine.add_module(timer)
        self.engine.finalize_object()
        self.module = mod
        addr = self.engine.get_function_address(f"{bundle.name}_entry")
        self._entry = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(addr)
        self._timed = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                       ctypes.c_void_p)(self.engine.get_function_address("sdk_timed_entry"))
        self.compile_s = time.perf_counter() - t0
        # storage: weights are fixed; inputs, outputs and arena slots are filled per call
        self.ptrs = np.zeros(max(len(self.layout.keys), 1), np.uint64)
        self.weights = [_aligned(arr) for _, arr in prog.consts]  # as the C bundle's: whole-line vector loads
        for i, (kind, k) in enumerate(self.layout.keys):
            if kind == "const":
                self.ptrs[i] = self.weights[k].ctypes.data
        self.out_dims = np.zeros(max(len(prog.outputs), 1) * MAX_RANK, np.int64)
        self._out_dims_p = self.out_dims.ctypes.data
        # outputs whose dims depend on run-time symbols are read back from out_dims after the run
        rt = set(getattr(prog.func, "runtime_syms", None) or ())
        self.reports_dims = any(sym.free_vars(d) & rt for b in prog.outputs for d in b.shape)
        self.arena = np.zeros(0, np.uint8)
        self._plans: Dict[tuple, tuple] = {}
        self._calls: Dict[tuple, tuple] = {}  # input shapes and dtypes -> _prepare()
        self._out_pool: Dict[tuple, list] = {}  # input shapes and dtypes -> output arrays of the last call
        self._keep: list = []  # arrays whose addresses the calls pass

    def step_times(self):
        """[(step label, seconds)] of the last run of a ``profile=True`` model."""
        ends = [k for k, (i, _) in enumerate(self._marks) if i == -1]
        m, out = self._marks[ends[-2] + 1 if len(ends) > 1 else 0:], []
        for (i, t), (_, t_next) in zip(m, m[1:]):
            s = self.prog.steps[i]
            out.append((f"{s.fn}->{s.outputs[0].name}" if hasattr(s, "fn") else s.name, t_next - t))
        return out

    @staticmethod
    def _bind_libm(llvm, mod):
        """Bind the C math functions the module calls (expf, logf, ...) from the process's libm."""
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        if llvm.address_of_symbol("clock_gettime") is None:
            llvm.add_symbol("clock_gettime", ctypes.cast(ctypes.CDLL(None).clock_gettime, ctypes.c_void_p).value)
        for f in mod.functions:
            if f.is_declaration and not f.name.startswith("llvm.") and llvm.address_of_symbol(f.name) is None:
                fn = getattr(libm, f.name, None)
                if fn is not None:
                    llvm.add_symbol(f.name, ctypes.cast(fn, ctypes.c_void_p).value)

    # ---- the C path's <name>_bind_dims, <name>_offsets
    def bind_dims(self, arrays) -> Dict[str, int]:
        env, deferred, first = {}, [], {}
        names = self.bundle.func.input_names
        for k, (b, a) in enumerate(zip(self.prog.inputs, arrays)):
            name = names[k] if k < len(names) else f"#{k}"
            dt = dtype_name(a.dtype)
            if DTYPE_CODE.get(dt) != DTYPE_CODE[b.dtype]:
                raise status_error(SDK_ERR_DTYPE_MISMATCH, f"input '{name}' is {dt}, the model takes {b.dtype}")
            if a.ndim != len(b.shape):
                raise status_error(SDK_ERR_SHAPE_MISMATCH,
                                   f"input '{name}' has {a.ndim} dims {tuple(a.shape)}, the model takes {len(b.shape)}")
            for axis, d in enumerate(b.shape):
                actual, s = a.shape[axis], sym.bare_var(d)
                if s is not None:
                    low = 0 if s in self.empty else 1
                    if actual < low or actual > self.bounds[s]:
                        raise status_error(SDK_ERR_DIM_OUT_OF_BOUNDS, _bounds_hint(name, axis, s, actual, low,
                                                                                    self.bounds[s]))
                    if env.get(s, actual) != actual:
                        raise status_error(SDK_ERR_SHAPE_MISMATCH, f"'{s}' is {env[s]} in input '{first[s]}' but "
                                           f"{actual} in input '{name}' (axis {axis})")
                    env[s] = actual
                    first.setdefault(s, name)
                elif isinstance(d, sym.Sym):
                    deferred.append((actual, d, name, axis))
                elif actual != d:
                    raise status_error(SDK_ERR_SHAPE_MISMATCH,
                                       f"input '{name}' axis {axis} is {actual}, the model takes {d}")
        for actual, d, name, axis in deferred:
            if actual != sym.evaluate(d, env):
                raise status_error(SDK_ERR_SHAPE_MISMATCH, f"input '{name}' axis {axis} is {actual}, the model takes "
                                   f"{d} = {sym.evaluate(d, env)}")
        return env

    def plan_at(self, env):
        """(arena bytes, {slot index: offset}, output shapes) for these dims, cached."""
        key = tuple(env[s] for s in self.symbols)
        if key not in self._plans:
            for d, _ in self.dim_conditions:  # as the C bind_dims: inputs too small for the model (once per dims)
                if sym.evaluate(d, env) < 0:
                    raise status_error(SDK_ERR_DIM_OUT_OF_BOUNDS)
            offs, end = {}, 0
            for s in sorted(self.plan.slots, key=lambda s: s.offset_bound):
                off = max([offs[p.index] + sym.evaluate(p.size, env) for p in s.below], default=0)
                offs[s.index] = off
                end = max(end, off + sym.evaluate(s.size, env))
            # outputs with run-time dims get their capacity at the dims' bounds; the run reports the dims
            shapes = [tuple(sym.evaluate(planning_size(d, self.prog.func), env) for d in b.shape)
                      for b in self.prog.outputs]
            if end:  # the bytes the C run skips to align a caller's arena (sdk/memory/plan.py): reported alike
                end += align_slack(self.plan)
            self._plans[key] = (end, offs, shapes)
        return self._plans[key]

    def _prepare(self, arrays):
        """Everything a call with these input shapes needs: checked dims, arena size, the pointer table
        (weights and arena slots filled in), output allocations, the symbol values."""
        env = self.bind_dims(arrays)
        need, offs, shapes = self.plan_at(env)
        if self.arena.nbytes < need + ALIGN:
            self.arena = np.zeros(need + ALIGN, np.uint8)
            self._calls.clear()  # slot addresses moved
        base = self.arena.ctypes.data
        base += (-base) % ALIGN
        ptrs = self.ptrs.copy()
        ins, outs = [], []
        for i, (kind, k) in enumerate(self.layout.keys):
            if kind == "input":
                ins.append((i, k))
            elif kind == "output":
                outs.append((i, k))
            elif kind == "slot":
                ptrs[i] = base + offs[k]
        for i, (kind, k) in enumerate(self.layout.keys):
            if kind == "view":  # a Concat's input written in place: its root's storage plus its offset in bytes
                ptrs[i] = int(ptrs[k[0]]) + k[1]
        syms = np.array([env[s] for s in self.symbols] or [0], np.int64)
        self._keep.append(syms)
        dtypes = [np_dtype(b.dtype) for b in self.prog.outputs]
        args = (syms.ctypes.data, ptrs.ctypes.data, self._out_dims_p)
        return need, ptrs, ins, outs, list(zip(shapes, dtypes)), args, [None] * len(self.prog.inputs)

    def _outputs(self, key, specs):
        """Output arrays for a call: last call's arrays when nothing outside holds them any more (a fresh
        128 KiB array costs ~30 us of page faults, more than a small model's run), else new ones."""
        pool = self._out_pool.get(key)
        if pool is None:
            pool = self._out_pool[key] = [np.empty(shape, dt) for shape, dt in specs]
            return list(pool), True
        fresh = False
        for k, (shape, dt) in enumerate(specs):
            if sys.getrefcount(pool[k]) > 2:  # the pool's reference and getrefcount's argument
                pool[k], fresh = np.empty(shape, dt), True
        return list(pool), fresh

    def run(self, inputs: dict, arena=None, repeat=1, info=True, check=None, **_ignored):
        """({output name: array}, info) or, with ``info=False``, the outputs alone. ``check(inputs)``: the
        caller's feed check (``Bundle.check_inputs``), run for input shapes and dtypes not seen before (those
        seen passed it). With ``info``, the run is timed in native code (``repeat`` runs, median), as the
        C demo program times ``model_run``."""
        names = self.bundle.func.input_names
        try:  # (np.asarray, not ascontiguousarray: that makes scalars 1-d)
            arrays = [np.asarray(inputs[n], order="C") for n in names]
        except KeyError:
            arrays = None
        if check is not None and (arrays is None or len(inputs) != len(names)):
            check(inputs)  # raises: a missing or unknown input
        if arrays is None:
            raise BuildError(f"missing input: expected {', '.join(names)}")
        key = tuple((a.shape, a.dtype.str) for a in arrays)
        call = self._calls.get(key)
        if call is None:
            if check is not None:
                check(inputs)
            call = self._calls[key] = self._prepare(arrays)
            new = True
        else:
            new = False
        need, ptrs, ins, outs_at, out_specs, args, last_in = call
        if arena is not None and need > int(arena):
            raise status_error(SDK_ERR_ARENA_TOO_SMALL)
        outs, fresh = self._outputs(key, out_specs)
        for i, k in ins:
            a = arrays[k]
            if a is not last_in[k]:  # an array's buffer is fixed for its lifetime; the call keeps the last one alive
                ptrs[i] = a.__array_interface__["data"][0]
                last_in[k] = a
        if fresh or new:  # (a new pointer table, or output arrays the caller kept)
            for i, k in outs_at:
                ptrs[i] = outs[k].__array_interface__["data"][0]
        if info:
            n = max(int(repeat), 1)
            times = np.zeros(n, np.float64)
            if self._marks is not None:
                self._marks.clear()
            st = self._timed(*args, n, times.ctypes.data)
        else:
            st = self._entry(*args)
        if st != 0:
            raise status_error(st)
        if not self.reports_dims:
            result = dict(zip(self.bundle.func.output_names, outs))
        else:
            result = {}
            for k, (name, o) in enumerate(zip(self.bundle.func.output_names, outs)):
                dims = tuple(self.out_dims[k * MAX_RANK:k * MAX_RANK + o.ndim].tolist())
                # dims the run reports (data-dependent outputs may be smaller than their allocation)
                result[name] = o if dims == o.shape else o.reshape(-1)[:int(np.prod(dims))].reshape(dims)
        return (result, self._info(need, times)) if info else result

    @staticmethod
    def _info(need, times):
        return {"workspace_bytes": str(need), "median_ms": f"{1e3 * float(np.sort(times)[len(times) // 2]):.6f}",
                "engine": "llvm"}
