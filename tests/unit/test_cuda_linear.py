"""fp16 CUDA builds: GEMMs on a weight read it as fp16 [N, K] stored at build time (sdk/backends/cuda/linear.py).
Generated code only (no GPU here): bench/igemm_gpu.py and bench/gpu.py models check the numerics on the GPU."""
import re

import numpy as np
from onnx import numpy_helper

import sdk
from conftest import launch_args
from sdk.backends.cuda.codegen import generate_cuda

LAUNCH = re.compile(r"st = sdk_cuda_linear_f16(?:_hr?)?\(stream, (.*)\); if \(st\) return st;")


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
        assert a[10] in ("H", "H2", "HR1") and a[11] in ("0", "1")
    # per layer: Q, K and V read one A, rounded once (K and V reuse the scratch; in the second layer the LayerNorm
    # before wrote it as fp16 only, into slot 1 of the third area: the fp16 residual stream); the output
    # projection's A comes from a generated kernel (head merge) that writes it as fp16 into the scratch, the first
    # FFN GEMM's from the LayerNorm before it (slot 1); the first FFN GEMM (its GELU in the epilogue) writes the
    # second's A as fp16 into the second scratch area
    flags = [a[11] for a in launches]
    assert flags == ["1"] + ["0"] * 11
    assert [a[10] for a in launches] == ["H", "H", "H", "H", "HR1", "H2"] + ["HR1"] * 3 + ["H", "HR1", "H2"]
    cu = src16["model.cu"]
    assert len(re.findall(r"st = sdk_cuda_linear_f16_h\(stream, [^;]*, H2, NULL, 8, ", cu)) == 2  # FFN 1 + GELU
    # the residual stream: the output projections and the second FFN GEMMs write their sums (with the residual) as
    # fp16 into slot 0, read by the LayerNorm after them alone; the first layer's residual is the model's fp32
    # input, the others the LayerNorm outputs in slot 1; every LayerNorm but the last (the model's output, fp32)
    # writes only its fp16 copy
    assert len(re.findall(r"st = sdk_cuda_linear_f16_h\(stream, [^;]*, HR0, \(const float \*\)\(void \*\)\(inputs\[0\]"
                          r"\.data\), 0, ", cu)) == 1
    assert len(re.findall(r"st = sdk_cuda_linear_f16_hr\(stream, [^;]*, HR0, HR1, 0, ", cu)) == 3
    assert len(re.findall(r"st = sdk_cuda_layernorm_f16\(stream, [^;]*, 64, HR0, [^;]*, NULL, HR1\); if", cu)) == 3
    assert len(re.findall(r"st = sdk_cuda_layernorm_f16\(stream, [^;]*, 64, HR0, [^;]*, \(float \*\)\(void \*\)"
                          r"\(outputs\[0\]\.data\), NULL\); if", cu)) == 1
    assert "sdk_cuda_layernorm_f32" not in cu
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
    # + the FFN's hidden layer (128) + two slots of the residual stream (the sums, the LayerNorm outputs)
    assert arena(h16) == b16.plan.arena_bytes + first + rows * 128 * 2 + 2 * rows * 64 * 2 + 256
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


def _post_ln_block(extra_reader: bool):
    """x [b, s, 64] -> MatMul + bias + x -> LayerNorm -> z; z -> MatMul + bias + z -> LayerNorm -> y (a post-LN
    block's two residual sums); extra_reader: z is also read by a Relu (an element-wise kernel), a second output."""
    from onnx import TensorProto as T
    from onnx import helper as h
    rng = np.random.default_rng(5)
    c = lambda n, a: numpy_helper.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inits = [c("w1", rng.standard_normal((64, 64)) / 8), c("b1", rng.standard_normal(64)),
             c("w2", rng.standard_normal((64, 64)) / 8), c("b2", rng.standard_normal(64)),
             c("g1", rng.standard_normal(64)), c("e1", rng.standard_normal(64)),
             c("g2", rng.standard_normal(64)), c("e2", rng.standard_normal(64))]
    nodes = [h.make_node("MatMul", ["x", "w1"], ["m1"]), h.make_node("Add", ["m1", "b1"], ["a1"]),
             h.make_node("Add", ["a1", "x"], ["s1"]), h.make_node("LayerNormalization", ["s1", "g1", "e1"], ["z"]),
             h.make_node("MatMul", ["z", "w2"], ["m2"]), h.make_node("Add", ["m2", "b2"], ["a2"]),
             h.make_node("Add", ["a2", "z"], ["s2"]), h.make_node("LayerNormalization", ["s2", "g2", "e2"], ["y"])]
    outs = [h.make_tensor_value_info("y", T.FLOAT, ["batch", "seq", 64])]
    if extra_reader:
        nodes.append(h.make_node("Relu", ["z"], ["r"]))
        outs.append(h.make_tensor_value_info("r", T.FLOAT, ["batch", "seq", 64]))
    g = h.make_graph(nodes, "block", [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", 64])], outs, inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_residual_stream_stays_fp32_where_another_kernel_reads_it():
    """The fp16 residual stream (linear.py's _residual_half): both sums go to slot 0 as fp16 and the LayerNorms read
    them there; the first LayerNorm's output z is kept only as fp16 (slot 1: the second GEMM's A and residual) unless
    an element-wise kernel reads it too, then it is written as fp32 as before (and as fp16 into the first scratch
    area, the second GEMM's A) and the second GEMM adds it as an fp32 residual."""
    for extra in (False, True):
        b = sdk.compile(_post_ln_block(extra), target="cuda-sm90", dims={"batch": 2, "seq": 40}, precision="fp16")
        cu = generate_cuda(b.program, b.plan, "model", b.bounds, "fp16")["model.cu"]
        lins = re.findall(r"st = (sdk_cuda_linear_f16\w*)\(stream, (.*)\); if \(st\) return st;", cu)
        lns = re.findall(r"st = (sdk_cuda_layernorm_\w+)\(stream, (.*)\); if \(st\) return st;", cu)
        assert [f for f, _ in lins] == ["sdk_cuda_linear_f16_h", "sdk_cuda_linear_f16_h" if extra else
                                        "sdk_cuda_linear_f16_hr"], extra
        assert [f for f, _ in lns] == ["sdk_cuda_layernorm_f16"] * 2
        g1, g2 = (launch_args(a) for _, a in lins)
        n1, n2 = (launch_args(a) for _, a in lns)
        assert g1[16] == g2[16] == "HR0" and n1[2] == n2[2] == "HR0"  # the sums: fp16 in slot 0
        assert g1[17] == "(const float *)(void *)(inputs[0].data)"  # the first residual: the model's fp32 input
        assert "outputs[0].data" in n2[6] and n2[7] == "NULL"  # the model's output stays fp32
        if extra:
            assert n1[6] != "NULL" and n1[7] == "H" and g2[10] == "H" and g2[17].startswith("(const float *)")
            assert "HR1" not in cu
        else:
            assert (n1[6], n1[7]) == ("NULL", "HR1") and (g2[10], g2[11], g2[17]) == ("HR1", "0", "HR1")
