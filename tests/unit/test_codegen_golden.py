"""Codegen golden files: the generated C of a tiny model (MatMul + Add + Relu + Softmax, symbolic batch) is compared
with the files committed under tests/unit/golden/. A change to the generated C shows up here as a readable diff;
when the change is intended, rewrite the files and review them in the commit:

    SDK_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_codegen_golden.py

Host with the library kernels (no schedule probed from this machine's vector width) and Cortex-M4, so the text is
the same on every machine."""
import difflib
import os
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import sdk

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SDK_UPDATE_GOLDEN") == "1"
CASES = {"host": dict(target="host", schedule_default="library"), "cortex-m4": dict(target="cortex-m4")}


def tiny_mlp():
    """y = Softmax(Relu(x @ W + B)), x: [batch, 4]."""
    w = numpy_helper.from_array(np.array([[0.5, -0.25, 1.0], [0.125, 2.0, -1.5], [-0.75, 0.25, 0.5], [1.0, 0.0, -2.0]],
                                         np.float32), "W")
    b = numpy_helper.from_array(np.array([0.5, -1.0, 0.25], np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"], name="matmul"),
             helper.make_node("Add", ["mm", "B"], ["biased"], name="add"),
             helper.make_node("Relu", ["biased"], ["hidden"], name="relu"),
             helper.make_node("Softmax", ["hidden"], ["y"], name="softmax", axis=-1)]
    graph = helper.make_graph(nodes, "tiny_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("filename", ["model.c", "model.h"])
def test_generated_c_matches_golden(case, filename):
    got = sdk.compile(tiny_mlp(), dims={"batch": 8}, **CASES[case]).sources[filename]
    path = GOLDEN / f"tiny_mlp_{case}_{filename}"
    if UPDATE:
        path.write_text(got)
    if not path.exists():
        pytest.fail(f"{path} is missing: run SDK_UPDATE_GOLDEN=1 python -m pytest {Path(__file__).name}")
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"golden/{path.name}",
                                            f"generated {filename} ({case})", n=2))
        pytest.fail(f"generated C differs from the golden file (SDK_UPDATE_GOLDEN=1 rewrites it if intended):\n"
                    f"{diff[:6000]}", pytrace=False)


def test_golden_is_deterministic():
    """Two compiles in one process give the same text (no ids, addresses or clocks in the output)."""
    a = sdk.compile(tiny_mlp(), dims={"batch": 8}, **CASES["cortex-m4"]).sources
    b = sdk.compile(tiny_mlp(), dims={"batch": 8}, **CASES["cortex-m4"]).sources
    assert a == b
