"""Winograd convolutions (runtime_c/src/sdk_winograd.c) on the phone and browser toolchains: the e2e test's five
convolutions (edge tiles, channel counts off the vector width, padding 0 / 1 / asymmetric, every epilogue form) in
4x4 and 2x2 tiles, built with aarch64 gcc (NEON vectors) and run under qemu-aarch64, and built with emcc (wasm SIMD)
and run in node, against onnxruntime."""
import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.tune import winograd
from test_winograd import ATOL, RTOL, forced, winograd_model


@pytest.mark.parametrize("target", ["android-arm64", "wasm32-browser"])
def test_winograd_on_target_matches_onnxruntime(target, tmp_path, monkeypatch):
    m, _ = winograd_model()
    for tile in (4, 2):
        monkeypatch.setattr(winograd, "choose", forced(tile))
        b = sdk.compile(m, target=target, dims={"n": 2})
        assert sum(getattr(s, "fn", None) == "sdk_winograd_f32" for s in b.program.steps) == 5
        b.save(tmp_path / f"{target}{tile}")
        feeds = random_inputs(m, {"n": 2}, tile)
        assert_outputs_close(b.run(feeds), ort_run(m, feeds), RTOL, ATOL)
