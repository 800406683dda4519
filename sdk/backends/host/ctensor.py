"""``sdk_tensor`` (runtime_c/include/sdk_runtime.h) for ctypes callers of a bundle built as a shared library: the
benches that time ``<name>_run`` in this process and the tests that call it."""
import ctypes

import numpy as np

from ...ir.dtypes import DTYPE_CODE


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32), ("dims", ctypes.c_int64 * 8)]


def view(a: np.ndarray) -> Tensor:
    """An sdk_tensor over ``a``'s memory (C-contiguous; ``a`` must outlive it)."""
    t = Tensor(a.ctypes.data, a.nbytes, DTYPE_CODE[str(a.dtype)], a.ndim)
    t.dims[:a.ndim] = a.shape
    return t


def start_pool(lib, threads: int = 0) -> bool:
    """Starts the runtime's thread pool (``sdk_pool_start``, host builds; not host-openmp) in storage kept on ``lib``; False if
    ``lib`` has no pool (libgomp builds). ``stop_pool(lib)`` must run before ``lib`` and its storage go: a worker left
    asleep on freed storage that a later pool reuses was woken by that pool (bench/RESULTS_zoo.md, pool43)."""
    try:
        start = lib.sdk_pool_start
    except AttributeError:
        return False
    lib.sdk_pool_size.restype = ctypes.c_size_t
    lib._pool = ctypes.create_string_buffer(lib.sdk_pool_size() + 64)
    if start(lib._pool, threads) != 0:
        raise RuntimeError("sdk_pool_start failed")
    return True


def stop_pool(lib) -> None:
    """Joins the workers ``start_pool`` started in ``lib`` (none: nothing to do)."""
    buf = getattr(lib, "_pool", None)
    if buf is not None:
        if lib.sdk_pool_stop(buf) != 0:
            raise RuntimeError("sdk_pool_stop failed")
        del lib._pool
