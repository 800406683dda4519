"""Attention's output side as torchvision's MultiheadAttention exports it (ViT-S): the heads merged back into rows
(``Transpose([h, s, d] -> [s, h, d])`` + ``Reshape([s, h * d])``) runs as loops over heads of d contiguous floats
(sdk/tir/split_divmod.py: no division or remainder per element). Against onnxruntime on random inputs with odd
sizes: the LLVM engine, the C bundle on 1 and 2 threads (bit-equal, -Werror), ASan + UBSan."""
import numpy as np
from onnx import helper as h

import sdk
from conftest import SANITIZE, assert_engines_and_builds, fan_in_initializer, float_model
from sdk.targets import load_target
from sdk.tir.build import walk
from sdk.tir.expr import Bin, Const, For, Kernel, Load, Store, Var
from sdk.tir.split_divmod import split_divmod_loops

RTOL, ATOL = 1e-4, 1e-5
S, HEADS, D = 13, 3, 24
E = HEADS * D


def out_side(view_read_twice=False):
    """o [h, s, d] (p v's result) -> merge heads -> out-projection (+ bias) -> [s, 1, E] -> [1, s, E] + x -> Linear.
    ``view_read_twice``: the [s, 1, E] tensor is also read by a Relu (output z)."""
    rng = np.random.default_rng(3)
    inits = []
    w = fan_in_initializer(rng, inits)
    from onnx import numpy_helper as nh
    inits += [nh.from_array(np.array([S, E], np.int64), "se"), nh.from_array(np.array([S, 1, E], np.int64), "s1e")]
    nodes = [h.make_node("Transpose", ["o"], ["ot"], perm=[1, 0, 2]), h.make_node("Reshape", ["ot", "se"], ["o2"]),
             h.make_node("Gemm", ["o2", w("Wo", [E, E]), w("bo", [E], 1.0)], ["g"]),
             h.make_node("Reshape", ["g", "s1e"], ["g3"]), h.make_node("Transpose", ["g3"], ["gt"], perm=[1, 0, 2]),
             h.make_node("Add", ["gt", "x"], ["a"]), h.make_node("MatMul", ["a", w("W2", [E, 40])], ["y"])]
    outs = {"y": [1, S, 40]}
    if view_read_twice:
        nodes.append(h.make_node("Relu", ["g3"], ["z"]))
        outs["z"] = [S, 1, E]
    return float_model(nodes, "outside", {"o": [HEADS, S, D], "x": [1, S, E]}, outs, inits)


def kernels(b):
    return [s for s in b.program.steps if isinstance(s, Kernel)]


def divmods(k):
    found = []
    walk(k.body, lambda x: found.append(x) if isinstance(x, Bin) and x.op in ("//", "%") else None)
    return found


def test_heads_merge_in_contiguous_runs(tmp_path):
    m = out_side()
    b = sdk.compile(m, target="host")
    merge = [k for k in kernels(b) if k.name.startswith("k_Reshape")]
    assert len(merge) == 1, [k.name for k in kernels(b)]
    loops, s = [], merge[0].body
    while isinstance(s, For):
        loops.append(s)
        s = s.body
    assert [lp.extent.value for lp in loops] == [S, HEADS, D] and loops[-1].kind == "vectorize"
    assert not divmods(merge[0])
    assert_engines_and_builds(b, m, tmp_path / "b", [dict(cflags=" ".join(SANITIZE), threads=1)], RTOL, ATOL)


def test_with_a_second_reader(tmp_path):
    m = out_side(view_read_twice=True)
    b = sdk.compile(m, target="host")
    assert_engines_and_builds(b, m, tmp_path / "b", [], RTOL, ATOL)


def test_split_only_where_the_divisor_divides_the_loop():
    from sdk.tir.expr import Buffer
    src, out = Buffer("src", (4 * 40,), "float32"), Buffer("dst", (4 * 40,), "float32")

    def kernel(ext, d):
        i0, i1 = Var("i0", "int64", 3, Const(4)), Var("i1", "int64", ext - 1, Const(ext))
        idx = (i1 // d) * 4 * d + i0 * d + i1 % d
        body = For(i0, Const(4), For(i1, Const(ext), Store(out, [i0 * ext + i1], Load(src, [idx])), "vectorize"),
                   "serial")
        return Kernel("k", body, [src], [out])

    k = kernel(40, 8)
    s = split_divmod_loops(k)
    assert s is not k and not divmods(s)
    for ext, d in ((40, 5), (40, 16), (40, 40)):  # below MIN_RUN, not a divisor, the whole loop: unchanged
        k = kernel(ext, d)
        assert split_divmod_loops(k) is k


def test_off_on_gpus():
    for t in ("cuda-sm80", "cuda-sm90"):
        assert load_target(t).data["lower"]["split_divmod"] is False
    assert load_target("host").data.get("lower", {}).get("split_divmod", True)
