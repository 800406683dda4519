"""A representative subset of the PyTorch model zoo (tests/torch_zoo/) on the other targets, under their
emulators: a CNN and a BERT-style encoder on android-arm64 (qemu-aarch64) and wasm32-browser (node), a small CNN
on cortex-m7 (qemu-system-arm). One compile per model with the manifest's bounds, both dim sets run, every
output compared with onnxruntime. Same strict-xfail policy as tests/e2e/test_torch_zoo.py."""
import shutil

import pytest

import sdk
from test_torch_zoo import MANIFEST, check_matches_onnxruntime, load

# (target, zoo file); one CNN from each exporter, the encoder from the exporter the CNN did not use
CASES = [
    ("android-arm64", "mobilenet_v2.ts.onnx"),
    ("android-arm64", "bert.dynamo.onnx"),
    ("wasm32-browser", "shufflenet_v2.dynamo.onnx"),
    ("wasm32-browser", "bert.ts.onnx"),
    ("cortex-m7", "squeezenet.ts.onnx"),
]
TOOLS = {"android-arm64": ("aarch64-linux-gnu-gcc", "qemu-aarch64"), "wasm32-browser": ("emcc", "node"),
         "cortex-m7": ("arm-none-eabi-gcc", "qemu-system-arm")}

# (target, file) -> first line of the error it fails with today (pytest.mark.xfail(strict=True))
KNOWN_FAILURES = {}


def model_of(file):
    return next(name for name, rec in MANIFEST["models"].items()
                if any(f["path"].endswith("/" + file) for f in rec["files"].values()))


def cases():
    out = []
    for target, file in CASES:
        reason = KNOWN_FAILURES.get((target, file))
        marks = [pytest.mark.slow] + ([pytest.mark.xfail(strict=True, reason=reason)] if reason else [])
        out.append(pytest.param(target, file, marks=marks, id=f"{target}-{file[:-len('.onnx')]}"))
    return out


@pytest.mark.parametrize("target,file", cases())
def test_zoo_subset_on_target_matches_onnxruntime(target, file, tmp_path):
    for tool in TOOLS[target]:
        assert shutil.which(tool), f"{tool} missing: run 'make setup'"
    rec = MANIFEST["models"][model_of(file)]
    model = load(file)
    bundle = sdk.compile(model, target=target, dims=rec["bounds"], name="zoo")
    bundle.save(tmp_path / "zoo")
    check_matches_onnxruntime(bundle, model, rec)
