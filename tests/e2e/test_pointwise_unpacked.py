"""Pointwise convolutions whose image feeds at most two register-tile rows read it in place, not through packed panels
(``sdk/tune/space.py`` ``GemmSpace.default``; SqueezeNet's 16-channel squeeze layers on 55x55): 16 and 12 output
channels (12: rows of 6, a ragged last column tile of the 48-wide panels either way), ReLU and a residual Add + ReLU
fused, a symbolic batch and plane run below the bounds (fewer than 32 tiles wide there: the edge tile). Against
onnxruntime on random inputs: the C bundle on 1 and 2 threads (bit-equal, warning-free), the in-process engine, and
under AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads with every parallel path taken."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4

# (name, C, M, residual + ReLU (else ReLU))
CASES = [("a", 64, 16, False), ("b", 40, 12, True)]


def pointwise_model():
    rng = np.random.default_rng(5)
    nodes, inits, ins, outs = [], [], {}, {}
    for name, C, M, res in CASES:
        ins[f"x{name}"] = ["n", C, "h", "w"]
        inits += [nh.from_array((rng.standard_normal((M, C, 1, 1)) / np.sqrt(C)).astype(np.float32), f"w{name}"),
                  nh.from_array(rng.standard_normal(M).astype(np.float32), f"b{name}")]
        nodes.append(h.make_node("Conv", [f"x{name}", f"w{name}", f"b{name}"], [f"c{name}"], kernel_shape=[1, 1]))
        if res:
            ins[f"r{name}"] = ["n", M, "h", "w"]
            nodes += [h.make_node("Add", [f"c{name}", f"r{name}"], [f"s{name}"]),
                      h.make_node("Relu", [f"s{name}"], [f"y{name}"])]
        else:
            nodes.append(h.make_node("Relu", [f"c{name}"], [f"y{name}"]))
        outs[f"y{name}"] = ["n", M, "h", "w"]
    return float_model(nodes, "pointwise", ins, outs, inits)


@pytest.mark.slow
def test_unpacked_pointwise_convs_match_onnxruntime(tmp_path):
    m = pointwise_model()
    bounds = {"n": 2, "h": 55, "w": 53}
    b = sdk.compile(m, dims=bounds)
    sched = [getattr(s, "schedule", None) for s in b.program.steps if getattr(s, "schedule", None)]
    assert len(sched) == len(CASES) and all(s["pack_b"] is False for s in sched), sched
    assert not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)  # Add + ReLU fused
    out = b.save(tmp_path / "m")
    for dims in (bounds, {"n": 1, "h": 9, "w": 13}):  # at and below the bounds
        feeds = random_inputs(m, dims, 3)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
        flags = SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]  # the tiles split on 2 threads
        got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=dims["n"] == 2)
        assert_outputs_close(got, ref, RTOL, ATOL)
