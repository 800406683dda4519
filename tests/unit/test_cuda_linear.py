"""fp16 CUDA builds: GEMMs on a weight read it as fp16 [N, K] stored at build time (sdk/backends/cuda/linear.py).
Generated code only (no GPU here): bench/igemm_gpu.py and bench/gpu.py models check the numerics on the GPU."""
import re

import numpy as np
from onnx import numpy_helper

import sdk
from sdk.backends.cuda.codegen import generate_cuda

LAUNCH = re.compile(r"st = sdk_cuda_linear_f16\(stream, (.*)\); if \(st\) return st;")


def _split(args: str):
    """Top-level comma-separated arguments of a launch."""
    out, depth, cur = [], 0, ""
    for ch in args:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


def test_transformer_gemms_read_fp16_transposed_weights(examples):
    model, bounds = examples["transformer"]
    b16 = sdk.compile(model, target="cuda-sm90", dims=bounds, precision="fp16")
    b32 = sdk.compile(model, target="cuda-sm90", dims=bounds, precision="fp32")
    src16 = generate_cuda(b16.program, b16.plan, "model", b16.bounds, "fp16")
    src32 = generate_cuda(b32.program, b32.plan, "model", b32.bounds, "fp32")
    assert "sdk_cuda_linear_f16" not in src32["model.cu"]
    launches = [_split(m) for m in LAUNCH.findall(src16["model.cu"])]
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
        assert a[10] == "H" and a[11] in ("0", "1")
    # per layer: Q, K and V read one A, rounded once (K and V reuse the scratch); the output projection's and the
    # second FFN GEMM's A come from a generated kernel (head merge, GELU) that writes them as fp16 into the scratch
    flags = [a[11] for a in launches]
    assert flags == ["1", "0", "0", "0", "1", "0"] * 2
    cu = src16["model.cu"]
    producers = re.findall(r"__global__ void (\w+)\([^)]*__half \*\w+\)", cu)
    assert len(producers) == 4 and all(re.search(rf"{p}<<<.*, H\);", cu) for p in producers)
    # the fp32 copies of those weights are not in the bundle; the arena holds the scratch after the plan
    h16, h32 = src16["model.h"], src32["model.h"]
    wbytes = lambda h: int(re.search(r"WEIGHTS_BYTES (\d+)u", h).group(1))  # noqa: E731
    matrix = sum(w.size for w in inits.values() if w.ndim == 2)
    assert wbytes(h16) <= wbytes(h32) - matrix * 2  # 4 bytes an element became 2
    arena = lambda h: int(re.search(r"ARENA_BYTES (\d+)u", h).group(1))  # noqa: E731
    scratch = bounds["batch"] * bounds["seq"] * 128 * 2  # the widest A (K = 128) at the bounds
    assert arena(h16) == b16.plan.arena_bytes + scratch + 256
    assert "model_scratch_bytes(d)" in src16["model.cu"]
