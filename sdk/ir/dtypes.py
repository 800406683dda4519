"""Element types: names (numpy's, plus ``bfloat16``), numpy dtypes and sizes.

float16 and bfloat16 are *storage* types: tensors hold 16-bit values; generated code computes with them
in float32 (``runtime_c/include/sdk_half.h`` converts, rounding to nearest even)."""
from __future__ import annotations

import ml_dtypes
import numpy as np

DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
          "int64", "uint64", "bool")
HALF = ("float16", "bfloat16")
FLOATS = HALF + ("float32", "float64")
INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def np_dtype(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def dtype_name(dt) -> str:
    """The sdk name of a numpy dtype (``bool`` for np.bool_)."""
    dt = np.dtype(dt)
    return "bool" if dt == np.bool_ else dt.name


def itemsize(name: str) -> int:
    return 1 if name == "bool" else np_dtype(name).itemsize


def compute_type(name: str) -> str:
    """The type arithmetic on ``name`` runs in: half types compute in float32."""
    return "float32" if name in HALF else name
