"""Stride-1 convolutions of one group with kernels wider than 1x1 (5x5, 1x7, 7x1, 3x3) whose output rows hold whole
register tiles compute spatial rows (``space._wide_rows``, ``kernels.conv_t_source``: vectors along output channels,
A read through a column offset table from a zero-padded copy of the image; Inception-v3's 5x5 / 1x3 / 3x1 / 3x3
layers) against onnxruntime on random inputs: odd planes, asymmetric kernels, bias, residual Add + ReLU fused, and a
symbolic batch and plane run below the bounds, where the output rows hold no whole tile and the im2col is copied in
bands of output rows (the scratch holds one row's at stride 1). A prime plane (17 pixels a row) and output channels
that fill fewer lanes keep the im2col GEMM. The C bundle on 1 and 2 threads (bit-equal, warning-free), the in-process
engine, and under AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads with every parallel path taken."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4

# (name, C, M, (KH, KW), input H x W, residual + ReLU); pads keep the plane (KH // 2, KW // 2); more than 160 taps
# (fewer take the direct kernel of stems, sdk/tune/gconv.py)
CASES = [
    ("a", 12, 32, (5, 5), ("h", "w"), False),  # symbolic plane: 15 x 15 at the bounds (tiles of 5), 9 x 13 below
    ("b", 32, 48, (1, 7), (14, 14), False),    # Inception's 1x7 on rows of 14 (tiles of 7)
    ("c", 32, 48, (7, 1), (14, 21), True),     # 7x1, + residual + ReLU
    ("d", 40, 64, (3, 3), (6, 6), False),      # 3x3 on 6x6 (too few tiles for Winograd): tiles of one row
    ("e", 12, 32, (5, 5), (17, 17), False),    # rows of 17 pixels hold no whole tile: the GEMM
    ("f", 8, 24, (5, 5), (15, 15), True),      # 24 output channels fill 3/4 of two vectors: the GEMM
]
ROWS = {"a", "b", "c", "d"}
BOUNDS = {"n": 2, "h": 15, "w": 15}
BELOW = {"n": 1, "h": 9, "w": 13}


def wide_model():
    rng = np.random.default_rng(5)
    nodes, inits, ins, outs = [], [], {}, {}
    for name, C, M, (kh, kw), (H, W), res in CASES:
        ins[f"x{name}"] = ["n", C, H, W]
        inits += [nh.from_array((rng.standard_normal((M, C, kh, kw)) / np.sqrt(C * kh * kw)).astype(np.float32),
                                f"w{name}"), nh.from_array(rng.standard_normal(M).astype(np.float32), f"b{name}")]
        y = f"y{name}"
        nodes.append(h.make_node("Conv", [f"x{name}", f"w{name}", f"b{name}"], [f"c{name}" if res else y],
                                 kernel_shape=[kh, kw], pads=[kh // 2, kw // 2, kh // 2, kw // 2]))
        if res:
            ins[f"r{name}"] = ["n", M, H, W]
            nodes += [h.make_node("Add", [f"c{name}", f"r{name}"], [f"s{name}"]), h.make_node("Relu", [f"s{name}"], [y])]
        outs[y] = ["n", M, H, W]
    return float_model(nodes, "wide", ins, outs, inits)


def _kinds(b):
    """Per case (in order): "rows" for a spatial-rows step, "gemm" for the im2col GEMM's."""
    steps = [st for st in b.program.steps if getattr(st, "schedule", None) and "mr" in st.schedule]
    return ["rows" if st.schedule.get("trans") else "gemm" for st in steps]


def test_wide_rows_rule():
    b = sdk.compile(wide_model(), dims=BOUNDS)
    assert _kinds(b) == ["rows" if c[0] in ROWS else "gemm" for c in CASES], _kinds(b)
    # the scratch holds the padded image, not the 5x5 layer's whole im2col (25 x the image)
    sched = [st.schedule for st in b.program.steps if getattr(st, "schedule", None) and st.schedule.get("trans")][0]
    assert sched["pad"] and sched["col"] < 12 * 25 * 15 * 15, sched


@pytest.mark.slow
def test_wide_rows_convs_match_onnxruntime(tmp_path):
    m = wide_model()
    b = sdk.compile(m, dims=BOUNDS)
    assert not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)  # Add + ReLU fused
    out = b.save(tmp_path / "m")
    for dims in (BOUNDS, BELOW):  # at and below the bounds
        feeds = random_inputs(m, dims, 3)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
        flags = SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]  # the copies and the panels split on 2 threads
        got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=dims["n"] == 2)
        assert_outputs_close(got, ref, RTOL, ATOL)
