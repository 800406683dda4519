"""Element types: names (numpy's, plus ``bfloat16``), numpy dtypes and sizes.

float16 and bfloat16 are *storage* types: tensors hold 16-bit values; generated code computes with them
in float32 (``runtime_c/include/sdk_half.h`` converts, rounding to nearest even).

The low-bit types (``LOWBIT``: 4- and 2-bit integers, 8- and 4-bit floats, ml_dtypes' names) are held one element a
byte, as ONNX's unpacked form and ml_dtypes arrays hold them: the element's bit pattern in the low bits, the others
zero (int4 -1 is 0x0f). Generated code sees them as ``uint8_t`` bytes; only the ops of ``sdk/ops/lowbit.py`` (Cast,
CastLike, QuantizeLinear, DequantizeLinear) read or write their values, and the importer lets other ops touch them
only where they move bytes unchanged (``LOWBIT_OPS``)."""
from __future__ import annotations

import numpy as np

DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
          "int64", "uint64", "bool")
HALF = ("float16", "bfloat16")
FLOATS = HALF + ("float32", "float64")
LOWBIT_INTS = ("int4", "uint4", "int2", "uint2")
LOWBIT_FLOATS = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
                 "float4_e2m1fn")
LOWBIT = LOWBIT_INTS + LOWBIT_FLOATS
DTYPES = DTYPES + LOWBIT
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
    # low-bit types: one element a byte, its bit pattern in the low bits (see above)
    "float8_e4m3fn": (17, "SDK_F8E4M3FN", "Uint8Array"), "float8_e4m3fnuz": (18, "SDK_F8E4M3FNUZ", "Uint8Array"),
    "float8_e5m2": (19, "SDK_F8E5M2", "Uint8Array"), "float8_e5m2fnuz": (20, "SDK_F8E5M2FNUZ", "Uint8Array"),
    "uint4": (21, "SDK_U4", "Uint8Array"), "int4": (22, "SDK_I4", "Uint8Array"),
    "float4_e2m1fn": (23, "SDK_F4E2M1", "Uint8Array"), "float8_e8m0fnu": (24, "SDK_F8E8M0", "Uint8Array"),
    "uint2": (25, "SDK_U2", "Uint8Array"),
    "int2": (26, "SDK_I2", "Uint8Array"),
}
DTYPE_CODE = {k: v[0] for k, v in TABLE.items()}
CODE_DTYPE = {v: k for k, v in DTYPE_CODE.items()}
DTYPE_ENUM = {k: v[1] for k, v in TABLE.items()}


def js_arrays() -> str:
    """The JS object literal {code: TypedArray} of the wasm loaders."""
    return "{ " + ", ".join(f"{c}: {js}" for c, _, js in sorted(TABLE.values())) + " }"


def np_dtype(name: str) -> np.dtype:
    if name == "bfloat16" or name in LOWBIT:  # (numpy reads "int4" / "uint4" as its 4-byte ints)
        import ml_dtypes  # on first use: its import costs ~1 s of CPU (numpy ufunc loops for its types)
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def dtype_name(dt) -> str:
    """The sdk name of a numpy dtype (``bool`` for np.bool_)."""
    dt = np.dtype(dt)
    return "bool" if dt == np.bool_ else dt.name


def itemsize(name: str) -> int:
    return 1 if name == "bool" else np_dtype(name).itemsize


def compute_type(name: str) -> str:
    """The type arithmetic on ``name`` runs in: half types compute in float32; low-bit types are their bytes."""
    return "float32" if name in HALF else "uint8" if name in LOWBIT else name


def storage_bits(arr: np.ndarray) -> np.ndarray:
    """The array as generated code holds it: half types as their 16-bit patterns, low-bit types as their bytes."""
    name = dtype_name(arr.dtype)
    if name in HALF:
        return arr.view(np.uint16)
    return arr.view(np.uint8) if name in LOWBIT else arr
