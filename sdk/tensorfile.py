"""The tensor file format read and written by bundle demo programs (``.sdkt``):
"SDKT", u32 version (1), i32 dtype code, i32 rank, i64 dims[rank], raw little-endian data."""
from __future__ import annotations

import struct

import numpy as np

from .codegen.c import DTYPE_CODE
from .errors import FormatError

CODE_DTYPE = {v: k for k, v in DTYPE_CODE.items()}


def write_tensor(path, arr: np.ndarray):
    arr = np.asarray(arr)
    name = "bool" if arr.dtype == np.bool_ else arr.dtype.name
    if name not in DTYPE_CODE:
        raise FormatError(f"dtype {arr.dtype} cannot be written to a tensor file")
    with open(path, "wb") as f:
        f.write(b"SDKT" + struct.pack("<Iii", 1, DTYPE_CODE[name], arr.ndim))
        f.write(struct.pack(f"<{arr.ndim}q", *arr.shape))
        f.write(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())


def read_tensor(path) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or data[:4] != b"SDKT":
        raise FormatError(f"{path}: not a tensor file")
    version, code, rank = struct.unpack_from("<Iii", data, 4)
    if version != 1 or code not in CODE_DTYPE or not 0 <= rank <= 8:
        raise FormatError(f"{path}: unsupported tensor file (version {version}, dtype {code}, rank {rank})")
    dims = struct.unpack_from(f"<{rank}q", data, 16)
    dt = np.dtype(CODE_DTYPE[code]).newbyteorder("<")
    off = 16 + 8 * rank
    n = int(np.prod(dims)) if dims else 1
    if len(data) < off + n * dt.itemsize:
        raise FormatError(f"{path}: truncated tensor file")
    return np.frombuffer(data, dt, n, off).reshape(dims).astype(dt.newbyteorder("="))
