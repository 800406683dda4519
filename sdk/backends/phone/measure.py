"""The phone backend's measurer: schedules for an ARM64 target, measured through its runner's emulator. Candidates
are cross-compiled into one static harness per batch, and each is run under qemu-aarch64 with the runner's
instruction-counting plugin. Cost = guest instructions per call, from two runs (1 and 3 calls: the difference
removes start-up, operand set-up and the check), deterministic unlike time under emulation. The harness compares
every candidate's output with the runtime library kernel (same binary) and reports a mismatch as an infinite cost.
"""
from __future__ import annotations

import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

from ...errors import BuildError
from ...kernels import tunable
from ...resources import RUNTIME
from ...tune.harness import kernel_call, operand_sizes
from ...tune.kernels import kernel_source, scratch_floats
from ...tune.workload import Workload
from .flags import compile_flags
from .runner import INSTALL_HINT, insn_plugin

HARNESS = """
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "HEADER"
static void fill(float *p, long n, unsigned s) {
  for (long i = 0; i < n; ++i) { s = s * 1664525u + 1013904223u; p[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f; }
}
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const int which = atoi(argv[1]);
  const long reps = atol(argv[2]);
  float *A = calloc(NA, 4), *B = calloc(NB, 4), *C = calloc(NC, 4), *Y = calloc(NY, 4), *R = calloc(NY, 4);
  float *scratch = calloc(NS, 4);
  if (!A || !B || !C || !Y || !R || !scratch) return 3;
  fill(A, NA, SEED + 1u); fill(B, NB, SEED + 2u); fill(C, NC, SEED + 3u);
  { float *Yt = Y; Y = R; LIBCALL Y = Yt; }
  for (long r = 0; r < reps; ++r) {
    switch (which) {
CASES
      default: return 4;
    }
  }
  double err = 0, mag = 1;
  for (long i = 0; i < NY; ++i) {
    const double d = fabs((double)Y[i] - R[i]);
    err = d > err || d != d ? d : err;
    mag = fabs(R[i]) > mag ? fabs(R[i]) : mag;
  }
  printf("%s %g\\n", err <= 1e-4 * mag ? "ok" : "bad", err);
  return 0;
}
"""


class Arm64Measurer:
    """Cost of candidate schedules in guest instructions per call under qemu-aarch64."""

    unit = "insn"

    def __init__(self, tgt, workdir: Optional[str] = None, seed: int = 0, jobs: int = 2):
        """``seed`` picks the operands the harness fills (a fixed LCG in C, same on every run)."""
        self.tgt, self.seed, self.jobs = tgt, seed, jobs
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="sdk_tune_arm64_")
        self.dir = Path(workdir or self._tmp.name)
        self._n = 0
        self.errors: List[str] = []
        emu = tgt.data.get("emulator", {})
        self.qemu = [emu.get("qemu", "qemu-aarch64"), "-L", emu.get("sysroot", "/usr/aarch64-linux-gnu")] + \
            (["-cpu", emu["cpu"]] if emu.get("cpu") else [])

    def _flags(self):
        return [f for f in compile_flags(self.tgt) if f not in ("-Wall", "-Wextra", "-Werror")]

    def _library_object(self, source: str) -> Path:
        """The runtime source of the library kernels (reference and untuned baseline), cross-compiled once per
        measurer, not once per batch (sdk_kernels.c: ~12 s of aarch64 gcc -O3 each time); as the host measurer."""
        obj = self.dir / (Path(source).stem + ".o")
        if not obj.exists():
            try:
                r = subprocess.run([self.tgt.cc, *self._flags(), "-c", f"-I{RUNTIME / 'include'}",
                                    str(RUNTIME / "src" / source), "-o", str(obj)], capture_output=True, text=True)
            except FileNotFoundError:
                raise BuildError(f"{self.tgt.cc} not found: {INSTALL_HINT}") from None
            if r.returncode != 0:
                raise RuntimeError(f"runtime kernels build failed:\n{r.stderr[-2000:]}")
        return obj

    def _run(self, exe: Path, which: int, reps: int):
        r = subprocess.run(self.qemu + ["-plugin", str(insn_plugin()), str(exe), str(which), str(reps)],
                           capture_output=True, text=True, timeout=600)
        insn = next((int(ln.split()[1]) for ln in r.stderr.splitlines() if ln.startswith("sdk_instructions ")), None)
        return r.stdout.strip(), insn, r.returncode

    def measure(self, wl: Workload, schedules: List[Optional[Dict]]) -> List[float]:
        decl = tunable(wl.kind)
        lib = decl.name
        n = operand_sizes(wl)
        ns = max([scratch_floats(s) for s in schedules if s] + [1])
        self._n += 1
        parts, cases = [], []
        for i, s in enumerate(schedules):
            if s is None:
                cases.append(f"      case {i}: {kernel_call(wl, lib, False)} break;")
            else:
                name = f"tk_{self._n}_{i}"
                parts.append(kernel_source(wl.kind, name, s, wl))
                cases.append(f"      case {i}: {kernel_call(wl, name, True)} break;")
        harness = HARNESS.replace("CASES", "\n".join(cases)).replace("LIBCALL", kernel_call(wl, lib, False))
        src = "".join(parts) + harness.replace("HEADER", decl.header)
        defs = "".join(f"#define N{k} {v}L\n" for k, v in n.items()) + f"#define NS {ns}L\n#define SEED {self.seed}u\n"
        c = self.dir / f"arm64_batch{self._n}.c"
        c.write_text(defs + src)
        exe = c.with_suffix("")
        lib_obj = self._library_object(decl.source)
        r = subprocess.run([self.tgt.cc, *self._flags(), f"-I{RUNTIME / 'include'}", str(c), str(lib_obj), "-o",
                            str(exe), *self.tgt.ldlibs], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"tuning candidate build failed:\n{r.stderr[-2000:]}")

        def one(i):
            out1, n1, rc1 = self._run(exe, i, 1)
            out3, n3, rc3 = self._run(exe, i, 3)
            if rc1 or rc3 or n1 is None or n3 is None:
                self.errors.append(f"{wl}: schedule {schedules[i]} failed under qemu (exit {rc1 or rc3})")
                return float("inf")
            if not out1.startswith("ok") or not out3.startswith("ok"):
                self.errors.append(f"{wl}: schedule {schedules[i]} gives wrong results ({out1})")
                return float("inf")
            return max((n3 - n1) / 2.0, 1.0)
        with ThreadPoolExecutor(self.jobs) as ex:
            return list(ex.map(one, range(len(schedules))))
