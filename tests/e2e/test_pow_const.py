"""Pow with a constant exponent of 2 or 3 (GPT-2's GELU: x^3) is lowered to multiplications, which vectorise (a
powf call per element does not); other exponents keep pow. Both against onnxruntime, negative bases included."""
import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import assert_outputs_close, ort_run
from sdk.backends.host.runner import HostRunner


def test_pow_by_a_small_integer_is_multiplication(tmp_path):
    nodes = [h.make_node("Pow", ["x", "two"], ["y2"]), h.make_node("Pow", ["x", "three"], ["y3"]),
             h.make_node("Abs", ["x"], ["ax"]), h.make_node("Pow", ["ax", "half"], ["yh"])]
    inits = [nh.from_array(np.array(v, np.float32), k) for k, v in (("two", 2.0), ("three", 3.0), ("half", 0.5))]
    g = h.make_graph(nodes, "pow", [h.make_tensor_value_info("x", T.FLOAT, [3, 37])],
                     [h.make_tensor_value_info(k, T.FLOAT, [3, 37]) for k in ("y2", "y3", "yh")], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    b = sdk.compile(m, name="powc")
    src = b.sources["powc.c"]
    assert src.count("powf(") == 1  # the square root's only
    x = {"x": (np.random.default_rng(3).standard_normal((3, 37)) * 3).astype(np.float32)}
    got, _ = HostRunner(cflags="-O0 -std=c99 -Wall -Wextra -Werror").run(b.save(tmp_path / "powc"), x)
    assert_outputs_close(got, ort_run(m, x), rtol=1e-6, atol=1e-6)
