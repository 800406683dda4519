"""Float16 weight storage (``sdk build --weights fp16``): sdk/transform/weights_fp16.py rounds the MatMul/Gemm
weights to float16 values, sdk/tune/gemv.py stores those of the matrix-vector products as float16, and
``sdk_gemv_f16w_f32`` (runtime_c/src/sdk_gemv.c) converts them while streaming them, summing in float32.

- The conversion of every one of the 65536 float16 bit patterns, in each of the kernel's load paths (AVX-512's
  vcvtph2ps, F16C at 8 lanes (and its 4-lane tail loads), the bit arithmetic at 8 and 4 lanes without F16C, arm64's fcvtl under
  qemu-aarch64), against ``sdk_f16_to_f32`` (sdk_half.h): bit-equal (NaNs: NaN of the same sign).
- Products against onnxruntime running the same model with its MatMul/Gemm weights rounded to float16
  (``sdk.generate.reference.fp16_weights_model``, a transform of the ONNX graph written apart from the compiler's
  pass): the GEMM form with tail panels, bias / residual / activations, a Gemm's alpha and beta, K = 1, 1..8 rows,
  weights with float16 subnormals and zeros, a weight a Gather also reads (it keeps its exact values there), in the
  C bundle (native vectors, AVX2 with and without F16C, the 4-lane vectors under ASan/UBSan, the portable C) and
  the in-process engine; tolerance rtol 1e-4, atol 2e-5 (float32 sums in another order). The same outputs differ
  from the unrounded model's by more than that: the rounding is there and the comparison sees it.
- Generation: the tiny GPT step (greedy and 3 beams) and Hugging Face's GPT-2 step (Gemm weights): token ids
  identical to onnxruntime's loop over the rounded model.
- Errors: a weight beyond float16's range; a CUDA target; with --quantize; the CLI's summary line.
(android-arm64, wasm32, Cortex-M7: tests/targets/test_generate_targets.py, the tiny GPT's tokens.)"""
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_outputs_close, float_model, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.cli import main
from sdk.errors import SdkError
from sdk.generate import GenerateParams
from sdk.generate.reference import fp16_weights_model, reference_generate

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RT = os.path.join(ROOT, "runtime_c")
MODELS = os.path.join(ROOT, "tests", "models")
RTOL, ATOL = 1e-4, 2e-5

CONVERT = r"""
#include <stdio.h>
#include <string.h>
#include "sdk_gemv.c"

static int same(float got, float want) {
  if (want != want) return got != got && signbit(got) == signbit(want);
  uint32_t a, b;
  memcpy(&a, &got, 4);
  memcpy(&b, &want, 4);
  return a == b;
}

int main(void) {
  long bad = 0, n = 0;
  uint16_t hs[GV_LANES];
  for (uint32_t base = 0; base < 65536u; base += GV_LANES) {
    for (int j = 0; j < GV_LANES; ++j) hs[j] = (uint16_t)(base + (uint32_t)j);
    const sdk_gv v = gv_ld_f16(hs);
    const sdk_gv4 v4 = gv4_ld_f16(hs);
    for (int j = 0; j < GV_LANES; ++j, ++n) bad += !same(v[j], sdk_f16_to_f32(hs[j]));
    for (int j = 0; j < 4; ++j) bad += !same(v4[j], sdk_f16_to_f32(hs[j]));
  }
  printf("%d %ld %ld\n", GV_LANES, n, bad);
  return 0;
}
"""


def _convert_builds():
    x86 = [(["-O2", "-march=native"], None), (["-O2", "-mavx2", "-mfma", "-mf16c"], 8),
           (["-O2", "-mavx2", "-mfma"], 8), (["-O2"], 4)]
    out = [("gcc", f, lanes, []) for f, lanes in x86]
    if shutil.which("aarch64-linux-gnu-gcc") and shutil.which("qemu-aarch64"):
        out.append(("aarch64-linux-gnu-gcc", ["-O2", "-static"], 4, ["qemu-aarch64"]))
    return out


