"""Measure schedules on the host: candidates are compiled in batches (one shared object per batch,
two compilers at once) with the target's flags, loaded with ctypes and timed in-process by a C loop
(best of ``repeat`` means over ``number`` calls, number sized to ~2 ms), on one thread where the profile has
threads (OpenMP fork/join timings on a shared machine are noise; the schedule's tiles are what is searched). Every candidate's output is
checked against the runtime library kernel (tested against onnxruntime) before its time counts.
"""
from __future__ import annotations

import ctypes
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ...kernels import tunable
from ...resources import RUNTIME
from ...tune.harness import kernel_call, operands
from ...tune.kernels import kernel_source
from ...tune.workload import Workload

TIMER = """#define _POSIX_C_SOURCE 199309L
#include <time.h>
#if defined(_OPENMP)
#include <omp.h>
#endif
static double sdk_t_now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
"""
P = ctypes.POINTER(ctypes.c_float)


def _bench_fn(wl: Workload, tag: str, fn: str, scratch: bool) -> str:
    call = kernel_call(wl, fn, scratch)
    return f"""double bench_{tag}(const float *A, const float *B, const float *C, float *Y, float *scratch,
                     long number, long repeat) {{
  (void)C; (void)scratch;
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


def _bench_symbol(dll, tag: str):
    """The ``bench_<tag>`` function of a loaded batch (see ``_bench_fn``)."""
    f = getattr(dll, f"bench_{tag}")
    f.restype = ctypes.c_double
    f.argtypes = [P, P, P, P, P, ctypes.c_long, ctypes.c_long]
    return f


class Measurer:
    """Times candidate schedules of workloads on this machine with ``tgt``'s compiler and flags (the host
    backend's measurer)."""

    unit = "s"

    def __init__(self, tgt, workdir: Optional[str] = None, seed: int = 0, budget_s: float = 0.002,
                 repeat: int = 5, jobs: int = 2):
        self.tgt, self.seed, self.budget_s, self.repeat, self.jobs = tgt, seed, budget_s, repeat, jobs
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="sdk_tune_")
        self.dir = Path(workdir or self._tmp.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self._ops: Dict[str, dict] = {}
        self.errors: List[str] = []

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
            self._ops[k] = operands(wl, np.random.default_rng(self.seed))
        return self._ops[k]

    def measure(self, wl: Workload, schedules: List[Optional[Dict]]) -> List[float]:
        """Seconds per call of each schedule (None: the runtime library kernel); inf if wrong."""
        from ...tune.kernels import scratch_floats
        groups = [list(range(i, len(schedules), self.jobs)) for i in range(self.jobs)]
        groups = [g for g in groups if g]
        files, tags = [], {}
        decl = tunable(wl.kind)
        lib = decl.name
        for g in groups:
            self._n += 1
            parts = [TIMER, f'#include "{decl.header}"\n']
            for i in g:
                s = schedules[i]
                tag = f"c{self._n}_{i}"
                tags[i] = (tag, s)
                if s is None:
                    parts.append(_bench_fn(wl, tag, lib, scratch=False))
                else:
                    name = f"tk_{tag}"
                    parts.append(kernel_source(wl.kind, name, s, wl))
                    parts.append(_bench_fn(wl, tag, name, scratch=True))
            path = self.dir / f"batch{self._n}.c"
            path.write_text("".join(parts))
            files.append((path, g))
        sos = self._compile([f for f, _ in files], decl.source)
        ops = self._operands(wl)
        ref = self._reference(wl, ops)
        times = [float("inf")] * len(schedules)
        for so, (_, g) in zip(sos, files):
            dll = ctypes.CDLL(str(so))
            for i in g:
                tag, s = tags[i]
                f = _bench_symbol(dll, tag)
                scratch = np.zeros(max(scratch_floats(s), 1) if s else 1, np.float32)
                y = np.full_like(ops["Y"], np.nan)
                args = [ops["A"].ctypes.data_as(P), ops["B"].ctypes.data_as(P), ops["C"].ctypes.data_as(P),
                        y.ctypes.data_as(P), scratch.ctypes.data_as(P)]
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
              y.ctypes.data_as(P), None, 1, 1)
            self._ops[k] = y
        return self._ops[k]
