"""Quantization examples: a DS-CNN-style keyword-spotting model (49x10 MFCC input, 12 classes) and a
small image CNN (32x32 RGB, 10 classes); both output logits, so their int8 bundles end in int8 ops.

    python examples/kws.py [OUT_DIR]          (default: examples/models)
    sdk build examples/models/kws.onnx --dim batch=1 --target cortex-m4 -o out/kws \\
        --quantize int8 --calibration examples/models/kws_calibration.npz
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

from make_examples import Builder


def kws(channels=32, blocks=2):
    """DS-CNN: conv 10x4 stride 2, then depthwise-separable blocks (3x3 depthwise + 1x1 pointwise, ReLU),
    a residual Add, global average pooling and a classifier."""
    b = Builder(5)
    x = b.op("Conv", ["mfcc", b.w(channels, 1, 10, 4), b.w(channels, scale=0.1)], pads=[4, 1, 5, 2], strides=[2, 2])
    x = b.op("Relu", [x])
    for _ in range(blocks):
        y = b.op("Conv", [x, b.w(channels, 1, 3, 3), b.w(channels, scale=0.1)], pads=[1, 1, 1, 1], group=channels)
        y = b.op("Relu", [y])
        y = b.op("Conv", [y, b.w(channels, channels, 1, 1), b.w(channels, scale=0.1)])
        y = b.op("Relu", [y])
        x = b.op("Add", [x, y])
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x])
    x = b.op("Gemm", [x, b.w(12, channels), b.w(12, scale=0.1)], transB=1)
    b.nodes[-1].output[0] = "logits"
    return b.model("kws", [h.make_tensor_value_info("mfcc", T.FLOAT, ["batch", 1, 49, 10])],
                   [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 12])])


def tiny_image():
    """Small image CNN: conv-relu-maxpool twice, average pool, classifier."""
    b = Builder(6)
    x = b.op("Relu", [b.op("Conv", ["image", b.w(8, 3, 3, 3), b.w(8, scale=0.1)], pads=[1, 1, 1, 1])])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Relu", [b.op("Conv", [x, b.w(16, 8, 3, 3), b.w(16, scale=0.1)], pads=[1, 1, 1, 1])])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Flatten", [x])
    x = b.op("Gemm", [x, b.w(10, 16 * 4 * 4), b.w(10, scale=0.1)], transB=1)
    b.nodes[-1].output[0] = "logits"
    return b.model("tiny_image", [h.make_tensor_value_info("image", T.FLOAT, ["batch", 3, 32, 32])],
                   [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 10])])


QUANT_EXAMPLES = {"kws": (kws, "mfcc", (1, 49, 10)), "tiny_image": (tiny_image, "image", (3, 32, 32))}
QUANT_BOUNDS = {"kws": {"batch": 1}, "tiny_image": {"batch": 1}}


def calibration(name, n=64, seed=7):
    _, inp, shape = QUANT_EXAMPLES[name]
    return {inp: np.random.default_rng(seed).standard_normal((n,) + shape).astype(np.float32)}


def main(out_dir=None):
    out_dir = out_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    os.makedirs(out_dir, exist_ok=True)
    for name, (fn, _, _) in QUANT_EXAMPLES.items():
        onnx.save(fn(), os.path.join(out_dir, f"{name}.onnx"))
        np.savez(os.path.join(out_dir, f"{name}_calibration.npz"), **calibration(name))
        print(f"wrote {out_dir}/{name}.onnx and {name}_calibration.npz")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
