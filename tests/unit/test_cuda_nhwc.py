"""fp16 CUDA builds of convolution networks: convolutions and max pools on fp16 NHWC activations stored in the plan's
slots (sdk/backends/cuda/nhwc.py). Generated code only (no GPU here): bench/igemm_gpu.py and bench/gpu.py models
check the numerics on the GPU; tests/targets/test_cuda.py compiles such a bundle with nvcc."""
import re

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import sdk
from conftest import launch_args
from make_examples import Builder
from sdk.backends.cuda.codegen import generate_cuda

CONV = re.compile(r"st = sdk_cuda_conv2d_nhwc_f16\(stream, (.*)\); if \(st\) return st;")


def tiny_resnet():
    """Stem (7x7 stride 2, ReLU), max pool, two bottlenecks (the first with a projection shortcut, the second with
    the identity), global average pool, Flatten, Gemm: ResNet-50's op pattern at a small size, its BatchNorms
    folded into the convolutions' weights and biases (as PyTorch's eval-mode export writes them)."""
    b = Builder(7)

    def conv_bn(x, cin, cout, k, s=1, relu=True):
        y = b.op("Conv", [x, b.w(cout, cin, k, k), b.w(cout, scale=0.1)], pads=[k // 2] * 4, strides=[s, s])
        return b.op("Relu", [y]) if relu else y

    x = conv_bn("image", 3, 16, 7, 2)
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    for cin, short in ((16, True), (32, False)):
        a = conv_bn(conv_bn(x, cin, 8, 1), 8, 8, 3)
        a = conv_bn(a, 8, 32, 1, relu=False)
        x = b.op("Relu", [b.op("Add", [a, conv_bn(x, cin, 32, 1, relu=False) if short else x])])
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    x = b.op("Gemm", [x, b.w(32, 10), b.w(10, scale=0.1)], transB=0)
    b.nodes[-1].output[0] = "logits"
    return b.model("tiny_resnet", [h.make_tensor_value_info("image", T.FLOAT, ["batch", 3, 32, 32])],
                   [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 10])])


def _build(model, precision, nhwc=True):
    b = sdk.compile(model, target="cuda-sm90", dims={"batch": 4}, precision=precision)
    return b, generate_cuda(b.program, b.plan, "model", b.bounds, precision, nhwc_convs=nhwc)


