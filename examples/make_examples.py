"""Generate the example models with the onnx helper API.

    python examples/make_examples.py [OUT_DIR]     (default: examples/models)

- mlp.onnx: 3-layer perceptron, symbolic batch.
- cnn.onnx: small image CNN (conv, batchnorm, pooling, gemm), symbolic batch.
- resnext_block.onnx: multi-branch block: ResNeXt bottleneck with a grouped
  3x3 conv and a projection shortcut, then an Inception-style set of parallel
  branches joined by Concat. Nodes are written branch-heads-first, the order a
  naive exporter produces, which keeps every branch alive at once.
- transformer.onnx: 2-layer transformer encoder with symbolic batch and seq;
  head split/merge reshapes are computed from Shape at run time, as PyTorch
  exports them.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OPSET = 17


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.k = [], [], 0

    def w(self, *shape, scale=None, positive=False):
        self.k += 1
        if positive:
            arr = self.rng.uniform(0.5, 1.5, shape)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            arr = self.rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(fan_in))
        name = f"w{self.k}"
        self.inits.append(nh.from_array(arr.astype(np.float32), name))
        return name

    def const(self, arr, dtype=np.int64):
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(nh.from_array(np.asarray(arr, dtype), name))
        return name

    def op(self, op_type, inputs, n_out=1, **attrs):
        self.k += 1
        outs = [f"{op_type.lower()}{self.k}_{i}" for i in range(n_out)]
        self.nodes.append(h.make_node(op_type, inputs, outs, name=f"{op_type}_{self.k}", **attrs))
        return outs[0] if n_out == 1 else outs

    def model(self, name, inputs, outputs):
        g = h.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = h.make_model(g, opset_imports=[h.make_opsetid("", OPSET)], producer_name="sdk-examples")
        onnx.checker.check_model(m)
        return m


def _rename_output(b, last, name):
    b.nodes[-1].output[0] = name
    return name


def mlp():
    b = Builder(1)
    x = b.op("Gemm", ["x", b.w(128, 64), b.w(128, scale=0.1)], transB=1)
    x = b.op("Relu", [x])
    x = b.op("MatMul", [x, b.w(128, 64)])
    x = b.op("Add", [x, b.w(64, scale=0.1)])
    x = b.op("Tanh", [x])
    x = b.op("MatMul", [x, b.w(64, 10)])
    _rename_output(b, x, "logits")
    return b.model("mlp", [h.make_tensor_value_info("x", T.FLOAT, ["batch", 64])],
                   [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 10])])


def cnn():
    b = Builder(2)
    x = b.op("Conv", ["image", b.w(8, 1, 3, 3), b.w(8, scale=0.1)], pads=[1, 1, 1, 1])
    x = b.op("Relu", [x])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Conv", [x, b.w(16, 8, 3, 3)], pads=[1, 1, 1, 1], strides=[2, 2])
    x = b.op("BatchNormalization", [x, b.w(16, positive=True), b.w(16, scale=0.1), b.w(16, scale=0.1), b.w(16, positive=True)])
    x = b.op("Relu", [x])
    x = b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x])
    x = b.op("Gemm", [x, b.w(16, 10), b.w(10, scale=0.1)])
    x = b.op("Softmax", [x], axis=1)
    _rename_output(b, x, "probs")
    return b.model("cnn", [h.make_tensor_value_info("image", T.FLOAT, ["batch", 1, 28, 28])],
                   [h.make_tensor_value_info("probs", T.FLOAT, ["batch", 10])])


def resnext_block():
    b = Builder(3)
    C = 64
    # ResNeXt bottleneck: heads of both paths first (file order a naive exporter gives)
    short = b.op("Conv", ["x", b.w(128, C, 1, 1)])
    a = b.op("Conv", ["x", b.w(C, C, 1, 1), b.w(C, scale=0.1)])
    a = b.op("Relu", [a])
    a = b.op("Conv", [a, b.w(C, C // 8, 3, 3)], pads=[1, 1, 1, 1], group=8)
    a = b.op("Relu", [a])
    a = b.op("Conv", [a, b.w(128, C, 1, 1)])
    y = b.op("Relu", [b.op("Add", [a, short])])
    # Inception-style branches, all heads first
    b1 = b.op("Conv", [y, b.w(32, 128, 1, 1)])
    b2 = b.op("Conv", [y, b.w(16, 128, 1, 1)])
    b3 = b.op("MaxPool", [y], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    b4 = b.op("AveragePool", [y], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    b2 = b.op("Conv", [b.op("Relu", [b2]), b.w(32, 16, 3, 3)], pads=[1, 1, 1, 1])
    b3 = b.op("Conv", [b3, b.w(16, 128, 1, 1)])
    b4 = b.op("Conv", [b4, b.w(16, 128, 1, 1)])
    out = b.op("Concat", [b.op("Relu", [b1]), b.op("Relu", [b2]), b.op("Relu", [b3]), b.op("Relu", [b4])], axis=1)
    _rename_output(b, out, "y")
    return b.model("resnext_block", [h.make_tensor_value_info("x", T.FLOAT, ["batch", C, 28, 28])],
                   [h.make_tensor_value_info("y", T.FLOAT, ["batch", 96, 28, 28])])


def transformer(layers=2, d=64, heads=4, ffn=128):
    b = Builder(4)
    dh = d // heads
    x = "x"
    shape = b.op("Shape", [x])
    bs = b.op("Gather", [shape, b.const([0])], axis=0)      # [batch]
    sq = b.op("Gather", [shape, b.const([1])], axis=0)      # [seq]
    split_shape = b.op("Concat", [bs, sq, b.const([heads, dh])], axis=0)
    for _ in range(layers):
        def proj(src, perm):
            p = b.op("Add", [b.op("MatMul", [src, b.w(d, d)]), b.w(d, scale=0.1)])
            return b.op("Transpose", [b.op("Reshape", [p, split_shape])], perm=perm)
        q = proj(x, [0, 2, 1, 3])              # [b, h, s, dh]
        k = proj(x, [0, 2, 3, 1])              # [b, h, dh, s]
        v = proj(x, [0, 2, 1, 3])
        att = b.op("Mul", [b.op("MatMul", [q, k]), b.const(1 / np.sqrt(dh), np.float32)])
        att = b.op("Softmax", [att], axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [att, v])], perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, b.const([0, 0, -1])])
        o = b.op("Add", [b.op("MatMul", [ctx, b.w(d, d)]), b.w(d, scale=0.1)])
        x = b.op("LayerNormalization", [b.op("Add", [x, o]), b.w(d, positive=True), b.w(d, scale=0.1)], axis=-1)
        f = b.op("Add", [b.op("MatMul", [x, b.w(d, ffn)]), b.w(ffn, scale=0.1)])
        g = b.op("Mul", [b.op("Mul", [f, b.const(0.5, np.float32)]),
                         b.op("Add", [b.op("Erf", [b.op("Div", [f, b.const(np.sqrt(2), np.float32)])]),
                                      b.const(1.0, np.float32)])])
        f = b.op("Add", [b.op("MatMul", [g, b.w(ffn, d)]), b.w(d, scale=0.1)])
        x = b.op("LayerNormalization", [b.op("Add", [x, f]), b.w(d, positive=True), b.w(d, scale=0.1)], axis=-1)
    _rename_output(b, x, "hidden")
    return b.model("transformer", [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", d])],
                   [h.make_tensor_value_info("hidden", T.FLOAT, ["batch", "seq", d])])


EXAMPLES = {"mlp": mlp, "cnn": cnn, "resnext_block": resnext_block, "transformer": transformer}
# upper bounds used when compiling the examples
BOUNDS = {"mlp": {"batch": 16}, "cnn": {"batch": 4}, "resnext_block": {"batch": 2},
          "transformer": {"batch": 4, "seq": 128}}


def main(out_dir=None):
    out_dir = out_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    os.makedirs(out_dir, exist_ok=True)
    for name, fn in EXAMPLES.items():
        path = os.path.join(out_dir, f"{name}.onnx")
        onnx.save(fn(), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