@pytest.mark.parametrize("cc,flags,lanes,prefix", _convert_builds())
def test_every_float16_pattern_converts_exactly(tmp_path, cc, flags, lanes, prefix):
    src = tmp_path / "convert.c"
    src.write_text(CONVERT)
    exe = tmp_path / "convert"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, "-I", os.path.join(RT, "include"),
                    "-I", os.path.join(RT, "src"), str(src), "-lm", "-o", str(exe)], check=True)
    got_lanes, n, bad = map(int, subprocess.run(prefix + [str(exe)], capture_output=True, text=True,
                                                check=True).stdout.split())
    assert (lanes is None or got_lanes == lanes) and n == 65536 and bad == 0, (got_lanes, n, bad)


def _w(rng, name, shape, scale=None):
    fan = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return (rng.standard_normal(shape) / np.sqrt(scale or fan)).astype(np.float32)


def _model():
    """Products of 1..8 rows over constant weights (tail panels: N = 200, 45, 33, 77; K = 1 and odd K), each
    epilogue, alpha/beta; W1 has float16 subnormals and zeros; E is read by a MatMul and by a Gather."""
    rng = np.random.default_rng(5)
    W1 = _w(rng, "W1", [200, 129])
    W1[:, :7] = rng.standard_normal((200, 7)).astype(np.float32) * 3e-6  # below 2^-14: float16 subnormals
    W1[::5, 7] = 0.0
    E = _w(rng, "E", [37, 64])
    arrays = {"W1": W1, "b1": _w(rng, "b1", [200], 1), "W2": _w(rng, "W2", [3, 45]), "W3": _w(rng, "W3", [1, 33]),
              "W4": _w(rng, "W4", [77, 64]), "b4": _w(rng, "b4", [64], 1), "E": E,
              "W5": _w(rng, "W5", [16, 70])}
    inits = [nh.from_array(a, k) for k, a in arrays.items()] + [nh.from_array(np.array([3, 0, 36], np.int64), "idx")]
    nodes = [
        h.make_node("Gemm", ["x1", "W1", "b1"], ["g1"], transB=1), h.make_node("HardSwish", ["g1"], ["y1"]),  # 5 rows
        h.make_node("MatMul", ["x2", "W2"], ["m2"]), h.make_node("Add", ["m2", "r2"], ["y2"]),   # 8 rows, residual
        h.make_node("MatMul", ["x3", "W3"], ["m3"]), h.make_node("Relu", ["m3"], ["y3"]),       # K = 1, 1 row
        h.make_node("Gemm", ["x4", "W4", "b4"], ["y4"], alpha=0.5, beta=2.0),                  # alpha, beta; 3 rows
        h.make_node("MatMul", ["x5", "E"], ["y5"]), h.make_node("Gather", ["E", "idx"], ["y6"]),  # E: two readers
        h.make_node("MatMul", ["x7", "W5"], ["y7"]),                                            # rows: symbol <= 7
    ]
    ins = {"x1": [5, 129], "x2": [8, 3], "r2": [8, 45], "x3": [1, 1], "x4": [3, 77], "x5": [2, 37],
           "x7": ["rows", 16]}
    outs = {"y1": [5, 200], "y2": [8, 45], "y3": [1, 33], "y4": [3, 64], "y5": [2, 64], "y6": [3, 64],
            "y7": ["rows", 70]}
    return float_model(nodes, "gemv16", ins, outs, inits), ins


def _feeds(ins, seed, rows=7):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal([rows if d == "rows" else d for d in s]).astype(np.float32) for k, s in ins.items()}


