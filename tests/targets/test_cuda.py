"""CUDA bundles (issue 7): every example compiles with nvcc for sm_90 with -Werror-clean host code; the runner
fails with one clear line where there is no GPU. Running needs a GPU: bench/gpu.py does that."""
import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest

import sdk
from conftest import random_inputs
from cuda_objects import check_flags, target_check_flags
from sdk.cli import main
from sdk.resources import GPU_HEADERS, GPU_LIBRARY, GPU_RUNTIME
from sdk.backends.cuda.runner import gpu_present
from sdk.tir.expr import Kernel

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
# The bundles are built for the cuda-sm90 profile's own arch and -D flags (targets/cuda-sm90.toml: -arch=sm_90a, the
# wgmma kernels), warning-free, ptxas at -O0 and the device IR at -O1 (tests/cuda_objects.py: check_flags). The GPU
# runtime's objects of that configuration come from the session's store (the cuda_objects fixture): nvcc compiles
# them once, for every bundle of every test (and test_gpu_runtime_compiles' variant of the same flags).
STRICT = target_check_flags("cuda-sm90")


@pytest.mark.parametrize("name,precision", [("mlp", "fp32"), ("cnn", "fp32"), ("resnext_block", "fp32"),
                                            ("transformer", "fp32"), ("transformer", "fp16"), ("mlp", "bf16"),
                                            ("resnext_block", "fp16")])
def test_example_bundle_compiles_with_nvcc(tmp_path, examples, cuda_objects, name, precision):
    model, bounds = examples[name]
    b = sdk.compile(model, target="cuda-sm90", dims=bounds, precision=precision)
    out = b.save(tmp_path / name)
    for f in ("model.cu", "model.h", "main.cu", "Makefile", "CMakeLists.txt", *GPU_RUNTIME, *GPU_HEADERS, "plan.json",
              "README.md"):
        assert (out / f).exists(), f
    cu = (out / "model.cu").read_text()
    n_kernels = sum(isinstance(s, Kernel) for s in b.program.steps)
    assert cu.count("__global__ void ") == n_kernels and cu.count(", stream>>>(") == n_kernels
    if precision != "fp32":
        mode = {"fp16": "SDK_GEMM_F16", "bf16": "SDK_GEMM_BF16"}[precision]
        assert mode in cu and "SDK_GEMM_F32" not in cu
    # CUDA graphs of the launch sequence (on unless -DSDK_CUDA_GRAPHS=0 / model_set_graphs(ctx, 0)); the demo's --graph
    assert "#define MODEL_GRAPH_OK 1" in cu and "cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal)" in cu
    assert "sdk_status model_set_graphs(model_ctx *ctx, int on);" in (out / "model.h").read_text()
    assert "[--graph 0|1]" in (out / "main.cu").read_text()
    r = cuda_objects.make(out, STRICT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "model_main").exists()


