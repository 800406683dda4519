"""LSTM / GRU / RNN with sequence_lens (per-row lengths, as tf2onnx / keras masking write them) against onnxruntime:
forward, reverse and bidirectional, the lengths a constant or fed at run time. A row runs its own number of steps
(a reverse direction from its last valid step), keeps its state after them, and its Y is 0 there."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import ort_run

RNG = np.random.default_rng(5)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


@pytest.mark.parametrize("op", sorted(GATES))
@pytest.mark.parametrize("direction,const_lens", [("forward", False), ("reverse", True), ("bidirectional", False),
                                                  ("bidirectional", True)])
def test_sequence_lens(op, direction, const_lens):
    Tn, B, I, H, G = 6, 4, 3, 5, GATES[op]
    D = 2 if direction == "bidirectional" else 1
    lens = np.array([6, 3, 1, 5], np.int32)
    extra = {"linear_before_reset": 1} if op == "GRU" and const_lens else {}
    node = h.make_node(op, ["x", "w", "r", "b", "lens", "h0"], ["y", "yh"], hidden_size=H, direction=direction, **extra)
    inits = [nh.from_array((RNG.standard_normal((D, G * H, I)) * 0.5).astype(np.float32), "w"),
             nh.from_array((RNG.standard_normal((D, G * H, H)) * 0.5).astype(np.float32), "r"),
             nh.from_array((RNG.standard_normal((D, 2 * G * H)) * 0.5).astype(np.float32), "b")]
    ins = [h.make_tensor_value_info("x", T.FLOAT, [Tn, B, I]), h.make_tensor_value_info("h0", T.FLOAT, [D, B, H])]
    if const_lens:
        inits.append(nh.from_array(lens, "lens"))
    else:
        ins.append(h.make_tensor_value_info("lens", T.INT32, [B]))
    g = h.make_graph([node], "g", ins, [h.make_tensor_value_info(o, T.FLOAT, None) for o in ("y", "yh")], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 14)])
    feeds = {"x": RNG.standard_normal((Tn, B, I)).astype(np.float32), "h0": RNG.standard_normal((D, B, H)).astype(np.float32)}
    if not const_lens:
        feeds["lens"] = lens
    ref = ort_run(m, feeds)
    b = sdk.compile(m)
    for engine in ("llvm", "c") if direction == "bidirectional" and not const_lens else ("llvm",):
        got = b.run(feeds, engine=engine)
        for k, r in ref.items():
            np.testing.assert_allclose(got[k], r, rtol=1e-4, atol=1e-5, err_msg=f"{engine} {k}")
