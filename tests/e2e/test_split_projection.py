"""A projection whose output only strided MatMul operands read is split into one GEMM per column block they read
(sdk/transform/split_projection.py): torchvision's multi-head attention reads q, k and v as three tensors, so v no
longer keeps the whole [S, 3E] projection live across the softmax, and the views are kept with an arena no larger
than the copies' (the unsplit views grew it, and were dropped). Each block's GEMM runs just before its first reader.
Against onnxruntime (C bundle on 1 and 2 threads, bit-equal; the in-process LLVM engine). Also: k^T read in place is
a B operand stored transposed, packed by the generated GEMMs through L x L register transposes (ragged N and K
against the library kernel and numpy, one and two threads)."""
import math

import numpy as np
import pytest
from onnx import helper as h

import sdk
from conftest import assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk import pipeline
from sdk.targets import load_target
from sdk.transform.split_projection import _block_view, _columns, _groups, split_viewed_projection
from sdk.tune.space import space_of, target_facts
from test_matmul_views import ATOL, D, E, HEADS, RTOL, S, copy_kernels, mha_model, products
from test_tune import O2Measurer, gemm_wl, numpy_reference


def _agrees_with_ort(m, b, tmp_path, seed):
    feeds = random_inputs(m, {}, seed)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(b.save(tmp_path / "b"), feeds, ref, RTOL, ATOL)


def _gemm_args(step):
    return dict(zip(("batch", "M", "N", "K", "alpha"), step.args[:5]))


def test_attention_alone_keeps_its_views_in_no_larger_arena(monkeypatch, tmp_path):
    m = mha_model(ffn=False)
    b = sdk.compile(m, target="host")
    assert pipeline.has_views(b.func)
    assert len(copy_kernels(b)) == 1, copy_kernels(b)  # only the heads' merge after p v
    prods = [_gemm_args(s) for s in products(b)]
    # q, k, v and the out projection: four [S x E] x [E x E] GEMMs (and the two batched products)
    assert sum(p == dict(batch=1, M=S, N=E, K=E, alpha=1.0) for p in prods) == 4, prods
    qk = next(s for s in products(b) if _gemm_args(s)["batch"] == HEADS and _gemm_args(s)["K"] == D)
    assert qk.args[6:9] == [D, E, 1] and qk.args[10:13] == [D, 1, E]  # q rows and k^T columns E apart
    views = b.plan.arena_bytes
    monkeypatch.setattr(pipeline, "view_options", lambda tgt: None)
    plain = sdk.compile(m, target="host")
    assert len(copy_kernels(plain)) >= 4
    assert views <= plain.plan.arena_bytes, (views, plain.plan.arena_bytes)
    _agrees_with_ort(m, b, tmp_path, 5)


def test_without_the_split_the_views_are_dropped(monkeypatch):
    """The unsplit views keep the projection live until p v, the peak: sdk.compile keeps the copies there."""
    m = mha_model(ffn=False)
    monkeypatch.setattr(pipeline, "GRAPH_PASSES", [p for p in pipeline.GRAPH_PASSES if p is not split_viewed_projection])
    b = sdk.compile(m, target="host")
    assert not pipeline.has_views(b.func) and len(copy_kernels(b)) >= 4


def test_blocks_run_just_before_their_readers():
    tgt = load_target("host")
    f, _ = pipeline.front(mha_model(), {}, "m", layout=pipeline.layout_options(tgt), views=pipeline.view_options(tgt))
    ops = [(b.op, b.outputs[0].name) for b in f.bindings]
    mm = [i for i, (op, _) in enumerate(ops) if op == "MatMul"]
    names = [ops[i][1] for i in mm]
    # q's and k's GEMMs (+ bias Adds), then q k^T; v's after the softmax, then p v
    assert names[0].endswith("_cols0") and names[1].endswith(f"_cols{E}") and names[3].endswith(f"_cols{2 * E}")
    assert ops[mm[3] - 1][0] == "Softmax" and ops[mm[3] + 1][0] == "Add" and ops[mm[3] + 2][0] == "MatMul"


def test_model_with_ffn_matches_onnxruntime(tmp_path):
    m = mha_model()
    b = sdk.compile(m, target="host")
    assert pipeline.has_views(b.func) and len(copy_kernels(b)) == 1
    _agrees_with_ort(m, b, tmp_path, 6)


