"""The in-process LLVM engine (sdk/codegen/llvm.py + sdk/backends/host/inprocess.py) against onnxruntime and
against the C path (the bundle's demo program built with gcc), on the examples, zoo models and per-op
graphs; its status errors, workspace and run without a C compiler."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import FAST_CFLAGS, assert_outputs_close, ort_run, random_inputs
from sdk.errors import BuildError
from sdk.memory.plan import workspace_at

RTOL, ATOL = 1e-4, 1e-5
TORCH_ZOO = Path(__file__).resolve().parents[1] / "torch_zoo" / "models"


def both_engines(b, feeds, runner=None):
    jit, info = b.run_with_info(feeds, engine="llvm")
    assert info["engine"] == "llvm"
    c, _ = b.run_with_info(feeds, engine="c", runner=runner)
    return jit, c


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnext_block", "transformer"])
def test_examples_jit_vs_onnxruntime_and_c(examples, example_bundles, name):
    model, bounds = examples[name]
    b = example_bundles[name]
    dims = dict(bounds, batch=min(2, bounds["batch"]))
    feeds = random_inputs(model, dims, seed=7)
    jit, c = both_engines(b, feeds)
    ref = ort_run(model, feeds)
    assert_outputs_close(jit, ref, RTOL, ATOL)
    assert_outputs_close(c, ref, RTOL, ATOL)
    assert_outputs_close(jit, c, RTOL, ATOL)


def test_transformer_many_shapes_one_jit(examples, example_bundles):
    model, bounds = examples["transformer"]
    b = example_bundles["transformer"]
    for batch, seq in ((1, 1), (3, 17), (4, 128)):
        feeds = random_inputs(model, {"batch": batch, "seq": seq}, seed=seq)
        got, info = b.run_with_info(feeds)
        assert got["hidden"].shape == (batch, seq, 64)
        np.testing.assert_allclose(got["hidden"], ort_run(model, feeds)["hidden"], rtol=RTOL, atol=ATOL)
        assert int(info["workspace_bytes"]) == workspace_at(b.plan, {"batch": batch, "seq": seq})


@pytest.mark.slow
@pytest.mark.parametrize("zoo_name", ["squeezenet", "shufflenet"])
def test_zoo_jit_vs_c(zoo_name):
    """The C side built as the torch zoo tests build theirs (conftest.FAST_CFLAGS, -O0 -Werror: model.c holds
    the weights as literals, which gcc -O3 took 66 CPU s over for shufflenet); the examples above use -O3."""
    from zoo import randomized
    from sdk.backends.host.runner import HostRunner
    model = randomized(zoo_name)
    b = sdk.compile(model, name="zoo")
    feeds = random_inputs(model, {})
    jit, c = both_engines(b, feeds, HostRunner(cflags=FAST_CFLAGS))
    assert_outputs_close(jit, ort_run(model, feeds), RTOL, ATOL)
    assert_outputs_close(jit, c, RTOL, ATOL)


# ---------------------------------------------------------------- per-op graphs
def _graph(nodes, inputs, outputs, inits=()):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                     [nh.from_array(a, n) for n, a in inits])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


F = T.FLOAT
S = [2, 3, 5, 7]


def _unary(op, **attrs):
    return _graph([h.make_node(op, ["x"], ["y"], **attrs)], [("x", F, S)], [("y", F, None)])


def _binary(op, ta=F, tb=F, ty=None, sb=(5, 7)):
    return _graph([h.make_node(op, ["a", "b"], ["y"])], [("a", ta, S), ("b", tb, list(sb))], [("y", ty or ta, None)])


rng = np.random.default_rng(0)
W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
OPS = {
    "exp": (_unary("Exp"), "normal"), "erf": (_unary("Erf"), "normal"), "tanh": (_unary("Tanh"), "normal"),
    "sigmoid": (_unary("Sigmoid"), "normal"), "log": (_unary("Log"), "positive"), "sqrt": (_unary("Sqrt"), "positive"),
    "abs": (_unary("Abs"), "normal"), "floor": (_unary("Floor"), "normal"), "ceil": (_unary("Ceil"), "normal"),
    "round": (_unary("Round"), "normal"), "sin": (_unary("Sin"), "normal"), "neg": (_unary("Neg"), "normal"),
    "leaky_relu": (_unary("LeakyRelu", alpha=0.1), "normal"), "softmax": (_unary("Softmax", axis=-1), "normal"),
    "reduce_max": (_unary("ReduceMax", axes=[1, 3], keepdims=0), "normal"),
    "reduce_sum": (_unary("ReduceSum", keepdims=1), "normal"),
    "reduce_mean": (_unary("ReduceMean", axes=[2], keepdims=1), "normal"),
    "transpose": (_unary("Transpose", perm=[3, 1, 0, 2]), "normal"),
    "max": (_binary("Max"), "normal"), "min": (_binary("Min"), "normal"),
    "div_broadcast": (_binary("Div"), "positive"), "pow": (_binary("Pow"), "positive"),
    "add_int32": (_binary("Add", T.INT32, T.INT32), "int"), "mul_int64": (_binary("Mul", T.INT64, T.INT64), "int"),
    "div_int32": (_binary("Div", T.INT32, T.INT32), "int_nonzero"), "mod_int64": (_binary("Mod", T.INT64, T.INT64), "int_nonzero"),
    "less_bool": (_binary("Less", ty=T.BOOL), "normal"), "equal_int": (_binary("Equal", T.INT32, T.INT32, T.BOOL), "int"),
    "where": (_graph([h.make_node("Greater", ["a", "b"], ["c"]), h.make_node("Where", ["c", "a", "b"], ["y"])],
                     [("a", F, S), ("b", F, S)], [("y", F, None)]), "normal"),
    "cast_f2i": (_graph([h.make_node("Cast", ["x"], ["y"], to=T.INT32)], [("x", F, S)], [("y", T.INT32, None)]), "scaled"),
    "cast_i2f": (_graph([h.make_node("Cast", ["x"], ["y"], to=F)], [("x", T.INT64, S)], [("y", F, None)]), "int"),
    "cast_f2bool": (_graph([h.make_node("Cast", ["x"], ["y"], to=T.BOOL)], [("x", F, S)], [("y", T.BOOL, None)]), "sparse"),
    "pad": (_graph([h.make_node("Pad", ["x", "p"], ["y"], mode="constant")], [("x", F, S)], [("y", F, None)],
                   [("p", np.array([0, 1, 2, 0, 1, 0, 1, 3], np.int64))]), "normal"),
    "clip": (_graph([h.make_node("Clip", ["x", "lo", "hi"], ["y"])], [("x", F, S)], [("y", F, None)],
                    [("lo", np.array(-0.5, np.float32)), ("hi", np.array(0.7, np.float32))]), "normal"),
    "gather": (_graph([h.make_node("Gather", ["x", "i"], ["y"], axis=2)], [("x", F, S)], [("y", F, None)],
                      [("i", np.array([4, 0, 2, 2], np.int64))]), "normal"),
    "concat_slice": (_graph([h.make_node("Concat", ["a", "b"], ["c"], axis=1),
                             h.make_node("Slice", ["c", "st", "en", "ax"], ["y"])],
                            [("a", F, S), ("b", F, S)], [("y", F, None)],
                            [("st", np.array([1, 2], np.int64)), ("en", np.array([5, 7], np.int64)),
                             ("ax", np.array([1, 3], np.int64))]), "normal"),
    "matmul": (_graph([h.make_node("MatMul", ["a", "w"], ["y"])], [("a", F, [3, 17, 33])], [("y", F, None)],
                      [("w", rng.standard_normal((33, 20)).astype(np.float32))]), "normal"),
    "conv_pool": (_graph([h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                          h.make_node("MaxPool", ["c"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
                          h.make_node("AveragePool", ["m"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                         [("x", F, [2, 3, 12, 10])], [("y", F, None)], [("w", W)]), "normal"),
    # pooling is IR in the JIT (sdk/codegen/llvm_kernels.py emit_pool2d): pads, count_include_pad, ceil_mode,
    # dilation, strides 1-3, a 1-D pool
    "pool_variants": (_graph([h.make_node("MaxPool", ["x"], ["m1"], kernel_shape=[3, 3], strides=[1, 1],
                                          pads=[1, 0, 1, 2], dilations=[2, 1]),
                              h.make_node("MaxPool", ["x"], ["m2"], kernel_shape=[2, 3], strides=[3, 2], ceil_mode=1),
                              h.make_node("AveragePool", ["x"], ["a1"], kernel_shape=[3, 3], strides=[2, 2],
                                          pads=[1, 1, 1, 1], count_include_pad=1),
                              h.make_node("AveragePool", ["x"], ["a2"], kernel_shape=[2, 2], strides=[2, 2],
                                          pads=[0, 1, 1, 0], ceil_mode=1),
                              h.make_node("Reshape", ["x", "shp"], ["x1"]),
                              h.make_node("MaxPool", ["x1"], ["m3"], kernel_shape=[3], strides=[2], pads=[1, 1])],
                             [("x", F, [2, 3, 11, 10])],
                             [("m1", F, None), ("m2", F, None), ("a1", F, None), ("a2", F, None), ("m3", F, None)],
                             [("shp", np.array([2, 3, 110], np.int64))]), "normal"),
}


def _feeds(model, kind, seed=1):
    r = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        et = vi.type.tensor_type.elem_type
        if et in (T.INT32, T.INT64):
            lo = 1 if kind == "int_nonzero" else -9
            a = r.integers(lo, 10, shape) * (r.choice([-1, 1], shape) if kind == "int_nonzero" else 1)
            feeds[vi.name] = a.astype(np.int32 if et == T.INT32 else np.int64)
            continue
        a = r.standard_normal(shape).astype(np.float32)
        if kind == "positive":
            a = np.abs(a) + 0.1
        elif kind == "scaled":
            a = a * 50
        elif kind == "sparse":
            a[r.random(shape) < 0.5] = 0
        elif kind == "nan":
            a[r.random(shape) < 0.2] = np.nan
        feeds[vi.name] = a
    return feeds


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_jit_vs_onnxruntime(op):
    model, kind = OPS[op]
    b = sdk.compile(model)
    feeds = _feeds(model, kind)
    got = b.run(feeds)
    for k, r in ort_run(model, feeds).items():
        assert got[k].shape == r.shape and got[k].dtype == r.dtype, (k, got[k].dtype, r.dtype)
        np.testing.assert_allclose(got[k], r, rtol=RTOL, atol=ATOL)


def _merged(cases, seed):
    """[(prefix, model, input kind)] as one model (every name prefixed, the graphs side by side) and its feeds:
    one compile, one JIT module and one C build for all of them (each separately took a gcc build)."""
    from onnx import compose
    nodes, ins, outs, inits, feeds = [], [], [], [], {}
    for prefix, model, kind in cases:
        g = compose.add_prefix(model, f"{prefix}_").graph
        nodes += g.node
        ins += g.input
        outs += g.output
        inits += g.initializer
        feeds.update({f"{prefix}_{k}": v for k, v in _feeds(model, kind, seed).items()})
    m = h.make_model(h.make_graph(nodes, "merged", ins, outs, inits), opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m, feeds


@pytest.mark.slow
def test_ops_jit_vs_c():
    """Every per-op graph gives the same values through both engines (the C path built with gcc -O3); the graphs
    side by side in one model, so one C build covers them."""
    model, feeds = _merged([(op, *OPS[op]) for op in sorted(OPS)], seed=2)
    jit, c = both_engines(sdk.compile(model), feeds)
    assert set(c) == {o.name for o in model.graph.output}
    for k in c:
        assert jit[k].shape == c[k].shape, k
        np.testing.assert_allclose(jit[k], c[k], rtol=RTOL, atol=ATOL, err_msg=k)


def test_nan_semantics_same_as_c():
    """NaN inputs: the JIT computes what the C path computes (fmaxf/fminf, NaN-propagating reductions)."""
    model, feeds = _merged([("max", _binary("Max"), "nan"), ("min", _binary("Min"), "nan"),
                            ("rmax", _unary("ReduceMax", axes=[3], keepdims=0), "nan")], seed=3)
    jit, c = both_engines(sdk.compile(model), feeds)
    assert len(c) == 3
    for k in c:
        np.testing.assert_array_equal(jit[k], c[k])


# ---------------------------------------------------------------- statuses, arena, engines
def test_status_errors_match_the_c_path(examples, example_bundles):
    """Below Bundle.run's Python checks, the JIT returns the C runtime's statuses with its texts."""
    from sdk.backends.host.runner import HostRunner
    model, bounds = examples["transformer"]
    b = example_bundles["transformer"]
    feeds = random_inputs(model, {"batch": 1, "seq": 8})
    need = workspace_at(b.plan, {"batch": 1, "seq": 8})
    cases = [(random_inputs(model, {"batch": 1, "seq": 129}), {}, "dim out of compiled bounds"),
             (random_inputs(model, {"batch": 5, "seq": 8}), {}, "dim out of compiled bounds"),
             (feeds, {"arena": need - 1}, "arena too small")]
    for f, kw, text in cases:
        with pytest.raises(BuildError, match=text) as e:
            b.jit().run(f, **kw)
        assert f"(status {3 if 'dim' in text else 2})" in str(e.value)
        with pytest.raises(BuildError, match=text):
            HostRunner().run(b._ensure_saved(), f, **kw)
    with pytest.raises(sdk.errors.BoundError, match="above its compiled bound"):
        b.run(cases[0][0])  # Bundle.run checks bounds before either engine
    got = b.run(feeds, arena=need)  # exactly the workspace is enough
    np.testing.assert_allclose(got["hidden"], ort_run(model, feeds)["hidden"], rtol=RTOL, atol=ATOL)


def test_engine_choice():
    model = _graph([h.make_node("Relu", ["x"], ["y"])], [("x", F, ["batch", 8])], [("y", F, None)])
    b = sdk.compile(model, dims={"batch": 4}, engine="c")  # the choice, not the model, is under test: a small one
    feeds = random_inputs(model, {"batch": 3})
    want = np.maximum(feeds["x"], 0)
    got, info = b.run_with_info(feeds)
    assert "engine" not in info and b.path is not None  # the demo program ran
    np.testing.assert_array_equal(got["y"], want)
    got, info = b.run_with_info(feeds, engine="llvm")
    assert info["engine"] == "llvm"
    np.testing.assert_array_equal(got["y"], want)
    with pytest.raises(sdk.errors.SdkError, match="engine 'gcc'"):
        sdk.compile(model, dims={"batch": 4}, engine="gcc")


def test_no_c_compiler_needed(examples, monkeypatch, tmp_path):
    """With no C compiler on PATH (``cc``/``gcc`` hidden) and an empty kernel cache, ``sdk.compile(...).run``
    JIT-compiles and runs programs of tir kernels, scheduled GEMMs/convolutions (LLVM IR from their schedules),
    pooling, depthwise convolution, GEMV and the stand-alone epilogue (IR, ``sdk/codegen/llvm_runtime.py``): the
    examples mlp, cnn (conv + pool + GEMM) and transformer, the committed MobileNetV2 and MobileNetV3-small of the
    torch zoo (channels-last regions as with a compiler: the NHWC stem and depthwise convolutions with fused
    activations; the classifiers, and MobileNetV3's squeeze-excite FCs, as GEMVs at batch 1) and the NCHW depthwise
    geometries of ``test_fused_kernels`` (3/5/7 taps, strides 1-3, dilation, the narrow and column-split forms);
    the vector width comes from LLVM's host features, and the C-only kernels that replace schedules (Winograd,
    spatial-rows) are not chosen. A runtime kernel that is
    still C (NMS) says it needs the compiler."""
    import shutil
    from sdk.tune.space import _probe_native
    from sdk.tir.expr import LibCall
    from test_fused_kernels import _dw_model, _feeds
    x = rng.standard_normal((4, 64)).astype(np.float32)
    model = _graph([h.make_node("Softmax", ["x"], ["s"], axis=-1), h.make_node("Mul", ["s", "g"], ["m"]),
                    h.make_node("Erf", ["x"], ["e"]), h.make_node("Add", ["m", "e"], ["y"])],
                   [("x", F, ["n", 64])], [("y", F, None)], [("g", np.linspace(0.5, 1.5, 64).astype(np.float32))])
    lanes_with_cc = _probe_native("gcc", ("-march=native",))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SDK_CACHE", str(tmp_path / "cache"))
    assert shutil.which("cc") is None and shutil.which("gcc") is None
    _probe_native.cache_clear()

    def lib_fns(b):
        return {s.fn for s in b.program.steps if isinstance(s, LibCall) and s.impl is None}
    try:
        b = sdk.compile(model, dims={"n": 8})
        np.testing.assert_allclose(b.run({"x": x})["y"], ort_run(model, {"x": x})["y"], rtol=RTOL, atol=ATOL)
        for name in ("mlp", "cnn", "transformer"):
            m, bounds = examples[name]
            b = sdk.compile(m, dims=bounds)
            assert any(getattr(s, "schedule", None) for s in b.program.steps), name
            lanes = {s.schedule["lanes"] for s in b.program.steps if getattr(s, "schedule", None)}
            assert lanes == {lanes_with_cc[0]}, (name, lanes)  # LLVM's features give what gcc's macros give
            feeds = random_inputs(m, dict(bounds, batch=min(2, bounds["batch"])), seed=4)
            assert_outputs_close(b.run(feeds), ort_run(m, feeds), RTOL, ATOL)
        nhwc = {"sdk_conv2d_stem_nhwc_f32", "sdk_dwconv2d_nhwc_f32", "sdk_gemv_f32"}
        for arch, fns in (("mobilenet_v2", nhwc), ("mobilenet_v3_small", nhwc)):
            m = onnx.load(str(TORCH_ZOO / f"{arch}.ts.onnx"))
            b = sdk.compile(m, dims={"batch": 1})
            assert fns <= lib_fns(b), (arch, lib_fns(b))
            feeds = random_inputs(m, {"batch": 1}, seed=5)
            assert_outputs_close(b.run(feeds), ort_run(m, feeds), 1e-3, 1e-4)  # the torch zoo's tolerance
        m, inputs = _dw_model()
        feeds = _feeds(inputs)
        assert_outputs_close(sdk.compile(m).run(feeds), ort_run(m, feeds), RTOL, ATOL)
        nms = _graph([h.make_node("NonMaxSuppression", ["boxes", "scores", "k"], ["sel"])],
                     [("boxes", F, [1, 6, 4]), ("scores", F, [1, 1, 6])], [("sel", T.INT64, None)],
                     [("k", np.array([3], np.int64))])
        boxes = np.sort(rng.random((1, 6, 4)).astype(np.float32), axis=-1)
        with pytest.raises(BuildError, match="C compiler 'gcc'"):
            sdk.compile(nms).run({"boxes": boxes, "scores": rng.random((1, 1, 6)).astype(np.float32)})
    finally:
        _probe_native.cache_clear()


def test_outputs_the_caller_keeps_are_never_reused(examples):
    """The JIT reuses an output array only when no reference to it is left: kept results stay intact, and
    a result fed back as the next input is not overwritten while it is read."""
    model, bounds = examples["mlp"]
    b = sdk.compile(model, dims=bounds)
    f1, f2 = random_inputs(model, {"batch": 3}, seed=1), random_inputs(model, {"batch": 3}, seed=2)
    kept = b.run(f1)["logits"]
    first = kept.copy()
    second = b.run(f2)["logits"]
    np.testing.assert_array_equal(kept, first)
    assert not np.shares_memory(kept, second)
    for _ in range(3):
        b.run(f1)  # results dropped: their arrays may be reused
    np.testing.assert_allclose(b.run(f2)["logits"], ort_run(model, f2)["logits"], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(kept, first)
