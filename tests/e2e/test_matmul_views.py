"""MatMul operands read in place through strides (sdk/transform/matmul_views.py): torchvision's multi-head attention
as exported (one [S, 3E] projection split into q, k, v by Reshape / Unsqueeze / Transpose / Squeeze / Gather, heads
transposed, q and k^T scaled) runs its two batched products straight from the projection's output, with no copy
kernels; against onnxruntime on random inputs (C bundle on 1 and 2 threads, bit-equal; the in-process LLVM engine;
ASan + UBSan). The view algebra (Reshape strides) against numpy; a reshape that needs a copy keeps it."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner
from sdk.tir.expr import Kernel
from sdk.transform.matmul_views import reshape_strides

RTOL, ATOL = 1e-4, 1e-5
S, E, HEADS = 13, 32, 4
D = E // HEADS


def mha_model(merge_heads_copy=False, ffn=True):
    """torchvision's MultiheadAttention (batch 1, [S, 1, E] tokens) as its TorchScript export writes it. With
    ``merge_heads_copy`` k is reshaped to [S, E] after its head transpose (a reshape that must copy). With ``ffn``
    a transformer's feed-forward block (E -> 8E -> E) follows, whose hidden tensor is the model's largest: there the
    views cost no arena (without it the projection kept live by v's view is the peak, and the copies stay)."""
    rng = np.random.default_rng(11)
    c = lambda name, a: nh.from_array(np.asarray(a), name)  # noqa: E731
    inits = [c("W", (rng.standard_normal((E, 3 * E)) / np.sqrt(E)).astype(np.float32)),
             c("bias", rng.standard_normal(3 * E).astype(np.float32)),
             c("Wo", (rng.standard_normal((E, E)) / np.sqrt(E)).astype(np.float32)),
             c("bo", rng.standard_normal(E).astype(np.float32)),
             c("s4", np.array(D ** -0.25, np.float32)), c("shp", np.array([S, 1, 3, E], np.int64)),
             c("ax0", np.array([0], np.int64)), c("ax3", np.array([3], np.int64)),
             c("i0", np.array(0, np.int64)), c("i1", np.array(1, np.int64)), c("i2", np.array(2, np.int64)),
             c("hs", np.array([S, HEADS, D], np.int64)), c("bhs", np.array([1, HEADS, S, D], np.int64)),
             c("se", np.array([S, E], np.int64)), c("bhds", np.array([1, HEADS, D, S], np.int64))]
    nodes = [h.make_node("MatMul", ["x", "W"], ["p0"]), h.make_node("Add", ["bias", "p0"], ["p"]),
             h.make_node("Reshape", ["p", "shp"], ["p4"]), h.make_node("Unsqueeze", ["p4", "ax0"], ["p5"]),
             h.make_node("Transpose", ["p5"], ["pt"], perm=[3, 1, 2, 0, 4]),
             h.make_node("Squeeze", ["pt", "ax3"], ["qkv"])]
    for n, i in (("q", "i0"), ("k", "i1"), ("v", "i2")):
        nodes += [h.make_node("Gather", ["qkv", i], [n + "g"], axis=0), h.make_node("Reshape", [n + "g", "hs"], [n + "r"]),
                  h.make_node("Transpose", [n + "r"], [n + "t"], perm=[1, 0, 2])]
        if n == "k" and merge_heads_copy:  # [H, S, d] -> [S, E] merges transposed dims: no strided view
            nodes += [h.make_node("Reshape", ["kt", "se"], ["kse"]), h.make_node("Reshape", ["kse", "bhs"], ["kh"])]
        else:
            nodes.append(h.make_node("Reshape", [n + "t", "bhs"], [n + "h"]))
    nodes += [h.make_node("Mul", ["qh", "s4"], ["qs"]), h.make_node("Transpose", ["kh"], ["kT"], perm=[0, 1, 3, 2]),
              h.make_node("Mul", ["kT", "s4"], ["ks"]), h.make_node("MatMul", ["qs", "ks"], ["sc"]),
              h.make_node("Softmax", ["sc"], ["pr"], axis=-1), h.make_node("MatMul", ["pr", "vh"], ["o"]),
              h.make_node("Transpose", ["o"], ["ot"], perm=[2, 0, 1, 3]), h.make_node("Reshape", ["ot", "se"], ["o2"]),
              h.make_node("Gemm", ["o2", "Wo", "bo"], ["ya" if ffn else "y"])]
    if ffn:
        inits += [c("W1", (rng.standard_normal((E, 8 * E)) / np.sqrt(E)).astype(np.float32)),
                  c("W2", (rng.standard_normal((8 * E, E)) / np.sqrt(8 * E)).astype(np.float32))]
        nodes += [h.make_node("MatMul", ["ya", "W1"], ["f1"]), h.make_node("Relu", ["f1"], ["f2"]),
                  h.make_node("MatMul", ["f2", "W2"], ["y"])]
    return float_model(nodes, "mha", {"x": [S, 1, E]}, {"y": [S, E]}, inits)


def copy_kernels(b):
    return [s.name for s in b.program.steps if isinstance(s, Kernel)]


def products(b):
    return [s for s in b.program.steps if getattr(s, "fn", "").startswith("model_tk")]


def _agrees_with_ort(m, b, tmp_path, seed):
    feeds = random_inputs(m, {}, seed)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(b.save(tmp_path / "b"), feeds, ref, RTOL, ATOL)


def test_attention_heads_read_in_place(tmp_path):
    m = mha_model()
    b = sdk.compile(m, target="host")
    # q, k, v are views of the projection's three column blocks (split into three GEMMs,
    # sdk/transform/split_projection.py): only the heads' merge after p v is copied
    assert len(copy_kernels(b)) == 1, copy_kernels(b)
    qk, pv = products(b)[2], products(b)[4]
    a = dict(zip(("batch", "M", "N", "K", "alpha"), qk.args[:5]))
    assert a == dict(batch=HEADS, M=S, N=S, K=D, alpha=pytest.approx(1 / np.sqrt(D))), a  # both d^-1/4 in alpha
    assert qk.args[6:9] == [D, E, 1] and qk.args[10:13] == [D, 1, E]  # q rows, k^T columns E apart
    assert pv.args[10:13] == [D, E, 1]
    _agrees_with_ort(m, b, tmp_path, 1)


def test_attention_heads_read_in_place_unsplit(monkeypatch, tmp_path):
    """Without the projection's split: q, k, v at offsets 0, E, 2E of the one projection's output."""
    from sdk import pipeline
    from sdk.transform.split_projection import split_viewed_projection
    monkeypatch.setattr(pipeline, "GRAPH_PASSES", [p for p in pipeline.GRAPH_PASSES if p is not split_viewed_projection])
    m = mha_model()
    b = sdk.compile(m, target="host")
    assert len(copy_kernels(b)) == 1, copy_kernels(b)
    assert sorted(b.program.alias_offset.values()) == [E, 2 * E]
    qk, pv = products(b)[1:3]
    assert qk.args[6:9] == [D, 3 * E, 1] and qk.args[10:13] == [D, 1, 3 * E]  # q rows, k^T columns 3E apart
    assert pv.args[10:13] == [D, 3 * E, 1]
    _agrees_with_ort(m, b, tmp_path, 1)


def test_reshape_needing_a_copy_keeps_it(tmp_path):
    m = mha_model(merge_heads_copy=True)
    b = sdk.compile(m, target="host")
    assert len(copy_kernels(b)) == 2, copy_kernels(b)  # k's merge of transposed dims, and o's
    _agrees_with_ort(m, b, tmp_path, 2)


def test_off_where_the_profile_leaves_it_off():
    m = mha_model()
    on, off = sdk.compile(m, target="host"), sdk.compile(m, target="wasm32-browser")
    assert len(copy_kernels(on)) == 1 and len(copy_kernels(off)) >= 4, (copy_kernels(on), copy_kernels(off))
    assert not off.program.alias_offset


def test_views_kept_only_where_the_arena_does_not_grow(monkeypatch, tmp_path):
    """Attention alone, the projection left whole: v's view keeps the whole projection live across the softmax and
    the product, the peak, so sdk.compile keeps the copies (the plan of the model without views, same arena). (With
    the projection split into q, k, v GEMMs, the default, the views cost no arena: test_split_projection.py.)"""
    from sdk import pipeline
    from sdk.transform.split_projection import split_viewed_projection
    monkeypatch.setattr(pipeline, "GRAPH_PASSES", [p for p in pipeline.GRAPH_PASSES if p is not split_viewed_projection])
    m = mha_model(ffn=False)
    b = sdk.compile(m, target="host")
    monkeypatch.setattr(pipeline, "view_options", lambda tgt: None)
    plain = sdk.compile(m, target="host")
    assert not b.program.alias_offset and copy_kernels(b) == copy_kernels(plain)
    assert b.plan.arena_bytes == plain.plan.arena_bytes
    _agrees_with_ort(m, b, tmp_path, 3)


@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 0, 1), (0, 1, 2)])
def test_a_weight_product_stays_one_gemm(tmp_path, perm):
    """[4, 6, 8] tokens transposed and scaled, times a weight: as a view the first two would be batches of GEMMs of 4
    rows (rows 48 apart, batches 8 or 1 apart), so their copy and one 24-row GEMM are kept; untransposed, the view's
    batches are rows of one matrix and read in place."""
    rng = np.random.default_rng(5)
    shape = [(4, 6, 8)[p] for p in perm]
    m = float_model([h.make_node("Transpose", ["x"], ["xt"], perm=list(perm)),
                     h.make_node("Mul", ["xt", "c"], ["xs"]), h.make_node("MatMul", ["xs", "W"], ["y"])], "wt",
                    {"x": [4, 6, 8]}, {"y": shape[:2] + [5]},
                    [nh.from_array(rng.standard_normal((shape[2], 5)).astype(np.float32), "W"),
                     nh.from_array(np.array(0.5, np.float32), "c")])
    b = sdk.compile(m, target="host")
    gemm = products(b)[0]
    assert bool(copy_kernels(b)) == (perm != (0, 1, 2)), copy_kernels(b)
    assert gemm.args[:2] == [1, shape[0] * shape[1]], gemm.args[:4]  # one GEMM of all rows
    _agrees_with_ort(m, b, tmp_path, 3)


