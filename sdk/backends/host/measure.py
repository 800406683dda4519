"""Measure schedules on the host: candidates are compiled in batches (one shared object per batch,
two compilers at once) with the target's flags, loaded with ctypes and timed in-process by a C loop
(best of ``repeat`` means over ``number`` calls, number sized to ~2 ms, by the thread's CPU clock), on one thread where the profile has
threads (OpenMP fork/join timings on a shared machine are noise; the schedule's tiles are what is searched). Every candidate's output is
checked against the runtime library kernel (tested against onnxruntime) before its time counts.

Each candidate is the C the build compiles for the step (``kernel_source``): with the workload's fused epilogue
(activation, residual: ``Workload.epilogue``) and, for a GEMM whose B is a weight (``b_packed``), B packed
beforehand as the build stores it. The runtime library call is timed with the separate ``sdk_epilogue_f32`` pass the
build would run after it. (A search that timed the kernels without their epilogue picked register tiles that ran
up to 27 % slower in EfficientNet-B0's bundle with SiLU fused in: bench/RESULTS_zoo.md.)
"""
from __future__ import annotations

import ctypes
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ...kernels import tunable
from ...resources import RUNTIME
from ...tune.harness import kernel_call, operand_sizes, operands
from ...tune.kernels import kernel_source
from ...tune.workload import Workload

TIMER = """#define _POSIX_C_SOURCE 199309L
#include <time.h>
#if defined(_OPENMP)
#include <omp.h>
#endif
/* the thread's CPU clock: candidates run on this one thread, and time other processes take the core from it does not
   count (on the shared 2-vCPU machine at load 10, the default schedule's wall-clock minimum over two alternations
   once read 1.8x its time in the bundle) */
static double sdk_t_now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
"""
P = ctypes.POINTER(ctypes.c_float)


def _call(wl: Workload, fn: str, scratch: bool) -> str:
    """The timed statement: the scheduled kernel (``scratch``) with its fused epilogue's residual ``R``, or the
    library kernel followed by the ``sdk_epilogue_f32`` pass the build runs after an unscheduled call."""
    call = kernel_call(wl, fn, scratch)
    epi = wl.epilogue_arg()
    if epi is None:
        return call
    if scratch:
        return call[:-2] + f", {'R' if epi[3] else 'NULL'});"
    from ...transform.epilogue import ACT_CODE
    n = operand_sizes(wl)["Y"]
    return (call + f" sdk_epilogue_f32({n}, Y, {'R' if epi[3] else 'NULL'}, {ACT_CODE.get(epi[0], 0)}, "
            f"{float(epi[1])!r}f, {float(epi[2])!r}f);")


def _bench_fn(wl: Workload, tag: str, fn: str, scratch: bool) -> str:
    call = _call(wl, fn, scratch)
    return f"""double bench_{tag}(const float *A, const float *B, const float *C, float *Y, float *scratch,
                     const float *R, long number, long repeat) {{
  (void)C; (void)scratch; (void)R;
#if defined(_OPENMP) /* timed on one thread (profiles with threads): steady on a shared machine */
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  {call}
  double best = 1e30;
  for (long r = 0; r < repeat; ++r) {{
    const double t0 = sdk_t_now();
    for (long n = 0; n < number; ++n) {{ {call} }}
    const double t = (sdk_t_now() - t0) / (double)number;
    if (t < best) best = t;
  }}
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  return best;
}}
"""


def _packed_t(wl: Workload, W: np.ndarray, s: Dict) -> np.ndarray:
    """A "trans" (spatial-rows) convolution's weights as the build stores them (``apply.prepack_conv_t``): each
    group's W^T packed for ``_mm_t`` (``pack_conv_t_const``). The kernel reads no other layout: given the weights
    as they come it computed wrong results on any number of threads (a strided 3x3 layer's max error 93.7)."""
    from ...tune.kernels import pack_conv_t_const
    return np.ascontiguousarray(pack_conv_t_const(W.reshape(wl["M"], -1), wl["groups"], s), np.float32)


