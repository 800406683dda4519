"""A direct stem convolution and the max pooling after it as one kernel (``sdk/tune/conv_pool.py``): ResNet's 7x7/2
pad-3 stem + 3x3/2 pad-1 pool, SqueezeNet's 3x3/2 stem + 3x3/2 ceil-mode pool, a 3x3/1 stem + 2x2/1 pool without
activation, odd planes, batch 2, planes wide enough for the vector paths and too narrow for them; a convolution whose
output another node reads too stays unfused. Against onnxruntime on random inputs: the C bundle on 1 and 2 threads
(bit-equal, warning-free), the in-process engine, and under AddressSanitizer + UndefinedBehaviorSanitizer on 2
threads with the bands split (SDK_PAR_MIN_WORK=1)."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4

# (name, N, C, H, W, M, conv (k, stride, pad), relu, pool (k, stride, pad, ceil))
CASES = [
    ("resnet", 1, 3, 70, 70, 64, (7, 2, 3), True, (3, 2, 1, 0)),
    ("squeeze", 1, 3, 75, 77, 32, (3, 2, 0), True, (3, 2, 0, 1)),
    ("odd", 2, 5, 29, 23, 24, (5, 2, 2), True, (3, 2, 1, 1)),
    ("s1", 1, 4, 40, 36, 8, (3, 1, 1), False, (2, 1, 0, 0)),
]


def conv_pool_model(cases, shared=False):
    rng = np.random.default_rng(7)
    nodes, inits, ins, outs = [], [], {}, {}
    for name, N, C, H, W, M, (k, s, p), relu, (pk, ps, pp, ceil) in cases:
        ins[f"x{name}"] = [N, C, H, W]
        inits += [nh.from_array((rng.standard_normal((M, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32), f"w{name}"),
                  nh.from_array(rng.standard_normal(M).astype(np.float32), f"b{name}")]
        nodes.append(h.make_node("Conv", [f"x{name}", f"w{name}", f"b{name}"], [f"c{name}"], kernel_shape=[k, k],
                                 strides=[s, s], pads=[p] * 4))
        a = f"c{name}"
        if relu:
            nodes.append(h.make_node("Relu", [a], [f"r{name}"]))
            a = f"r{name}"
        nodes.append(h.make_node("MaxPool", [a], [f"y{name}"], kernel_shape=[pk, pk], strides=[ps, ps], pads=[pp] * 4,
                                 ceil_mode=ceil))
        OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
        rnd = (lambda v: -(-v // ps)) if ceil else (lambda v: v // ps)
        outs[f"y{name}"] = [N, M, rnd(OH + 2 * pp - pk) + 1, rnd(OW + 2 * pp - pk) + 1]
        if shared:  # the convolution's output read by another node too
            nodes.append(h.make_node("Neg", [a], [f"n{name}"]))
            outs[f"n{name}"] = [N, M, OH, OW]
    return float_model(nodes, "conv_pool", ins, outs, inits)


def fused(b):
    return [s for s in b.program.steps if getattr(getattr(s, "decl", None), "name", "") == "sdk_conv2d_maxpool_f32"]


@pytest.mark.slow
def test_conv_maxpool_fused_matches_onnxruntime(tmp_path):
    m = conv_pool_model(CASES)
    b = sdk.compile(m)
    assert len(fused(b)) == len(CASES)
    assert not any(getattr(s, "fn", "") == "sdk_pool2d_f32" for s in b.program.steps)
    out = b.save(tmp_path / "m")
    feeds = random_inputs(m, {}, 3)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    flags = SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]  # the bands split on 2 threads
    got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ref, RTOL, ATOL)


@pytest.mark.slow
def test_conv_output_read_elsewhere_is_not_fused(tmp_path):
    m = conv_pool_model(CASES[:1], shared=True)
    b = sdk.compile(m)
    assert not fused(b)
    feeds = random_inputs(m, {}, 4)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), RTOL, ATOL)


def test_fused_pool_keeps_the_arena_from_growing(monkeypatch):
    """The fused step's scratch (phase planes + band buffers) takes less than the convolution output it replaces: the
    planned arena of the ResNet- and SqueezeNet-like stems is smaller than without the fusion."""
    from sdk.tune import conv_pool
    m = conv_pool_model(CASES[:2])
    with_fusion = sdk.compile(m)
    assert len(fused(with_fusion)) == 2
    monkeypatch.setattr(conv_pool, "fuse_conv_maxpool", lambda prog, rows=0: 0)
    without = sdk.compile(m)
    assert not fused(without)
    assert with_fusion.plan.arena_bytes < without.plan.arena_bytes
