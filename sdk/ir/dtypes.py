"""Element types: names (numpy's, plus ``bfloat16``), numpy dtypes and sizes.

float16 and bfloat16 are *storage* types: tensors hold 16-bit values; generated code computes with them
in float32 (``runtime_c/include/sdk_half.h`` converts, rounding to nearest even)."""
from __future__ import annotations

import numpy as np

DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
          "int64", "uint64", "bool")
HALF = ("float16", "bfloat16")
FLOATS = HALF + ("float32", "float64")
INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")

# The one dtype table: name -> (code, C enum name, JavaScript typed array). The code is ONNX's TensorProto data type;
# the runtime's sdk_dtype enum (runtime_c/include/sdk_runtime.h), tensor files (.sdkt), the serial protocol and the
# wasm JS API all use it. The JS maps are generated from this table; tests/unit/test_dtypes.py checks the C enum.
TABLE = {
    "float32": (1, "SDK_F32", "Float32Array"), "uint8": (2, "SDK_U8", "Uint8Array"),
    "int8": (3, "SDK_I8", "Int8Array"), "uint16": (4, "SDK_U16", "Uint16Array"),
    "int16": (5, "SDK_I16", "Int16Array"), "int32": (6, "SDK_I32", "Int32Array"),
    "int64": (7, "SDK_I64", "BigInt64Array"), "bool": (9, "SDK_BOOL", "Uint8Array"),
    "float16": (10, "SDK_F16", "Uint16Array"), "float64": (11, "SDK_F64", "Float64Array"),  # half types: 16-bit patterns
    "uint32": (12, "SDK_U32", "Uint32Array"), "uint64": (13, "SDK_U64", "BigUint64Array"),
    "bfloat16": (16, "SDK_BF16", "Uint16Array"),
}
DTYPE_CODE = {k: v[0] for k, v in TABLE.items()}
CODE_DTYPE = {v: k for k, v in DTYPE_CODE.items()}
DTYPE_ENUM = {k: v[1] for k, v in TABLE.items()}


def js_arrays() -> str:
    """The JS object literal {code: TypedArray} of the wasm loaders."""
    return "{ " + ", ".join(f"{c}: {js}" for c, _, js in sorted(TABLE.values())) + " }"


def np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes  # on first use: its import costs ~1 s of CPU (numpy ufunc loops for its types)
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def dtype_name(dt) -> str:
    """The sdk name of a numpy dtype (``bool`` for np.bool_)."""
    dt = np.dtype(dt)
    return "bool" if dt == np.bool_ else dt.name


def itemsize(name: str) -> int:
    return 1 if name == "bool" else np_dtype(name).itemsize


def compute_type(name: str) -> str:
    """The type arithmetic on ``name`` runs in: half types compute in float32."""
    return "float32" if name in HALF else name
