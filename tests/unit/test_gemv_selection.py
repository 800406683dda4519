"""Which calls the default schedule hands to the small-M GEMV (sdk/tune/gemv.py), without building anything: up to
8 rows (or output pixels' batch) over a constant weight on a profile with generated schedules; not 9 rows, a weight
that is an input, a padded or multi-pixel convolution, grouped convolutions, or a profile that keeps library calls."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk


def _model(node, ins, out, inits):
    g = h.make_graph([node], "sel", [h.make_tensor_value_info(k, T.FLOAT, s) for k, s in ins.items()],
                     [h.make_tensor_value_info("y", T.FLOAT, out)],
                     [nh.from_array(np.ones(s, np.float32), k) for k, s in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


CASES = [  # (what, model, target, GEMV expected)
    ("one row", _model(h.make_node("MatMul", ["x", "W"], ["y"]), {"x": [1, 8]}, [1, 5], {"W": [8, 5]}), "host", True),
    ("two rows", _model(h.make_node("MatMul", ["x", "W"], ["y"]), {"x": [2, 8]}, [2, 5], {"W": [8, 5]}), "host",
     True),
    ("eight rows", _model(h.make_node("MatMul", ["x", "W"], ["y"]), {"x": [8, 8]}, [8, 5], {"W": [8, 5]}), "host",
     True),
    ("nine rows", _model(h.make_node("MatMul", ["x", "W"], ["y"]), {"x": [9, 8]}, [9, 5], {"W": [8, 5]}), "host",
     False),
    ("1x1 conv, batch 3", _model(h.make_node("Conv", ["x", "W"], ["y"]), {"x": [3, 8, 1, 1]}, [3, 5, 1, 1],
                                 {"W": [5, 8, 1, 1]}), "host", True),
    ("weight is an input", _model(h.make_node("MatMul", ["x", "W"], ["y"]), {"x": [1, 8], "W": [8, 5]}, [1, 5], {}),
     "host", False),
    ("1x1 conv, 1x1 plane", _model(h.make_node("Conv", ["x", "W"], ["y"]), {"x": [1, 8, 1, 1]}, [1, 5, 1, 1],
                                   {"W": [5, 8, 1, 1]}), "host", True),
    ("1x1 conv, 2x2 plane", _model(h.make_node("Conv", ["x", "W"], ["y"]), {"x": [1, 8, 2, 2]}, [1, 5, 2, 2],
                                   {"W": [5, 8, 1, 1]}), "host", False),
    ("3x3 conv padded to one pixel", _model(h.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1]),
                                            {"x": [1, 8, 1, 1]}, [1, 5, 1, 1], {"W": [5, 8, 3, 3]}), "host", False),
    ("grouped conv", _model(h.make_node("Conv", ["x", "W"], ["y"], group=2), {"x": [1, 8, 1, 1]}, [1, 6, 1, 1],
                            {"W": [6, 4, 1, 1]}), "host", False),
    ("library profile", _model(h.make_node("MatMul", ["x", "W"], ["y"]), {"x": [1, 8]}, [1, 5], {"W": [8, 5]}),
     "android-arm64", False),
]


@pytest.mark.parametrize("what,model,target,expected", CASES, ids=[c[0] for c in CASES])
def test_gemv_selection(what, model, target, expected):
    b = sdk.compile(model, target=target)
    fns = [getattr(s, "fn", None) for s in b.program.steps]
    assert ("sdk_gemv_f32" in fns) == expected, (what, fns)