@pytest.mark.slow
def test_products_match_onnxruntime_over_the_rounded_weights(tmp_path):
    m, ins = _model()
    b = sdk.compile(m, dims={"rows": 7}, weights="fp16")
    fns = [s.fn for s in b.program.steps if hasattr(s, "fn")]
    assert fns.count("sdk_gemv_f16w_f32") == 6 and "sdk_gemv_f32" not in fns, fns
    half = {c.name: a for c, a in b.program.consts if c.name.endswith("_gemv16")}
    assert len(half) == 6 and all(a.dtype == np.uint16 for a in half.values())
    assert any(c.name == "w_E" and np.array_equal(a.reshape(37, 64), nh.to_array(
        next(i for i in m.graph.initializer if i.name == "E"))) for c, a in b.program.consts) or \
        not any(c.name == "w_E" for c, _ in b.program.consts)  # E for the Gather: its exact values (or folded)
    rounded = fp16_weights_model(m)
    feeds = _feeds(ins, 1)
    ref = ort_run(rounded, feeds)
    exact = ort_run(m, feeds)
    assert not all(np.allclose(ref[k], exact[k], RTOL, ATOL) for k in ref)  # the tolerance sees the rounding
    np.testing.assert_array_equal(ref["y6"], exact["y6"])  # the Gather's reader keeps E's exact values
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    out = b.save(tmp_path / "gemv16")
    avx2 = os.path.exists("/proc/cpuinfo") and "avx2" in open("/proc/cpuinfo").read()
    builds = [(None, 1), (None, 2)]
    builds += [(["-O2", "-mavx2", "-mfma", "-mf16c", "-ffp-contract=fast", "-std=c99", "-fopenmp"], 2),
               (["-O2", "-mavx2", "-mfma", "-ffp-contract=fast", "-std=c99"], 1)] * avx2
    builds += [(SANITIZE + ["-fopenmp"], 2), (["-O2", "-std=c99", "-DSDK_GEMV_SCALAR", "-Wall", "-Wextra", "-Werror"], 1)]
    for k, (flags, threads) in enumerate(builds):
        feeds = _feeds(ins, 20 + k, rows=7 - k % 3)
        runner = HostRunner(cflags=" ".join(flags) if flags else None, threads=threads,
                            extra_cflags=[] if flags else ["-Werror"])
        got, _ = runner.run(out, feeds, rebuild=True)
        assert_outputs_close(got, ort_run(rounded, feeds), RTOL, ATOL)


def _generation_matches(model, cases):
    path = os.path.join(MODELS, model)
    b = sdk.compile(path, dims={"batch": 3, "max_len": 24}, generate=True, name="g16", weights="fp16")
    fns = [s.fn for s in b.program.steps if hasattr(s, "fn")]
    assert fns.count("sdk_gemv_f16w_f32") >= 5 and "sdk_gemv_f32" not in fns
    rounded = fp16_weights_model(onnx.load(path))
    for prompts, params in cases:
        got = b.generate(np.array(prompts), **params)  # [rows or beams][tokens], as the reference loop's
        assert got == reference_generate(rounded, np.array(prompts), 24, GenerateParams(**params)), params


def test_generation_tokens_equal_onnxruntime_over_the_rounded_weights():
    _generation_matches("generate/tiny_gpt_step.ts.onnx", [([[5, 8, 11], [40, 45, 50]], dict(max_new_tokens=20)),
                                                           ([[5, 9]], dict(num_beams=3, stop_tokens=(63,)))])


@pytest.mark.slow
def test_hf_gpt2_generation_equals_onnxruntime_over_the_rounded_weights():
    """Hugging Face's GPT-2 step: its products are Gemm nodes (transB) over the rounded weights."""
    _generation_matches("text/gpt2_step.ts.onnx", [([[5, 8, 11]], dict(max_new_tokens=12)),
                                                   ([[5, 8, 11]], dict(num_beams=3, max_new_tokens=8))])


def test_errors_and_the_cli_line(tmp_path, capsys):
    big = float_model([h.make_node("MatMul", ["x", "W"], ["y"])], "big", {"x": [1, 4]}, {"y": [1, 3]},
                      [nh.from_array(np.array([[1, 2, 3]] * 3 + [[7e4, 0, 0]], np.float32), "W")])
    with pytest.raises(SdkError, match="beyond float16"):
        sdk.compile(big, weights="fp16")
    with pytest.raises(SdkError, match="cuda-sm90"):
        sdk.compile(big, target="cuda-sm90", weights="fp16")
    with pytest.raises(SdkError, match="expected fp32 or fp16"):
        sdk.compile(big, weights="bf16")
    with pytest.raises(SdkError, match="pick one"):
        sdk.compile(big, weights="fp16", quantize="int8", calibration={"x": np.ones((1, 4), np.float32)})
    m, _ = _model()
    onnx.save(m, tmp_path / "m.onnx")
    assert main(["build", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "b"), "--dim", "rows=7",
                 "--weights", "fp16"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert "B float16 (6 matrix-vector products read float16 weights)" in line, line
