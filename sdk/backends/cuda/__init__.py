"""The CUDA backend: its own renderer (``codegen.py``: kernels, launches, mixed precision on tensor cores, with the
shared host API), an nvcc project (``bundle.py``) and a runner where a GPU is present (``runner.py``)."""
from __future__ import annotations

from ..base import Backend
from .bundle import write_cuda_bundle
from .codegen import generate_cuda
from .runner import CudaRunner


def cuda_sources(prog, plan, name, target, bounds, precision="fp32"):
    """``Backend.codegen``: the CUDA renderer; the profile's ``[lower] fp16_nhwc_convs`` turns on the fp16 NHWC
    convolutions of fp16 builds (``nhwc.py``)."""
    nhwc = bool((target.data.get("lower") or {}).get("fp16_nhwc_convs", False))
    return generate_cuda(prog, plan, name, bounds, precision, nhwc_convs=nhwc)


BACKEND = Backend("cuda", write_bundle=write_cuda_bundle, runner=CudaRunner, codegen=cuda_sources,
                  precisions=("fp32", "fp16", "bf16"))
