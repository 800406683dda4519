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
