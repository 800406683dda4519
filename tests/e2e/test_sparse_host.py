"""Sparse bundles on the host (gcc, and the in-process LLVM engine) against onnxruntime on the pruned model."""
import numpy as np
import pytest

import sdk
from conftest import SANITIZE, assert_outputs_close, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner
from sdk.sparse import prune_matrix
from sparse_models import layers_model, wide_model

RTOL, ATOL = 1e-4, 1e-5  # float32 sums over <= 300 products in another order than onnxruntime's


def _formats(b):
    return sorted({(s.attrs["format"], s.attrs["block"]) for s in b.func.bindings if s.op == "SparseMatMul"})


@pytest.mark.parametrize("mode", ["csr", "bsr", "ell", "hyb", "nm"])
def test_every_layer_kind_matches_onnxruntime(mode, tmp_path):
    m = layers_model(seed=1, nm=(2, 4) if mode == "nm" else None, mixed=mode == "hyb")
    b = sdk.compile(m, dims={"batch": 4}, sparse=mode)
    assert [f for f, _ in _formats(b)] == [mode]
    assert sum(s.op == "SparseMatMul" for s in b.func.bindings) == 4
    for batch in (1, 4):  # a partial tile and a full one along the MatMul rows
        feeds = random_inputs(m, {"batch": batch}, seed=batch)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_outputs_close(b.run(feeds, engine="c"), ref, RTOL, ATOL)


@pytest.mark.parametrize("mode", ["bsr", "hyb"])  # the hybrid shares its driver with sliced ELL
def test_block_pruned_model_under_sanitizers(mode, tmp_path):
    """BSR with weights pruned in 4x1 blocks, the hybrid on partly blocked weights, built with -Werror
    and ASan/UBSan: no warning, no stray access."""
    m = layers_model(seed=2, sparsity=0.75, block=(4, 1), mixed=mode == "hyb")
    b = sdk.compile(m, dims={"batch": 4}, sparse=mode)
    b.save(tmp_path / "b")
    feeds = random_inputs(m, {"batch": 3}, seed=5)
    got, _ = HostRunner(cflags=" ".join(SANITIZE)).run(b.path, feeds, rebuild=True)
    assert_outputs_close(got, ort_run(m, feeds), RTOL, ATOL)


def test_threads_give_the_same_outputs(monkeypatch):
    """Host bundles build with OpenMP: a layer large enough to split its row groups across threads computes the
    same outputs on 1 and 2 threads (each output is one thread's sum in the same order)."""
    from onnx import TensorProto as TP, helper as h
    from sparse_models import _model
    rng = np.random.default_rng(5)
    S = prune_matrix(rng.standard_normal((512, 384)).astype(np.float32), 0.8)
    m = _model([h.make_node("MatMul", ["x", "W"], ["y"])], [h.make_tensor_value_info("x", TP.FLOAT, [200, 384])],
               ["y"], {"W": S.T.copy()})
    feeds = random_inputs(m, {})
    outs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        outs.append(sdk.compile(m, sparse="csr", engine="c").run(feeds)["y"])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert_outputs_close({"y": outs[1]}, ort_run(m, feeds), 1e-4, 1e-4)


def test_int32_indices():
    m = wide_model()
    b = sdk.compile(m, sparse="csr")
    assert b.program.steps[0].fn == "sdk_spmm_csr_f32_i32"
    feeds = random_inputs(m, {})
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), 1e-4, 1e-4)


def test_auto_keeps_dense_weights_and_converts_pruned_ones():
    from sparse_models import _model
    from onnx import TensorProto as TP, helper as h
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((128, 128)).astype(np.float32)
    m = _model([h.make_node("MatMul", ["x", "D"], ["t"]), h.make_node("MatMul", ["t", "S"], ["y"])],
               [h.make_tensor_value_info("x", TP.FLOAT, [32, 128])], ["y"],
               {"D": dense, "S": prune_matrix(dense, 0.9)})
    b = sdk.compile(m)  # sparse="auto" by default
    assert [s.op for s in b.func.bindings] == ["MatMul", "SparseMatMul"]
    off = sdk.compile(m, sparse="off")
    assert [s.op for s in off.func.bindings] == ["MatMul", "MatMul"]
    feeds = random_inputs(m, {})
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), 1e-4, 1e-4)


