"""Max pooling by rows (``pool_max_rows`` in sdk_kernels.c): padded windows on planes too large for the padded stack
copy, against a numpy reference (the ONNX definition: padding never wins, a NaN in the window gives NaN), ceil mode,
asymmetric pads, strides 1-3, one and two threads."""
import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import sdk
from sdk.backends.host.runner import HostRunner

# (C, H, W, kernel, stride, pads (t, l, b, r), ceil_mode)
CASES = [(3, 112, 112, 3, 2, (1, 1, 1, 1), 0), (2, 67, 71, 3, 1, (1, 0, 2, 1), 0), (2, 90, 91, 2, 2, (0, 1, 1, 0), 1),
         (2, 70, 66, 5, 3, (2, 2, 2, 2), 1)]


def _ref(x, k, s, pads, oh, ow):
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b + k * s), (l, r + k * s)), constant_values=-np.inf)
    out = np.empty(x.shape[:2] + (oh, ow), np.float32)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = np.max(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return out


@pytest.mark.parametrize("case", CASES)
def test_padded_max_pool_on_large_planes(case):
    C, H, W, k, s, pads, ceil = case
    g = h.make_graph([h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=list(pads),
                                  ceil_mode=ceil)], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [2, C, H, W])], [h.make_tensor_value_info("y", T.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    x.reshape(-1)[::997] = np.nan
    x.reshape(-1)[5::1009] = np.inf
    x.reshape(-1)[9::1013] = -np.inf
    b = sdk.compile(m)
    for threads in (1, 2):
        y = b.run({"x": x}, runner=HostRunner(threads=threads), engine="c")
        y = y["y"] if isinstance(y, dict) else y[0]
        want = _ref(x, k, s, pads, y.shape[2], y.shape[3])
        assert y.shape == want.shape
        np.testing.assert_array_equal(y, want)


# Windows of 2 or 3 columns at stride 1 or 2 take vectors of outputs across a row (SDK_POOL_VEC), padded or not:
# (C, H, W, kernel, stride, pads, ceil_mode) whose rows take 16-, 8- and 4-lane blocks (with a last block
# overlapping the one before), padding and ceil-mode cells from the row buffer's -inf frame
VEC_CASES = [(3, 55, 55, 3, 2, (0, 0, 0, 0), 1), (5, 27, 27, 3, 2, (0, 0, 0, 0), 1), (2, 15, 15, 3, 2, (1, 1, 1, 1), 0),
             (2, 20, 41, 3, 1, (0, 0, 0, 0), 0), (2, 9, 40, 2, 2, (0, 0, 0, 0), 0), (2, 8, 11, 2, 1, (0, 1, 1, 0), 0),
             (2, 30, 37, 3, 1, (1, 1, 1, 1), 0), (2, 13, 13, 3, 2, (0, 0, 0, 0), 1),
             # GoogLeNet's pad-1 stride-1 pools on small planes (rows of 14 and 7: 8- and 4-lane blocks), rows of
             # fewer than 4 outputs (plain loops), 2x2/2 in ceil mode on an even plane, a 5-column window
             (3, 14, 14, 3, 1, (1, 1, 1, 1), 1), (4, 7, 7, 3, 1, (1, 1, 1, 1), 1), (2, 3, 3, 3, 1, (1, 1, 1, 1), 0),
             (2, 14, 14, 2, 2, (0, 0, 0, 0), 1), (2, 12, 19, 5, 1, (2, 2, 2, 2), 0),
             # rows of 8-15 outputs (with AVX-512 one 16-lane block and a masked store): 2x2/2, 2x2/1, 3x3/1, 3x3/2
             (2, 6, 30, 2, 2, (0, 0, 0, 0), 0), (2, 5, 10, 2, 1, (0, 0, 0, 0), 0), (2, 6, 17, 3, 1, (0, 0, 0, 0), 0),
             (2, 9, 19, 3, 2, (0, 1, 0, 1), 0)]
SANITIZE = ["-O1", "-g", "-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-fno-var-tracking", "-DSDK_PAR_MIN_WORK=1"]


def _vec_model():
    nodes, ins = [], {}
    for i, (C, H, W, k, s, pads, ceil) in enumerate(VEC_CASES):
        nodes.append(h.make_node("MaxPool", [f"x{i}"], [f"y{i}"], kernel_shape=[k, k], strides=[s, s], pads=list(pads),
                                 ceil_mode=ceil))
        ins[f"x{i}"] = [2, C, H, W]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(k, T.FLOAT, s) for k, s in ins.items()],
                     [h.make_tensor_value_info(f"y{i}", T.FLOAT, None) for i in range(len(VEC_CASES))])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), ins


