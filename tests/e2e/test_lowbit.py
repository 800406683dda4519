"""Low-bit types (sdk/ops/lowbit.py): 4- / 2-bit integers, float8 and float4 through Cast, QuantizeLinear and
DequantizeLinear, on inputs known only at run time, against onnx's ReferenceEvaluator (ml_dtypes) or onnxruntime;
and the 4-bit QDQ files onnxruntime's weight quantizer writes (tests/models/qdq4) against onnxruntime."""
import os

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx.reference import ReferenceEvaluator

import sdk
from conftest import ort_run

RNG = np.random.default_rng(20)
MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "qdq4")
FLOAT8 = {"float8_e4m3fn": T.FLOAT8E4M3FN, "float8_e4m3fnuz": T.FLOAT8E4M3FNUZ, "float8_e5m2": T.FLOAT8E5M2,
          "float8_e5m2fnuz": T.FLOAT8E5M2FNUZ, "float4_e2m1fn": T.FLOAT4E2M1}
INTS = {"int4": T.INT4, "uint4": T.UINT4, "int2": T.INT2, "uint2": T.UINT2}


def graph(nodes, inputs, outputs, opset=23, inits=()):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                     [h.make_tensor_value_info(n, t, None) for n, t in outputs],
                     [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def same_bits(got, ref, what):
    assert got.dtype == ref.dtype and got.shape == ref.shape, (what, got.dtype, ref.dtype, got.shape, ref.shape)
    g, r = got.view(np.uint8).astype(np.int32), ref.view(np.uint8).astype(np.int32)
    if ref.dtype.name.startswith("float"):  # any NaN pattern is a NaN
        nan = np.isnan(ref.astype(np.float32))
        assert np.array_equal(np.isnan(got.astype(np.float32)), nan), what
        g, r = g[~nan], r[~nan]
    bad = np.flatnonzero(g != r)
    assert bad.size == 0, f"{what}: {bad.size} differ, e.g. {g[bad[:5]]} != {r[bad[:5]]}"


def _probe_values(dt):
    """Every value of the format, the midpoints between neighbours (ties) and values just off them, random values
    over the whole float32 range, and the specials."""
    vals = np.arange(256 if dt.startswith("float8") else 16, dtype=np.uint8).view(ml_dtypes.__dict__[dt])
    v = np.unique(vals.astype(np.float32)[np.isfinite(vals.astype(np.float32))])
    mid = (v[1:] + v[:-1]) / 2
    near = np.concatenate([mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf), v, v * 1.0000001])
    rnd = (RNG.standard_normal(2000) * 10.0 ** RNG.uniform(-12, 7, 2000)).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-30, 3.4e38, 1e-45], np.float32)
    x = np.concatenate([near, -near, rnd, special]).astype(np.float32)
    return x


# float4 has no inf / NaN: it always saturates, so only its saturating case
@pytest.mark.parametrize("dt,saturate", [(t, s) for t in FLOAT8 for s in (1, 0) if s or not t.startswith("float4")])
def test_float_lowbit_cast_round_trip(dt, saturate):
    """float32 -> low-bit float (ties to even, saturating or not) -> float32, and every byte pattern -> float32."""
    code = FLOAT8[dt]
    m = graph([h.make_node("Cast", ["x"], ["q"], to=code, saturate=saturate),
               h.make_node("Cast", ["q"], ["back"], to=T.FLOAT),
               h.make_node("Cast", ["bits"], ["decoded"], to=T.FLOAT)],
              [("x", T.FLOAT, ["n"]), ("bits", code, ["k"])], [("q", code), ("back", T.FLOAT), ("decoded", T.FLOAT)])
    x = _probe_values(dt)
    bits = np.arange(256 if dt.startswith("float8") else 16, dtype=np.uint8).view(ml_dtypes.__dict__[dt])
    feeds = {"x": x, "bits": bits}
    ref = dict(zip(("q", "back", "decoded"), ReferenceEvaluator(m).run(None, feeds)))
    b = sdk.compile(m, dims={"n": x.size, "k": bits.size})
    for engine in ("llvm", "c"):
        got = b.run(feeds, engine=engine)
        same_bits(got["q"], ref["q"], f"{engine} {dt} encode")
        for k in ("back", "decoded"):
            np.testing.assert_array_equal(got[k], ref[k], err_msg=f"{engine} {dt} {k}")


