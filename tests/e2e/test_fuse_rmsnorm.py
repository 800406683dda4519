"""The RMSNorm spelled out as exporters write it (T5, LLaMA-family, onnxruntime's SimplifiedLayerNormalization as the
contrib rewrite emits it) becomes one ``RMSNormalization`` (sdk/transform/fuse_rmsnorm.py): the row's 1 / rms taken
once per row instead of in every element. Results match onnxruntime on random inputs, one and two threads, C bundle
and in-process engine; chains that are not an RMSNorm (another axis, an intermediate read twice, a 2-D weight) stay;
the tiny T5 exports of both exporters fuse every norm and still match onnxruntime."""
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as h
import onnx.numpy_helper as nh
import pytest
from onnx import TensorProto as T

import sdk
from conftest import ort_run
from sdk import pipeline
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-5, 2e-6
ROWS, COLS = 37, 48
TEXT = Path(__file__).resolve().parent.parent / "models" / "text"


def _c(name, v, dt=np.float32):
    return nh.from_array(np.array(v, dt), name)


def _model(form, axis=-1, extra_reader=False, weight_2d=False, opset=18):
    """MatMul -> the RMSNorm chain in one of its exported forms -> y."""
    rng = np.random.default_rng(1)
    w = nh.from_array(rng.standard_normal((24, COLS)).astype(np.float32) * 0.4, "w")
    g = (1 + 0.1 * rng.standard_normal((1, COLS) if weight_2d else (COLS,))).astype(np.float32)
    nodes = [h.make_node("MatMul", ["x", "w"], ["m"])]
    nodes.append(h.make_node("Mul", ["m", "m"], ["sq"]) if form == "mul_square"
                 else h.make_node("Pow", ["m", "two"], ["sq"]))
    if opset >= 18:
        nodes.append(h.make_node("ReduceMean", ["sq", "axes"], ["ms"], keepdims=1))
    else:
        nodes.append(h.make_node("ReduceMean", ["sq"], ["ms"], axes=[axis], keepdims=1))
    nodes += [h.make_node("Add", ["eps", "ms"] if form == "eps_first" else ["ms", "eps"], ["a"]),
              h.make_node("Sqrt", ["a"], ["r"])]
    if form == "contrib":  # Div(x, rms) * scale
        nodes += [h.make_node("Div", ["m", "r"], ["n"]), h.make_node("Mul", ["n", "g"], ["y"])]
    else:
        if form in ("ts", "eps_first", "mul_square"):  # Div(1, rms)
            nodes.append(h.make_node("Div", ["one", "r"], ["inv"]))
        else:  # torch.export: Reciprocal
            nodes.append(h.make_node("Reciprocal", ["r"], ["inv"]))
        nodes.append(h.make_node("Mul", ["inv", "m"] if form == "x_second" else ["m", "inv"], ["n"]))
        if form == "cast":  # LLaMA: weight * hidden.to(input_dtype)
            nodes += [h.make_node("Cast", ["n"], ["nc"], to=T.FLOAT), h.make_node("Mul", ["g", "nc"], ["y"])]
        else:
            nodes.append(h.make_node("Mul", ["g", "n"], ["y"]))
    outs = [h.make_tensor_value_info("y", T.FLOAT, None)]
    if extra_reader:  # the reciprocal is also an output: the chain must stay
        outs.append(h.make_tensor_value_info("inv", T.FLOAT, None))
    inits = [w, nh.from_array(g, "g"), _c("two", 2.0), _c("eps", 1e-6), _c("one", 1.0),
             _c("axes", [axis], np.int64)]
    gr = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [ROWS, 24])], outs, inits)
    m = h.make_model(gr, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _check(m, fused, c_bundle=False):
    """The pass's result, then the in-process engine (and the C bundle on one and two threads) against onnxruntime."""
    b = sdk.compile(m)
    ops = [x.op for x in b.func.bindings]
    assert ("RMSNormalization" in ops) == fused
    assert ("Sqrt" in ops) != fused
    x = np.random.default_rng(0).standard_normal((ROWS, 24)).astype(np.float32) * 2.0
    ref = ort_run(m, {"x": x})
    for threads in (1, 2) if c_bundle else ():
        got = b.run_with_info({"x": x}, runner=HostRunner(threads=threads), engine="c")[0]
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=RTOL, atol=ATOL)
    got = b.run({"x": x})
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("form", ["ts", "dynamo", "contrib", "eps_first", "x_second", "mul_square", "cast"])
def test_rmsnorm_chain_becomes_one_op(form):
    _check(_model(form), fused=True, c_bundle=form in ("ts", "contrib"))


def test_rmsnorm_axes_attribute():
    _check(_model("ts", axis=1, opset=17), fused=True)


@pytest.mark.parametrize("kw", [{"axis": 0}, {"extra_reader": True}, {"weight_2d": True}])
def test_other_chains_stay(kw):
    _check(_model("dynamo", **kw), fused=False)


@pytest.mark.parametrize("exporter", ["ts", "dynamo"])
def test_t5_exports_fuse_every_norm(exporter):
    """tests/models/text's tiny T5 encoder: every norm (2 per layer + the final one) fused, no Sqrt left; the
    bundle on one and two threads against onnxruntime."""
    m = onnx.load(str(TEXT / f"t5_encoder.{exporter}.onnx"))
    n_norms = sum(1 for n in m.graph.node if n.op_type == "Sqrt")
    assert n_norms >= 3
    f, _ = pipeline.front(m, {"batch": 1, "seq": 12}, "model")
    ops = [b.op for b in f.bindings]
    assert ops.count("RMSNormalization") == n_norms and "Sqrt" not in ops
    rng = np.random.default_rng(0)
    mask = np.ones((1, 12), np.int64)
    mask[:, 10:] = 0
    feed = {"ids": rng.integers(0, 100, (1, 12)).astype(np.int64), "mask": mask}
    ref = ort_run(m, feed)
    b = sdk.compile(m, dims={"batch": 1, "seq": 12})
    for threads in (1, 2):
        got = b.run_with_info(feed, runner=HostRunner(threads=threads), engine="c")[0]
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-4)
