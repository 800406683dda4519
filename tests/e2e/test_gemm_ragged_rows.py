"""GEMMs whose A rows are contiguous read A in place also where M is not a whole number of register tiles: the
default schedule packs no copy of A (``pack_a`` off) and runs the last rows in a shorter tile (``a_tail``,
``sdk/tune/kernels.py``); another M at run time (a symbolic dim below its bound) runs the full tile moved up onto
rows A has. Checked per kernel against the library kernel and numpy (one and two threads), and per model against
onnxruntime (the C bundle on 1 and 2 threads, bit-equal to each other, and the in-process LLVM engine)."""
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import sdk
from conftest import assert_c_threads_agree, assert_outputs_close, ort_run
from sdk.targets import load_target
from sdk.tune.kernels import scratch_floats
from sdk.tune.space import space_of, target_facts
from test_tune import O2Measurer, gemm_wl, numpy_reference

RTOL, ATOL = 1e-4, 1e-4


@pytest.fixture(scope="module")
def host():
    return load_target("host")


# M = 197 (ViT's tokens), 29 and 13 rows: not whole tiles of 8 (or of the tile _rows picks); N and K not whole
# panels / blocks either; a batched product (attention's q k^T) and a GEMM with a C operand
RAGGED = [gemm_wl(M=197, N=100, K=70), gemm_wl(M=29, N=37, K=300, C=True), gemm_wl(M=13, N=37, K=19),
          gemm_wl(batch=3, M=29, N=48, K=64, trans_b=True, alpha=1)]


def _variants(sp):
    """The default (shorter last tile), without ``a_tail`` (the moved-up full tile), and with B read in place too
    (the moved-up tile only where the tile's columns are whole, the scalar edge otherwise)."""
    d = sp.default()
    assert not d["pack_a"] and d["a_tail"] == sp.M % d["mr"] != 0
    up = {k: v for k, v in d.items() if k != "a_tail"}
    return [d, up] + ([dict(up, pack_b=False)] if sp.wl.b_contiguous else [])


@pytest.mark.parametrize("wl", RAGGED, ids=str)
def test_ragged_rows_read_in_place(wl, host):
    m = O2Measurer(host, seed=1, budget_s=1e-4, repeat=1)
    ops = m._operands(wl)
    np.testing.assert_allclose(m._reference(wl, ops), numpy_reference(wl, ops), rtol=1e-4, atol=1e-4)
    sp = space_of(wl, target_facts(host))
    scheds = _variants(sp)
    assert all(sp.valid(s) for s in scheds)
    times = m.measure(wl, scheds)
    assert m.errors == []
    assert all(math.isfinite(t) and t > 0 for t in times)


@pytest.mark.parametrize("wl", [gemm_wl(M=197, N=300, K=40), gemm_wl(M=71, N=40, K=300, C=True)], ids=str)
def test_ragged_rows_read_in_place_on_two_threads(wl, host, monkeypatch):
    from sdk.backends.host import measure
    bench_fn = measure._bench_fn
    monkeypatch.setattr(measure, "_bench_fn", lambda *a, **k: bench_fn(*a, **k).replace(
        "omp_set_num_threads(1);", "omp_set_num_threads(2);"))
    m = O2Measurer(host, seed=1, budget_s=1e-4, repeat=1)
    ops = m._operands(wl)
    np.testing.assert_allclose(m._reference(wl, ops), numpy_reference(wl, ops), rtol=1e-4, atol=1e-4)
    times = m.measure(wl, _variants(space_of(wl, target_facts(host))))
    assert m.errors == []
    assert all(math.isfinite(t) and t > 0 for t in times)


def test_scratch_keeps_room_for_the_llvm_kernels_a_block(host):
    """The in-process LLVM kernel of an ``a_tail`` schedule packs A as before: the planned scratch is unchanged."""
    d = space_of(gemm_wl(M=197, N=100, K=70), target_facts(host)).default()
    old = {k: v for k, v in d.items() if k != "a_tail"}
    assert scratch_floats(d) == scratch_floats(dict(old, pack_a=True)) > scratch_floats(old)


def _mlp_model(rows):
    """A transformer MLP block and a head-sized product on ``rows`` tokens (an int, or a symbol): Linear + bias +
    GELU, Linear + bias + residual, then x x^T per 2 heads (a batched product with A read in place)."""
    rng = np.random.default_rng(0)
    w = {"w1": rng.standard_normal((40, 136)) * 0.2, "b1": rng.standard_normal(136) * 0.2,
         "w2": rng.standard_normal((136, 40)) * 0.2, "b2": rng.standard_normal(40) * 0.2}
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()]
    inits.append(numpy_helper.from_array(np.array([1, -1, 2, 20], np.int64), "heads"))
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Gelu", ["a1"], ["g"]), helper.make_node("MatMul", ["g", "w2"], ["m2"]),
             helper.make_node("Add", ["b2", "m2"], ["a2"]), helper.make_node("Add", ["x", "a2"], ["y"]),
             helper.make_node("Reshape", ["y", "heads"], ["h"]),
             helper.make_node("Transpose", ["h"], ["hq"], perm=[0, 2, 1, 3]),
             helper.make_node("Transpose", ["h"], ["hk"], perm=[0, 2, 3, 1]),
             helper.make_node("MatMul", ["hq", "hk"], ["s"])]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows, 40])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows, 40]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 2, rows, rows])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("rows", [29, 197])
def test_model_with_ragged_rows_matches_onnxruntime(rows, tmp_path):
    model = _mlp_model(rows)
    feeds = {"x": np.random.default_rng(1).standard_normal((1, rows, 40)).astype(np.float32)}
    ref = ort_run(model, feeds)
    b = sdk.compile(model, name="mlp")
    tails = [s.schedule.get("a_tail") for s in b.program.steps if getattr(s, "schedule", None)]
    assert any(tails)  # the Linear layers' last rows: a shorter tile
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
    assert_c_threads_agree(b.save(tmp_path / "b"), feeds, ref, RTOL, ATOL)


def test_symbolic_rows_below_the_bound_match_onnxruntime(tmp_path):
    """Compiled for 29 rows, run on 29, 21 (the tile moved up) and 5 (fewer rows than a tile: the scalar edge)."""
    model = _mlp_model("S")
    b = sdk.compile(model, dims={"S": 29}, name="mlp")
    out = b.save(tmp_path / "b")
    for rows in (29, 21, 5):
        feeds = {"x": np.random.default_rng(rows).standard_normal((1, rows, 40)).astype(np.float32)}
        ref = ort_run(model, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