def _operand_b(wl: Workload, B: np.ndarray, s: Optional[Dict], packed: bool) -> np.ndarray:
    """The B a candidate reads, as the build stores it: a "trans" (spatial-rows) convolution's weights transposed and
    packed (``_packed_t``), a ``pack_b`` GEMM's weight in its panel order (``measure_jit._packed_b``, where ``packed``),
    else B as it comes. One choice of three (a trans schedule is a convolution's, ``packed`` a GEMM's: never both)."""
    if s is not None and s.get("trans"):
        return _packed_t(wl, B, s)
    if packed:
        from .measure_jit import _packed_b
        return _packed_b(wl, B, s)
    return B


def _bench_symbol(dll, tag: str):
    """The ``bench_<tag>`` function of a loaded batch (see ``_bench_fn``)."""
    f = getattr(dll, f"bench_{tag}")
    f.restype = ctypes.c_double
    f.argtypes = [P, P, P, P, P, P, ctypes.c_long, ctypes.c_long]
    return f


class Measurer:
    """Times candidate schedules of workloads on this machine with ``tgt``'s compiler and flags (the host
    backend's measurer)."""

    unit = "s"
    measures_packed_b = True  # measure(..., b_packed=True): B packed beforehand, as the build stores a weight

    def __init__(self, tgt, workdir: Optional[str] = None, seed: int = 0, budget_s: float = 0.002,
                 repeat: int = 5, jobs: int = 2):
        self.tgt, self.seed, self.budget_s, self.repeat, self.jobs = tgt, seed, budget_s, repeat, jobs
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="sdk_tune_")
        self.dir = Path(workdir or self._tmp.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self._ops: Dict[str, dict] = {}
        self.errors: List[str] = []
        self._built: Dict[str, object] = {}  # (workload, schedule, packed) -> its loaded bench function
        self._dlls: list = []

    def _flags(self):
        return [f for f in self.tgt.cflags if f not in ("-Wall", "-Wextra", "-Werror")]

    def _library_object(self, source: str) -> Path:
        """The runtime source of the library kernels (reference and untuned baseline), compiled once."""
        obj = self.dir / (Path(source).stem + ".o")
        if not obj.exists():
            r = subprocess.run([self.tgt.cc, *self._flags(), "-fPIC", "-c", f"-I{RUNTIME / 'include'}",
                                str(RUNTIME / "src" / source), "-o", str(obj)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"runtime kernels build failed:\n{r.stderr[-2000:]}")
        return obj

    def _compile(self, sources: List[str], library: str) -> List[Path]:
        lib = self._library_object(library)
        procs = []
        for src in sources:
            c = Path(src)
            so = c.with_suffix(".so")
            procs.append((so, subprocess.Popen(
                [self.tgt.cc, *self._flags(), "-fPIC", "-shared", f"-I{RUNTIME / 'include'}", str(c),
                 str(lib), "-o", str(so), *self.tgt.ldlibs],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        out = []
        for so, pr in procs:
            _, err = pr.communicate()
            if pr.returncode != 0:
                raise RuntimeError(f"tuning candidate build failed:\n{err[-2000:]}")
            out.append(so)
        return out

    def _operands(self, wl: Workload):
        k = wl.key()
        if k not in self._ops:
            ops = operands(wl, np.random.default_rng(self.seed))
            ops["R"] = np.random.default_rng(self.seed + 1).standard_normal(ops["Y"].size).astype(np.float32)
            self._ops[k] = ops
        return self._ops[k]

    def measure(self, wl: Workload, schedules: List[Optional[Dict]], b_packed: bool = False) -> List[float]:
        """Seconds per call of each schedule (None: the runtime library kernel); inf if wrong. ``b_packed`` (a GEMM
        whose B is a weight): a ``pack_b`` schedule reads B packed beforehand (``pack_b_const``), as the build
        stores it, instead of packing it on every call."""
        from ...tune.kernels import scratch_floats
        one_b = wl.kind == "gemm" and (wl["batch"] == 1 or wl["b_bs"] == 0)  # one matrix for every batch
        packed = [bool(b_packed and one_b and s is not None and s.get("pack_b")) for s in schedules]
        epi = wl.epilogue_arg()
        decl = tunable(wl.kind)
        lib = decl.name
        keys = [json.dumps([wl.key(), s, packed[i]], sort_keys=True) for i, s in enumerate(schedules)]
        todo = sorted({keys[i]: i for i in range(len(schedules)) if keys[i] not in self._built}.values())
        groups = [todo[i::self.jobs] for i in range(self.jobs)]
        groups = [g for g in groups if g]
        files, tags = [], {}
        for g in groups:
            self._n += 1
            parts = [TIMER, f'#include "{decl.header}"\n#include "sdk_math.h" /* a fused activation\'s sdk_expf */\n']
            for i in g:
                s = schedules[i]
                tag = f"c{self._n}_{i}"
                tags[i] = tag
                if s is None:
                    parts.append(_bench_fn(wl, tag, lib, scratch=False))
                else:
                    name = f"tk_{tag}"
                    parts.append(kernel_source(wl.kind, name, s, wl, epi, packed[i]))
                    parts.append(_bench_fn(wl, tag, name, scratch=True))
            path = self.dir / f"batch{self._n}.c"
            path.write_text("".join(parts))
            files.append((path, g))
        sos = self._compile([f for f, _ in files], decl.source)
        for so, (_, g) in zip(sos, files):
            dll = ctypes.CDLL(str(so))
            self._dlls.append(dll)
            for i in g:  # built once: a schedule measured again (the search's confirmation) is not rebuilt
                self._built[keys[i]] = _bench_symbol(dll, tags[i])
        ops = self._operands(wl)
        ref = self._reference(wl, ops)
        times = [float("inf")] * len(schedules)
        for i, s in enumerate(schedules):
            f = self._built[keys[i]]
            scratch = np.zeros(max(scratch_floats(s, packed[i]), 1) if s else 1, np.float32)
            y = np.full_like(ops["Y"], np.nan)
            b = _operand_b(wl, ops["B"], s, packed[i])
            args = [ops["A"].ctypes.data_as(P), b.ctypes.data_as(P), ops["C"].ctypes.data_as(P),
                    y.ctypes.data_as(P), scratch.ctypes.data_as(P), ops["R"].ctypes.data_as(P)]
            t1 = f(*args, 1, 1)
            if not np.allclose(y, ref, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(ref).max(initial=0)))):
                self.errors.append(f"{wl}: schedule {s} gives wrong results (max err "
                                   f"{float(np.nanmax(np.abs(y - ref))):.3g})")
                continue
            number = int(max(1, min(10000, self.budget_s / max(t1, 1e-9))))
            times[i] = f(*args, number, self.repeat)
        return times

    def _reference(self, wl: Workload, ops):
        k = "ref:" + wl.key()
        if k not in self._ops:
            self._n += 1
            path = self.dir / f"ref{self._n}.c"
            decl = tunable(wl.kind)
            path.write_text(TIMER + f'#include "{decl.header}"\n' + _bench_fn(wl, "ref", decl.name, scratch=False))
            (so,) = self._compile([str(path)], decl.source)
            f = _bench_symbol(ctypes.CDLL(str(so)), "ref")
            y = np.zeros_like(ops["Y"])
            f(ops["A"].ctypes.data_as(P), ops["B"].ctypes.data_as(P), ops["C"].ctypes.data_as(P),
              y.ctypes.data_as(P), None, ops["R"].ctypes.data_as(P), 1, 1)
            self._ops[k] = y
        return self._ops[k]
