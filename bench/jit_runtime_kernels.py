"""The runtime kernels the in-process engine emits as LLVM IR (``sdk/codegen/llvm_runtime.py``: depthwise
convolution, GEMV) against the same kernels built from C with gcc (``JitModel(ir_kernels=False)``: the runtime's
C source, the host profile's flags, one thread), per layer, in one process, the two interleaved.

    OMP_NUM_THREADS=1 python bench/jit_runtime_kernels.py [--reps 50]

Layers: MobileNetV2's depthwise convolutions at 224x224 (3x3, stride 1 and 2, every plane size), 5x5/7x7 ones
of EfficientNet/ConvNeXt-like nets, and batch-1 GEMVs (a classifier, squeeze-excite FCs). Time: the median of
``--reps`` runs timed in native code (``run_with_info``), the lower of three interleaved rounds.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import sdk
from sdk.backends.host.inprocess import JitModel

# (C, H, kernel, stride)
DW = [(32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1), (144, 56, 3, 2), (192, 28, 3, 1), (192, 28, 3, 2),
      (384, 14, 3, 1), (576, 14, 3, 1), (576, 14, 3, 2), (960, 7, 3, 1), (240, 28, 5, 1), (672, 14, 5, 2),
      (96, 56, 7, 1), (384, 14, 7, 1)]
# (K, N): y = x W^T + b, one row
GEMV = [(1280, 1000), (576, 144), (960, 240), (64, 16), (2048, 1000)]


def _model(node, x_shape, inits):
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def dw_model(C, H, k, s, rng):
    w = rng.standard_normal((C, 1, k, k)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=C, kernel_shape=[k, k], strides=[s, s],
                            pads=[k // 2] * 4)
    return _model(node, [1, C, H, H], [("w", w), ("b", rng.standard_normal(C).astype(np.float32))]), (1, C, H, H)


def gemv_model(K, N, rng):
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    w = rng.standard_normal((N, K)).astype(np.float32)
    return _model(node, [1, K], [("w", w), ("b", rng.standard_normal(N).astype(np.float32))]), (1, K)


def median_ms(jm, feeds, reps):
    _, info = jm.run(feeds, repeat=reps)
    return float(info["median_ms"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, load {os.getloadavg()[0]:.1f}")
    print("| layer | IR ms | gcc C ms | IR / C | max abs diff |")
    print("| --- | ---: | ---: | ---: | ---: |")
    ratios = []
    cases = [(f"dw {C}x{H}x{H} k{k} s{s}", *dw_model(C, H, k, s, rng)) for C, H, k, s in DW]
    cases += [(f"gemv K={K} N={N}", *gemv_model(K, N, rng)) for K, N in GEMV]
    for label, model, shape in cases:
        b = sdk.compile(model)
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        ir_m, c_m = JitModel(b), JitModel(b, ir_kernels=False)
        t_ir, t_c = [], []
        for _ in range(3):
            t_ir.append(median_ms(ir_m, feeds, args.reps))
            t_c.append(median_ms(c_m, feeds, args.reps))
        diff = float(np.max(np.abs(ir_m.run(feeds, info=False)["y"] - c_m.run(feeds, info=False)["y"])))
        r = min(t_ir) / min(t_c)
        ratios.append(r)
        print(f"| {label} | {min(t_ir):.4f} | {min(t_c):.4f} | {r:.2f} | {diff:.1e} |", flush=True)
    print(f"\ngeomean IR / C: {float(np.exp(np.mean(np.log(ratios)))):.2f}")


if __name__ == "__main__":
    main()
