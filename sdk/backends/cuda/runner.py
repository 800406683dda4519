"""Build and run a CUDA bundle with nvcc on this machine's GPU. Without a GPU it fails with one clear line."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...errors import SdkError
from ..host.runner import HostRunner


def gpu_present() -> bool:
    """True when the NVIDIA driver lists at least one GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        r = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and "GPU" in r.stdout


class NoGpuError(SdkError):
    pass


class CudaRunner(HostRunner):
    """``make`` with the bundle's nvcc Makefile, then the demo program (CUDA events time each run)."""

    def run(self, out: Path, inputs: dict, arena=None, repeat=1, rebuild=False):
        if not gpu_present():
            raise NoGpuError(f"{out}: this CUDA bundle needs an NVIDIA GPU, and none was found on this machine "
                             "(nvidia-smi lists none); build it here, run it where a GPU is")
        if shutil.which("nvcc") is None:
            raise SdkError(f"{out}: nvcc not found on PATH (install the CUDA toolkit to build this bundle)")
        return super().run(out, inputs, arena=arena, repeat=repeat, rebuild=rebuild)