@pytest.mark.parametrize("sparsity", [0.8, 0.9, 0.95])
def test_pruned_mobilenet_v2_and_bert(sparsity):
    """The example models (tests/torch_zoo, tests/models/text) pruned with sdk.prune: every convolution but the
    depthwise ones and every linear layer sparse (forced, or auto's pick per layer), outputs equal to onnxruntime
    on the pruned model."""
    from pathlib import Path
    from test_text_models import feeds_for
    tests = Path(__file__).resolve().parents[1]
    mnv2 = sdk.prune(tests / "torch_zoo" / "models" / "mobilenet_v2.ts.onnx", sparsity=sparsity, min_size=64)
    b = sdk.compile(mnv2, dims={"batch": 2}, sparse="csr" if sparsity == 0.9 else "auto")
    if sparsity == 0.9:
        # the stem, 14 pointwise convolutions, the classifier
        assert sum(s.op == "SparseMatMul" for s in b.func.bindings) == 16
    feeds = random_inputs(mnv2, {"batch": 2}, seed=1)
    assert_outputs_close(b.run(feeds), ort_run(mnv2, feeds), 1e-4, 1e-4)
    bert = sdk.prune(tests / "models" / "text" / "bert.ts.onnx", sparsity=sparsity, min_size=64)
    b = sdk.compile(bert, dims={"batch": 2, "seq": 16}, sparse="bsr" if sparsity == 0.9 else "csr")
    assert sum(s.op == "SparseMatMul" for s in b.func.bindings) == 12
    feeds = feeds_for(bert, {"batch": 2, "seq": 9}, seed=2)
    assert_outputs_close(b.run(feeds), ort_run(bert, feeds), 1e-3, 1e-4)


@pytest.mark.parametrize("mode", ["csr", "bsr", "ell", "hyb", "nm"])
def test_kxk_convolutions_match_onnxruntime(mode):
    from sparse_models import conv_model
    m = conv_model(seed=4, nm=(1, 4) if mode == "nm" else None)
    b = sdk.compile(m, dims={"batch": 2}, sparse=mode)
    layouts = sorted(s.attrs["layout"] for s in b.func.bindings if s.op == "SparseMatMul")
    assert layouts == ["conv"] * 4
    fn = "sdk_spconv2d_nm_f32" if mode == "nm" else f"sdk_spconv2d_{mode}_f32_u8"
    assert {s.fn for s in b.program.steps if "sp" in s.fn} == {fn}
    for batch in (1, 2):
        feeds = random_inputs(m, {"batch": batch}, seed=batch)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_outputs_close(b.run(feeds, engine="c"), ref, RTOL, ATOL)


def test_auto_picks_nm_for_2_4_weights_on_a_scalar_fpu():
    """At 50% density, 2:4 storage is smaller, and faster only where the dense kernel has no wide vectors."""
    m = sdk.prune(layers_model(seed=6, sparsity=0.0), nm=(2, 4), min_size=100)
    mcu = sdk.compile(m, target="cortex-m4", dims={"batch": 4})
    chosen = [(s.attrs["format"], s.attrs["nm"]) for s in mcu.func.bindings if s.op == "SparseMatMul"]
    assert ("nm", [2, 4]) in chosen
    host = sdk.compile(m, dims={"batch": 4})
    assert not any(s.op == "SparseMatMul" for s in host.func.bindings)  # 16-lane dense FMAs win here
    feeds = random_inputs(m, {"batch": 4}, seed=3)
    assert_outputs_close(sdk.compile(m, dims={"batch": 4}, sparse="nm").run(feeds), ort_run(m, feeds), RTOL, ATOL)


