"""The exact GELU spelled out as exporters write it becomes one ``Gelu`` (sdk/transform/fuse_gelu.py); results match
onnxruntime on random inputs, on one and two threads, in the C bundle and the in-process engine; chains that are
not a GELU (another constant, an intermediate read twice) stay as they are. Also sdk_erff's accuracy against
onnxruntime's Erf over a wide range."""
import math

import numpy as np
import onnx.helper as h
import onnx.numpy_helper as nh
import pytest
from onnx import TensorProto as T

import sdk
from conftest import ort_run
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-5, 2e-6
R2 = np.float32(math.sqrt(2.0))


def _c(name, v):
    return nh.from_array(np.array(v, np.float32), name)


def _model(form, half=0.5, root=R2, extra_reader=False):
    """MatMul -> the GELU chain in one of the exporters' forms (the product of x, 0.5 and 1 + erf in some order)."""
    rng = np.random.default_rng(1)
    w = nh.from_array(rng.standard_normal((24, 40)).astype(np.float32) * 0.4, "w")
    nodes = [h.make_node("MatMul", ["x", "w"], ["m"])]
    if form == "mul_inv":
        nodes.append(h.make_node("Mul", ["m", "inv"], ["d"]))
    else:
        nodes.append(h.make_node("Div", ["m", "root"], ["d"]))
    nodes += [h.make_node("Erf", ["d"], ["e"]), h.make_node("Add", ["one", "e"] if form == "add_swapped" else ["e", "one"], ["a"])]
    if form in ("torch", "mul_inv", "add_swapped"):  # (x * (1 + erf)) * 0.5
        nodes += [h.make_node("Mul", ["m", "a"], ["p"]), h.make_node("Mul", ["p", "half"], ["y"])]
    elif form == "half_first":  # (x * 0.5) * (1 + erf)
        nodes += [h.make_node("Mul", ["half", "m"], ["p"]), h.make_node("Mul", ["a", "p"], ["y"])]
    else:  # x * ((1 + erf) * 0.5)
        nodes += [h.make_node("Mul", ["a", "half"], ["p"]), h.make_node("Mul", ["m", "p"], ["y"])]
    outs = [h.make_tensor_value_info("y", T.FLOAT, None)]
    if extra_reader:  # the erf's value is also an output: the chain must stay
        outs.append(h.make_tensor_value_info("e", T.FLOAT, None))
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [37, 24])], outs,
                     [w, _c("root", root), _c("inv", 1.0 / math.sqrt(2.0)), _c("one", 1.0), _c("half", half)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _check(m, fused):
    b = sdk.compile(m)
    assert ("Gelu" in [x.op for x in b.func.bindings]) == fused
    assert ("Erf" in [x.op for x in b.func.bindings]) != fused
    x = np.random.default_rng(0).standard_normal((37, 24)).astype(np.float32) * 2.0
    ref = ort_run(m, {"x": x})
    for threads in (1, 2):
        got = b.run_with_info({"x": x}, runner=HostRunner(threads=threads), engine="c")[0]
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=RTOL, atol=ATOL)
    got = b.run({"x": x})  # the in-process engine (its erf is sdk_erff as LLVM IR)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("form", ["torch", "mul_inv", "add_swapped", "half_first", "half_inner"])
def test_gelu_chain_becomes_one_op(form):
    _check(_model(form), fused=True)


@pytest.mark.parametrize("kw", [{"half": 0.25}, {"root": 2.0}, {"extra_reader": True}])
def test_other_chains_stay(kw):
    _check(_model("torch", **kw), fused=False)


def test_erf_accuracy_against_onnxruntime():
    """sdk_erff (a rational form on [-4, 4]) over normal floats of every magnitude, zeros, infinities and NaN,
    against onnxruntime's Erf: within 4e-7 absolute and 1e-5 relative."""
    rng = np.random.default_rng(2)
    mags = np.concatenate([10.0 ** rng.uniform(-30, 1.5, 4000), rng.uniform(0, 6, 4000)]).astype(np.float32)
    x = np.concatenate([mags, -mags, np.array([0.0, -0.0, 3.9, 4.0, 4.1, np.inf, -np.inf], np.float32)])
    x = x[: x.size // 8 * 8].reshape(8, -1)
    g = h.make_graph([h.make_node("Erf", ["x"], ["y"])], "g", [h.make_tensor_value_info("x", T.FLOAT, list(x.shape))],
                     [h.make_tensor_value_info("y", T.FLOAT, list(x.shape))])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    ref = ort_run(m, {"x": x})["y"]
    b = sdk.compile(m)
    for got in (b.run_with_info({"x": x}, runner=HostRunner(threads=1), engine="c")[0]["y"], b.run({"x": x})["y"]):
        assert np.all(np.abs(got) <= 1.0)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=4e-7)
    xn = np.array([[np.nan] * 8], np.float32)
    assert np.isnan(b.run({"x": np.broadcast_to(xn.T, x.shape).copy()})["y"]).all()


