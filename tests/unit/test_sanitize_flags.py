"""The suite's sanitizer flags (conftest.SANITIZE: AddressSanitizer checks as calls into its runtime,
--param=asan-instrumentation-with-call-threshold=0) still catch what the sanitizer tests are there for: a read one
float past a heap buffer in an unrolled loop, a write past a stack array, and a signed overflow, each reported and
fatal (-fno-sanitize-recover=all); the same program without the bad index runs clean."""
import shutil
import subprocess

import pytest

from conftest import SANITIZE

PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static float sum8(const float *restrict x, int n) {  /* 8 loads an iteration, as a register tile's row */
  float s = 0;
  for (int i = 0; i < n; i += 8)
    s += x[i] + x[i + 1] + x[i + 2] + x[i + 3] + x[i + 4] + x[i + 5] + x[i + 6] + x[i + 7];
  return s;
}
/* out of line, so that UBSan cannot see the objects' sizes and the overruns are AddressSanitizer's to find */
__attribute__((noinline)) static float *alloc(int n) { return malloc(sizeof(float) * (size_t)n); }
__attribute__((noinline)) static void put(float *p, int i, float v) { p[i] = v; }
int main(int argc, char **argv) {
  int mode = atoi(argv[1]), n = 64;
  float *x = alloc(n), st[16];
  for (int i = 0; i < n; ++i) x[i] = (float)i;
  memset(st, 0, sizeof st);
  float s = sum8(x, mode == 1 ? n + 8 : n);        /* mode 1: reads 8 floats past the heap buffer */
  put(st, mode == 2 ? 16 : 15, s);                 /* mode 2: writes one float past the stack array */
  int big = argc + (mode == 3 ? 2147483646 : 0);   /* mode 3: signed overflow */
  printf("%g %g %d\n", (double)s, (double)st[15], big);
  free(x);
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_sanitize_flags_catch_overruns_and_overflow(tmp_path):
    (tmp_path / "p.c").write_text(PROG)
    exe = tmp_path / "p"
    subprocess.run(["gcc", *SANITIZE, "-o", str(exe), str(tmp_path / "p.c")], check=True)
    # the checks are calls (no inline shadow test): the float loads and stores go through __asan_load4 / __asan_store4
    syms = subprocess.run(["nm", str(exe)], capture_output=True, text=True).stdout
    assert " U __asan_load4" in syms and " U __asan_store4" in syms, syms
    ok = subprocess.run([str(exe), "0"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.split()[0] == "2016", ok.stdout + ok.stderr
    for mode, report in ((1, "heap-buffer-overflow"), (2, "stack-buffer-overflow"), (3, "signed integer overflow")):
        r = subprocess.run([str(exe), str(mode)], capture_output=True, text=True)
        assert r.returncode != 0 and report in r.stderr, (mode, r.returncode, r.stderr[-2000:])
