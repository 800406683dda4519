"""Every gradient rule (sdk/autodiff) against central finite differences in float64: a one-op model (plus a random
weighting so the loss is sum(op(x) * R)), its gradient graph evaluated with onnx's ReferenceEvaluator (the
gradient-only ops with their numpy references), d loss along random directions compared with
(L(x + h v) - L(x - h v)) / 2h. Then a few gradient graphs compiled for the host and run in float32 against the
float64 reference (the lowering of the gradient-only ops)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from sdk.autodiff import grad_function
from sdk.autodiff.export import evaluate
from sdk.frontend.onnx import import_onnx

F = TensorProto.FLOAT
RTOL = 1e-5  # float64 central differences with h = 1e-6 agree to ~1e-8; the issue asks for 1e-3


def one_op(op, shapes, attrs=None, consts=None, out_shape=None, n_out=1, ints=None):
    """A model: inputs x0.. of ``shapes`` (float; ``ints``: {position: int array} integer constants instead,
    ``consts``: {position: float array} float constants), y = op(...), loss = sum(y * R)."""
    rng = np.random.default_rng(abs(hash(op)) % 2**32)
    inputs, names, inits = [], [], []
    for k, s in enumerate(shapes):
        name = f"x{k}"
        if ints and k in ints:
            inits.append(helper.make_tensor(name, TensorProto.INT64, np.shape(ints[k]), np.ravel(ints[k]).tolist()))
        elif consts and k in consts:
            inits.append(onnx.numpy_helper.from_array(np.asarray(consts[k], np.float32), name))
        elif s is None:
            name = ""
        else:
            inputs.append(helper.make_tensor_value_info(name, F, s))
        names.append(name)
    outs = ["y"] + [f"y{k}" for k in range(1, n_out)]
    nodes = [helper.make_node(op, names, outs, **(attrs or {}))]
    y_info = helper.make_tensor_value_info("y", F, None)
    g = helper.make_graph(nodes, "g", inputs, [y_info], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m = onnx.shape_inference.infer_shapes(m)
    yshape = out_shape or [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    R = rng.standard_normal(yshape).astype(np.float32)
    if not yshape:
        R = np.array(1.5, np.float32)
    nodes += [helper.make_node("Mul", ["y", "R"], ["yr"]),
              helper.make_node("ReduceSum", ["yr"], ["loss"], keepdims=0)]
    inits.append(onnx.numpy_helper.from_array(R, "R"))
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("loss", F, [])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _pos(shape, rng):  # positive inputs (Log, Sqrt, Div's denominator)
    return rng.uniform(0.5, 2.0, shape)


CASES = {
    "Add": dict(shapes=[[2, 3, 4], [3, 1]]),
    "Sub": dict(shapes=[[3, 1], [2, 3, 4]]),
    "Mul": dict(shapes=[[2, 3, 4], [4]]),
    "Div": dict(shapes=[[2, 3, 4], [1, 4]], positive={1}),
    "Neg": dict(shapes=[[3, 5]]),
    "Relu": dict(shapes=[[4, 6]]),
    "LeakyRelu": dict(shapes=[[4, 6]], attrs=dict(alpha=0.1)),
    "Sigmoid": dict(shapes=[[4, 6]]),
    "Tanh": dict(shapes=[[4, 6]]),
    "Exp": dict(shapes=[[4, 6]]),
    "Log": dict(shapes=[[4, 6]], positive={0}),
    "Sqrt": dict(shapes=[[4, 6]], positive={0}),
    "Reciprocal": dict(shapes=[[4, 6]], positive={0}),
    "Softplus": dict(shapes=[[4, 6]]),
    "HardSigmoid": dict(shapes=[[4, 6]]),
    "HardSwish": dict(shapes=[[4, 6]], scale=4.0),
    "Clip": dict(shapes=[[4, 6], [], []], consts={1: np.float32(-0.5), 2: np.float32(0.7)}),
    "Pow": dict(shapes=[[4, 6], []], consts={1: np.float32(3.0)}, positive={0}),
    "Where": dict(shapes=[[2, 5], [2, 5], [5]], bool_cond=True),
    "ReduceSum": dict(shapes=[[2, 3, 4], None], ints={1: np.array([0, 2])}, attrs=dict(keepdims=0)),
    "ReduceMean": dict(shapes=[[2, 3, 4]], attrs=dict(axes=[1], keepdims=1)),
    "GlobalAveragePool": dict(shapes=[[2, 3, 4, 5]]),
    "Softmax": dict(shapes=[[3, 7]], attrs=dict(axis=1)),
    "LogSoftmax": dict(shapes=[[3, 7]], attrs=dict(axis=-1)),
    "MatMul": dict(shapes=[[2, 3, 4], [4, 5]]),
    "MatMul_batched": dict(op="MatMul", shapes=[[2, 3, 4], [2, 4, 5]]),
    "Gemm": dict(shapes=[[3, 4], [5, 4], [5]], attrs=dict(transB=1, alpha=0.7, beta=1.3)),
    "Gemm_tA": dict(op="Gemm", shapes=[[4, 3], [4, 5], [3, 5]], attrs=dict(transA=1)),
    "Conv": dict(shapes=[[2, 3, 7, 6], [4, 3, 3, 3], [4]], attrs=dict(pads=[1, 0, 1, 2], strides=[2, 1])),
    "Conv_grouped": dict(op="Conv", shapes=[[1, 4, 6, 6], [6, 2, 3, 3]], attrs=dict(group=2, dilations=[2, 1])),
    "Conv_depthwise": dict(op="Conv", shapes=[[2, 3, 5, 5], [3, 1, 3, 3], [3]],
                           attrs=dict(group=3, pads=[1, 1, 1, 1], strides=[2, 2])),
    # stride 1: dX is a convolution with the flipped weight (the scheduled conv kernels), not a ConvTranspose
    "Conv_s1": dict(op="Conv", shapes=[[2, 3, 6, 7], [4, 3, 3, 2], [4]],
                    attrs=dict(pads=[1, 0, 2, 1], dilations=[1, 2])),
    "Conv_depthwise_s1": dict(op="Conv", shapes=[[2, 3, 5, 5], [3, 1, 3, 3]], attrs=dict(group=3, pads=[1, 1, 1, 1])),
    "AveragePool": dict(shapes=[[2, 3, 6, 5]], attrs=dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1])),
    "AveragePool_incl": dict(op="AveragePool", shapes=[[1, 2, 5, 5]],
                             attrs=dict(kernel_shape=[2, 2], pads=[1, 1, 0, 0], count_include_pad=1)),
    "MaxPool": dict(shapes=[[2, 3, 6, 5]], attrs=dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1])),
    "GlobalMaxPool": dict(shapes=[[2, 3, 4, 4]]),
    "BatchNormalization": dict(shapes=[[2, 3, 4, 4], [3], [3], [3], [3]], consts={3: [0.1, -0.2, 0.3],
                                                                                   4: [0.5, 1.5, 2.0]}),
    "LayerNormalization": dict(shapes=[[2, 3, 8], [8], [8]], attrs=dict(axis=-1)),
    "SoftmaxCrossEntropyLoss": dict(shapes=[[5, 4], None], ints={1: np.array([0, 3, 1, 1, 2])}, out_shape=[]),
    "Reshape": dict(shapes=[[2, 3, 4], None], ints={1: np.array([4, -1])}),
    "Flatten": dict(shapes=[[2, 3, 4]], attrs=dict(axis=1)),
    "Transpose": dict(shapes=[[2, 3, 4]], attrs=dict(perm=[2, 0, 1])),
    "Expand": dict(shapes=[[3, 1], None], ints={1: np.array([2, 3, 4])}),
    "Concat": dict(shapes=[[2, 3], [2, 5], [2, 1]], attrs=dict(axis=1)),
    "Slice": dict(shapes=[[4, 6], None, None, None], ints={1: np.array([1, -4]), 2: np.array([3, 100]),
                                                           3: np.array([0, 1])}),
    "Gather": dict(shapes=[[5, 3], None], ints={1: np.array([[4, 0], [4, 2]])}, attrs=dict(axis=0)),
    "Gather_axis1": dict(op="Gather", shapes=[[2, 5, 3], None], ints={1: np.array([1, 1, -1])}, attrs=dict(axis=1)),
}


def _case(name):
    c = dict(CASES[name])
    op = c.pop("op", name)
    shapes = c["shapes"]
    ints = dict(c.get("ints") or {})
    consts = dict(c.get("consts") or {})
    for k in list(ints):
        if shapes[k] is None:
            shapes = list(shapes)
            shapes[k] = list(np.shape(ints[k]))
    m = one_op(op, shapes, c.get("attrs"), consts, c.get("out_shape"), ints=ints)
    if c.get("bool_cond"):  # Where's condition: a bool constant
        m.graph.input.pop(0)
        m.graph.initializer.append(onnx.numpy_helper.from_array(np.array([[True, False, True, True, False]] * 2),
                                                                "x0"))
    rng = np.random.default_rng(7)
    feeds = {}
    for vi in m.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        k = int(vi.name[1:])
        feeds[vi.name] = (_pos(shape, rng) if k in c.get("positive", ()) else
                          rng.standard_normal(shape) * c.get("scale", 1.0))
    return m, feeds


def _loss(f, feeds):
    return float(evaluate(f, feeds, np.float64)[f.outputs[0].name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(name):
    m, feeds = _case(name)
    f = import_onnx(m)
    wrt = [v for v in f.inputs if v.dtype == "float32"]
    gf = grad_function(f, f.outputs[0], wrt)
    res = evaluate(gf, feeds, np.float64)
    rng = np.random.default_rng(1)
    h = 1e-6
    for k, w in enumerate(wrt):
        g = res[gf.outputs[1 + k].name]
        assert g.shape == feeds[w.name].shape, (w.name, g.shape)
        assert np.abs(g).sum() > 0, f"{w.name}: zero gradient"
        for _ in range(3):
            v = rng.standard_normal(g.shape)
            plus = dict(feeds, **{w.name: feeds[w.name] + h * v})
            minus = dict(feeds, **{w.name: feeds[w.name] - h * v})
            fd = (_loss(f, plus) - _loss(f, minus)) / (2 * h)
            an = float((g * v).sum())
            assert abs(fd - an) <= RTOL * max(1.0, abs(fd)), (w.name, fd, an)


COMPILED = ["Conv", "Conv_grouped", "Conv_s1", "Conv_depthwise_s1",
            "MaxPool", "AveragePool", "Gather", "Gemm", "SoftmaxCrossEntropyLoss",
            "LayerNormalization", "BatchNormalization", "Slice", "Concat"]


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_gradient_matches_reference(name):
    """The gradient graph compiled for the host (float32) against its float64 reference evaluation."""
    from sdk.train.compile import compile_function
    m, feeds = _case(name)
    f = import_onnx(m)
    wrt = [v for v in f.inputs if v.dtype == "float32"]
    gf = grad_function(f, f.outputs[0], wrt)
    ref = evaluate(gf, feeds, np.float64)
    b = compile_function(gf, "host")
    got = b.run({k: a.astype(np.float32) for k, a in feeds.items()})
    for name_, v in zip(gf.output_names, gf.outputs):
        np.testing.assert_allclose(got[name_], ref[v.name], rtol=1e-4, atol=1e-5, err_msg=v.name)


def test_maxpool_gradient_without_indices_ties_to_first_maximum(monkeypatch):
    """MaxPool's gradient finds each window's first maximum in the input again (no index tensor): on an input
    full of ties (values 0 and 1, padding, overlapping windows) it matches the gradient through MaxPool's Indices
    (onnx's reference: the first maximum of each window)."""
    from sdk.autodiff import rules_nn
    from sdk.train.compile import compile_function
    m, feeds = _case("MaxPool")
    feeds = {k: np.random.default_rng(3).integers(0, 2, a.shape).astype(np.float64) for k, a in feeds.items()}
    f = import_onnx(m)
    wrt = [v for v in f.inputs if v.dtype == "float32"]
    gf = grad_function(f, f.outputs[0], wrt)
    assert not any(b.op == "MaxPool" and len(b.outputs) > 1 for b in gf.bindings)
    got = compile_function(gf, "host").run({k: a.astype(np.float32) for k, a in feeds.items()})
    monkeypatch.setattr(rules_nn, "FIRST_MAX_TAPS", 0)  # the Indices form
    gi = grad_function(f, f.outputs[0], wrt)
    assert any(b.op == "MaxPool" and len(b.outputs) > 1 for b in gi.bindings)
    ref = evaluate(gi, feeds, np.float64)
    np.testing.assert_array_equal(got[gf.output_names[-1]], ref[gi.outputs[-1].name].astype(np.float32))
