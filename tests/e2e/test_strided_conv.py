"""Strided convolutions of one group that pack their im2col panels from tap planes (``sdk/tune/kernels.py``
``_fill_planes``; ResNet's 1x1 stride-2 layers) or compute spatial rows (``conv_t_source``; ResNet's 3x3 stride-2
layers, ConvNeXt's 2x2 ones) against onnxruntime on random inputs: 3x3, 5x5 and 1x1 at
stride 2, 3x3 at stride 3, odd and even planes (a ragged last panel), tiles of two output rows (7x7, 5x5 planes), rows of 35 outputs (the stride-2 fill in whole
vectors, then a last vector overlapping them, or element by element where the image row ends), asymmetric padding, depth split into two k
blocks, bias, residual Add + ReLU fused, a symbolic batch and plane run below the bounds. The C bundle on 1 and 2
threads (bit-equal, warning-free), the in-process engine, and under AddressSanitizer + UndefinedBehaviorSanitizer on
2 threads with every parallel path taken."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4

# (name, C, M, kernel, stride, pads (t, l, b, r), input H x W, residual + ReLU); more than 160 taps (C x k x k) where
# k > 1: fewer take the direct kernel of stems (sdk/tune/gconv.py)
CASES = [
    ("a", 24, 24, 3, 2, (1, 1, 1, 1), ("h", "w"), False),   # symbolic plane (bounds 29 x 30)
    ("b", 48, 40, 3, 2, (1, 1, 1, 1), (28, 28), True),      # K = 432: two k blocks of 216
    ("c", 16, 24, 1, 2, (0, 0, 0, 0), (28, 27), True),      # a ResNet downsample
    ("d", 8, 20, 5, 2, (2, 1, 2, 2), (20, 23), False),      # asymmetric padding
    ("e", 20, 20, 3, 3, (1, 1, 1, 1), (21, 22), True),      # stride 3: tap planes of 3 row phases
    ("f", 20, 16, 3, 2, (1, 1, 1, 1), (7, 69), False),      # rows of 35 outputs: stride-2 fill in whole vectors
    ("g", 16, 24, 1, 2, (0, 0, 0, 0), (5, 70), True),       # + the overlapping last vector (35 = 16 + 16 + 3)
    ("h", 24, 40, 2, 2, (0, 0, 0, 0), (28, 28), True),      # ConvNeXt's 2x2 downsample: rows read from the image
    ("i", 20, 36, 3, 2, (0, 0, 0, 0), (29, 29), False),     # unpadded 3x3 / 2: no padded copy either
    ("j", 40, 32, 3, 2, (1, 1, 1, 1), (13, 14), True),      # 7x7 out: tiles of two rows of 7, then one row
    ("k", 20, 24, 3, 2, (1, 1, 1, 1), (9, 10), False),      # 5x5 out: tiles of two rows of 5, then one row
    ("l", 32, 20, 3, 2, (1, 1, 1, 1), ("h2", "w2"), False), # symbolic, 7x7 at the bounds; 6x6 below: im2col
]
# the strided convolutions whose output rows hold whole tiles of 4-8 pixels take spatial rows (kernels.conv_t_source,
# space._strided_rows: vectors along output channels, A read through a column offset table); the others and the 1x1
# ones keep the tap planes
ROWS = {"a", "b", "e", "f", "h", "i", "j", "k", "l"}
# tiles of whole output rows (``span``: 14 pixels of 7x7, 10 of 5x5), the last tile of a plane one row
SPAN = {"j": (14, 7), "k": (10, 5), "l": (14, 7)}
BOUNDS = {"n": 2, "h": 29, "w": 30, "h2": 14, "w2": 13}
BELOW = {"n": 1, "h": 12, "w": 17, "h2": 11, "w2": 12}


def _out(n, k, s, lo, hi):
    return (n + lo + hi - k) // s + 1


def strided_model():
    rng = np.random.default_rng(11)
    nodes, inits, ins, outs = [], [], {}, {}
    for name, C, M, k, s, (pt, pl, pb, pr), (H, W), res in CASES:
        ins[f"x{name}"] = ["n", C, H, W]
        inits += [nh.from_array((rng.standard_normal((M, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32),
                                f"w{name}"), nh.from_array(rng.standard_normal(M).astype(np.float32), f"b{name}")]
        oh = "o" + H if isinstance(H, str) else _out(H, k, s, pt, pb)
        ow = "o" + W if isinstance(W, str) else _out(W, k, s, pl, pr)
        y = f"y{name}"
        nodes.append(h.make_node("Conv", [f"x{name}", f"w{name}", f"b{name}"], [f"c{name}" if res else y],
                                 kernel_shape=[k, k], strides=[s, s], pads=[pt, pl, pb, pr]))
        if res:
            ins[f"r{name}"] = ["n", M, oh, ow]
            nodes += [h.make_node("Add", [f"c{name}", f"r{name}"], [f"s{name}"]), h.make_node("Relu", [f"s{name}"], [y])]
        outs[y] = ["n", M, oh, ow]
    return float_model(nodes, "strided", ins, outs, inits)


@pytest.mark.slow
def test_tap_plane_convs_match_onnxruntime(tmp_path):
    m = strided_model()
    b = sdk.compile(m, dims=BOUNDS)
    scheds = [sc for sc in (getattr(st, "schedule", None) or {} for st in b.program.steps)
              if sc.get("planes") or sc.get("trans")]  # the steps in the cases' order
    kinds = ["rows" if sc.get("trans") else "planes" for sc in scheds]
    assert kinds == ["rows" if c[0] in ROWS else "planes" for c in CASES], kinds
    spans = {c[0]: (sc["mr"], sc["span"][0]) for c, sc in zip(CASES, scheds) if sc.get("span")}
    assert spans == SPAN, spans
    assert not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)  # Add + ReLU fused
    out = b.save(tmp_path / "m")
    for dims in (BOUNDS, BELOW):  # at and below the bounds
        outs = {"o" + d: _out(dims[d], 3, 2, 1, 1) for d in ("h", "w", "h2", "w2")}
        feeds = random_inputs(m, dict(dims, **outs), 3)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
        flags = SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]  # the plane fill and the panels split on 2 threads
        got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=dims["n"] == 2)
        assert_outputs_close(got, ref, RTOL, ATOL)
