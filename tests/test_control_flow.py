"""Control flow compiled to C: If (branches as guarded steps), Loop and Scan (a C loop over the body's steps,
carried values in planned slots), compared with onnxruntime on onnx.helper-built models."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from sdk.errors import BuildError
from test_runtime_dims import RNG, check, model


def graph(name, nodes, inputs, outputs, inits=()):
    return h.make_graph(nodes, name, [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                        [h.make_tensor_value_info(n, t, None) for n, t in outputs], list(inits))


def test_if_both_branches_taken():
    then_g = graph("then", [h.make_node("Mul", ["x", "x"], ["t0"]), h.make_node("Relu", ["t0"], ["t"])], [],
                   [("t", T.FLOAT)])
    else_g = graph("else", [h.make_node("Neg", ["x"], ["e"])], [], [("e", T.FLOAT)])
    m = model([h.make_node("ReduceSum", ["x"], ["s"], keepdims=0), h.make_node("Greater", ["s", "zero"], ["c"]),
               h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
               h.make_node("Add", ["y", "x"], ["z"])],
              [("x", T.FLOAT, ["n", 4])], [("z", T.FLOAT)], [h.make_tensor("zero", T.FLOAT, [], [0.0])], opset=13)
    b = sdk.compile(m, dims={"n": 5})
    for n, shift in ((3, 1.0), (5, -1.0), (1, 2.0), (2, -3.0)):
        check(b, m, {"x": RNG.standard_normal((n, 4)).astype(np.float32) + shift})


def test_if_branches_of_different_shapes_give_a_runtime_dim():
    then_g = graph("then", [h.make_node("Slice", ["x", "st", "en"], ["t"])], [], [("t", T.FLOAT)],
                   [h.make_tensor("st", T.INT64, [1], [0]), h.make_tensor("en", T.INT64, [1], [2])])
    else_g = graph("else", [h.make_node("Neg", ["x"], ["e"])], [], [("e", T.FLOAT)])
    m = model([h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
              [("x", T.FLOAT, [6, 3]), ("c", T.BOOL, [])], [("y", T.FLOAT)])
    b = sdk.compile(m)
    assert "y_dim0" in b.func.runtime_syms
    for c in (True, False):
        check(b, m, {"x": RNG.standard_normal((6, 3)).astype(np.float32), "c": np.array(c)})