@pytest.mark.parametrize("shape, perm, new", [((2, 3, 4), (1, 0, 2), (3, 8)),      # merges transposed dims: copy
                                              ((2, 3, 4), (1, 0, 2), (3, 2, 2, 2)),
                                              ((6, 1, 4), (1, 0, 2), (1, 2, 3, 4)),
                                              ((2, 3, 4, 5), (0, 2, 1, 3), (8, 3, 5)),
                                              ((2, 3, 4, 5), (0, 2, 1, 3), (2, 4, 15)),
                                              ((3, 1, 4), (2, 1, 0), (4, 3)),
                                              ((5, 6), (1, 0), (2, 3, 5))])
def test_reshape_strides_match_numpy(shape, perm, new):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    t = x.transpose(perm)
    got = reshape_strides(list(t.shape), [s // 4 for s in t.strides], list(new))
    want = t.reshape(new)
    if np.shares_memory(want, x):
        assert got is not None
        view = np.lib.stride_tricks.as_strided(x, new, [s * 4 for s in got])
        assert np.array_equal(view, want)
    else:
        assert got is None


@pytest.mark.slow
def test_attention_views_under_sanitizers(tmp_path):
    m = mha_model()
    feeds = random_inputs(m, {}, 4)
    out = sdk.compile(m, target="host").save(tmp_path / "s")
    got, _ = HostRunner(cflags=" ".join(SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]), threads=2).run(
        out, feeds, rebuild=True)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


def test_tuner_tasks_cover_the_build_without_views(monkeypatch):
    """sdk.compile drops the views of attention alone with its projection left whole (the arena would grow): `sdk tune` extracts its workloads from
    the graph with and without views, so every tunable kernel of the build is a task, and the ones of the views
    graph too."""
    from sdk import pipeline
    from sdk.targets import load_target
    from sdk.tune.tuner import extract_tasks
    from sdk.tune.workload import workload_of
    from sdk.transform.split_projection import split_viewed_projection
    monkeypatch.setattr(pipeline, "GRAPH_PASSES", [p for p in pipeline.GRAPH_PASSES if p is not split_viewed_projection])
    m = mha_model(ffn=False)
    tgt = load_target("host")

    def workloads(views):
        f, _ = pipeline.front(m, {}, "m", layout=pipeline.layout_options(tgt), views=views)
        prog = pipeline.lower(f, options=tgt.data.get("lower"))
        return f, {wl.hash(tgt.name) for wl in (workload_of(s, {}) for s in prog.steps) if wl is not None}
    f, viewed = workloads(pipeline.view_options(tgt))
    assert pipeline.has_views(f) and not sdk.compile(m, target="host").program.alias_offset  # the build drops them
    _, built = workloads(None)
    hashes = {t.hash for t in extract_tasks({"m": m}, tgt, {})}
    assert viewed - built and built - viewed  # the two graphs differ in their products
    assert built <= hashes and viewed <= hashes, (built - hashes, viewed - hashes)