def test_resnet_convolutions_run_on_fp16_nhwc():
    model = tiny_resnet()
    b16, src16 = _build(model, "fp16")
    _, src32 = _build(model, "fp32")
    cu, cu32 = src16["model.cu"], src32["model.cu"]
    assert "nhwc" not in cu32  # fp32 builds keep NCHW
    convs = [launch_args(m) for m in CONV.findall(cu)]
    assert len(convs) == sum(n.op_type == "Conv" for n in model.graph.node) == 8
    assert "sdk_cuda_conv2d_f32" not in cu and "sdk_cuda_epilogue_f32" not in cu
    # the model input is converted once (3 channels padded to 8) for the stem; every other convolution reads a
    # half tensor written by a convolution or the NHWC max pool
    assert cu.count("sdk_cuda_nchw_to_nhwc_f16(") == 1
    assert re.search(r"sdk_cuda_nchw_to_nhwc_f16\(stream, d_batch, 3, 1024, 8, .*inputs\[0\]", cu)
    assert convs[0][1] == "8" and convs[0][15] == "H"
    assert all(c[15].startswith("(const __half *)") for c in convs[1:])
    assert cu.count("sdk_cuda_maxpool_nhwc_f16(") == 1 and "sdk_cuda_pool2d_f32" not in cu
    # outputs: fp16 NHWC (y_half 1) except the last block's, which the global average pool (a generated kernel,
    # fp32 NCHW) reads; residuals: the projection shortcut's output and the first block's output, both half
    y_half = [c[19] for c in convs]
    assert y_half == ["1"] * 7 + ["0"] and convs[-1][18].startswith("(float *)")
    resid = [c for c in convs if c[20] != "NULL"]
    assert len(resid) == 2 and all(c[21] == "1" and c[20].startswith("(const __half *)") for c in resid)
    assert all(c[22] == "1" for c in resid)  # the ReLU after the Add, folded
    # weights: fp16 [M, KH, KW, Cp] of the BatchNorm-folded fp32 weights; those fp32 copies leave the bundle
    blob16, blob32 = src16["model_weights.bin"], src32["model_weights.bin"]
    folded = [np.asarray(arr) for buf, arr in b16.program.consts if np.asarray(arr).ndim == 4]
    for c in convs:
        M, C, KH, KW = int(c[4]), int(c[1]), int(c[7]), int(c[8])
        off = int(re.search(r"W \+ (\d+)\)$", c[16]).group(1))
        wt = np.frombuffer(blob16[off:off + M * KH * KW * C * 2], np.float16).reshape(M, KH, KW, C)
        match = [w for w in folded if w.shape[0] == M and w.shape[2] == KH and
                 np.array_equal(wt[..., :w.shape[1]], w.transpose(0, 2, 3, 1).astype(np.float16))]
        assert match and not wt[..., match[0].shape[1]:].any(), (M, C, KH)
    conv_w = sum(w.size for w in folded)
    wbytes = lambda h: int(re.search(r"WEIGHTS_BYTES (\d+)u", h).group(1))  # noqa: E731
    assert wbytes(src16["model.h"]) <= wbytes(src32["model.h"]) - conv_w * 2 + 8 * 1024
    # the memory plan is the one of every precision; the scratch after it holds the stem's converted input
    arena = lambda h: int(re.search(r"ARENA_BYTES (\d+)u", h).group(1))  # noqa: E731
    b32 = sdk.compile(model, target="cuda-sm90", dims={"batch": 4}, precision="fp32")
    assert b16.plan.arena_bytes == b32.plan.arena_bytes == arena(src32["model.h"])
    assert 0 <= arena(src16["model.h"]) - b16.plan.arena_bytes - 4 * 1024 * 8 * 2 <= 512  # + the scratch, aligned
    assert f"(size_t)((d_batch) * (1024) * (8) * 2)" in cu


def test_nhwc_off_is_the_path_before():
    """With the NHWC convolutions off (the profile's default, bench/gpu.py models --nchw-convs) the fp16 build is the
    NCHW one."""
    _, src = _build(tiny_resnet(), "fp16", nhwc=False)
    cu = src["model.cu"]
    assert "nhwc" not in cu and cu.count("sdk_cuda_conv2d_f32(stream, SDK_GEMM_F16,") == 8


def test_a_reader_that_needs_nchw_keeps_fp32_storage(examples):
    """resnext_block: a grouped convolution, Concat and average pooling read fp32 NCHW, so the convolutions that
    feed them write fp32 NCHW and those reading such tensors convert them first; a max pool whose output a
    convolution reads and whose input is fp32 stays the fp32 kernel."""
    model, bounds = examples["resnext_block"]
    b = sdk.compile(model, target="cuda-sm90", dims=bounds, precision="fp16")
    cu = generate_cuda(b.program, b.plan, "model", b.bounds, "fp16")["model.cu"]
    convs = [launch_args(m) for m in CONV.findall(cu)]
    grouped = [ln for ln in cu.splitlines() if "sdk_cuda_conv2d_f32(stream, SDK_GEMM_F16," in ln]
    assert len(grouped) == 1 and ", 8, (const float *)" in grouped[0]  # groups 8: the NCHW kernel
    assert len(convs) == sum(n.op_type == "Conv" for n in model.graph.node) - 1 == 8
    for c in convs:  # a fp32 input was converted into the scratch right before
        assert c[15] == "H" or c[15].startswith("(const __half *)")
    # every half output is read only by NHWC convolutions; the others are fp32 NCHW pointers
    for c in convs:
        assert (c[19] == "1") == c[18].startswith("(__half *)")
    assert "sdk_cuda_maxpool_nhwc_f16" not in cu and cu.count("sdk_cuda_pool2d_f32(") == 2
    n_conv = cu.count("sdk_cuda_nchw_to_nhwc_f16(")
    assert n_conv == sum(c[15] == "H" for c in convs)