def test_arena_is_the_symbolic_plan(examples):
    """The device arena is the symbolic memory plan (its steps differ from the host's: row kernels, fused
    epilogues): its size at the bounds, smaller at smaller dims."""
    model, bounds = examples["transformer"]
    gpu = sdk.compile(model, target="cuda-sm90", dims=bounds)
    assert gpu.workspace_size(bounds) == gpu.plan.arena_bytes > 0
    assert gpu.workspace_size({"batch": 1, "seq": 3}) < gpu.plan.arena_bytes


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_run_without_gpu_fails_with_one_line(tmp_path, examples, capsys):
    model, bounds = examples["mlp"]
    p = tmp_path / "mlp.onnx"
    onnx.save(model, p)
    out = tmp_path / "mlp_cuda"
    assert main(["build", str(p), "-o", str(out), "--target", "cuda-sm90", "--dim", "batch=16"]) == 0
    np.savez(tmp_path / "in.npz", **random_inputs(model, {"batch": 3}))
    capsys.readouterr()
    assert main(["run", str(out), "--inputs", str(tmp_path / "in.npz"), "--target", "cuda-sm90"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs an NVIDIA GPU, and none was found on this machine" in err


def test_precision_needs_a_cuda_target(examples):
    model, bounds = examples["mlp"]
    with pytest.raises(sdk.SdkError, match="needs a CUDA target"):
        sdk.compile(model, dims=bounds, precision="fp16")
    with pytest.raises(sdk.SdkError, match="precision 'fp8'"):
        sdk.compile(model, target="cuda-sm80", dims=bounds, precision="fp8")


@pytest.mark.parametrize("arch,extra", [("sm_90a", ["-DSDK_CUDA_WGMMA"]), ("sm_80", []),
                                        pytest.param("sm_90", ["-DSDK_CUDA_IGEMM_STAGES=4"], marks=pytest.mark.slow),
                                        pytest.param("sm_90a", ["-DSDK_CUDA_WGMMA", "-DSDK_CUDA_IGEMM_WGMMA"],
                                                     marks=pytest.mark.slow)])
def test_gpu_runtime_compiles(cuda_objects, arch, extra):
    """The wgmma + TMA GEMMs (bench/gpu.py times them) are only compiled with -arch=sm_90a -DSDK_CUDA_WGMMA;
    the cuda-sm80 profile gets the WMMA kernels; SDK_CUDA_IGEMM_STAGES=4 swaps the register-prefetch tensor-core
    implicit GEMM for the (opt-in) cp.async one, SDK_CUDA_IGEMM_WGMMA for the Hopper wgmma one (the cuda-sm90
    profile's flags: those objects are the bundles' ones, compiled once a session by whichever test comes first).
    The library is two objects (sdk.resources.GPU_LIBRARY): the implicit GEMM's, whose flags these variants change,
    and the other kernels', which none of them changes at one arch (sm_90a: compiled once for both variants)."""
    for src in GPU_LIBRARY:
        r = cuda_objects.runtime(src, check_flags(arch, extra))
        assert r.returncode == 0, f"{src}: {r.stderr[-3000:]}"


def test_device_math_spellings(tmp_path):
    """Kernels call CUDA's float functions, never the host-only sdk_math.h helpers."""
    from onnx import TensorProto as T
    from onnx import helper as h
    nodes = [h.make_node("Tanh", ["x"], ["a"]), h.make_node("Exp", ["a"], ["b"]), h.make_node("Erf", ["b"], ["c"]),
             h.make_node("Abs", ["c"], ["d"]), h.make_node("ReduceMax", ["d"], ["y"], keepdims=1)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["n", 100])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["n", 1])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    out = sdk.compile(m, target="cuda-sm90", dims={"n": 4}).save(tmp_path / "fn")
    cu = (out / "model.cu").read_text()
    assert "tanhf(" in cu and "expf(" in cu and "erff(" in cu and "sdk_expf" not in cu and "sdk_tanhf" not in cu
    assert "__shfl_xor_sync" in cu  # a 100-long reduction: a warp per output
    r = subprocess.run(["nvcc", "-arch=sm_90", "-std=c++17", "-I.", "-Xcompiler", "-Wall,-Wextra,-Werror", "-Werror",
                        "all-warnings", "-c",
                        "model.cu", "-o", "model.o"], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


def _nvcc_build(out, cuda_objects):
    r = cuda_objects.make(out, STRICT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "model_main").exists()


def test_pytorch_names_build(tmp_path, cuda_objects):
    """A TorchScript export: node and tensor names such as /features/features.1/conv/Conv, features.1.conv.weight
    and the input input.1 become C identifiers; the weights are a binary blob, not text."""
    from pathlib import Path
    model = Path(__file__).parent.parent / "models" / "torch_names.onnx"
    b = sdk.compile(str(model), target="cuda-sm90", dims={"batch": 4})
    out = b.save(tmp_path / "tn")
    blob = (out / "model_weights.bin").read_bytes()
    assert len(blob) >= sum(arr.nbytes for _, arr in b.program.consts) > 0
    assert '{"input.1", SDK_F32, 4,' in (out / "model.cu").read_text()  # the ONNX name stays in the I/O table
    _nvcc_build(out, cuda_objects)


@pytest.mark.slow
def test_resnet50_light_zoo_builds(tmp_path, cuda_objects):
    """ResNet-50 (100 MB of weights): model.cu is code only (it was 336 MB of weights as text)."""
    from zoo import zoo_path
    b = sdk.compile(zoo_path("resnet50"), target="cuda-sm90")
    out = b.save(tmp_path / "r50")
    size = (out / "model.cu").stat().st_size
    assert size < 2_000_000, size
    assert (out / "model_weights.bin").stat().st_size > 100_000_000
    _nvcc_build(out, cuda_objects)


def _launches(cu, fn):
    return [ln for ln in cu.splitlines() if ln.strip().startswith(f"st = {fn}(")]


def test_conv_epilogues_fold_into_the_launch(examples):
    """resnext_block: a convolution's ReLU and residual add run in its launch (R, act as trailing arguments), with
    the precision picking the tensor-core path (fp16: the groups-1 convolutions on fp16 NHWC, tests/unit/
    test_cuda_nhwc.py); no separate epilogue launch is left."""
    from sdk.backends.cuda.codegen import generate_cuda
    model, bounds = examples["resnext_block"]
    for precision, mode in (("fp32", "SDK_GEMM_F32"), ("fp16", "SDK_GEMM_F16")):
        b = sdk.compile(model, target="cuda-sm90", dims=bounds, precision=precision)
        cu = generate_cuda(b.program, b.plan, "model", b.bounds, precision)["model.cu"]
        convs = _launches(cu, "sdk_cuda_conv2d_f32")
        nhwc = _launches(cu, "sdk_cuda_conv2d_nhwc_f16")
        assert convs and all(f"(stream, {mode}, " in ln for ln in convs)
        assert bool(nhwc) == (precision == "fp16")
        assert "sdk_cuda_epilogue_f32" not in cu
        assert any(ln.endswith(", 1, 0.0f, 0.0f); if (st) return st;") for ln in convs + nhwc)  # a fused ReLU
        residual = [ln for ln in convs if "NULL, 0, 0.0f, 0.0f)" not in ln and "NULL, 1, 0.0f" not in ln] + \
            [ln for ln in nhwc if not re.search(r"NULL, [01], \d+, 0\.0f, 0\.0f\); if", ln)]
        assert len(residual) == 1


def test_row_kernels_and_32bit_indexing(examples):
    """transformer: softmax and layer norm are one library launch each; generated kernels index with 32 bits at
    these bounds and with 64 bits when a buffer reaches 2^30 elements."""
    from sdk.backends.cuda.codegen import generate_cuda
    model, bounds = examples["transformer"]
    b = sdk.compile(model, target="cuda-sm90", dims=bounds)
    cu = generate_cuda(b.program, b.plan, "model", b.bounds, "fp32")["model.cu"]
    assert _launches(cu, "sdk_cuda_softmax_f32") and _launches(cu, "sdk_cuda_layernorm_f32")
    assert "Softmax_max" not in cu and "LayerNormalization_mean" not in cu
    assert "for (int32_t t_ = " in cu and "for (int64_t t_ = " not in cu
    big = sdk.compile(model, target="cuda-sm90", dims={k: (v if k != "batch" else 1 << 17) for k, v in bounds.items()},
                      max_arena=1 << 40)
    cu = generate_cuda(big.program, big.plan, "model", big.bounds, "fp32")["model.cu"]
    assert "for (int64_t t_ = " in cu


def test_fp16_nhwc_resnet_compiles_with_nvcc(tmp_path, cuda_objects):
    """A ResNet-style model's fp16 build with the profile's [lower] fp16_nhwc_convs on (sdk/backends/cuda/nhwc.py):
    its NHWC convolutions, the max pool and the input conversion are launched, and the bundle builds warning-free."""
    import dataclasses
    from unittest import mock
    from sdk.targets import load_target
    from test_cuda_nhwc import tiny_resnet
    t = load_target("cuda-sm90")
    t = dataclasses.replace(t, data={**t.data, "lower": {**t.data["lower"], "fp16_nhwc_convs": True}})
    with mock.patch("sdk.api.load_target", lambda name: t):
        b = sdk.compile(tiny_resnet(), target="cuda-sm90", dims={"batch": 4}, precision="fp16")
    out = b.save(tmp_path / "r")
    cu = (out / "model.cu").read_text()
    for fn in ("sdk_cuda_conv2d_nhwc_f16", "sdk_cuda_maxpool_nhwc_f16", "sdk_cuda_nchw_to_nhwc_f16"):
        assert _launches(cu, fn), fn
    _nvcc_build(out, cuda_objects)


def test_if_branches_launch_only_the_branch_taken(tmp_path, cuda_objects):
    """An ONNX If on CUDA: the condition is copied to the host once and each branch's launches sit under it (both
    branches used to run, the last one's result winning: the torch zoo's if_branch on an H100, bench/RESULTS_gpu.md)."""
    import json
    from pathlib import Path
    zoo = Path(__file__).parent.parent / "torch_zoo"
    rec = json.loads((zoo / "manifest.json").read_text())["models"]["if_branch"]
    b = sdk.compile(str(zoo / rec["files"]["ts"]["path"]), target="cuda-sm90", dims=rec["bounds"])
    out = b.save(tmp_path / "if")
    cu = (out / "model.cu").read_text()
    run = cu[cu.index("static sdk_status model_launch("):]
    assert "model_cond(" in run and "  if (c_0) {" in run and "  if (!c_0) {" in run
    assert "#define MODEL_GRAPH_OK 0" in cu  # a host read between launches: never captured into a CUDA graph
    _nvcc_build(out, cuda_objects)
