"""Where the package's data folders are: ``runtime_c/``, ``targets/`` and ``templates/``.

They live at the top level of the repository (the design card fixes that layout); ``pyproject.toml`` maps them into
the wheel as ``sdk/_data/<name>``. A wheel or ``pip install .`` finds them there; a source checkout or an editable
install finds them next to the ``sdk`` folder."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import SdkError

DATA = ("runtime_c", "targets", "templates")


def data_dir(name: str) -> Path:
    """The folder ``name`` (one of ``DATA``) of this installation."""
    installed = Path(str(resources.files("sdk"))) / "_data" / name
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise SdkError(f"this sdk installation has no '{name}' folder (looked in {installed} and {checkout}): "
                   "reinstall it (pip install .)")


RUNTIME = data_dir("runtime_c")
TARGETS_DIR = data_dir("targets")
TEMPLATES = data_dir("templates")

# The GPU runtime (runtime_c/cuda) as a CUDA bundle carries it, one object per source: the library kernels (GEMMs,
# convolutions, pooling, epilogue; the implicit GEMM a file of its own, since its build options are the ones that
# differ between configurations, so the other objects are shared), the fused attention, and the headers they
# include. Every consumer of the runtime's CUDA files (the bundle writer, tests/cuda_objects.py, bench/gpu.py,
# bench/igemm_gpu.py, bench/gpu_torch_zoo.py) takes the lists from here.
GPU_LIBRARY = ["sdk_cuda_kernels.cu", "sdk_cuda_igemm.cu"]
GPU_RUNTIME = GPU_LIBRARY + ["sdk_cuda_attention.cu"]
GPU_HEADERS = ["sdk_cuda.h", "sdk_cuda_device.h"]
