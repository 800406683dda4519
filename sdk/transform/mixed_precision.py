"""Mixed precision for GPU bundles: which steps compute in 16 bits.

Policy (AMP-style allow list): matrix products (the GEMM library calls: MatMul, Gemm, attention's batched
products) and convolutions (implicit GEMMs) run on fp16/bf16 tensor cores with fp32 accumulation; everything
numerically sensitive — softmax, layer norm, every reduction, exp/erf and all element-wise kernels — stays in fp32.
Activation storage stays fp32, so the memory plan is the same for every precision; operands are rounded to 16 bits
while they are staged in shared memory by the GEMM/convolution kernel, except that CUDA fp16 builds store the
weights of GEMMs as fp16 and round A into a scratch once (``sdk/backends/cuda/linear.py``)."""
from __future__ import annotations

from typing import Dict

from ..errors import SdkError
from ..tir.expr import LibCall

PRECISIONS = ("fp32", "fp16", "bf16")


def assign_precision(prog, precision: str) -> Dict[int, str]:
    """{id(step): "fp32" | "fp16" | "bf16"} for every step of a lowered program: library calls whose declaration
    allows tensor cores (``LibKernel.tensor_cores``, ``sdk/kernels/library.py``) get ``precision``."""
    if precision not in PRECISIONS:
        raise SdkError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    return {id(s): precision if isinstance(s, LibCall) and s.decl is not None and s.decl.tensor_cores else "fp32"
            for s in prog.steps}
