"""int8 post-training quantization: C kernels equal the numpy integer reference bit for bit (host and the
emulated Cortex-M4/M7, where the inner products use SMLAD), and the CNN keeps its top-1 answers."""
import subprocess

import numpy as np
import pytest

import sdk
from conftest import ort_run, random_inputs
from kws import QUANT_BOUNDS, QUANT_EXAMPLES, calibration
from sdk.transform.quantize import quantize_multiplier, reference_int8, requantize
from test_cortex_m import require_toolchain


def test_quantize_multiplier_and_requantize():
    for real in (0.0003, 0.02, 0.5, 0.99999, 1.7, 300.0):
        m, s = quantize_multiplier(real)
        assert 2**30 <= m < 2**31 and abs(m * 2.0 ** (s - 31) - real) <= real * 2**-30
        acc = np.arange(-5000, 5000, 7)
        np.testing.assert_array_less(np.abs(requantize(acc, m, s) - acc * real), 0.5 + 1e-9 + 1e-6 * np.abs(acc))


def test_cnn_int8_top1_agrees_with_float(examples):
    model, _ = examples["cnn"]
    rng = np.random.default_rng(11)
    cal = {"image": rng.standard_normal((64, 1, 28, 28)).astype(np.float32)}
    b = sdk.compile(model, target="host", dims={"batch": 200}, quantize="int8", calibration=cal)
    assert any(s.fn == "sdk_conv2d_s8" for s in b.program.steps if hasattr(s, "fn"))
    feeds = {"image": rng.standard_normal((200, 1, 28, 28)).astype(np.float32)}
    got = b.run(feeds)["probs"]
    ref = reference_int8(b.func, feeds)["probs"]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)  # the float Softmax tail: expf vs np.exp
    agree = np.mean(got.argmax(1) == ort_run(model, feeds)["probs"].argmax(1))
    assert agree >= 0.95, agree


@pytest.mark.parametrize("target", ["host", "cortex-m4", "cortex-m7"])
@pytest.mark.parametrize("name", sorted(QUANT_EXAMPLES))
def test_int8_examples_equal_integer_reference(tmp_path, target, name):
    if target != "host":
        require_toolchain()
    fn, inp, _ = QUANT_EXAMPLES[name]
    model = fn()
    b = sdk.compile(model, target=target, dims=QUANT_BOUNDS[name], quantize="int8", calibration=calibration(name))
    b.save(tmp_path / name)
    feeds = random_inputs(model, {"batch": 1}, seed=4)
    got, info = b.run_with_info(feeds)
    ref = reference_int8(b.func, feeds)
    np.testing.assert_array_equal(got["logits"], ref["logits"])
    assert got["logits"].argmax() == ort_run(model, feeds)["logits"].argmax()
    if target != "host":
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / name / "firmware.elf")],
                             capture_output=True, text=True, check=True).stdout
        assert "smlad" in dis  # the profile says DSP: the inner products use the dual 16-bit MAC
        assert info["cycles"] > 0


def test_quantize_needs_calibration(examples):
    model, bounds = examples["cnn"]
    with pytest.raises(sdk.SdkError, match="calibration"):
        sdk.compile(model, dims=bounds, quantize="int8")
    with pytest.raises(sdk.SdkError, match="no input 'image'"):
        sdk.compile(model, dims=bounds, quantize="int8", calibration={"x": np.zeros((1, 1, 28, 28), np.float32)})


def test_int8_on_pytorch_names_matches_onnxruntime():
    """A PyTorch TorchScript export (input 'input.1', tensors such as '/features/features.1/conv/Conv'): the
    quantizer, the calibration feed, Bundle.quant and Bundle.run key on the ONNX names (Value.onnx_name), never on
    the C-safe Value.name the importer makes."""
    import os

    import onnx
    from conftest import TESTS, ort_run
    model = onnx.load(os.path.join(TESTS, "models", "torch_names.onnx"))
    (inp,) = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    assert inp == "input.1"
    rng = np.random.default_rng(7)
    shape = [d.dim_value or 2 for d in model.graph.input[0].type.tensor_type.shape.dim]
    calib = rng.standard_normal([8] + shape[1:]).astype(np.float32)
    x = rng.standard_normal([2] + shape[1:]).astype(np.float32)
    ref = ort_run(model, {inp: x})
    fp32 = sdk.compile(model, dims={"batch": 8})
    for k, r in ref.items():
        np.testing.assert_allclose(fp32.run({inp: x})[k], r, rtol=1e-5, atol=1e-6)
    q = sdk.compile(model, dims={"batch": 8}, quantize="int8", calibration={inp: calib})
    assert q.func.input_names == ["input.1"] and "input.1" in q.quant  # scales/zero points by ONNX name
    got = q.run({inp: x})
    for k, r in ref.items():  # int8: within a few quantization steps of the output's range
        np.testing.assert_allclose(got[k], r, atol=0.05 * float(np.abs(r).max()) + 1e-3)


