"""Batch-1 GEMV (sdk/tune/gemv.py, runtime_c/src/sdk_gemv.c): the GEMM form (M = 1: MatMul, Gemm with transB,
alpha/beta, a weight shared with an M > 1 product) and the convolution form (1x1 conv on a 1x1 plane, a kernel as
large as the image), sizes that leave partial panels (N not a multiple of 32 or 8; K = 1, 3, 1000), each fused
epilogue (bias, ReLU / HardSwish / SiLU, residual) against onnxruntime: the C bundle on 1 and 2 threads (bit-equal),
the in-process LLVM engine, the 4-lane vector build under AddressSanitizer + UndefinedBehaviorSanitizer, and the
portable C build (-DSDK_GEMV_SCALAR)."""
import os

import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_c_threads_agree, assert_outputs_close, float_model, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.tune.gemv import PANEL, TAIL, pack_weight

RTOL, ATOL = 1e-4, 2e-5


def _w(rng, name, shape, scale=None):
    fan = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return nh.from_array((rng.standard_normal(shape) / np.sqrt(scale or fan)).astype(np.float32), name)


def _model():
    rng = np.random.default_rng(7)
    inits = [_w(rng, "W1", [200, 1000]), _w(rng, "b1", [200], 1), _w(rng, "W2", [3, 40]), _w(rng, "W3", [1, 33]),
             _w(rng, "W4", [37, 64]), _w(rng, "b4", [64], 1), _w(rng, "Wc", [110, 440, 1, 1]), _w(rng, "bc", [110], 1),
             _w(rng, "Wf", [19, 5, 3, 3]), _w(rng, "W5", [16, 9])]
    nodes = [
        h.make_node("Gemm", ["x1", "W1", "b1"], ["g1"], transB=1), h.make_node("HardSwish", ["g1"], ["y1"]),
        h.make_node("MatMul", ["x2", "W2"], ["m2"]), h.make_node("Add", ["m2", "r2"], ["y2"]),   # residual
        h.make_node("MatMul", ["x3", "W3"], ["m3"]), h.make_node("Relu", ["m3"], ["y3"]),       # K = 1
        h.make_node("Gemm", ["x4", "W4", "b4"], ["y4"], alpha=0.5, beta=2.0),                  # alpha, beta
        h.make_node("Conv", ["xc", "Wc", "bc"], ["c"]), h.make_node("Sigmoid", ["c"], ["s"]),
        h.make_node("Mul", ["c", "s"], ["yc"]),                                                 # SiLU
        h.make_node("Conv", ["xf", "Wf"], ["f"]), h.make_node("Relu", ["f"], ["yf"]),           # whole-image kernel
        h.make_node("MatMul", ["x5", "W5"], ["y5"]), h.make_node("MatMul", ["x5b", "W5"], ["y5b"]),  # W5 shared
    ]
    ins = {"x1": [1, 1000], "x2": [1, 3], "r2": [1, 40], "x3": [1, 1], "x4": [1, 37], "xc": [1, 440, 1, 1],
           "xf": [1, 5, 3, 3], "x5": [1, 16], "x5b": [1, 16]}
    outs = {"y1": [1, 200], "y2": [1, 40], "y3": [1, 33], "y4": [1, 64], "yc": [1, 110, 1, 1], "yf": [1, 19, 1, 1],
            "y5": [1, 9], "y5b": [1, 9]}
    return float_model(nodes, "gemv", ins, outs, inits), ins


def _feeds(ins, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in ins.items()}


def test_pack_weight_order():
    W = np.arange(45 * 3, dtype=np.float32).reshape(45, 3)  # one full panel of 32, then two tail panels of 8
    p = pack_weight(W)
    assert p.size == (PANEL + 2 * TAIL) * 3
    assert np.array_equal(p[:PANEL * 3].reshape(3, PANEL), W[:PANEL].T)
    assert np.array_equal(p[PANEL * 3:PANEL * 3 + TAIL * 3].reshape(3, TAIL), W[PANEL:PANEL + TAIL].T)
    last = p[(PANEL + TAIL) * 3:].reshape(3, TAIL)
    assert np.array_equal(last[:, :5], W[PANEL + TAIL:].T) and not last[:, 5:].any()  # zero padding


