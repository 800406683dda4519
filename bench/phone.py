"""Retired ARM64 instructions per inference under qemu-aarch64 (deterministic) for three builds of the same
android-arm64 bundle, and their ratios:

- scalar:       -O3 -march=armv8.2-a -fno-tree-vectorize, no -DSDK_HAVE_NEON: the plain C kernels, no auto-vectorization
- autovec:      -O3 -march=armv8.2-a, no -DSDK_HAVE_NEON: the plain C kernels as gcc's auto-vectorizer makes them
- neon:         -O3 -march=armv8.2-a -DSDK_HAVE_NEON=1: NEON kernels (fp32 FMLA tiles, int8 SMLAL) + gcc's auto-vectorizer
- neon+dotprod: -O3 -march=armv8.2-a+dotprod -DSDK_HAVE_NEON=1 -DSDK_HAVE_DOTPROD=1: as neon, int8 inner products with SDOT

Method: a qemu TCG plugin (sdk/backends/phone/runner.py) adds each executed translation block's instruction count to a
counter; the program runs the model once and three times, and (n3 - n1) / 2 is one inference without start-up
and file I/O. Run: python bench/phone.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

import sdk  # noqa: E402
from sdk.backends.phone.runner import Arm64Runner  # noqa: E402
from sdk.targets import load_target  # noqa: E402

TARGET = "android-arm64"


def variants(target=TARGET) -> dict:
    """{variant: C flags} for the bench builds (the profile's flags without its [cpu] options, plus these)."""
    base = list(load_target(target).cflags)
    return {
        "scalar": base + ["-march=armv8.2-a", "-fno-tree-vectorize"],
        "autovec": base + ["-march=armv8.2-a"],
        "neon": base + ["-march=armv8.2-a", "-DSDK_HAVE_NEON=1"],
        "neon+dotprod": base + ["-march=armv8.2-a+dotprod", "-DSDK_HAVE_NEON=1", "-DSDK_HAVE_DOTPROD=1"],
    }


def instructions_per_inference(out, feeds, cflags) -> int:
    runner = Arm64Runner(cflags=" ".join(cflags), count_instructions=True)
    runner.build(Path(out))
    _, one = runner.run(out, feeds, repeat=1)
    _, three = runner.run(out, feeds, repeat=3)
    return (three["instructions"] - one["instructions"]) // 2


def gemm_model(M=64, K=256, N=256):
    """One MatMul with constant B: the fp32 GEMM micro-kernel alone."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((K, N)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def mobile_block_model(channels=16):
    """MobileNet-style block on a 32x32 image (conv 3x3, depthwise 3x3, pointwise 1x1, pooling, classifier):
    wide enough rows for the vectorized depthwise int8 kernel."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from make_examples import Builder
    b = Builder(9)
    x = b.op("Relu", [b.op("Conv", ["image", b.w(channels, 3, 3, 3), b.w(channels, scale=0.1)], pads=[1, 1, 1, 1])])
    x = b.op("Relu", [b.op("Conv", [x, b.w(channels, 1, 3, 3), b.w(channels, scale=0.1)], pads=[1, 1, 1, 1],
                           group=channels)])
    x = b.op("Relu", [b.op("Conv", [x, b.w(channels, channels, 1, 1), b.w(channels, scale=0.1)])])
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    x = b.op("Gemm", [x, b.w(10, channels), b.w(10, scale=0.1)], transB=1)
    b.nodes[-1].output[0] = "logits"
    return b.model("mobile_block", [h.make_tensor_value_info("image", T.FLOAT, ["batch", 3, 32, 32])],
                   [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 10])])


def mobile_block_calibration(n=32, seed=7):
    return {"image": np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)}


def cases(quick=False):
    """(label, model, compile kwargs, run dims) of the bench."""
    from conftest import random_inputs  # noqa: F401  (same input generator as the tests)
    from kws import QUANT_BOUNDS, QUANT_EXAMPLES, calibration
    from make_examples import EXAMPLES
    out = [(f"gemm 64x256x256 (fp32)", gemm_model(), {}, {})]
    if quick:
        return out
    out += [("mlp (fp32, batch 16)", EXAMPLES["mlp"](), {"dims": {"batch": 16}}, {"batch": 16}),
            ("cnn (fp32, batch 4)", EXAMPLES["cnn"](), {"dims": {"batch": 4}}, {"batch": 4}),
            ("resnext_block (fp32, batch 2)", EXAMPLES["resnext_block"](), {"dims": {"batch": 2}}, {"batch": 2}),
            ("transformer (fp32, batch 1, seq 32)", EXAMPLES["transformer"](), {"dims": {"batch": 1, "seq": 32}},
             {"batch": 1, "seq": 32})]
    rng = np.random.default_rng(11)
    out.append(("cnn int8 (batch 4)", EXAMPLES["cnn"](),
                {"dims": {"batch": 4}, "quantize": "int8",
                 "calibration": {"image": rng.standard_normal((64, 1, 28, 28)).astype(np.float32)}}, {"batch": 4}))
    out.append(("mobile_block int8 (depthwise)", mobile_block_model(),
                {"dims": {"batch": 1}, "quantize": "int8", "calibration": mobile_block_calibration()}, {"batch": 1}))
    for name in sorted(QUANT_EXAMPLES):
        out.append((f"{name} int8", QUANT_EXAMPLES[name][0](),
                    {"dims": QUANT_BOUNDS[name], "quantize": "int8", "calibration": calibration(name)}, {"batch": 1}))
    return out


def measure(quick=False, log=print):
    from conftest import random_inputs
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for k, (label, model, kw, dims) in enumerate(cases(quick)):
            b = sdk.compile(model, target=TARGET, name=f"m{k}", **kw)
            out = b.save(Path(td) / f"m{k}")
            feeds = random_inputs(model, dims, seed=1)
            counts = {v: instructions_per_inference(out, feeds, f) for v, f in variants().items()}
            rows.append((label, counts))
            log(f"{label}: " + ", ".join(f"{v} {c:,}" for v, c in counts.items()))
    return rows


def table(rows) -> str:
    lines = ["| model | scalar | autovec | neon | neon+dotprod | scalar / neon | scalar / neon+dotprod | autovec / neon+dotprod |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, c in rows:
        lines.append(f"| {label} | {c['scalar']:,} | {c['autovec']:,} | {c['neon']:,} | {c['neon+dotprod']:,} | "
                     f"{c['scalar'] / c['neon']:.2f}x | {c['scalar'] / c['neon+dotprod']:.2f}x | "
                     f"{c['autovec'] / c['neon+dotprod']:.2f}x |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the GEMM micro-benchmark only")
    a = ap.parse_args()
    rows = measure(a.quick, log=lambda s: print(s, file=sys.stderr))
    print(f"Retired instructions per inference, qemu-aarch64 {os.uname().machine} host, target {TARGET}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
