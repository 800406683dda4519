"""The tensor file format read and written by bundle demo programs (``.sdkt``):
"SDKT", u32 version (1), i32 dtype code, i32 rank, i64 dims[rank], raw little-endian data
(float16 and bfloat16 as their 16-bit patterns, the low-bit types of sdk/ir/dtypes.py one byte an element)."""
from __future__ import annotations

import struct

import numpy as np

from .errors import FormatError
from .ir.dtypes import CODE_DTYPE, DTYPE_CODE, dtype_name, np_dtype, storage_bits


def write_tensor(path, arr: np.ndarray):
    arr = np.asarray(arr)
    name = dtype_name(arr.dtype)
    if name not in DTYPE_CODE:
        raise FormatError(f"dtype {arr.dtype} cannot be written to a tensor file")
    with open(path, "wb") as f:
        f.write(b"SDKT" + struct.pack("<Iii", 1, DTYPE_CODE[name], arr.ndim))
        f.write(struct.pack(f"<{arr.ndim}q", *arr.shape))
        bits = storage_bits(arr)
        f.write(np.ascontiguousarray(bits).astype(bits.dtype.newbyteorder("<"), copy=False).tobytes())


def read_tensor(path) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    return parse_tensor(data, str(path))


def parse_tensor(data: bytes, name: str = "tensor") -> np.ndarray:
    """The array in a tensor file's bytes; FormatError for anything malformed (fuzzed: bench/fuzz.py)."""
    if len(data) < 16 or data[:4] != b"SDKT":
        raise FormatError(f"{name}: not a tensor file")
    version, code, rank = struct.unpack_from("<Iii", data, 4)
    if version != 1 or code not in CODE_DTYPE or not 0 <= rank <= 8:
        raise FormatError(f"{name}: unsupported tensor file (version {version}, dtype {code}, rank {rank})")
    off = 16 + 8 * rank
    if len(data) < off:
        raise FormatError(f"{name}: truncated tensor file (header)")
    dims = struct.unpack_from(f"<{rank}q", data, 16)
    if any(d < 0 for d in dims):
        raise FormatError(f"{name}: negative dim in {list(dims)}")
    dt = np_dtype(CODE_DTYPE[code])
    dt = dt if dt.itemsize == 1 else dt.newbyteorder("<")
    n = 1
    for d in dims:  # Python ints: no overflow; compared with the bytes present before any allocation
        n *= d
    big = 1
    for d in dims:
        big *= max(d, 1)
    if big * dt.itemsize >= 2**62:  # numpy cannot even describe such an array (a zero dim makes it empty)
        raise FormatError(f"{name}: dims {list(dims)} are too large")
    if len(data) < off + n * dt.itemsize:
        raise FormatError(f"{name}: truncated tensor file (dims {list(dims)} need {n * dt.itemsize} bytes)")
    return np.frombuffer(data, dt, n, off).reshape(dims).astype(dt.newbyteorder("="))
