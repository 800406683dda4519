"""The runtime core every bundle links fits in 4 KB of Cortex-M4 text."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = ["sdk_status.c", "sdk_runtime.c"]


def test_runtime_core_under_4kb_on_cortex_m4(tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc missing: run 'make setup' (installs gcc-arm-none-eabi)")
    objs = []
    for c in CORE:
        o = tmp_path / c.replace(".c", ".o")
        subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra",
                        "-Werror", "-ffunction-sections", "-I", os.path.join(ROOT, "runtime_c", "include"), "-c",
                        os.path.join(ROOT, "runtime_c", "src", c), "-o", str(o)], check=True)
        objs.append(str(o))
    out = subprocess.run(["arm-none-eabi-size", "-t"] + objs, check=True, capture_output=True, text=True).stdout
    total = out.strip().splitlines()[-1].split()
    text, data, bss = int(total[0]), int(total[1]), int(total[2])
    assert text <= 4096, out
    assert data == 0 and bss == 0, "the runtime must not own mutable state:\n" + out
