"""Max pooling by rows (``pool_max_rows`` in sdk_kernels.c): padded windows on planes too large for the padded stack
copy, against a numpy reference (the ONNX definition: padding never wins, a NaN in the window gives NaN), ceil mode,
asymmetric pads, strides 1-3, one and two threads."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from sdk.backends.host.runner import HostRunner

# (C, H, W, kernel, stride, pads (t, l, b, r), ceil_mode)
CASES = [(3, 112, 112, 3, 2, (1, 1, 1, 1), 0), (2, 67, 71, 3, 1, (1, 0, 2, 1), 0), (2, 90, 91, 2, 2, (0, 1, 1, 0), 1),
         (2, 70, 66, 5, 3, (2, 2, 2, 2), 1)]


def _ref(x, k, s, pads, oh, ow):
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b + k * s), (l, r + k * s)), constant_values=-np.inf)
    out = np.empty(x.shape[:2] + (oh, ow), np.float32)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = np.max(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return out


@pytest.mark.parametrize("case", CASES)
def test_padded_max_pool_on_large_planes(case):
    C, H, W, k, s, pads, ceil = case
    g = h.make_graph([h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=list(pads),
                                  ceil_mode=ceil)], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [2, C, H, W])], [h.make_tensor_value_info("y", T.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    x.reshape(-1)[::997] = np.nan
    x.reshape(-1)[5::1009] = np.inf
    x.reshape(-1)[9::1013] = -np.inf
    b = sdk.compile(m)
    for threads in (1, 2):
        y = b.run({"x": x}, runner=HostRunner(threads=threads), engine="c")
        y = y["y"] if isinstance(y, dict) else y[0]
        want = _ref(x, k, s, pads, y.shape[2], y.shape[3])
        assert y.shape == want.shape
        np.testing.assert_array_equal(y, want)
