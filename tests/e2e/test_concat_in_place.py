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
from conftest import (SANITIZE, assert_c_threads_agree, assert_outputs_close, fan_in_initializer, float_model, ort_run,
                      random_inputs)
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
    _agrees_with_ort(m, b, tmp_path, 1)


def _agrees_with_ort(m, b, tmp_path, seed):
    """``b`` (compiled from ``m``) against onnxruntime: the in-process LLVM engine, the C bundle on 1 and 2 threads."""
    feeds = random_inputs(m, {}, seed)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(b.save(tmp_path / "b"), feeds, ref, RTOL, ATOL)


def _agrees_under_sanitizers(m, tmp_path, seed):
    feeds = random_inputs(m, {}, seed)
    out = sdk.compile(m).save(tmp_path / "s")
    got, _ = HostRunner(cflags=" ".join(SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]), threads=2).run(
        out, feeds, rebuild=True)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


@pytest.mark.slow
def test_concat_in_place_under_sanitizers(tmp_path):
    _agrees_under_sanitizers(fire_model(1), tmp_path, 5)


def test_symbolic_batch_keeps_the_copy():
    m = fire_model("n")
    b = sdk.compile(m, dims={"n": 2})
    assert concat_kernels(b) == ["k_cat", "k_cat2"] and not b.program.alias_offset
    feeds = random_inputs(m, {"n": 2}, 2)
    assert_outputs_close(b.run(feeds, engine="llvm"), ort_run(m, feeds), RTOL, ATOL)


def dense_block(layers=4, growth=4, c0=6, plane=(9, 10)):
    """DenseNet's block: layer k reads Concat(x0, y1, ..., y(k-1)) through BatchNorm + ReLU, then a 1x1 and a 3x3
    convolution make y(k); the block's output is the Concat of all, read by an average pool (the transition)."""
    rng = np.random.default_rng(11)
    inits, nodes, feats = [], [h.make_node("Relu", ["x"], ["x0"])], ["x0"]
    w = fan_in_initializer(rng, inits)

    for k in range(1, layers + 1):
        c = c0 + growth * (k - 1)
        cat = feats[0] if len(feats) == 1 else f"cat{k}"
        if len(feats) > 1:
            nodes.append(h.make_node("Concat", list(feats), [cat], axis=1, name=f"cat{k}"))
        w(f"g{k}", [c], 0.5), w(f"b{k}", [c], 0.5), w(f"m{k}", [c], 0.3)
        inits.append(nh.from_array((0.5 + rng.random(c)).astype(np.float32), f"v{k}"))
        w(f"W{k}a", [8, c, 1, 1]), w(f"W{k}b", [growth, 8, 3, 3])
        nodes += [h.make_node("BatchNormalization", [cat, f"g{k}", f"b{k}", f"m{k}", f"v{k}"], [f"n{k}"]),
                  h.make_node("Relu", [f"n{k}"], [f"r{k}"]),
                  h.make_node("Conv", [f"r{k}", f"W{k}a"], [f"a{k}"]), h.make_node("Relu", [f"a{k}"], [f"s{k}"]),
                  h.make_node("Conv", [f"s{k}", f"W{k}b"], [f"y{k}"], pads=[1, 1, 1, 1])]
        feats.append(f"y{k}")
    nodes += [h.make_node("Concat", list(feats), ["out"], axis=1, name="cat_out"),
              h.make_node("AveragePool", ["out"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    C = c0 + growth * layers
    return float_model(nodes, "dense", {"x": [1, c0, *plane]}, {"y": [1, C, plane[0] // 2, plane[1] // 2]}, inits)


def test_growing_concats_partitioned(tmp_path):
    """Every x0, y(k) is read by several Concats, so the Concats after the first are not in place (a tensor goes into one
    Concat) and each is
    inlined into its batch-norm + ReLU kernel as a chain of selects on the channel; loop partitioning
    (sdk/tir/partition.py) gives those kernels one plain loop nest per input range: no select on the channel is
    left. Same results as onnxruntime: the in-process LLVM engine and the C bundle on 1 and 2 threads."""
    from sdk.tir.build import walk
    from sdk.tir.expr import IfThen, Select, Var
    m = dense_block()
    b = sdk.compile(m)
    assert concat_kernels(b) == ["k_cat_out"]
    assert sorted(v.name for v in b.program.views) == ["t_Conv_5", "t_Relu_0"]  # only the first Concat in place
    split = 0
    for k in b.program.steps:
        if (not isinstance(k, Kernel) or k.name == "k_cat_out"
                or len([t for t in k.inputs if t.name.startswith(("t_Conv", "t_Relu"))]) < 2):
            continue
        found = []
        walk(k.body, lambda x: found.append(x) if isinstance(x, (IfThen, Select)) else None)
        assert any(isinstance(x, IfThen) for x in found), k.name
        assert not any(isinstance(x, Select) and isinstance(x.cond.a, Var) and x.cond.a.name == "i1" for x in found
                       if hasattr(x.cond, "a")), k.name
        split += 1
    assert split == 2  # the batch-norm kernels of layers 3 and 4 (layer 2 reads the in-place Concat; the last copy is
    # a plain Concat, left to the C emitter)
    _agrees_with_ort(m, b, tmp_path, 3)


@pytest.mark.slow
def test_growing_concats_under_sanitizers(tmp_path):
    _agrees_under_sanitizers(dense_block(layers=3), tmp_path, 6)
