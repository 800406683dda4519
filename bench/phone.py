"""Retired ARM64 instructions per inference under qemu-aarch64 (deterministic) for three builds of the same
android-arm64 bundle, and their ratios:

- scalar:       -O3 -march=armv8.2-a -fno-tree-vectorize, no -DSDK_HAVE_NEON: the plain C kernels, no auto-vectorization
- autovec:      -O3 -march=armv8.2-a, no -DSDK_HAVE_NEON: the plain C kernels as gcc's auto-vectorizer makes them
- neon:         -O3 -march=armv8.2-a -DSDK_HAVE_NEON=1: NEON kernels (fp32 FMLA tiles, int8 SMLAL) + gcc's auto-vectorizer
- neon+dotprod: -O3 -march=armv8.2-a+dotprod -DSDK_HAVE_NEON=1 -DSDK_HAVE_DOTPROD=1: as neon, int8 inner products with SDOT

Method: a qemu TCG plugin (sdk/backends/phone/runner.py) adds each executed translation block's instruction count to a
counter; the program runs the model once and three times, and (n3 - n1) / 2 is one inference without start-up
and file I/O. Run: python bench/phone.py [--quick]

``--zoo`` instead measures the full-width zoo (bench/data/zoo_full, made by bench/export_zoo_full.py; batch 1,
224x224) in the profile's own build (neon+dotprod) only, and prints multiply-adds per retired instruction (MACs
from bench/model_macs.py: Conv, MatMul, Gemm); there one inference is n2 - n1 (runs of 1 and 2), the models being
large. ``--zoo-models resnet18,mobilenet_v2`` picks some of them.
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
sys.path.insert(0, str(ROOT / "bench"))

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


def instructions_per_inference(out, feeds, cflags, runs=(1, 3), outputs=False):
    """Guest instructions of one inference: (n(b) - n(a)) / (b - a) for ``runs`` = (a, b) inferences per process;
    ``outputs``: also return the outputs of the last run."""
    runner = Arm64Runner(cflags=" ".join(cflags), count_instructions=True)
    runner.build(Path(out))
    a, b = runs
    _, one = runner.run(out, feeds, repeat=a)
    got, more = runner.run(out, feeds, repeat=b)
    n = (more["instructions"] - one["instructions"]) // (b - a)
    return (n, got) if outputs else n


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


ZOO = ROOT / "bench" / "data" / "zoo_full"
CONV_NETS = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0",
             "squeezenet1_1", "regnet_y_400mf", "convnext_tiny")


def measure_zoo(names=None, log=print):
    """[(name, MACs, instructions per inference, max |sdk - ort| / (1 + |ort|))] for the full-width zoo models, in
    the profile's default build (the flags of ``variants()["neon+dotprod"]``)."""
    import onnx
    import onnxruntime as ort
    from model_macs import count_macs
    from zoo_latency import feeds_for
    paths = sorted(ZOO.glob("*.onnx")) if ZOO.is_dir() else []
    if names:
        paths = [ZOO / f"{n}.onnx" for n in names]
    if not paths:
        sys.exit("no zoo models: run /work/torchenv/bin/python bench/export_zoo_full.py first")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for p in paths:
            model = onnx.load(str(p))
            feeds = feeds_for(model)
            b = sdk.compile(model, target=TARGET, name=p.stem)
            out = b.save(Path(td) / p.stem)
            n, got = instructions_per_inference(out, feeds, variants()["neon+dotprod"], runs=(1, 2), outputs=True)
            ref = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            err = float(np.max(np.abs(next(iter(got.values())) - ref) / (1 + np.abs(ref))))
            macs = count_macs(model)["total"]
            rows.append((p.stem, macs, n, err))
            log(f"{p.stem}: {macs:,} MACs, {n:,} instructions, {macs / n:.2f} MACs/instruction, err {err:.1e}")
    return rows


def zoo_table(rows) -> str:
    lines = ["| model | MACs | instructions | MACs / instruction | max err vs ort |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, macs, n, err in rows:
        lines.append(f"| {name}{'' if name in CONV_NETS else ' (not a conv net)'} | {macs:,} | {n:,} | "
                     f"{macs / n:.2f} | {err:.1e} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the GEMM micro-benchmark only")
    ap.add_argument("--zoo", action="store_true", help="the full-width zoo, MACs per instruction (default build)")
    ap.add_argument("--zoo-models", default="", help="comma-separated zoo model names (default: all exported)")
    a = ap.parse_args()
    if a.zoo or a.zoo_models:
        rows = measure_zoo([n for n in a.zoo_models.split(",") if n], log=lambda s: print(s, file=sys.stderr))
        print(f"Multiply-adds per retired instruction, qemu-aarch64, target {TARGET} (neon+dotprod), batch 1\n")
        print(zoo_table(rows))
        return
    rows = measure(a.quick, log=lambda s: print(s, file=sys.stderr))
    print(f"Retired instructions per inference, qemu-aarch64 {os.uname().machine} host, target {TARGET}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
