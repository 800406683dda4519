"""Branches meeting in a Concat run their 1x1 convolutions last (sdk/transform/branch_order.py, the profile's
``[layout] pointwise_branches_last``: off on the host, a whole-model knob of ``sdk tune``): a Fire module of odd
sizes (19 -> 7 squeeze, 13 1x1 + 11 3x3 expands on 17x15, a 3x3/2 ceil-mode max pool and a squeeze after the Concat) against onnxruntime (the in-process engine, the C
bundle on 1 and 2 threads, AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads); the same floats and no
larger arena than the file's order; the forms left alone: a branch value read outside its chain, branches reading
different tensors, the pass off."""
import numpy as np
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE_FLAGS, assert_engines_and_builds, float_model, random_inputs
from sdk import pipeline
from sdk.transform.branch_order import pointwise_branches_last

RTOL, ATOL = 1e-4, 1e-4
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-fopenmp", "-Wall", "-Wextra", "-Werror"]


def fire_model(C=19, S=7, E1=13, E3=11, H=17, W=15, extra_reader=False, two_sources=False, seed=0):
    rng = np.random.default_rng(seed)
    inits = []

    def w(name, shape):
        a = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        inits.append(nh.from_array(a.astype(np.float32), name))
        return name

    src3 = "x" if two_sources else "s"
    nodes = [h.make_node("Conv", ["x", w("Ws", [S, C, 1, 1]), w("bs", [S])], ["s0"]),
             h.make_node("Relu", ["s0"], ["s"]),
             h.make_node("Conv", ["s", w("W1", [E1, S, 1, 1]), w("b1", [E1])], ["e10"]),
             h.make_node("Relu", ["e10"], ["e1"]),
             h.make_node("Conv", [src3, w("W3", [E3, C if two_sources else S, 3, 3]), w("b3", [E3])], ["e30"],
                         pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["e30"], ["e3"]),
             h.make_node("Concat", ["e1", "e3"], ["cat"], axis=1),
             h.make_node("MaxPool", ["cat"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
             h.make_node("Conv", ["p", w("Wn", [5, E1 + E3, 1, 1])], ["y"])]
    outs = {"y": [1, 5, (H - 2) // 2 + 1, (W - 2) // 2 + 1]}
    if extra_reader:  # the 1x1 branch's output read outside the chain
        nodes.append(h.make_node("Sigmoid", ["e1"], ["z"]))
        outs["z"] = [1, E1, H, W]
    return float_model(nodes, "fire", {"x": [1, C, H, W]}, outs, inits)


def conv_order(f):
    return [b.outputs[0].name for b in f.bindings if b.op.startswith("Conv")]


def test_fire_module_runs_its_3x3_first_and_matches_onnxruntime(tmp_path, monkeypatch):
    from sdk.tune import whole_model
    m = fire_model()
    host = sdk.targets.load_target("host")
    assert host.data["layout"]["pointwise_branches_last"] is False
    assert dict(whole_model.knobs_of(host))["layout.pointwise_branches_last"] is True
    lay = dict(pipeline.layout_options(host))
    monkeypatch.setattr(pipeline, "layout_options", lambda tgt: dict(lay, pointwise_branches_last=True))
    b = sdk.compile(m)
    names = conv_order(b.func)
    assert names.index("e30") < names.index("e10") < names.index("y")  # the 3x3 expand before the 1x1
    # the lowered steps too (named after the file's nodes: Conv_2 the 1x1 expand, Conv_4 the 3x3)
    steps = [s.outputs[0].name for s in b.program.steps if getattr(s, "outputs", None)]
    assert steps.index("t_Conv_4") < steps.index("t_Conv_2")
    assert_engines_and_builds(b, m, tmp_path / "m", [dict(cflags=" ".join(SANITIZE), threads=2)], RTOL, ATOL,
                              at=({}, 1))
    monkeypatch.setattr(pipeline, "layout_options", lambda tgt: dict(lay, pointwise_branches_last=False))
    off = sdk.compile(m)
    names = conv_order(off.func)
    assert names.index("e10") < names.index("e30")  # the file's order
    assert b.plan.arena_bytes <= off.plan.arena_bytes
    feeds = random_inputs(m, {}, 3)
    for k, v in b.run(feeds, engine="llvm").items():  # only the order changed: the same floats
        np.testing.assert_array_equal(v, off.run(feeds, engine="llvm")[k])


def test_forms_left_alone():
    lay = {"pointwise_branches_last": True}
    for m in (fire_model(extra_reader=True), fire_model(two_sources=True)):
        f, _ = pipeline.front(m, {}, "m")
        assert pointwise_branches_last(f, lay) is f
    f, _ = pipeline.front(fire_model(), {}, "m")
    assert pointwise_branches_last(f, {}) is f and pointwise_branches_last(f, None) is f
    g = pointwise_branches_last(f, lay)
    assert conv_order(g) == ["s0", "e30", "e10", "y"]
    assert sorted(map(id, g.bindings)) == sorted(map(id, f.bindings))
    # each chain stays together: the 3x3's Relu right after it, then the 1x1 and its Relu, then the Concat
    ops = [(b.op, b.outputs[0].name) for b in g.bindings]
    i = [n for _, n in ops].index("e30")
    assert [o for o, _ in ops[i:i + 5]] == ["Conv", "Relu", "Conv", "Relu", "Concat"]
