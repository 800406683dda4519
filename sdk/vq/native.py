"""Build the C runtime (runtime_c/src/sdk_vq.c) as a shared library and call it with ctypes.

Used by tests (C vs Python results) and bench/vq_bench.py (query timing). Needs gcc.
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BuildError, FormatError
from ..resources import RUNTIME

_SHIM = '#include "sdk_vq.h"\nsize_t vq_shim_index_size(void) { return sizeof(sdk_vq_index); }\n'
STATUS = {0: "ok", 1: "null argument", 2: "arena too small", 6: "bad format", 7: "checksum mismatch",
          8: "truncated data", 9: "bad argument"}


class Params(ctypes.Structure):
    _fields_ = [("k", ctypes.c_uint32), ("use_tree", ctypes.c_uint32),
                ("nprobe", ctypes.c_uint32), ("budget", ctypes.c_uint32), ("margin", ctypes.c_float)]


def build_library(double=False, opt="-O2", cache_dir=None):
    """Compile sdk_vq.c + sdk_status.c into a cached shared library; returns its path."""
    srcs = [RUNTIME / "src/sdk_vq.c", RUNTIME / "src/sdk_status.c"]
    flags = ["-std=c99", *opt.split(), "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
             f"-I{RUNTIME / 'include'}"] + (["-DSDK_VQ_DOUBLE"] if double else [])
    key = hashlib.sha256(" ".join(flags).encode() + _SHIM.encode()
                         + b"".join(p.read_bytes() for p in srcs)
                         + (RUNTIME / "include/sdk_vq.h").read_bytes()).hexdigest()[:16]
    cache = Path(cache_dir or os.environ.get("SDK_VQ_CACHE", Path(tempfile.gettempdir()) / "sdk_vq_build"))
    cache.mkdir(parents=True, exist_ok=True)
    lib = cache / f"libsdkvq_{key}.so"
    if not lib.exists():
        # per-process names: parallel test workers may build the same key at once (the .so lands by rename)
        shim = cache / f"shim_{key}.{os.getpid()}.c"
        shim.write_text(_SHIM)
        tmp = cache / f"{lib.name}.{os.getpid()}.tmp"
        r = subprocess.run(["gcc", *flags, "-o", str(tmp), *map(str, srcs), str(shim)],
                           capture_output=True, text=True)
        shim.unlink(missing_ok=True)
        if r.returncode:
            raise BuildError(f"gcc failed building the vq runtime:\n{r.stderr}")
        os.replace(tmp, lib)
    return lib


class NativeIndex:
    """An index blob opened by the C runtime (sdk_vq_open); search() runs sdk_vq_search_batch."""

    def __init__(self, blob, double=False, opt="-O2"):
        self.lib = ctypes.CDLL(str(build_library(double, opt)))
        self.lib.vq_shim_index_size.restype = ctypes.c_size_t
        self._blob = np.zeros((len(blob) + 7) // 8, np.uint64)  # 8-byte aligned copy
        self._blob.view(np.uint8)[:len(blob)] = np.frombuffer(blob, np.uint8)
        self._idx = np.zeros((self.lib.vq_shim_index_size() + 7) // 8, np.uint64)
        st = self.lib.sdk_vq_open(self._idx.ctypes.data_as(ctypes.c_void_p),
                                  self._blob.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(len(blob)))
        if st:
            raise FormatError(f"sdk_vq_open: {STATUS.get(st, st)} (status {st})")
        self.dim = int(np.frombuffer(self._blob.tobytes()[16:20], "<u4")[0])

    def search(self, q, k=10, use_tree=False, nprobe=0, budget=0, group=32, margin=0.0):
        """(distances float32 (nq, k), ids int64 with -1 for empty slots), like Index.search.

        group: lookup tables computed for that many queries at a time (sdk_vq_batch_scratch_size);
        1 gives the one-query scratch of sdk_vq_scratch_size. Results do not depend on it.
        margin > 0: adaptive stop (sdk_vq_params.margin; Index.search's margin)."""
        q = np.ascontiguousarray(q, np.float32)
        p = Params(k, int(use_tree), nprobe, budget, margin or 0.0)
        size = ctypes.c_size_t()
        st = self.lib.sdk_vq_batch_scratch_size(self._idx.ctypes.data_as(ctypes.c_void_p), ctypes.byref(p),
                                                ctypes.c_uint32(group), ctypes.byref(size))
        if st:
            raise BuildError(f"sdk_vq_scratch_size: status {st}")
        scratch = np.zeros(max(size.value // 8, 1), np.uint64)
        dist = np.zeros((len(q), k), np.float32)
        ids = np.zeros((len(q), k), np.uint32)
        st = self.lib.sdk_vq_search_batch(
            self._idx.ctypes.data_as(ctypes.c_void_p), q.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_uint32(len(q)), ctypes.byref(p), scratch.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_size_t(size.value), dist.ctypes.data_as(ctypes.c_void_p), ids.ctypes.data_as(ctypes.c_void_p))
        if st:
            raise BuildError(f"sdk_vq_search_batch: status {st}")
        out = ids.astype(np.int64)
        out[ids == 0xFFFFFFFF] = -1
        return dist, out
