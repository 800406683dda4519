"""Sparse bundles on the targets' toolchains and emulators (android-arm64 under qemu-aarch64, wasm32 under node,
Cortex-M4 under qemu-system-arm) against onnxruntime on the pruned model: every layer kind in CSR, BSR, sliced
ELL, the hybrid (BSR blocks + CSR remainder) and 2:4,
and the k x k convolutions (im2col panels) in CSR."""
import re
import subprocess

import numpy as np
import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sparse_models import conv_model, layers_model

RTOL, ATOL = 1e-4, 1e-5


@pytest.mark.parametrize("target", ["android-arm64", "wasm32-browser", "cortex-m4"])
@pytest.mark.parametrize("mode", ["csr", "bsr", "ell", "hyb", "nm"])
def test_sparse_layers_match_onnxruntime(target, mode, tmp_path):
    m = layers_model(seed=3, nm=(2, 4) if mode == "nm" else None, mixed=mode == "hyb")
    b = sdk.compile(m, target=target, dims={"batch": 4}, sparse=mode)
    assert sum(s.op == "SparseMatMul" for s in b.func.bindings) == 4
    b.save(tmp_path / "b")
    feeds = random_inputs(m, {"batch": 3}, seed=7)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), RTOL, ATOL)
    if target == "android-arm64":  # the tile loops are vectorised: NEON FMLA in the sparse kernels
        dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(tmp_path / "b" / "model_main")],
                             capture_output=True, text=True, check=True).stdout
        funcs = re.split(r"\n\n(?=[0-9a-f]+ <)", dis)
        inner = {"ell": "sp_sliced", "hyb": "sp_sliced"}.get(mode, f"sp_{mode}")  # ELL and hybrid share a driver
        body = "".join(f for f in funcs if re.match(rf"[0-9a-f]+ <(sdk_spmm_{mode}_f32|{inner})", f))
        assert re.search(r"\t(fmla|fmul)\tv\d+\.4s", body)


@pytest.mark.parametrize("target", ["android-arm64", "wasm32-browser", "cortex-m4"])
def test_sparse_kxk_convolutions_match_onnxruntime(target, tmp_path):
    m = conv_model(seed=5)
    b = sdk.compile(m, target=target, dims={"batch": 2}, sparse="csr")
    assert sum(s.op == "SparseMatMul" for s in b.func.bindings) == 4
    b.save(tmp_path / "b")
    feeds = random_inputs(m, {"batch": 2}, seed=8)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), RTOL, ATOL)


@pytest.mark.parametrize("mode", ["csr", "bsr", "nm"])
def test_sparse_kernels_threaded_on_arm64(mode, tmp_path):
    """android-arm64-mt (OpenMP, 4 threads under qemu): the row groups split across threads, same outputs."""
    m = layers_model(seed=9, sparsity=0.5, nm=(2, 4) if mode == "nm" else None)
    b = sdk.compile(m, target="android-arm64-mt", dims={"batch": 4}, sparse=mode)
    b.save(tmp_path / "b")
    feeds = random_inputs(m, {"batch": 4}, seed=9)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds), RTOL, ATOL)


def test_int8_sparse_on_cortex_m4_is_bit_exact_smaller_and_faster(tmp_path):
    """int8 on the Cortex-M4 (90% sparse weights): outputs equal to the dense int8 firmware's, less flash, fewer
    cycles (the emulator's instruction clock)."""
    from sdk.backends.mcu.runner import CortexMRunner
    from sparse_models import int8_calibration, int8_model
    m, cal = int8_model(seed=4), int8_calibration(seed=4)
    feeds = int8_calibration(seed=5)
    res = {}
    for mode in ("off", "auto"):
        b = sdk.compile(m, target="cortex-m4", quantize="int8", calibration=cal, sparse=mode)
        b.save(tmp_path / mode)
        res[mode] = CortexMRunner().run(tmp_path / mode, feeds, repeat=2)
    for k in res["off"][0]:
        np.testing.assert_array_equal(res["auto"][0][k], res["off"][0][k])
    (_, dense), (_, sparse) = res["off"], res["auto"]
    assert sparse["flash_bytes"] < dense["flash_bytes"] and int(sparse["cycles"]) < int(dense["cycles"])