@pytest.mark.slow
def test_gemv_forms_match_onnxruntime(tmp_path):
    m, ins = _model()
    b = sdk.compile(m)
    names = [s.fn for s in b.program.steps]
    assert names == ["sdk_gemv_f32"] * 8, names  # every product; epilogues are the GEMV's arguments
    consts = [c.name for c, _ in b.program.consts]
    assert consts.count("w_W5_gemv") == 1 and not {"w_W5", "w_b4"} & set(consts)  # one packed copy, no original
    ref_feeds = _feeds(ins, 1)
    ref = ort_run(m, ref_feeds)
    assert_outputs_close(b.run(ref_feeds, engine="llvm"), ref, RTOL, ATOL)
    out = b.save(tmp_path / "gemv")
    assert_c_threads_agree(out, ref_feeds, ref, RTOL, ATOL)  # y1 (200k multiply-adds) splits across threads
    feeds = _feeds(ins, 2)
    ref = ort_run(m, feeds)
    # without -march=native: the 4-lane vectors (as NEON / SSE / wasm SIMD get), under the sanitizers, 2 threads;
    # then the portable C (no vector extensions)
    for flags, threads in ((SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"], 2),
                           (["-O2", "-std=c99", "-DSDK_GEMV_SCALAR", "-Wall", "-Wextra", "-Werror"], 1)):
        got, _ = HostRunner(cflags=" ".join(flags), threads=threads).run(out, feeds, rebuild=True)
        assert_outputs_close(got, ref, RTOL, ATOL)


def _small_m_model():
    """Products with 2..8 rows: odd row counts around the kernel's row blocks (1, 2 or 4 rows share each weight
    load), N leaving tail panels, odd K, each epilogue, the conv form with a batch, and a symbolic row count."""
    rng = np.random.default_rng(11)
    inits = [_w(rng, "W1", [77, 129]), _w(rng, "b1", [77], 1), _w(rng, "W2", [3, 45]), _w(rng, "W3", [33, 200]),
             _w(rng, "Wc", [37, 19, 1, 1]), _w(rng, "bc", [37], 1), _w(rng, "W5", [16, 70])]
    nodes = [
        h.make_node("Gemm", ["x1", "W1", "b1"], ["g1"], transB=1), h.make_node("HardSwish", ["g1"], ["y1"]),  # 5 rows
        h.make_node("MatMul", ["x2", "W2"], ["m2"]), h.make_node("Add", ["m2", "r2"], ["y2"]),   # 8 rows, residual
        h.make_node("Gemm", ["x3", "W3"], ["m3"], transB=1, alpha=0.5), h.make_node("Relu", ["m3"], ["y3"]),  # 3
        h.make_node("Conv", ["xc", "Wc", "bc"], ["c"]), h.make_node("Sigmoid", ["c"], ["s"]),
        h.make_node("Mul", ["c", "s"], ["yc"]),                                                 # conv, batch 6, SiLU
        h.make_node("MatMul", ["x5", "W5"], ["y5"]),                                            # rows: symbol <= 7
    ]
    ins = {"x1": [5, 129], "x2": [8, 3], "r2": [8, 45], "x3": [3, 200], "xc": [6, 19, 1, 1], "x5": ["rows", 16]}
    outs = {"y1": [5, 77], "y2": [8, 45], "y3": [3, 33], "yc": [6, 37, 1, 1], "y5": ["rows", 70]}
    return float_model(nodes, "small_m", ins, outs, inits), ins


@pytest.mark.slow
def test_small_m_matches_onnxruntime(tmp_path):
    """The small-M path (beam search, a few rows): every product goes to sdk_gemv_f32 and matches onnxruntime with
    the native vectors (AVX-512 here: 4 rows per weight load), AVX2 (2 rows), the 4-lane vectors under the
    sanitizers and the portable C, on 1 and 2 threads; the symbolic row count runs below its bound."""
    m, ins = _small_m_model()
    b = sdk.compile(m, dims={"rows": 7})
    assert [s.fn for s in b.program.steps] == ["sdk_gemv_f32"] * 5
    out = b.save(tmp_path / "small_m")
    avx2 = "avx2" in open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else False
    builds = [(None, 1), (None, 2)] + [(["-O2", "-mavx2", "-mfma", "-ffp-contract=fast", "-std=c99", "-fopenmp"], 2)] * avx2
    builds += [(SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"], 2),
               (["-O2", "-std=c99", "-DSDK_GEMV_SCALAR", "-Wall", "-Wextra", "-Werror"], 1)]
    for k, (flags, threads) in enumerate(builds):
        feeds = _feeds({**ins, "x5": [7 - k % 3, 16]}, 20 + k)
        runner = HostRunner(cflags=" ".join(flags) if flags else None, threads=threads,
                            extra_cflags=[] if flags else ["-Werror"])
        got, _ = runner.run(out, feeds, rebuild=True)
        assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


def test_streams_equal_panel_after_panel(tmp_path):
    """One row over four full panels at once (sdk_gemv.c ``gemv_k32_streams``, AVX-512: four streams through memory)
    gives the same floats as panel after panel (``-DSDK_GEMV_STREAMS=1``), on 1 and 2 threads (units of four panels
    split across them), and onnxruntime's within tolerance: N = 263 (8 full panels: two units, then a 7-wide tail),
    odd K = 301, bias + residual + ReLU; N = 200 (one unit, two panels and a tail of 8), K = 1000, HardSwish; N = 96
    (three panels: no unit of four)."""
    rng = np.random.default_rng(23)
    inits = [_w(rng, "Wa", [263, 301]), _w(rng, "ba", [263], 1), _w(rng, "Wb", [1000, 200]), _w(rng, "bb", [200], 1),
             _w(rng, "Wc", [50, 96])]
    nodes = [h.make_node("Gemm", ["xa", "Wa", "ba"], ["g"], transB=1), h.make_node("Add", ["g", "ra"], ["s"]),
             h.make_node("Relu", ["s"], ["ya"]),
             h.make_node("MatMul", ["xb", "Wb"], ["mb"]), h.make_node("Add", ["mb", "bb"], ["hb"]),
             h.make_node("HardSwish", ["hb"], ["yb"]), h.make_node("MatMul", ["xc", "Wc"], ["yc"])]
    ins = {"xa": [1, 301], "ra": [1, 263], "xb": [1, 1000], "xc": [1, 50]}
    m = float_model(nodes, "streams", ins, {"ya": [1, 263], "yb": [1, 200], "yc": [1, 96]}, inits)
    b = sdk.compile(m)
    assert [s.fn for s in b.program.steps] == ["sdk_gemv_f32"] * 3
    out = b.save(tmp_path / "streams")
    feeds = _feeds(ins, 5)
    ref = ort_run(m, feeds)
    runs = assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    for threads in (1, 2):
        got, _ = HostRunner(threads=threads, extra_cflags=["-Werror", "-DSDK_GEMV_STREAMS=1"]).run(out, feeds,
                                                                                                   rebuild=True)
        for k in ref:
            assert np.array_equal(got[k], runs[1][k]), (k, threads)
