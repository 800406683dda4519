"""Register tiles of a partial column panel of packed B (``sdk/tune/kernels.py`` ``_ukr``'s ``part``): a full row of
tiles whose last panel holds fewer than nr columns runs the narrowest tile that covers it straight into Y, the
epilogue (bias, residual, activation) in registers and its last vector read and stored ``n`` floats wide (a masked
load / store with AVX-512, memcpy elsewhere), instead of a stack tile, a scalar copy and the epilogue pass.
MobileNetV2's 144 -> 24 projections (every tile of them), MobileNetV3-S's and EfficientNet-B0's 40 / 72 / 112-wide
layers and ShuffleNetV2's 58 / 116 / 232 take it.

An inverted-residual block (24 -> 72 -> depthwise -> 24 + the residual: channels-last, 72 = 64 + 8 and 24 = 16 + 8
columns), a 300 -> 40 projection (K blocked: the partial tile accumulates into Y it stored) with ReLU6, and a
channels-first 1x1 convolution 116 -> 58 on 13 x 11 pixels (143 columns), on a 9 x 13 plane (partial rows too), at
the batch bound and below it. Against onnxruntime: the in-process engine, the C bundle on 1 and 2 threads (bit-equal,
-Werror), the same C with the partial tiles switched off (``-DSDK_TUNED_NO_PART``: the old path, the same sums), the
portable build without AVX-512 (the memcpy form) and ASan + UBSan on 2 threads (the masked loads read no float past a
row or a bias)."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import (SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs,
                      scheduled_kernels_c)
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4


def partial_model():
    rng = np.random.default_rng(11)

    def w(name, *shape):
        fan = int(np.prod(shape[1:]))
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32), name)

    def b(name, n):
        return nh.from_array((0.1 * rng.standard_normal(n)).astype(np.float32), name)

    inits = [w("we", 72, 24, 1, 1), b("be", 72), w("wd", 72, 1, 3, 3), b("bd", 72), w("wp", 24, 72, 1, 1), b("bp", 24),
             w("wq", 300, 24, 1, 1), w("wd2", 300, 1, 3, 3), w("wr", 40, 300, 1, 1), b("br", 40),
             w("ws", 58, 116, 1, 1), b("bs", 58)]
    relu6 = dict(min=0.0, max=6.0)
    nodes = [
        h.make_node("Conv", ["x", "we", "be"], ["e"], kernel_shape=[1, 1]),
        h.make_node("Clip", ["e", "lo", "hi"], ["ea"]),
        h.make_node("Conv", ["ea", "wd", "bd"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=72),
        h.make_node("Clip", ["d", "lo", "hi"], ["da"]),
        h.make_node("Conv", ["da", "wp", "bp"], ["p"], kernel_shape=[1, 1]),
        h.make_node("Add", ["p", "x"], ["y1"]),
        # 24 -> 300 -> depthwise -> 300 -> 40 + ReLU6 (K = 300: the projection's k blocks)
        h.make_node("Conv", ["y1", "wq"], ["q"], kernel_shape=[1, 1]),
        h.make_node("Conv", ["q", "wd2"], ["q2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=300),
        h.make_node("Conv", ["q2", "wr", "br"], ["r"], kernel_shape=[1, 1]),
        h.make_node("Clip", ["r", "lo", "hi"], ["y2"]),
        # channels-first 1x1 on its own (ShuffleNetV2-like widths)
        h.make_node("Conv", ["z", "ws", "bs"], ["s"], kernel_shape=[1, 1]),
        h.make_node("Relu", ["s"], ["y3"]),
    ]
    inits += [nh.from_array(np.array(relu6["min"], np.float32), "lo"),
              nh.from_array(np.array(relu6["max"], np.float32), "hi")]
    return float_model(nodes, "partial", {"x": ["n", 24, 9, 13], "z": ["n", 116, 13, 11]},
                       {"y1": ["n", 24, 9, 13], "y2": ["n", 40, 9, 13], "y3": ["n", 58, 13, 11]}, inits)


@pytest.mark.slow
def test_partial_panel_tiles_match_onnxruntime(tmp_path):
    m = partial_model()
    b = sdk.compile(m, dims={"n": 2})
    out = b.save(tmp_path / "m")
    src = scheduled_kernels_c(out)
    calls = {c for c in src.split() if "_ukr_p" in c and c.endswith("(kc,")}
    assert len(calls) >= 2, "no partial-panel tile called"
    assert "SDK_VSTOREN16" in src or "SDK_VSTOREN8" in src
    for dims, seed in (({"n": 2}, 1), ({"n": 1}, 2)):
        feeds = random_inputs(m, dims, seed)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        runs = assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
        old, _ = HostRunner(extra_cflags=["-DSDK_TUNED_NO_PART"]).run(out, feeds, rebuild=True)
        for k in ref:  # the same sums in the same order as through the stack tile
            np.testing.assert_allclose(old[k], runs[1][k], rtol=1e-6, atol=1e-6)
        builds = [dict(extra_cflags=["-mno-avx512f"]),
                  dict(cflags=" ".join(SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]), threads=2)]
        for kw in builds:
            got, _ = HostRunner(**kw).run(out, feeds, rebuild=True)
            assert_outputs_close(got, ref, RTOL, ATOL)
