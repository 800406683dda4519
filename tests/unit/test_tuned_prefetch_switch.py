"""The generated kernels' L2 prefetch of the next weight panel (``SDK_TUNED_PREFETCH`` in ``sdk/tune/kernels.py``'s
prelude) is an instruction on x86 and nothing with ``-DSDK_TUNED_NO_PREFETCH`` (the switch bench/steps_ab.py's
``--cflags-b`` uses to measure what the prefetch is worth in a model, one tree on both sides)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from sdk.tune.kernels import PRELUDE

ROOT = Path(__file__).resolve().parents[2]
SRC = PRELUDE + """
float sum_panel(const float *b, long n, unsigned long pfa, unsigned long pfs) {
  float s = 0.0f;
  for (long k = 0; k < n; ++k) {
    SDK_TUNED_PREFETCH(pfa + (unsigned long)k * pfs);
    s += b[k];
  }
  return s;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None or subprocess.run(["gcc", "-dumpmachine"], capture_output=True,
                    text=True).stdout.split("-")[0] != "x86_64", reason="x86-64 gcc only")
@pytest.mark.parametrize("flags, want", [([], True), (["-DSDK_TUNED_NO_PREFETCH"], False)])
def test_no_prefetch_switch_removes_the_instruction(tmp_path, flags, want):
    (tmp_path / "k.c").write_text(SRC)
    asm = subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, "-I",
                          str(ROOT / "runtime_c" / "include"), "-S", "-o", "-", "k.c"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert ("prefetcht1" in asm) == want