@pytest.mark.parametrize("mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [1, 0])
def test_e8m0_cast(mode, saturate):
    """float32 -> float8 e8m0 (the exponent, per round_mode) -> float32, against the reference."""
    x = np.concatenate([_probe_values("float8_e4m3fn"), 2.0 ** np.arange(-149, 128), 3 * 2.0 ** np.arange(-149, 127),
                        np.float32(3.4e38) * np.array([1, -1])]).astype(np.float32)
    m = graph([h.make_node("Cast", ["x"], ["q"], to=T.FLOAT8E8M0, saturate=saturate, round_mode=mode),
               h.make_node("Cast", ["q"], ["back"], to=T.FLOAT)],
              [("x", T.FLOAT, ["n"])], [("q", T.FLOAT8E8M0), ("back", T.FLOAT)], opset=24)
    ref = dict(zip(("q", "back"), ReferenceEvaluator(m).run(None, {"x": x})))
    b = sdk.compile(m, dims={"n": x.size})
    for engine in ("llvm", "c"):
        got = b.run({"x": x}, engine=engine)
        same_bits(got["q"], ref["q"], f"{engine} e8m0 {mode}")
        np.testing.assert_array_equal(got["back"], ref["back"], err_msg=engine)


@pytest.mark.parametrize("dt", list(INTS))
def test_int_lowbit_casts(dt):
    """float32 / int32 / float16 -> 4- or 2-bit integer keeps the low bits (the reference's wrap), and back."""
    code = INTS[dt]
    m = graph([h.make_node("Cast", ["x"], ["a"], to=code), h.make_node("Cast", ["i"], ["b"], to=code),
               h.make_node("Cast", ["hf"], ["c"], to=code), h.make_node("Cast", ["a"], ["a32"], to=T.INT32),
               h.make_node("Cast", ["b"], ["bf"], to=T.FLOAT16), h.make_node("Cast", ["c"], ["cb"], to=T.BOOL)],
              [("x", T.FLOAT, [64]), ("i", T.INT32, [64]), ("hf", T.FLOAT16, [64])],
              [("a", code), ("b", code), ("c", code), ("a32", T.INT32), ("bf", T.FLOAT16), ("cb", T.BOOL)])
    feeds = {"x": RNG.uniform(-40, 40, 64).astype(np.float32), "i": RNG.integers(-300, 300, 64).astype(np.int32),
             "hf": RNG.uniform(-20, 20, 64).astype(np.float16)}
    ref = ReferenceEvaluator(m).run(None, feeds)
    b = sdk.compile(m)
    for engine in ("llvm", "c"):
        got = b.run(feeds, engine=engine)
        for name, r in zip(("a", "b", "c", "a32", "bf", "cb"), ref):
            same_bits(got[name], r, f"{engine} {dt} {name}") if name in "abc" else \
                np.testing.assert_array_equal(got[name], r, err_msg=f"{engine} {dt} {name}")


@pytest.mark.parametrize("dt,axis,block", [("int4", 0, 16), ("uint4", 1, 8), ("int4", 1, 0), ("uint2", 0, 4),
                                           ("int2", 1, 0)])
def test_qdq_lowbit_runtime(dt, axis, block):
    """QuantizeLinear -> DequantizeLinear of a run-time tensor to a 4- / 2-bit type, blocked (opset 21's
    block_size) or per axis, with zero points, against onnxruntime (int4 / uint4) or the reference (2-bit)."""
    code = INTS[dt]
    x = RNG.standard_normal((32, 24)).astype(np.float32)
    nblk = (x.shape[axis] + block - 1) // block if block else None
    sshape = [x.shape[0], x.shape[1]] if block else [x.shape[axis]]
    if block:
        sshape[axis] = nblk
    scale = RNG.uniform(0.05, 0.4, sshape).astype(np.float32)
    lo, hi = (-(2 ** (int(dt[-1]) - 1)), 2 ** (int(dt[-1]) - 1) - 1) if dt[0] == "i" else (0, 2 ** int(dt[-1]) - 1)
    zp = RNG.integers(lo, hi + 1, sshape).astype(ml_dtypes.__dict__[dt])
    attrs = dict(axis=axis, block_size=block) if block else dict(axis=axis)
    opset = 25 if dt.endswith("2") else 21
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)]
    m = graph(nodes, [("x", T.FLOAT, list(x.shape))], [("q", code), ("y", T.FLOAT)], opset=opset,
              inits=[("s", scale), ("z", zp)])
    ref = dict(zip(("q", "y"), ReferenceEvaluator(m).run(None, {"x": x})))
    if not dt.endswith("2"):  # onnxruntime has no 2-bit types, and hands back no 4-bit arrays: y only
        ort = ort_run(graph(nodes, [("x", T.FLOAT, list(x.shape))], [("y", T.FLOAT)], opset=opset,
                            inits=[("s", scale), ("z", zp)]), {"x": x})
        np.testing.assert_allclose(ort["y"], ref["y"], rtol=1e-6, atol=0, err_msg="onnxruntime vs reference")
    b = sdk.compile(m)
    for engine in ("llvm", "c"):
        got = b.run({"x": x}, engine=engine)
        same_bits(got["q"], ref["q"], f"{engine} q")
        np.testing.assert_allclose(got["y"], ref["y"], rtol=1e-6, atol=0, err_msg=engine)


