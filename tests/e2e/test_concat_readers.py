"""A Concat's only reader split over its parts (sdk/transform/concat_readers.py, the profile's ``[layout]
split_concat_readers``): two Fire modules of odd sizes (19 -> 7 squeeze, 13 1x1 + 11 3x3 expands on 17x15, batch 2; the
Concat read by a 3x3/2 ceil-mode max pool, then a second module with three branches of 10 + 6 + 5 channels whose
Concat a 1x1 convolution with a bias and a ReLU reads): each part's share right after the part, against onnxruntime
(the in-process engine, the C bundle on 1 and 2 threads, AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads);
the pool split gives the same floats, the convolution split within ~1 ulp of the partial sums; the arena no larger;
the forms left alone: a Concat with two readers, a part read elsewhere, a 3x3 or grouped reader, the pass off."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_engines_and_builds, float_model, random_inputs
from sdk import pipeline
from sdk.transform.concat_readers import split_concat_readers

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]
N, C, H, W = 2, 19, 17, 15


def two_fires(reader="conv", extra_reader=False, part_read=False, seed=0):
    rng = np.random.default_rng(seed)
    inits = []

    def w(name, shape):
        a = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        inits.append(nh.from_array(a.astype(np.float32), name))
        return name

    def conv(x, wn, shape, y, **kw):
        return [h.make_node("Conv", [x, w(wn, shape), w("b" + wn, [shape[0]])], [y + "0"], **kw),
                h.make_node("Relu", [y + "0"], [y])]

    Ho, Wo = (H - 2) // 2 + 1, (W - 2) // 2 + 1
    nodes = (conv("x", "Ws", [7, C, 1, 1], "s") + conv("s", "W1", [13, 7, 1, 1], "e1")
             + conv("s", "W3", [11, 7, 3, 3], "e3", pads=[1, 1, 1, 1])
             + [h.make_node("Concat", ["e1", "e3"], ["cat"], axis=1),
                h.make_node("MaxPool", ["cat"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)]
             + conv("p", "Wt", [9, 24, 1, 1], "t") + conv("t", "Wf", [10, 9, 1, 1], "f1")
             + conv("t", "Wg", [6, 9, 3, 3], "f3", pads=[1, 1, 1, 1]) + conv("t", "Wh", [5, 9, 1, 1], "f5")
             + [h.make_node("Concat", ["f1", "f3", "f5"], ["cat2"], axis=1)])
    outs = {"y": [N, 7, Ho, Wo]}
    if reader == "conv":
        nodes.append(h.make_node("Conv", ["cat2", w("Wy", [7, 21, 1, 1]), w("by", [7])], ["y0"]))
    elif reader == "conv3x3":
        nodes.append(h.make_node("Conv", ["cat2", w("Wy", [7, 21, 3, 3]), w("by", [7])], ["y0"], pads=[1, 1, 1, 1]))
    else:  # grouped
        nodes.append(h.make_node("Conv", ["cat2", w("Wy", [7, 3, 1, 1]), w("by", [7])], ["y0"], group=7))
    nodes.append(h.make_node("Relu", ["y0"], ["y"]))
    if extra_reader:  # the second Concat read twice
        nodes.append(h.make_node("Sigmoid", ["cat2"], ["z"]))
        outs["z"] = [N, 21, Ho, Wo]
    if part_read:  # a part of the first Concat read elsewhere
        nodes.append(h.make_node("Sigmoid", ["e3"], ["z3"]))
        outs["z3"] = [N, 11, H, W]
    return float_model(nodes, "fires", {"x": [N, C, H, W]}, outs, inits)


def order(f):
    return [(b.op, b.outputs[0].name) for b in f.bindings]


def test_fires_split_their_concat_readers_and_match_onnxruntime(tmp_path, monkeypatch):
    m = two_fires()
    from sdk.tune import whole_model
    host = sdk.targets.load_target("host")
    assert host.data["layout"]["split_concat_readers"] == []  # off on the host, a knob of the whole-model walk
    assert dict(whole_model.knobs_of(host))["layout.split_concat_readers"] == ["conv"]
    lay = dict(pipeline.layout_options(host), split_concat_readers_min_bytes=0)
    monkeypatch.setattr(pipeline, "layout_options", lambda tgt: dict(lay, split_concat_readers=["conv", "pool"]))
    b = sdk.compile(m)
    f, _ = pipeline.front(m, {}, "m", layout=dict(lay, split_concat_readers=["conv", "pool"]))
    names = [n for _, n in order(f)]
    # the first module: e1's pool right after e1, before the 3x3 branch; e3's pool, then their (free) Concat
    assert [op for op, _ in order(f)].count("MaxPool") == 2 and "cat" not in names
    i1, i3 = names.index("e1"), names.index("e3")
    assert f.bindings[i1 + 1].op == "MaxPool" and f.bindings[i1 + 1].inputs[0].name == "e1" and i1 + 1 < i3
    assert f.bindings[i3 + 1].op == "MaxPool" and f.bindings[i3 + 2].op == "Concat"
    assert f.bindings[i3 + 2].outputs[0].name == "p"
    # the second: each part's 1x1 share right after the part, summed as the next share's residual; the last share
    # (with the bias) and its sum where the reader stood, then the reader's ReLU; the Concat gone
    assert "cat2" not in names
    for part in ("f1", "f3"):
        k = names.index(part)
        assert f.bindings[k + 1].op == "Conv" and f.bindings[k + 1].inputs[0].name == part
        assert tuple(f.bindings[k + 1].inputs[1].shape) == (7, {"f1": 10, "f3": 6}[part], 1, 1)
        assert len(f.bindings[k + 1].inputs) == 2  # no bias
    k = names.index("f3")
    assert f.bindings[k + 2].op == "Add"  # f3's share + f1's
    k = names.index("y0")
    assert [b.op for b in f.bindings[k - 1:k + 2]] == ["Conv", "Add", "Relu"]
    assert f.bindings[k - 1].inputs[0].name == "f5" and f.bindings[k - 1].inputs[2].name.startswith("by")
    assert_engines_and_builds(b, m, tmp_path / "m", [dict(cflags=" ".join(SANITIZE), threads=2)], RTOL, ATOL,
                              at=({}, 1))
    monkeypatch.setattr(pipeline, "layout_options", lambda tgt: dict(lay, split_concat_readers=[]))
    off = sdk.compile(m)
    assert "cat2" in [n for _, n in order(off.func)]
    assert b.plan.arena_bytes <= off.plan.arena_bytes, (b.plan.arena_bytes, off.plan.arena_bytes)
    feeds = random_inputs(m, {}, 3)
    got, ref = b.run(feeds, engine="llvm")["y"], off.run(feeds, engine="llvm")["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # the pool split alone: the same floats
    monkeypatch.setattr(pipeline, "layout_options", lambda tgt: dict(lay, split_concat_readers=["pool"]))
    pool = sdk.compile(m)
    assert "cat" not in [n for _, n in order(pool.func)] and "cat2" in [n for _, n in order(pool.func)]
    np.testing.assert_array_equal(pool.run(feeds, engine="llvm")["y"], ref)


def test_forms_left_alone():
    lay = {"split_concat_readers": ["conv", "pool"]}
    for m in (two_fires("conv3x3"), two_fires("grouped")):  # the second Concat's reader is not a 1x1
        f, _ = pipeline.front(m, {}, "m")
        g = split_concat_readers(f, lay)
        assert "cat" not in [n for _, n in order(g)] and "cat2" in [n for _, n in order(g)]
    f, _ = pipeline.front(two_fires(extra_reader=True, part_read=True), {}, "m")
    assert split_concat_readers(f, lay) is f
    f, _ = pipeline.front(two_fires(), {}, "m")
    assert split_concat_readers(f, {}) is f and split_concat_readers(f, None) is f
    g = split_concat_readers(f, {"split_concat_readers": ["conv"]})
    assert "cat" in [n for _, n in order(g)] and "cat2" not in [n for _, n in order(g)]
    # a size floor: the first Concat is 2 x 24 x 17 x 15 floats (48960 bytes), the second 2 x 21 x 9 x 8 (12096)
    g = split_concat_readers(f, dict(lay, split_concat_readers_min_bytes=20000))
    assert "cat" not in [n for _, n in order(g)] and "cat2" in [n for _, n in order(g)]
    assert split_concat_readers(f, dict(lay, split_concat_readers_min_bytes=48961)) is f
    with pytest.raises(sdk.errors.SdkError, match="split_concat_readers"):
        split_concat_readers(f, {"split_concat_readers": ["conv", "gemm"]})