@pytest.mark.slow
def test_vector_max_pool_rows(tmp_path):
    """Against the numpy reference with NaN and infinities (bit-equal) and against onnxruntime on finite inputs; one
    and two threads; the native build (16 lanes with AVX-512), the 4-lane vectors of a plain x86-64 build and the
    scalar path (-DSDK_POOL_SCALAR) under AddressSanitizer + UndefinedBehaviorSanitizer (loads past a row's end)."""
    from conftest import ort_run
    m, ins = _vec_model()
    rng = np.random.default_rng(7)
    finite = {k: rng.standard_normal(s).astype(np.float32) for k, s in ins.items()}
    special = {k: v.copy() for k, v in finite.items()}
    for v in special.values():
        v.reshape(-1)[::89] = np.nan
        v.reshape(-1)[7::97] = np.inf
        v.reshape(-1)[3::101] = -np.inf
    want = {}
    for i, (C, H, W, k, s, pads, ceil) in enumerate(VEC_CASES):
        oh = (H + pads[0] + pads[2] - k + (s - 1) * ceil) // s + 1
        ow = (W + pads[1] + pads[3] - k + (s - 1) * ceil) // s + 1
        want[f"y{i}"] = _ref(special[f"x{i}"], k, s, pads, oh, ow)
    ref = ort_run(m, finite)
    b = sdk.compile(m)
    out = b.save(tmp_path / "p")
    runs = [HostRunner(threads=t, extra_cflags=["-Werror"]) for t in (1, 2)]
    runs += [HostRunner(cflags=" ".join(SANITIZE + extra), threads=2)
             for extra in (["-march=native"], [], ["-DSDK_POOL_SCALAR"])]
    for r in runs:
        got = r.run(out, special, rebuild=True)[0]
        for k, v in want.items():
            assert got[k].shape == v.shape, k
            np.testing.assert_array_equal(got[k], v, err_msg=k)
        got = r.run(out, finite)[0]
        for k, v in ref.items():
            np.testing.assert_array_equal(got[k], v, err_msg=k)  # a maximum is one of the inputs: exact


# Average pooling by rows (``pool_avg_rows``): (C, H, W, kernel, stride, pads (t, l, b, r), ceil_mode), each with
# count_include_pad 0 and 1: Inception-v3's 3x3/1 pad-1 pools on 35x35, 17x17 and 8x8 planes, DenseNet's 2x2/2
# transition, rows shorter than a vector, odd widths, asymmetric pads, a window wider than tall, strides 2 and 3 in
# ceil mode (windows reaching past the padding), a plane above the old padded stack copy's 4096 floats
AVG_CASES = [(5, 35, 35, 3, 1, (1, 1, 1, 1), 0), (3, 17, 17, 3, 1, (1, 1, 1, 1), 0), (7, 8, 8, 3, 1, (1, 1, 1, 1), 0),
             (4, 56, 56, 2, 2, (0, 0, 0, 0), 0), (2, 3, 5, 3, 1, (1, 1, 1, 1), 0), (2, 13, 29, 3, 2, (0, 1, 2, 0), 1),
             (2, 15, 19, 5, 3, (2, 2, 2, 2), 1), (2, 11, 23, 2, 1, (1, 0, 0, 1), 0), (2, 70, 66, 3, 1, (1, 1, 1, 1), 0),
             (2, 9, 9, 4, 2, (1, 2, 2, 1), 1),
             # "same" windows at stride 1 (one flat pass per plane, pool_avg_same): 5x5, asymmetric 2x2 and 4x4, a
             # plane narrower than the window, one over the host's 4096-float plane buffer (by rows instead)
             (3, 14, 14, 5, 1, (2, 2, 2, 2), 0), (2, 9, 13, 2, 1, (0, 1, 1, 0), 0), (2, 10, 7, 4, 1, (2, 1, 1, 2), 0),
             (2, 2, 3, 5, 1, (2, 2, 2, 2), 0), (2, 66, 70, 3, 1, (1, 1, 1, 1), 0)]


def _avg_ref(x, k, s, pads, oh, ow, include_pad):
    """The ONNX definition: the mean over the window's cells inside the image, or (count_include_pad) inside the
    padded image (cells past the end padding, from ceil mode, never count)."""
    t, l, b, r = pads
    H, W = x.shape[2:]
    big = k * s + 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, b + big), (l, r + big)))
    inside = np.zeros(xp.shape[2:])
    inside[t:t + H, l:l + W] = 1
    padded = np.zeros(xp.shape[2:])
    padded[:t + H + b, :l + W + r] = 1
    cnt = padded if include_pad else inside
    out = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = (slice(i * s, i * s + k), slice(j * s, j * s + k))
            out[:, :, i, j] = xp[:, :, win[0], win[1]].sum(axis=(2, 3)) / max(cnt[win].sum(), 1)
    return out


@pytest.mark.parametrize("include_pad", [0, 1])
def test_average_pool_rows(include_pad):
    """Against the float64 reference of the ONNX definition and onnxruntime, one and two threads."""
    from conftest import ort_run
    nodes, ins = [], {}
    for i, (C, H, W, k, s, pads, ceil) in enumerate(AVG_CASES):
        nodes.append(h.make_node("AveragePool", [f"x{i}"], [f"y{i}"], kernel_shape=[k, k], strides=[s, s],
                                 pads=list(pads), ceil_mode=ceil, count_include_pad=include_pad))
        ins[f"x{i}"] = [2, C, H, W]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(k, T.FLOAT, s) for k, s in ins.items()],
                     [h.make_tensor_value_info(f"y{i}", T.FLOAT, None) for i in range(len(AVG_CASES))])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 19)])
    rng = np.random.default_rng(11)
    xs = {k: (rng.standard_normal(s) * 3 + 1).astype(np.float32) for k, s in ins.items()}
    ref = ort_run(m, xs)
    b = sdk.compile(m)
    for threads in (1, 2):
        got = b.run(xs, runner=HostRunner(threads=threads), engine="c")
        for i, (C, H, W, k, s, pads, ceil) in enumerate(AVG_CASES):
            y = got[f"y{i}"]
            want = _avg_ref(xs[f"x{i}"], k, s, pads, y.shape[2], y.shape[3], include_pad)
            assert y.shape == want.shape == ref[f"y{i}"].shape, i
            np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5, err_msg=f"case {i}")
            np.testing.assert_allclose(y, ref[f"y{i}"], rtol=1e-5, atol=1e-5, err_msg=f"case {i}")