def _shared_projection_model():
    """The projection's output also feeds a Relu (not a strided product): it is not split."""
    m = mha_model(ffn=False)
    g = m.graph
    g.node.append(h.make_node("Relu", ["p"], ["pr2"]))
    g.output.append(h.make_tensor_value_info("pr2", 1, [S, 1, 3 * E]))
    return m


def test_projection_with_another_reader_is_not_split(tmp_path):
    m = _shared_projection_model()
    tgt = load_target("host")
    f, _ = pipeline.front(m, {}, "m", layout=pipeline.layout_options(tgt), views=pipeline.view_options(tgt))
    assert not any(o.name.endswith("_cols0") for b in f.bindings for o in b.outputs)
    b = sdk.compile(m, target="host")
    feeds = random_inputs(m, {}, 7)
    assert_outputs_close(b.run(feeds, engine="llvm"), ort_run(m, feeds), RTOL, ATOL)


def test_column_spans_and_rebased_views():
    n = 96  # a [rows, 96] source: q, k, v of 32 columns each, 4 heads of 8
    q = ((1, 4, 13, 8), 0, (0, 8, n, 1))
    kT = ((1, 4, 8, 13), 32, (0, 8, 1, n))
    wrap = ((1, 4, 13, 8), 90, (0, 8, n, 1))  # its columns would run into the next row
    mixed = ((13, 8), 0, (n + 1, 1))  # a stride that moves a row and a column at once
    assert _columns(q, n) == (0, 31) and _columns(kT, n) == (32, 63)
    assert _columns(wrap, n) is None and _columns(mixed, n) is None
    assert _groups([(32, 63), (0, 31), (40, 50), (64, 95)]) == [(0, 31), (32, 63), (64, 95)]
    assert _block_view(kT, n, 32, 32) == ((1, 4, 8, 13), 0, (0, 8, 1, 32))
    # the rebased views address the same elements of the block as the originals did of the source
    src = np.arange(13 * n, dtype=np.float32).reshape(13, n)

    def read(base, view):
        shape, off, st = view
        return np.lib.stride_tricks.as_strided(base.reshape(-1)[off:], shape, [4 * x for x in st]).copy()
    for view, lo in ((q, 0), (kT, 32)):
        blk = np.ascontiguousarray(src[:, lo:lo + 32])
        np.testing.assert_array_equal(read(blk, _block_view(view, n, lo, 32)), read(src, view))


def test_split_pass_off_leaves_the_graph():
    tgt = load_target("host")
    f, _ = pipeline.front(mha_model(), {}, "m", layout=pipeline.layout_options(tgt), views=pipeline.view_options(tgt))
    assert split_viewed_projection(f, None) is f


# B stored transposed (b_rs = 1: k^T read in place): N and K whole and ragged against the 16-lane blocks
TRANSPOSED_B = [gemm_wl(batch=6, M=29, N=197, K=64, trans_b=True, alpha=1), gemm_wl(M=13, N=37, K=37, trans_b=True),
                gemm_wl(M=5, N=13, K=7, trans_b=True), gemm_wl(M=70, N=100, K=70, trans_b=True, C=True)]


def _schedules(wl, host):
    d = space_of(wl, target_facts(host)).default()
    assert d["pack_b"]
    return [d]


@pytest.mark.parametrize("wl", TRANSPOSED_B, ids=str)
def test_transposed_b_packed_by_register_transposes(wl, host):
    m = O2Measurer(host, seed=3, budget_s=1e-4, repeat=1)
    ops = m._operands(wl)
    np.testing.assert_allclose(m._reference(wl, ops), numpy_reference(wl, ops), rtol=1e-4, atol=1e-4)
    times = m.measure(wl, _schedules(wl, host))
    assert m.errors == []
    assert all(math.isfinite(t) and t > 0 for t in times)


@pytest.mark.parametrize("wl", TRANSPOSED_B[:1] + TRANSPOSED_B[3:], ids=str)
def test_transposed_b_on_two_threads(wl, host, monkeypatch):
    from sdk.backends.host import measure
    bench_fn = measure._bench_fn
    monkeypatch.setattr(measure, "_bench_fn", lambda *a, **k: bench_fn(*a, **k).replace(
        "omp_set_num_threads(1);", "omp_set_num_threads(2);"))
    m = O2Measurer(host, seed=4, budget_s=1e-4, repeat=1)
    times = m.measure(wl, _schedules(wl, host))
    assert m.errors == []
    assert all(math.isfinite(t) and t > 0 for t in times)


@pytest.fixture(scope="module")
def host():
    return load_target("host")