@pytest.mark.parametrize("dt", ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"])
def test_qdq_float8_runtime(dt):
    """QuantizeLinear to float8 (per-axis scales, saturating) -> DequantizeLinear, against the reference."""
    code = FLOAT8[dt]
    x = (RNG.standard_normal((6, 40)) * 300).astype(np.float32)
    scale = RNG.uniform(0.5, 2, 6).astype(np.float32)
    zp = np.zeros(6, np.float32).astype(ml_dtypes.__dict__[dt])
    m = graph([h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=0),
               h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0)],
              [("x", T.FLOAT, [6, 40])], [("q", code), ("y", T.FLOAT)], opset=21, inits=[("s", scale), ("z", zp)])
    ref = dict(zip(("q", "y"), ReferenceEvaluator(m).run(None, {"x": x})))
    got = sdk.compile(m).run({"x": x}, engine="llvm")
    same_bits(got["q"], ref["q"], "q")
    np.testing.assert_allclose(got["y"], ref["y"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["mlp_int4_sym.onnx", "mlp_uint4_asym.onnx", "conv_qdq_u8_int4w.onnx",
                                  "conv_qdq_f8.onnx"])
def test_onnxruntime_quantizer_files(name):
    """Files from onnxruntime's quantization tools (tests/models/qdq4/make_qdq4.py): MatMulNBitsQuantizer in QDQ form
    (INT4 / UINT4 weights, blocked DequantizeLinear) and quantize_static in QDQ form (uint8 activations with
    per-channel INT4 weights; FLOAT8E4M3FN activations and weights). Constant weights are unpacked at build time;
    the outputs match onnxruntime's run of the QDQ graph as written. onnxruntime at its default optimization level
    fuses DequantizeLinear + MatMul into MatMulNBits, which quantizes the activations to int8 on this CPU (0.019
    off on outputs up to 4.3 for the int4 MLP, measured); at ORT_ENABLE_BASIC it runs the graph's float ops, as
    onnx's reference does."""
    import onnxruntime as ort
    m = onnx.load(os.path.join(MODELS, name))
    assert {i.data_type for i in m.graph.initializer} & {T.INT4, T.UINT4, T.FLOAT8E4M3FN}
    mlp = name.startswith("mlp")
    x = RNG.standard_normal((5, 64) if mlp else (1, 3, 8, 8)).astype(np.float32)
    so = ort.SessionOptions()
    so.graph_optimization_level, so.log_severity_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, 3
    ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    b = sdk.compile(m, dims={"batch": 8} if mlp else None)
    for engine in ("llvm", "c"):
        np.testing.assert_allclose(b.run({"x": x}, engine=engine)["y"], ref, rtol=1e-4, atol=1e-5, err_msg=engine)


def test_lowbit_arithmetic_refused():
    """Ops that would read a low-bit tensor's bytes as numbers are refused, naming the type."""
    m = graph([h.make_node("Add", ["a", "a"], ["y"])], [("a", T.INT4, [4])], [("y", T.INT4)])
    with pytest.raises(sdk.errors.UnsupportedOp, match="dtype int4"):
        sdk.compile(m)
    m = graph([h.make_node("Cast", ["x"], ["y"], to=T.FLOAT8E4M3FN)], [("x", T.DOUBLE, [4])], [("y", T.FLOAT8E4M3FN)])
    with pytest.raises(sdk.errors.UnsupportedOp, match="float64"):
        sdk.compile(m)
