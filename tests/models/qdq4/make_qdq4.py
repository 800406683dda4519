"""Make the 4-bit QDQ files of tests/e2e/test_lowbit.py with onnxruntime's own weight quantizer.

A float MLP (MatMul -> Relu -> MatMul, weights [64, 48] and [48, 16]) goes through onnxruntime's
``MatMulNBitsQuantizer`` with ``quant_format=QuantFormat.QDQ``: each weight becomes an INT4 (symmetric) or
UINT4 + zero point (asymmetric) initializer, a ``DequantizeLinear`` with ``axis=0`` and ``block_size=16``
(opset 21) and the float MatMul, the form in which it writes 4-bit LLM weights.

A small float CNN (Conv -> Relu -> Flatten -> MatMul) goes through ``quantize_static`` in QDQ form twice: uint8
activations with per-channel INT4 weights (``conv_qdq_u8_int4w.onnx``), and FLOAT8E4M3FN activations and weights
(``conv_qdq_f8.onnx``, which onnxruntime calibrates with the Distribution method only).

    python tests/models/qdq4/make_qdq4.py     # needs onnxruntime (with onnx_ir); writes the four files
"""
import copy
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def float_model(seed=0, K=64, H=48, N=16):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((K, H)) * 0.2).astype(np.float32)
    w2 = (rng.standard_normal((H, N)) * 0.2).astype(np.float32)
    g = helper.make_graph([
        helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def float_cnn(seed=1):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    bias = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((8 * 6 * 6, 10)) * 0.1).astype(np.float32)
    g = helper.make_graph([
        helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("MatMul", ["f", "w2"], ["y"])], "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def static_qdq(path, **kw):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    rng = np.random.default_rng(2)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.it, None)

    src = path + ".float.onnx"
    onnx.save(float_cnn(), src)
    try:
        quantize_static(src, path, Reader(), quant_format=QuantFormat.QDQ, **kw)
    finally:
        os.remove(src)
    m = onnx.load(path)
    m.producer_name, m.producer_version = "onnxruntime.quantization", ""
    onnx.save(m, path)
    print(os.path.basename(path), sorted({n.op_type for n in m.graph.node}),
          sorted({TensorProto.DataType.Name(i.data_type) for i in m.graph.initializer}))


def main():
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    static_qdq(os.path.join(HERE, "conv_qdq_u8_int4w.onnx"), activation_type=QuantType.QUInt8,
               weight_type=QuantType.QInt4, per_channel=True)
    static_qdq(os.path.join(HERE, "conv_qdq_f8.onnx"), activation_type=QuantType.QFLOAT8E4M3FN,
               weight_type=QuantType.QFLOAT8E4M3FN, calibrate_method=CalibrationMethod.Distribution)
    model = float_model()
    for symmetric, name in ((True, "mlp_int4_sym.onnx"), (False, "mlp_uint4_asym.onnx")):
        q = MatMulNBitsQuantizer(copy.deepcopy(model), bits=4, block_size=16, is_symmetric=symmetric,
                                 quant_format=QuantFormat.QDQ)
        q.process()
        out = q.model.model
        out.producer_name, out.producer_version = "onnxruntime.quantization", ""
        onnx.save(out, os.path.join(HERE, name))
        print(name, [n.op_type for n in out.graph.node],
              [(i.name, TensorProto.DataType.Name(i.data_type), list(i.dims)) for i in out.graph.initializer])


if __name__ == "__main__":
    main()