def test_conversions_never_overwrite_a_waiting_gemm_operand():
    """An fp16-weight GEMM that reads the scratch another step filled without converting (Linear.convert False)
    must find it intact: a convolution whose input conversion would fall in between stays on the fp32 path
    (nhwc.plan_nhwc_with), and so do those that would then need a conversion there."""
    from sdk.backends.cuda.linear import Linear, Linears
    from sdk.backends.cuda.nhwc import conversions, plan_nhwc, plan_nhwc_with, scratch_in_use
    from sdk.transform.mixed_precision import assign_precision
    b = sdk.compile(tiny_resnet(), target="cuda-sm90", dims={"batch": 4}, precision="fp16")
    prog = b.program
    prec = assign_precision(prog, "fp16")
    free = plan_nhwc(prog, prec)
    assert conversions(free) == [min(free.convs)]  # the stem's input only
    # (made-up) GEMMs: one that converted before the first step and one reading that scratch at the last step:
    # every conversion between would overwrite it (the stem's, then each one its exclusion makes necessary)
    n = len(prog.steps)
    lin = Linears(steps={-1: Linear(("a",), True), n - 1: Linear(("b",), False)})
    assert scratch_in_use(lin) == [(-1, n - 1)]
    nh = plan_nhwc_with(prog, prec, lin)
    assert conversions(nh) == [] and len(nh.convs) < len(free.convs)
    # a span that covers no convolution leaves the plan as it was
    lin = Linears(steps={n - 2: Linear(("a",), True), n - 1: Linear(("b",), False)})
    assert plan_nhwc_with(prog, prec, lin).convs.keys() == free.convs.keys()
def test_profile_key_turns_the_nhwc_convolutions_on():
    """``[lower] fp16_nhwc_convs`` of the profile decides (cuda-sm90: the value it ships with), through the
    backend's codegen."""
    import dataclasses
    from sdk.backends.cuda import cuda_sources
    b = sdk.compile(tiny_resnet(), target="cuda-sm90", dims={"batch": 4}, precision="fp16")
    for on in (False, True):
        tgt = dataclasses.replace(b.target, data={**b.target.data, "lower": {**b.target.data["lower"],
                                                                             "fp16_nhwc_convs": on}})
        cu = cuda_sources(b.program, b.plan, "model", tgt, b.bounds, "fp16")["model.cu"]
        assert ("sdk_cuda_conv2d_nhwc_f16(" in cu) == on and ("sdk_cuda_conv2d_f32(" in cu) != on


def test_cuda_sm90_ships_the_nhwc_convolutions_on():
    """Checked on an H100 (bench/RESULTS_gpu.md, 2026-12-06, gpu16): the shipped cuda-sm90 profile builds fp16
    convolution networks on fp16 NHWC activations; fp32 builds keep the fp32 NCHW convolution."""
    from sdk.backends.cuda import cuda_sources
    for prec, nhwc in (("fp16", True), ("fp32", False)):
        b = sdk.compile(tiny_resnet(), target="cuda-sm90", dims={"batch": 4}, precision=prec)
        assert b.target.data["lower"]["fp16_nhwc_convs"] is True
        cu = cuda_sources(b.program, b.plan, "model", b.target, b.bounds, prec)["model.cu"]
        assert ("sdk_cuda_conv2d_nhwc_f16(" in cu) == nhwc and ("sdk_cuda_conv2d_f32(" in cu) != nhwc
