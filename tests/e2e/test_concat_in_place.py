"""A Concat's inputs written in place into its output (sdk/transform/concat_in_place.py): SqueezeNet's fire module
(a 1x1 and a 3x3 convolution with ReLU concatenated along the channels), a third input from a loop kernel, an input
also read after the Concat, an input concatenated twice (the second Concat copies), the output read by a pooling
call; against onnxruntime on random inputs: the C bundle on 1 and 2 threads (bit-equal), under ASan + UBSan, and
the in-process LLVM engine. A symbolic batch keeps the copy."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner
from sdk.tir.expr import Kernel

RTOL, ATOL = 1e-4, 1e-5


def fire_model(batch):
    rng = np.random.default_rng(3)
    w = lambda name, shape: nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)  # noqa: E731
    inits = [w("Ws", [6, 8, 1, 1]), w("bs", [6]), w("We1", [10, 6, 1, 1]), w("be1", [10]), w("We3", [12, 6, 3, 3]),
             w("be3", [12])]
    nodes = [h.make_node("Conv", ["x", "Ws", "bs"], ["s0"]), h.make_node("Relu", ["s0"], ["s"]),
             h.make_node("Conv", ["s", "We1", "be1"], ["e10"]), h.make_node("Relu", ["e10"], ["e1"]),
             h.make_node("Conv", ["s", "We3", "be3"], ["e30"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["e30"], ["e3"]),
             h.make_node("Sigmoid", ["s"], ["g"]),                                   # a loop kernel's output
             h.make_node("Concat", ["e1", "e3", "g"], ["cat"], axis=1, name="cat"),              # in place
             h.make_node("MaxPool", ["cat"], ["y"], kernel_shape=[3, 3], strides=[2, 2]),
             h.make_node("Concat", ["e3", "e1"], ["cat2"], axis=-3, name="cat2"),                 # e1, e3 are views: a copy
             h.make_node("ReduceMax", ["e3"], ["r"], axes=[2, 3], keepdims=0)]       # e3 read after the Concats
    ins = {"x": [batch, 8, 11, 13]}
    outs = {"y": [batch, 28, 5, 6], "cat2": [batch, 22, 11, 13], "r": [batch, 12]}
    return float_model(nodes, "fire", ins, outs, inits)


def concat_kernels(b):
    return [s.name for s in b.program.steps if isinstance(s, Kernel) and s.name.startswith("k_cat")]


def test_concat_written_in_place(tmp_path):
    m = fire_model(1)
    b = sdk.compile(m)
    assert concat_kernels(b) == ["k_cat2"]  # the first Concat has no step: its inputs were written into it
    off = sorted(b.program.alias_offset.values())
    assert off == [10 * 11 * 13, 22 * 11 * 13]  # e3 after e1's 10 channels, g after e1 and e3's 22
    feeds = random_inputs(m, {}, 1)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(b.save(tmp_path / "f"), feeds, ref, RTOL, ATOL)


@pytest.mark.slow
def test_concat_in_place_under_sanitizers(tmp_path):
    m = fire_model(1)
    feeds = random_inputs(m, {}, 5)
    out = sdk.compile(m).save(tmp_path / "f")
    got, _ = HostRunner(cflags=" ".join(SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]), threads=2).run(
        out, feeds, rebuild=True)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


def test_symbolic_batch_keeps_the_copy():
    m = fire_model("n")
    b = sdk.compile(m, dims={"n": 2})
    assert concat_kernels(b) == ["k_cat", "k_cat2"] and not b.program.alias_offset
    feeds = random_inputs(m, {"n": 2}, 2)
    assert_outputs_close(b.run(feeds, engine="llvm"), ort_run(m, feeds), RTOL, ATOL)
