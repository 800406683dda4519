"""GEMMs with constant B stored packed at build time (sdk/tune/apply.py prepack_b): shapes that cut the
default schedule's column blocks (nc), row blocks (kc) and register tiles unevenly, a transposed B (Gemm
transB) and one weight read by two products, through the JIT and the gcc-built C path, against
onnxruntime."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import assert_outputs_close, ort_run

RTOL, ATOL = 1e-4, 1e-5


def _model():
    """y1 = relu(x @ W) (K=300, N=1070: three column blocks, two row blocks, a 14-column last panel (a narrow tile));
    y2 = Gemm(x, Wt, transB=1) with Wt = W^T; y3 = x @ W + 1 (W read twice)."""
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((300, 1070)) / np.sqrt(300)).astype(np.float32)
    nodes = [h.make_node("MatMul", ["x", "W"], ["m"]), h.make_node("Relu", ["m"], ["y1"]),
             h.make_node("Gemm", ["x", "Wt"], ["y2"], transB=1),
             h.make_node("MatMul", ["x", "W"], ["m2"]), h.make_node("Add", ["m2", "one"], ["y3"])]
    g = h.make_graph(nodes, "prepack", [h.make_tensor_value_info("x", T.FLOAT, [37, 300])],
                     [h.make_tensor_value_info(n, T.FLOAT, [37, 1070]) for n in ("y1", "y2", "y3")],
                     [nh.from_array(w, "W"), nh.from_array(np.ascontiguousarray(w.T), "Wt"),
                      nh.from_array(np.ones(1, np.float32), "one")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.slow
def test_prepacked_b_matches_onnxruntime_on_both_engines():
    model = _model()
    b = sdk.compile(model)
    packed = [c for c, _ in b.program.consts if c.name.endswith("_packed")]
    assert len(packed) >= 2  # W (MatMul) and Wt (Gemm) at least
    feeds = {"x": np.random.default_rng(0).standard_normal((37, 300)).astype(np.float32)}
    ref = ort_run(model, feeds)
    assert_outputs_close(b.run(feeds), ref, RTOL, ATOL)
    assert_outputs_close(b.run(feeds, engine="c"), ref, RTOL, ATOL)
    # two threads split y1's 23 panels 11 : 12, the second part starting inside a column block of the packed W:
    # the same tiles as one thread, so the same floats
    from sdk.backends.host.runner import HostRunner
    one, two = (b.run_with_info(feeds, runner=HostRunner(threads=t), engine="c")[0] for t in (1, 2))
    assert_outputs_close(two, ref, RTOL, ATOL)
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])
