"""Scheduled GEMM kernels are generated once per distinct kernel text (sdk/tune/apply.py): a stack of identical
layers (a transformer's 12 layers) calls one C function per shape, not one copy per call; the bundle still matches
onnxruntime, at one thread and two."""
import re

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from sdk.backends.host.runner import HostRunner


def _stack(layers=4, width=48, out=24, seed=0):
    """``layers`` x (MatMul [width, width] + bias + Relu), then a MatMul to ``out`` columns; dynamic rows."""
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    for k in range(layers):
        inits += [nh.from_array((rng.standard_normal((width, width)) / width ** 0.5).astype(np.float32), f"W{k}"),
                  nh.from_array(rng.standard_normal(width).astype(np.float32), f"b{k}")]
        nodes += [h.make_node("MatMul", [x, f"W{k}"], [f"m{k}"]), h.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"]),
                  h.make_node("Relu", [f"a{k}"], [f"r{k}"])]
        x = f"r{k}"
    inits.append(nh.from_array(rng.standard_normal((width, out)).astype(np.float32), "Wo"))
    nodes.append(h.make_node("MatMul", [x, "Wo"], ["y"]))
    g = h.make_graph(nodes, "stack", [h.make_tensor_value_info("x", T.FLOAT, ["rows", width])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["rows", out])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("threads", [1, 2])
def test_identical_layers_share_one_kernel(tmp_path, threads):
    m = _stack()
    b = sdk.compile(m, target="host", dims={"rows": 40})
    out = b.save(tmp_path / "b")
    tuned = (out / "model_tuned.h").read_text()
    defined = re.findall(r"^static void (model_tk\d+)\(", tuned, re.M)
    called = re.findall(r"\b(model_tk\d+)\(", (out / "model.c").read_text())
    assert len(called) == 5, called  # every product is a scheduled kernel call
    assert len(defined) == len(set(defined)) == len(set(called)), (defined, called)  # each defined once, all used
    assert len(defined) < len(called)  # the four identical layers share a kernel
    x = np.random.default_rng(1).standard_normal((37, 48)).astype(np.float32)  # odd rows below the bound
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = b.run({"x": x}, runner=HostRunner(threads=threads), engine="c")["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