def test_int8_sparse_is_bit_exact_with_dense_int8():
    """Quantized models: sdk.QFC and 1x1 sdk.QConv with pruned int8 weights run as CSR int8 products whose integer
    sums equal the dense int8 kernels' exactly."""
    from sparse_models import int8_calibration, int8_model
    m, cal = int8_model(seed=2), int8_calibration(seed=2)
    dense = sdk.compile(m, quantize="int8", calibration=cal, sparse="off")
    sparse = sdk.compile(m, quantize="int8", calibration=cal, sparse="csr")
    assert [s.op for s in sparse.func.bindings].count("sdk.QSparse") == 4
    feeds = int8_calibration(seed=3)
    ref = dense.run(feeds, engine="c")
    from sdk.transform.quantize import reference_int8
    for k, v in reference_int8(sparse.func, feeds).items():  # the numpy reference reads sdk.QSparse too
        np.testing.assert_array_equal(v, ref[k])
    for engine in ("c", "llvm"):
        got = sparse.run(feeds, engine=engine)
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k])


def _one_matmul(seed=7):
    from onnx import TensorProto as TP, helper as h
    from sparse_models import _model
    S = prune_matrix(np.random.default_rng(seed).standard_normal((128, 96)).astype(np.float32), 0.9)
    return _model([h.make_node("MatMul", ["x", "W"], ["y"])], [h.make_tensor_value_info("x", TP.FLOAT, ["n", 96])],
                  ["y"], {"W": S.T.copy()})


def test_tuned_format_is_recorded_and_applied(tmp_path):
    """sdk tune's sparse decision: every candidate format measured (here by a stand-in that makes ELL the
    fastest, which the cost model does not pick), recorded in the database, and the build with the database
    stores the weight in it; a record saying dense keeps it dense; without the database the cost model decides."""
    from sdk.targets import load_target
    from sdk.tune.database import TuningDatabase
    from sdk.tune.sparse_formats import tune_sparse
    m, dims = _one_matmul(), {"n": 64}
    tgt = load_target("host")
    plain = sdk.compile(m, dims=dims)
    assert [(s.op, s.attrs.get("format")) for s in plain.func.bindings] == [("SparseMatMul", "csr")]

    def measure(site, fmt):
        return (1.0 if fmt.startswith("ell") else 2.0), "s"
    db = TuningDatabase(tmp_path / "t.jsonl")
    sites = tune_sparse({"model": m}, tgt, {"model": dims}, db, measure=measure)
    assert len(sites) == 1 and sites[0].site == "model:W" and sites[0].best.startswith("ell")
    assert {r["schedule"]["sparse_format"] for r in db.records} == set(sites[0].estimate) >= {"dense", "csr", "ell8"}
    tuned = sdk.compile(m, dims=dims, tuning_db=tmp_path / "t.jsonl")
    assert [s.attrs.get("format") for s in tuned.func.bindings] == ["ell"]
    feeds = random_inputs(m, {"n": 50})
    assert_outputs_close(tuned.run(feeds), ort_run(m, feeds), RTOL, ATOL)
    db2 = TuningDatabase(tmp_path / "d.jsonl")
    tune_sparse({"model": m}, tgt, {"model": dims}, db2, measure=lambda s, f: (1.0 if f == "dense" else 2.0, "s"))
    assert [s.op for s in sdk.compile(m, dims=dims, tuning_db=tmp_path / "d.jsonl").func.bindings] == ["MatMul"]
    other = sdk.compile(m, dims={"n": 32}, tuning_db=tmp_path / "t.jsonl")  # another P: another key, no record
    assert [s.attrs.get("format") for s in other.func.bindings] == ["csr"]


def test_a_sparse_candidate_is_built_and_measured_on_the_target():
    """The measuring path itself: one candidate format of a site built as a one-product bundle and timed on the
    host (the in-process engine: the same library kernels), a finite time back."""
    from sdk.targets import load_target
    from sdk.tune.sparse_formats import build_format, measure_bundle, sparse_sites
    m = _one_matmul()
    tgt = load_target("host")
    site, = sparse_sites({"model": m}, tgt, {"model": {"n": 64}})
    b = build_format(site, "ell8", tgt)
    assert [(s.op, s.attrs["format"], s.attrs["block"]) for s in b.func.bindings] == [("SparseMatMul", "ell", 8)]
    cost, unit = measure_bundle(b, {"x": np.ones((64, 96), np.float32)}, repeat=3)
    assert unit == "s" and 0 < cost < 1
