"""Models shipped in float16 (onnxruntime's converter, `onnxruntime.transformers.float16`, with float32 or float16
inputs/outputs) compile and run on the host; and a graph whose nodes are not in topological order (that converter
appends the Casts of the inputs at the end) imports."""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from conftest import ort_run

ZOO = Path(__file__).resolve().parents[1] / "torch_zoo" / "models"


def _image(seed, b):
    return {"image": np.random.default_rng(seed).standard_normal((b, 3, 64, 64)).astype(np.float32)}


def _text(seed, b, s=7):
    r = np.random.default_rng(seed)
    mask = np.ones((b, s), np.int64)
    mask[:, -2:] = 0
    return {"ids": r.integers(0, 100, (b, s)).astype(np.int64), "mask": mask}


@pytest.mark.slow
@pytest.mark.parametrize("keep_io", [True, False], ids=["fp32_io", "fp16_io"])
@pytest.mark.parametrize("file,feeds,dims", [("resnet_basic.ts.onnx", _image, {"batch": 4}),
                                             ("bert.ts.onnx", _text, {"batch": 4, "seq": 32})])
def test_float16_model_matches_onnxruntime(file, feeds, dims, keep_io):
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m32 = onnx.load(str(ZOO / file))
    m16 = convert_float_to_float16(m32, keep_io_types=keep_io)
    s16 = ort.InferenceSession(m16.SerializeToString(), providers=["CPUExecutionProvider"])
    s32 = ort.InferenceSession(m32.SerializeToString(), providers=["CPUExecutionProvider"])
    bundle = sdk.compile(m16, dims=dims)
    for seed, b in ((3, 1), (4, 3)):
        f32 = feeds(seed, b)
        f = f32 if keep_io else {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in f32.items()}
        got = list(bundle.run(f).values())[0]
        r16, r32 = s16.run(None, f)[0], s32.run(None, f32)[0]
        assert got.dtype == r16.dtype and got.shape == r16.shape
        scale = float(np.abs(r32).max())
        # float16 storage: each engine rounds its own way; both within 1e-2 of float32, and of each other
        for ref in (r16, r32):
            np.testing.assert_allclose(got.astype(np.float32), ref.astype(np.float32), rtol=0, atol=1e-2 * scale)


def test_nodes_out_of_order_import():
    RNG = np.random.default_rng(0)
    w = onnx.numpy_helper.from_array(RNG.standard_normal((4, 4)).astype(np.float32), "w")
    nodes = [h.make_node("Relu", ["b"], ["y"]), h.make_node("MatMul", ["a", "w"], ["b"]),
             h.make_node("Neg", ["x"], ["a"])]  # y <- b <- a <- x, listed backwards
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [3, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], [w])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    feeds = {"x": RNG.standard_normal((3, 4)).astype(np.float32)}
    np.testing.assert_allclose(sdk.compile(m).run(feeds)["y"], ort_run(m, feeds)["y"], rtol=1e-6, atol=1e-6)
    cyc = h.make_graph([h.make_node("Relu", ["b"], ["a"]), h.make_node("Neg", ["a"], ["b"])], "c",
                       [h.make_tensor_value_info("x", T.FLOAT, [3])], [h.make_tensor_value_info("a", T.FLOAT, None)])
    with pytest.raises(sdk.errors.ImportError_, match="cycle"):
        sdk.compile(h.make_model(cyc, opset_imports=[h.make_opsetid("", 17)]))