def _tanh_model(cube="pow", swap=False, k=0.044715):
    """MatMul -> GPT-2's NewGELUActivation as both exporters write it: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + k x^3)));
    ``cube``: Pow(x, 3) or x * (x * x); ``swap``: every Add/Mul's operands the other way round."""
    rng = np.random.default_rng(3)
    w = nh.from_array(rng.standard_normal((24, 40)).astype(np.float32) * 0.4, "w")
    o = (lambda a, b: [b, a]) if swap else (lambda a, b: [a, b])
    nodes = [h.make_node("MatMul", ["x", "w"], ["m"])]
    nodes += ([h.make_node("Pow", ["m", "three"], ["c"])] if cube == "pow" else
              [h.make_node("Mul", ["m", "m"], ["sq"]), h.make_node("Mul", o("m", "sq"), ["c"])])
    nodes += [h.make_node("Mul", o("c", "k"), ["ck"]), h.make_node("Add", o("m", "ck"), ["s"]),
              h.make_node("Mul", o("s", "r"), ["t0"]), h.make_node("Tanh", ["t0"], ["t"]),
              h.make_node("Add", o("t", "one"), ["a"]), h.make_node("Mul", o("half", "m"), ["p"]),
              h.make_node("Mul", o("p", "a"), ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [37, 24])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [w, _c("three", 3.0), _c("k", k), _c("r", math.sqrt(2.0 / math.pi)), _c("one", 1.0),
                      _c("half", 0.5)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("cube, swap", [("pow", False), ("pow", True), ("mul", False), ("mul", True)])
def test_tanh_gelu_chain_becomes_one_op(cube, swap):
    m = _tanh_model(cube, swap)
    b = sdk.compile(m)
    gelu = [x for x in b.func.bindings if x.op == "Gelu"]
    assert len(gelu) == 1 and gelu[0].attrs == {"approximate": "tanh"}
    assert not {"Tanh", "Pow"} & {x.op for x in b.func.bindings}
    x = np.random.default_rng(0).standard_normal((37, 24)).astype(np.float32) * 2.0
    ref = ort_run(m, {"x": x})
    for threads in (1, 2):
        got = b.run_with_info({"x": x}, runner=HostRunner(threads=threads), engine="c")[0]
        np.testing.assert_allclose(got["y"], ref["y"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b.run({"x": x})["y"], ref["y"], rtol=RTOL, atol=ATOL)


def test_tanh_chain_with_another_constant_stays():
    b = sdk.compile(_tanh_model(k=0.05))
    assert "Gelu" not in [x.op for x in b.func.bindings] and "Tanh" in [x.op for x in b.func.bindings]


@pytest.mark.parametrize("path", ["gpt2_past.ts.onnx", "gpt2_past.dynamo.onnx"])
def test_gpt2_exports_get_tanh_gelu(path):
    """The committed GPT-2 exports (tests/torch_zoo): one tanh Gelu per block, no Tanh left."""
    import json
    from pathlib import Path
    zoo = Path(__file__).resolve().parents[1] / "torch_zoo"
    bounds = json.loads((zoo / "manifest.json").read_text())["models"]["gpt2_past"]["bounds"]
    from sdk import pipeline
    f, _ = pipeline.front(str(zoo / "models" / path), bounds, "g")
    ops = [x.op for x in f.bindings]
    assert ops.count("Gelu") >= 1 and "Tanh" not in ops, sorted(set(ops))


def _linear_gelu_model(approx, M=67, K=40, N=150, batch=3):
    """x [batch, M, K] -> MatMul + bias -> GELU (PyTorch's exact chain, or GPT-2's tanh chain) -> y: a Linear layer and
    its activation, with M and N not whole numbers of register tiles."""
    rng = np.random.default_rng(4)
    w = nh.from_array(rng.standard_normal((K, N)).astype(np.float32) * 0.3, "w")
    bias = nh.from_array(rng.standard_normal(N).astype(np.float32) * 0.5, "bias")
    nodes = [h.make_node("MatMul", ["x", "w"], ["mm"]), h.make_node("Add", ["bias", "mm"], ["m"])]
    if approx == "none":
        nodes += [h.make_node("Div", ["m", "root"], ["d"]), h.make_node("Erf", ["d"], ["e"]),
                  h.make_node("Add", ["e", "one"], ["a"]), h.make_node("Mul", ["m", "a"], ["p"]),
                  h.make_node("Mul", ["p", "half"], ["y"])]
    else:
        nodes += [h.make_node("Pow", ["m", "three"], ["c"]), h.make_node("Mul", ["c", "k"], ["ck"]),
                  h.make_node("Add", ["m", "ck"], ["s"]), h.make_node("Mul", ["s", "r"], ["t0"]),
                  h.make_node("Tanh", ["t0"], ["t"]), h.make_node("Add", ["t", "one"], ["a"]),
                  h.make_node("Mul", ["half", "m"], ["p"]), h.make_node("Mul", ["p", "a"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [batch, M, K])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [w, bias, _c("root", R2), _c("one", 1.0), _c("half", 0.5), _c("three", 3.0), _c("k", 0.044715),
                      _c("r", math.sqrt(2.0 / math.pi))])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("approx, M", [("none", 67), ("tanh", 67), ("none", 1)])
def test_gelu_runs_in_the_gemm_epilogue(approx, M):
    """On the host profile ([lower] epilogue_gelu) a Gelu after a Linear layer is the GEMM's epilogue: the program is the
    one GEMM step (no element-wise pass over its output), C on one and two threads and the in-process engine match
    onnxruntime; M = 3 x 67 rows and N = 150 columns leave partial register tiles on both edges (M = 1: one row per
    batch, the matrix-vector path)."""
    m = _linear_gelu_model(approx, M=M)
    b = sdk.compile(m)
    assert [x.op for x in b.func.bindings if x.op == "Gelu"] == ["Gelu"]
    assert len(b.program.steps) == 1, [getattr(s, "fn", None) or s.name for s in b.program.steps]
    x = np.random.default_rng(0).standard_normal((3, M, 40)).astype(np.float32) * 2.0
    ref = ort_run(m, {"x": x})["y"]
    for threads in (1, 2):
        got = b.run_with_info({"x": x}, runner=HostRunner(threads=threads), engine="c")[0]["y"]
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b.run({"x": x})["y"], ref, rtol=RTOL, atol=ATOL)
