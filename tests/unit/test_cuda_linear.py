"""fp16 CUDA builds: GEMMs on a weight read it as fp16 [N, K] stored at build time (sdk/backends/cuda/linear.py).
Generated code only (no GPU here): bench/igemm_gpu.py and bench/gpu.py models check the numerics on the GPU."""
import re

import numpy as np
from onnx import numpy_helper

import sdk
from conftest import launch_args
from sdk.backends.cuda.codegen import generate_cuda

LAUNCH = re.compile(r"st = sdk_cuda_linear_f16(?:_h)?\(stream, (.*)\); if \(st\) return st;")


def test_transformer_gemms_read_fp16_transposed_weights(examples):
    model, bounds = examples["transformer"]
    b16 = sdk.compile(model, target="cuda-sm90", dims=bounds, precision="fp16")
    b32 = sdk.compile(model, target="cuda-sm90", dims=bounds, precision="fp32")
    src16 = generate_cuda(b16.program, b16.plan, "model", b16.bounds, "fp16")
    src32 = generate_cuda(b32.program, b32.plan, "model", b32.bounds, "fp32")
    assert "sdk_cuda_linear_f16" not in src32["model.cu"]
    launches = [launch_args(m) for m in LAUNCH.findall(src16["model.cu"])]
    n_matmul_weights = sum(n.op_type == "MatMul" and n.input[1] in {i.name for i in model.graph.initializer}
                           for n in model.graph.node)
    assert len(launches) == n_matmul_weights == 12
    # every Wt is an initializer [K, N] transposed to [N, K] and rounded to fp16
    blob = src16["model_weights.bin"]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    expect = {w.T.astype(np.float16).tobytes() for w in inits.values() if w.ndim == 2}
    for a in launches:
        N, K = int(a[2]), int(a[3])
        off = int(re.search(r"W \+ (\d+)\)\)?$", a[9]).group(1))
        assert blob[off:off + N * K * 2] in expect, (N, K, off)
        assert a[10] in ("H", "H2") and a[11] in ("0", "1")
    # per layer: Q, K and V read one A, rounded once (K and V reuse the scratch; in the second layer the LayerNorm
    # before writes it as fp16 too); the output projection's A comes from a generated kernel (head merge) that
    # writes it as fp16 into the scratch, the first FFN GEMM's from the LayerNorm before it; the first FFN GEMM
    # (its GELU in the epilogue) writes the second's A as fp16 into the second scratch area
    flags = [a[11] for a in launches]
    assert flags == ["1"] + ["0"] * 11
    assert [a[10] for a in launches] == ["H", "H", "H", "H", "H", "H2"] * 2
    cu = src16["model.cu"]
    assert len(re.findall(r"st = sdk_cuda_linear_f16_h\(stream, [^;]*, H2, NULL, 8, ", cu)) == 2  # FFN 1 + GELU
    assert len(re.findall(r"st = sdk_cuda_layernorm_f32_h\([^;]*, H\); if", cu)) == 3
    producers = re.findall(r"__global__ void (\w+)\([^)]*__half \*\w+\)", cu)
    assert len(producers) == 2 and all(re.search(rf"{p}<<<.*, H\);", cu) for p in producers)
    # the fp32 copies of those weights are not in the bundle; the arena holds the scratch after the plan
    h16, h32 = src16["model.h"], src32["model.h"]
    wbytes = lambda h: int(re.search(r"WEIGHTS_BYTES (\d+)u", h).group(1))  # noqa: E731
    matrix = sum(w.size for w in inits.values() if w.ndim == 2)
    assert wbytes(h16) <= wbytes(h32) - matrix * 2  # 4 bytes an element became 2
    arena = lambda h: int(re.search(r"ARENA_BYTES (\d+)u", h).group(1))  # noqa: E731
    rows = bounds["batch"] * bounds["seq"]
    first = -(-rows * 64 * 2 // 256) * 256  # the widest A rounded into the first area (K = 64) at the bounds
    assert arena(h16) == b16.plan.arena_bytes + first + rows * 128 * 2 + 256  # + the FFN's hidden layer (128)
    assert "model_scratch_bytes(d)" in src16["model.cu"]


def _ffn(erf_spelled=True):
    """x [b, s, 64] -> MatMul + bias -> GELU (the erf form as torch exports it) -> MatMul + bias: a transformer FFN."""
    from onnx import TensorProto as T
    from onnx import helper as h
    rng = np.random.default_rng(3)
    c = lambda n, a: numpy_helper.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inits = [c("w1", rng.standard_normal((64, 128)) / 8), c("b1", rng.standard_normal(128)),
             c("w2", rng.standard_normal((128, 64)) / 11), c("b2", rng.standard_normal(64)),
             c("sqrt2", 2 ** 0.5), c("one", 1.0), c("half", 0.5)]
    nodes = [h.make_node("MatMul", ["x", "w1"], ["m1"]), h.make_node("Add", ["m1", "b1"], ["a1"]),
             h.make_node("Div", ["a1", "sqrt2"], ["d"]), h.make_node("Erf", ["d"], ["e"]),
             h.make_node("Add", ["e", "one"], ["e1"]), h.make_node("Mul", ["a1", "e1"], ["g0"]),
             h.make_node("Mul", ["g0", "half"], ["g"]), h.make_node("MatMul", ["g", "w2"], ["m2"]),
             h.make_node("Add", ["m2", "b2"], ["y"])]
    g = h.make_graph(nodes, "ffn", [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", 64])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["batch", "seq", 64])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_gelu_runs_in_the_gemm_epilogue_on_cuda():
    """CUDA profiles ([lower] epilogue_gelu): the exporters' erf GELU after FFN-1 is folded into that GEMM's
    epilogue (SDK_ACT_GELU = 8), no element-wise kernel is left; at fp16 FFN-1 writes its output as fp16 into the
    second scratch area, which FFN-2 reads without converting. The host profile folds it too (its generated GEMM
    applies sdk_geluf on each tile); the wasm profile, without [lower] epilogue_gelu, keeps it as a loop nest."""
    from sdk.tir.expr import Kernel
    model, dims = _ffn(), {"batch": 2, "seq": 40}
    for prec in ("fp16", "fp32"):
        b = sdk.compile(model, target="cuda-sm90", dims=dims, precision=prec)
        assert not [s for s in b.program.steps if isinstance(s, Kernel)], prec
        cu = generate_cuda(b.program, b.plan, "model", b.bounds, prec)["model.cu"]
        if prec == "fp16":
            f1 = re.findall(r"st = sdk_cuda_linear_f16_h\(stream, (.*)\); if \(st\) return st;", cu)
            f2 = re.findall(r"st = sdk_cuda_linear_f16\(stream, (.*)\); if \(st\) return st;", cu)
            assert len(f1) == len(f2) == 1
            a1, a2 = launch_args(f1[0]), launch_args(f2[0])
            assert (a1[10], a1[11], a1[16], a1[18]) == ("H", "1", "H2", "8")  # A rounded into H; GELU; Y -> H2
            assert (a2[10], a2[11]) == ("H2", "0")  # A read from H2 as it is
        else:
            gemms = re.findall(r"st = sdk_cuda_gemm_f32\(stream, (.*)\); if \(st\) return st;", cu)
            assert len(gemms) == 2 and launch_args(gemms[0])[-3] == "8" and launch_args(gemms[1])[-3] == "0"
    host = sdk.compile(model, dims=dims)
    assert not [s for s in host.program.steps if isinstance(s, Kernel)]
    assert not [s for s in host.program.steps if getattr(s, "fn", None) == "sdk_epilogue_f32"]  # in the GEMM
    assert len(host.program.steps) == 2
    wasm = sdk.compile(model, target="wasm32-browser", dims=dims)
    assert any(isinstance(s, Kernel) for s in wasm.program.steps)
    assert not [s for s in wasm.program.steps if getattr(s, "fn", None) == "sdk_epilogue_f32" and s.arg("act") == 8]
