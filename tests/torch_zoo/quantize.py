"""Int8 files of the zoo, made by onnxruntime's quantization tool the way users make them (needs onnxruntime):

    python tests/torch_zoo/quantize.py                 # every source below, every variant; merges into manifest.json
    python tests/torch_zoo/quantize.py resnet_basic    # only these sources

Each source (an fp32 zoo file) goes through

- ``quantize_static`` in the QDQ format, per-tensor and per-channel weights (``qdq_tensor``, ``qdq_channel``),
- ``quantize_static`` in the QOperator format (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, QGemm, ...),
  per-channel (``qop_channel``),
- ``quantize_dynamic`` (MatMulInteger / ConvInteger with DynamicQuantizeLinear; ``dynamic``),
- ``quantize_static`` QDQ with int8 activations whose zero point is 0 (``ActivationSymmetric``) and int8
  per-channel weights (``qdq_s8sym``),

static ones calibrated (MinMax) on 8 random inputs drawn like the test's (uint8 activations, int8 weights, the
tool's defaults). The files go to ``models/<source>_int8.<variant>.onnx`` and the manifest gets a
``<source>_int8`` entry with the source's inputs, bounds and dim sets, ``quantized_from`` and a ``tolerance``: the
test compares with onnxruntime's own run of the same file, and integer kernels that round a tie or a requantised
product one way or the other give outputs one quantisation step (LSB) apart, which the next layers carry on; the
tolerance is in units of the output's scale where the file ends in DequantizeLinear, else relative to the
output's largest magnitude.
"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
MANIFEST = HERE / "manifest.json"

# source model (manifest name, exporter) -> the variants made of it
SOURCES = {
    "resnet_basic": ("ts", ("qdq_tensor", "qdq_channel", "qop_channel", "dynamic")),
    "mobilenet_v2": ("ts", ("qdq_tensor", "qdq_channel", "qop_channel", "dynamic")),
    "bert": ("ts", ("qdq_channel", "qop_channel", "dynamic")),
    "convnext4": ("dynamo", ("qdq_channel", "dynamic")),
    # xf48: int8 activations with a zero point of 0 (ActivationSymmetric), int8 per-channel weights, of a decoder
    # with rotary embeddings and GQA
    "llama": ("dynamo", ("qdq_s8sym",)),
}
# |sdk - onnxruntime| allowed: "lsb" output quantisation steps where the file ends in DequantizeLinear (static
# files, mostly), else "rel" times the output's largest magnitude (dynamic files end in float MatMul/Gemm/Conv)
TOLERANCE = {"lsb": 3, "rel": 0.01}


def calibration(rec, n=8, seed=100):
    """n feeds for the source's first dim set, drawn as the zoo test draws them."""
    sys.path.insert(0, str(HERE.parent / "e2e"))
    sys.path.insert(0, str(HERE.parent))
    from test_torch_zoo import feeds_for  # noqa: E402 -- the test's own input rules
    src = onnx.load(str(HERE / rec["files"][rec["_exporter"]]["path"]), load_external_data=False)
    return [feeds_for(src, rec, rec["dim_sets"][0], seed + i) for i in range(n)]


class _Reader:
    def __init__(self, feeds):
        self.it = iter(feeds)

    def get_next(self):
        return next(self.it, None)


def quantize(src, dst, variant, feeds):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # the tool's recommended first step (shape inference, graph clean-up); it keeps the symbolic dims
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        if variant == "dynamic":
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
        elif variant == "qdq_s8sym":
            quantize_static(str(pre), str(dst), _Reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                            extra_options={"ActivationSymmetric": True})
        else:
            fmt = QuantFormat.QDQ if variant.startswith("qdq") else QuantFormat.QOperator
            quantize_static(str(pre), str(dst), _Reader(feeds), quant_format=fmt,
                            per_channel=variant.endswith("channel"), weight_type=QuantType.QInt8,
                            activation_type=QuantType.QUInt8)
    onnx.checker.check_model(str(dst))


def file_dims(path):
    g = onnx.load(str(path), load_external_data=False).graph
    shape = lambda vi: [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
    return {"inputs": {vi.name: shape(vi) for vi in g.input}, "outputs": {vi.name: shape(vi) for vi in g.output}}


def main(names):
    manifest = json.loads(MANIFEST.read_text())
    for name, (exporter, variants) in SOURCES.items():
        if names and name not in names:
            continue
        src_rec = dict(manifest["models"][name], _exporter=exporter)
        src = HERE / src_rec["files"][exporter]["path"]
        feeds = calibration(src_rec)
        rec = {k: src_rec[k] for k in ("inputs", "outputs", "bounds", "dim_sets")}
        rec["quantized_from"] = f"models/{src.name}"
        rec["tolerance"] = {}
        rec["files"] = {}
        for variant in variants:
            dst = MODELS / f"{name}_int8.{variant}.onnx"
            quantize(src, dst, variant, feeds)
            rec["files"][variant] = {"path": f"models/{dst.name}", **file_dims(dst)}
            rec["tolerance"][variant] = TOLERANCE
            print(f"ok     {dst.name}: {dst.stat().st_size / 1024:.0f} KiB", flush=True)
        manifest["models"][f"{name}_int8"] = rec
    manifest["total_bytes"] = sum(p.stat().st_size for p in MODELS.glob("*.onnx"))
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(set(sys.argv[1:]))
