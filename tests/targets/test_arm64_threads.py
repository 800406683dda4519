"""android-arm64-mt: OpenMP threads over kernel output loops and GEMM row tiles, under qemu-aarch64."""
import subprocess

import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.backends.phone.runner import Arm64Runner


@pytest.mark.parametrize("name,dims", [("transformer", {"batch": 2, "seq": 24}), ("mlp", {"batch": 16})])
def test_threaded_bundle_matches_onnxruntime(examples, tmp_path, name, dims):
    model, bounds = examples[name]
    b = sdk.compile(model, target="android-arm64-mt", dims=bounds)
    out = b.save(tmp_path / name)
    src = (out / "model.c").read_text()
    # the profile's [codegen] outer_pragma reached the kernels big enough to split (the MLP's are library GEMMs)
    assert "omp parallel for" in src or name == "mlp"
    feeds = random_inputs(model, dims, seed=5)
    runner = Arm64Runner()
    got, _ = runner.run(out, feeds)
    assert "OMP_NUM_THREADS=4" in runner.command(out, out / "model_main")
    syms = subprocess.run(["aarch64-linux-gnu-nm", "-D", str(out / "model_main")], capture_output=True, text=True).stdout
    assert "GOMP_parallel" in syms  # really linked against the OpenMP runtime, not compiled serial
    assert_outputs_close(got, ort_run(model, feeds))
