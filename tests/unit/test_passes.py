"""Graph passes keep results and do what they say."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

import sdk


@pytest.mark.parametrize("dtype,op", [(np.float32, "Mul"), (np.float32, "Div"), (np.float64, "Mul")])
def test_scalar_folds_into_matmul(dtype, op):
    tp = T.FLOAT if dtype == np.float32 else T.DOUBLE
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 5)).astype(dtype)
    nodes = [h.make_node("MatMul", ["x", "w"], ["y"]), h.make_node(op, ["y", "s"], ["z"]),
             h.make_node("Relu", ["z"], ["out"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", tp, ["n", 8])],
                     [h.make_tensor_value_info("out", tp, ["n", 5])],
                     [nh.from_array(w, "w"), nh.from_array(np.array(0.37, dtype), "s")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    b = sdk.compile(m, dims={"n": 4})
    ops = [x.op for x in b.func.bindings]
    # float32 folds into the library GEMM's alpha; float64 into the loop nest's reduction epilogue
    assert op not in ops and any(x.attrs.get("alpha") for x in b.func.bindings if x.op == "MatMul")
    x = rng.standard_normal((3, 8)).astype(dtype)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    np.testing.assert_allclose(b.run({"x": x})["out"], ref, rtol=1e-5, atol=1e-6)


def test_scale_kept_when_matmul_output_is_reused():
    rng = np.random.default_rng(1)
    nodes = [h.make_node("MatMul", ["x", "w"], ["y"]), h.make_node("Mul", ["y", "s"], ["z"]),
             h.make_node("Add", ["y", "z"], ["out"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2, 4])],
                     [h.make_tensor_value_info("out", T.FLOAT, [2, 3])],
                     [nh.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w"),
                      nh.from_array(np.array(2.0, np.float32), "s")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    b = sdk.compile(m)
    assert "Mul" in [x.op for x in b.func.bindings]  # y has two consumers: folding would change the Add
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(b.run({"x": x})["out"], ReferenceEvaluator(m).run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_passes_keep_every_declared_function_field():
    """Passes build their result with Function.with_bindings (dataclasses.replace): every declared field but the
    bindings carries over — the ONNX input/output names and the opset used to be copied by hand-kept lists."""
    import dataclasses

    from sdk.frontend.onnx import import_onnx
    from sdk.memory.order import reordered
    from sdk.transform.fold_scale import fold_scalar_into_matmul
    w = nh.from_array(np.ones((8, 5), np.float32), "w")
    s = nh.from_array(np.array(0.5, np.float32), "s")
    g = h.make_graph([h.make_node("MatMul", ["input.1", "w"], ["/l/MatMul"]), h.make_node("Mul", ["/l/MatMul", "s"], ["/l/Mul"]),
                      h.make_node("Relu", ["/l/Mul"], ["y.0"])],
                     "g", [h.make_tensor_value_info("input.1", T.FLOAT, ["n", 8])],
                     [h.make_tensor_value_info("y.0", T.FLOAT, ["n", 5])], [w, s])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    f = import_onnx(m, dims={"n": 4})
    assert (f.input_names, f.output_names, f.opset) == (["input.1"], ["y.0"], 17)
    assert f.inputs[0].onnx_name == "input.1" and f.inputs[0].name != "input.1"  # an identifier made from it
    f0 = import_onnx(m, dims={"n": 4})
    before = [(b.op, dict(b.attrs), list(b.outputs)) for b in f0.bindings]
    folded = fold_scalar_into_matmul(f0)
    assert [b.op for b in folded.bindings] == ["MatMul", "Relu"]  # the Mul folded into the MatMul's alpha
    assert folded.bindings[0].attrs["alpha"] == 0.5 and folded.bindings[0].outputs == f0.bindings[1].outputs
    assert [(b.op, dict(b.attrs), list(b.outputs)) for b in f0.bindings] == before  # the pass copies, never edits
    for g2 in (folded, reordered(f, list(f.bindings))):
        for fld in dataclasses.fields(f):
            if fld.name not in ("bindings", "inputs", "outputs"):  # (Values of another import compare by identity)
                assert getattr(g2, fld.name) == getattr(f, fld.name), fld.name


def test_ir_steps_declare_what_passes_set():
    """Attributes set after construction are declared fields (guards of If branches, epilogues, schedules)."""
    import dataclasses

    from sdk.tir.expr import BindDims, Kernel, LibCall, LoopHead, LoopTail
    for cls in (BindDims, Kernel, LibCall, LoopHead, LoopTail):
        assert "guard" in {f.name for f in dataclasses.fields(cls)}, cls.__name__
    assert {"schedule", "workload", "epilogue", "decl"} <= {f.name for f in dataclasses.fields(LibCall)}


def test_dims_by_onnx_spelling():
    """A bound may name its dim as the ONNX model spells it ('batch.size', 'seq-len') or by the IR symbol made of
    it ('batch_size'); 'seq-len' bounded by name is one dim, not the expression 'seq - len'."""
    from conftest import ort_run
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    for spelled in ("batch.size", "seq-len"):
        g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
                         [h.make_tensor_value_info("x", T.FLOAT, [spelled, 4])],
                         [h.make_tensor_value_info("y", T.FLOAT, [spelled, 4])])
        m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
        ref = ort_run(m, {"x": x})["y"]
        for key in (spelled, spelled.replace(".", "_").replace("-", "_")):
            b = sdk.compile(m, dims={key: 8})
            assert b.bounds == {spelled.replace(".", "_").replace("-", "_"): 8}
            np.testing.assert_array_equal(b.run({"x": x})["y"], ref)  # Relu: exact


def _undeclared_attributes(root):
    """(class name, attribute) for every attribute of a dataclass instance reachable from ``root`` that is not
    one of the class's declared fields: what a pass bolted on after construction."""
    import dataclasses
    seen, found, todo = set(), set(), [root]
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, (str, bytes, int, float, np.ndarray, np.generic)) or o is None:
            continue
        seen.add(id(o))
        if isinstance(o, dict):
            todo += list(o.keys()) + list(o.values())
        elif isinstance(o, (list, tuple, set)):
            todo += list(o)
        elif dataclasses.is_dataclass(o) and not isinstance(o, type):
            names = {f.name for f in dataclasses.fields(o)}
            found |= {(type(o).__name__, a) for a in getattr(o, "__dict__", {}) if a not in names}
            todo += [getattr(o, n) for n in names]
    return found


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_compiled_ir_has_only_declared_attributes(quantize):
    """After every pass (import, fold, quantize, lowering, epilogue fusion, memory order), each IR object
    (Function, Binding, Value, Program, Kernel, LibCall, Buffer, ...) holds only its declared fields."""
    rng = np.random.default_rng(3)
    w = nh.from_array(rng.standard_normal((8, 5)).astype(np.float32), "w")
    b = nh.from_array(rng.standard_normal(5).astype(np.float32), "b")
    g = h.make_graph([h.make_node("MatMul", ["input.1", "w"], ["/l/MatMul"]), h.make_node("Add", ["/l/MatMul", "b"], ["/l/Add"]),
                      h.make_node("Relu", ["/l/Add"], ["y.0"])],
                     "g", [h.make_tensor_value_info("input.1", T.FLOAT, ["n", 8])],
                     [h.make_tensor_value_info("y.0", T.FLOAT, ["n", 5])], [w, b])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    calib = {"input.1": rng.standard_normal((4, 8)).astype(np.float32)} if quantize else None
    bundle = sdk.compile(m, dims={"n": 4}, quantize=quantize, calibration=calib)
    assert _undeclared_attributes([bundle.func, bundle.program, bundle.plan]) == set()
    assert {k for k in vars(bundle) if not k.startswith("_")} <= {
        "name", "func", "program", "plan", "sources", "target", "bounds", "file_order_plan", "budget", "quant",
        "precision", "path", "engine", "generation", "tokenizer", "training", "encoder"}  # Bundle sets every attribute in __init__


def test_core_ir_classes_refuse_undeclared_attributes():
    """Function, Binding, Value, RuntimeSym, Program, Kernel and LibCall are slotted dataclasses: a pass that
    bolts an undeclared attribute on fails at once instead of passing data around the declared fields."""
    from sdk.ir.graph import Binding, Function, RuntimeSym, TensorType, Value
    from sdk.tir.expr import Kernel, LibCall
    from sdk.transform.lower_to_tir import Program
    v = Value("x", TensorType((2,), "float32"))
    f = Function("f", [v], [v], [])
    for o in (v, Binding("Relu", [v], [v]), f, RuntimeSym("n", None, "NonZero"), Program(f),
              Kernel("k", None, [], []), LibCall("sdk_f", [])):
        with pytest.raises(AttributeError):
            o.not_a_field = 1
