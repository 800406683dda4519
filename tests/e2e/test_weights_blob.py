"""Weights above INLINE_WEIGHTS_MAX go to a .bin that the bundle's .S embeds with .incbin. A compiler cache hashes
the .S text, not the bytes .incbin reads: two bundles of the same name with other weights must not share an object
(the .S names a label after the blob's digest). Built with ccache in front of gcc (make setup installs it), as the
suite's own builds are, against onnxruntime."""
import shutil

import numpy as np
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import assert_outputs_close, float_model, ort_run
from sdk.backends.host.runner import HostRunner
from sdk.codegen.c import INLINE_WEIGHTS_MAX


def _model(seed):
    rng = np.random.default_rng(seed)
    n = 320  # 320 x 320 floats = 400 KiB of weights: the blob
    w = nh.from_array((rng.standard_normal([n, n]) / np.sqrt(n)).astype(np.float32), "w")
    return float_model([h.make_node("MatMul", ["x", "w"], ["y"])], "blob", {"x": [4, n]}, {"y": [4, n]}, [w])


def test_same_name_other_weights_through_ccache(tmp_path, monkeypatch):
    assert 320 * 320 * 4 > INLINE_WEIGHTS_MAX
    assert shutil.which("ccache") and shutil.which("gcc", path="/usr/lib/ccache"), "make setup installs ccache"
    monkeypatch.setenv("PATH", "/usr/lib/ccache:" + __import__("os").environ["PATH"])
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    monkeypatch.setenv("CCACHE_NOHASHDIR", "1")
    x = {"x": np.random.default_rng(9).standard_normal([4, 320]).astype(np.float32)}
    texts = []
    for seed in (1, 2):  # same name, same folder name under another parent, other weights
        m = _model(seed)
        out = sdk.compile(m, name="model").save(tmp_path / f"b{seed}" / "model")
        texts.append((out / "model_weights.S").read_text())
        got, _ = HostRunner(threads=1).run(out, x)
        assert_outputs_close(got, ort_run(m, x), 1e-4, 1e-5)
    assert texts[0] != texts[1]
