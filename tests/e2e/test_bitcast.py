"""BitCast (opset 26) against numpy's ``view`` on random bits (NaN payloads, infinities, -0, denormals), inlined
into neighbouring element-wise ops, through the JIT and the C demo program."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk

RNG = np.random.default_rng(26)


@pytest.mark.parametrize("src,dst", [(np.float32, np.int32), (np.float64, np.uint64), (np.int16, np.uint16)])
def test_bitcast_round_trip(src, dst):
    s, d = h.np_dtype_to_tensor_dtype(np.dtype(src)), h.np_dtype_to_tensor_dtype(np.dtype(dst))
    nodes = [h.make_node("BitCast", ["x"], ["bits"], to=d), h.make_node("Add", ["bits", "one"], ["y"]),
             h.make_node("BitCast", ["y"], ["back"], to=s)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", s, [64])],
                     [h.make_tensor_value_info("y", d, None), h.make_tensor_value_info("back", s, None)],
                     [h.make_tensor(name="one", data_type=d, dims=[], vals=[1])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 26)])
    raw = RNG.integers(0, 256, 64 * np.dtype(src).itemsize, dtype=np.uint8)
    x = raw.view(src).copy()
    if np.dtype(src).kind == "f":
        x[:6] = [np.nan, np.inf, -np.inf, -0.0, np.finfo(src).tiny / 4, 1.0]
    y = (x.view(dst) + dst(1)).astype(dst)
    b = sdk.compile(m)
    for engine in ("llvm", "c"):
        got = b.run({"x": x}, engine=engine)
        np.testing.assert_array_equal(got["y"], y, err_msg=engine)
        np.testing.assert_array_equal(got["back"].view(dst), y, err_msg=engine)


def test_bitcast_of_half_refused():
    g = h.make_graph([h.make_node("BitCast", ["x"], ["y"], to=T.INT16)], "g",
                     [h.make_tensor_value_info("x", T.FLOAT16, [4])], [h.make_tensor_value_info("y", T.INT16, None)])
    with pytest.raises(sdk.errors.UnsupportedOp, match="float16 to int16"):
        sdk.compile(h.make_model(g, opset_imports=[h.make_opsetid("", 26)]))