def test_int8_ranges_follow_onnx_names_when_c_names_collide():
    """Input 'a.b' and a Gemm output named 'a_b' both sanitise to 'a_b': each must be quantized with its own
    calibration range (keyed by its ONNX name), not the other's."""
    from onnx import TensorProto, helper, numpy_helper
    from conftest import ort_run
    rng = np.random.default_rng(3)
    w = (50 * rng.standard_normal((16, 8))).astype(np.float32)  # output range ~100x the input's
    g = helper.make_graph(
        [helper.make_node("Gemm", ["a.b", "w"], ["a_b"])], "g",
        [helper.make_tensor_value_info("a.b", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("a_b", TensorProto.FLOAT, ["batch", 8])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    calib = rng.uniform(-1, 1, (64, 16)).astype(np.float32)
    x = rng.uniform(-1, 1, (4, 16)).astype(np.float32)
    q = sdk.compile(model, dims={"batch": 64}, quantize="int8", calibration={"a.b": calib})
    assert set(q.quant) == {"a.b", "a_b"}  # Bundle.quant is keyed by ONNX names
    ref = ort_run(model, {"a.b": x})["a_b"]
    np.testing.assert_allclose(q.run({"a.b": x})["a_b"], ref, atol=0.02 * float(np.abs(ref).max()))


def test_reduce_mean_over_hw_is_an_int8_pool_and_batches_calibrate():
    """examples/finetune/kws_backbone.onnx pools with ReduceMean over H, W (no keepdims): an int8 average pool and a
    Reshape, bit for bit the integer reference; calibration given as several batches of the fixed batch size."""
    import os
    import sys

    import onnx
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "finetune")
    sys.path.insert(0, here)
    from keywords import dataset
    model = os.path.join(here, "kws_backbone.onnx")
    x, y = dataset(range(4), 8, seed=3)
    cal = [{"mfcc": x[i:i + 8]} for i in range(0, 32, 8)]
    b = sdk.compile(model, target="host", quantize="int8", calibration=cal)
    ops = [s.op for s in b.func.bindings]
    assert "sdk.QAvgPool" in ops and "ReduceMean" not in ops and "sdk.QFC" in ops
    xt, yt = dataset(range(4), 4, seed=21)
    for i in (0, 8):
        feeds = {"mfcc": xt[i:i + 8]}
        got = b.run(feeds)["logits"]
        np.testing.assert_array_equal(got, reference_int8(b.func, feeds)["logits"])
        assert np.mean(got.argmax(1) == ort_run(onnx.load(model), feeds)["logits"].argmax(1)) >= 0.75


def _int8_kernel_model():
    """Convolutions whose columns have a tail (K = 54, not a multiple of 4), a strided depthwise convolution with
    asymmetric padding, a padded AveragePool counting its padding, a pointwise convolution, a global pool."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)

    def init(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], group=8, strides=[2, 2], pads=[1, 0, 2, 1]),
             helper.make_node("AveragePool", ["c2"], ["p"], kernel_shape=[3, 3], strides=[2, 1], pads=[1, 1, 1, 1],
                              count_include_pad=1),
             helper.make_node("Conv", ["p", "w3", "b3"], ["c3"]),
             helper.make_node("GlobalAveragePool", ["c3"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["logits"], transB=1)]
    inits = [init("w1", 8, 6, 3, 3), init("b1", 8), init("w2", 8, 1, 3, 3), init("b2", 8), init("w3", 5, 8, 1, 1),
             init("b3", 5), init("w4", 3, 5), init("b4", 3)]
    g = helper.make_graph(nodes, "k", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 11, 9])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("target", ["host", pytest.param("cortex-m7", marks=pytest.mark.slow)])
def test_int8_kernel_paths_equal_integer_reference(tmp_path, target):
    """The int8 kernels' paths (interleaved SMLAD columns with a tail, border columns, the direct depthwise plane,
    the interior / border average pool) equal the numpy integer reference bit for bit."""
    if target != "host":
        require_toolchain()
    model = _int8_kernel_model()
    rng = np.random.default_rng(8)
    cal = [{"x": rng.standard_normal((2, 6, 11, 9)).astype(np.float32)} for _ in range(3)]
    b = sdk.compile(model, target=target, quantize="int8", calibration=cal)
    assert [s.op for s in b.func.bindings].count("sdk.QConv") == 3 and "sdk.QAvgPool" in [s.op for s in b.func.bindings]
    b.save(tmp_path / "k")
    feeds = {"x": rng.standard_normal((2, 6, 11, 9)).astype(np.float32)}
    got = b.run(feeds)["logits"]
    np.testing.assert_array_equal(got, reference_int8(b.func, feeds)["logits"])
