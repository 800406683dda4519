"""The CUDA training step (``sdk build --train --target cuda-sm90``; docs/training.md): the fp16 build computes the
step's matrix products and convolutions, forward and backward, on tensor cores with dynamic loss scaling, and its
training API and demo program (``make model_train_demo``: state and arena in device memory) compile with nvcc,
warning-free. Running it needs a GPU (bench/train_gpu.py; bench/RESULTS_train.md)."""
import re
import shutil

import pytest

from cuda_objects import target_check_flags
from sdk.train import compile_train

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
# as in test_cuda.py: the cuda-sm90 profile's arch and -D flags, warning-free, ptxas at -O0; the GPU runtime's
# objects from the session's store (the cuda_objects fixture)
STRICT = target_check_flags("cuda-sm90")


@pytest.mark.slow
def test_fp16_train_step_builds_with_nvcc(tmp_path, examples, cuda_objects):
    model, _ = examples["cnn"]
    tb = compile_train(model, target="cuda-sm90", dims={"batch": 8}, trainable="all", momentum=0.9,
                       precision="fp16")
    f = tb.bundle.func
    assert f.input_names[-1] == "loss_scale" and f.output_names[-1] == "grad_ok"  # fp16: loss scaling by default
    out = tb.save(tmp_path / "b")
    cu = (out / "model.cu").read_text()
    launches = re.findall(r"sdk_cuda_(conv2d|gemm)_f32\(stream, (SDK_GEMM_\w+)", cu)
    # forward: two convolutions and the classifier's Gemm; backward: the second convolution's input gradient (a
    # convolution of the flipped weight) and the classifier's two products
    assert len(launches) >= 6 and {p for _, p in launches} == {"SDK_GEMM_F16"}, launches
    api = (out / "model_train.cu").read_text()
    assert "cudaMemcpyAsync(S, scalars" in api and "host->loss_scale *= 0.5f" in api
    assert "#define MODEL_TRAIN_LOSS_SCALING 1" in (out / "model_train.h").read_text()
    r = cuda_objects.make(out, STRICT, "model_train_demo")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "model_train_demo").exists()


def test_fp32_train_step_has_no_loss_scaling(examples):
    model, _ = examples["cnn"]
    tb = compile_train(model, target="cuda-sm90", dims={"batch": 8}, trainable="last:1", momentum=0.9)
    assert tb.bundle.func.input_names[-1] != "loss_scale" and tb.bundle.precision == "fp32"
    src = tb.bundle.sources
    assert "#define MODEL_TRAIN_LOSS_SCALING 0" in src["model_train.h"] and "model_train.cu" in src
    assert "SDK_GEMM_F16" not in src["model.cu"]
