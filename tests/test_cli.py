"""sdk build / run / inspect round trip, and the bundle builds with make alone."""
import subprocess

import numpy as np
import onnx

from conftest import ort_run, random_inputs
from sdk.cli import main


def test_build_run_inspect(tmp_path, examples, capsys):
    model, _ = examples["transformer"]
    p = tmp_path / "tr.onnx"
    onnx.save(model, p)
    out = tmp_path / "bundle"
    assert main(["build", str(p), "-o", str(out), "--dim", "batch=2", "--dim", "seq=16", "--name", "tr"]) == 0
    for f in ("tr.c", "tr.h", "Makefile", "CMakeLists.txt", "main.c", "plan.json", "sdk_runtime.c", "sdk_status.h"):
        assert (out / f).exists(), f
    subprocess.run(["make", "-C", str(out)], check=True, capture_output=True)  # no Python involved
    feeds = random_inputs(model, {"batch": 2, "seq": 9})
    np.savez(tmp_path / "in.npz", **feeds)
    assert main(["run", str(out), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    got = np.load(tmp_path / "out.npz")["hidden"]
    np.testing.assert_allclose(got, ort_run(model, feeds)["hidden"], rtol=1e-4, atol=1e-5)
    capsys.readouterr()
    assert main(["inspect", str(p), "--dim", "batch=2", "--dim", "seq=16"]) == 0
    text = capsys.readouterr().out
    assert "symbols: batch <= 2, seq <= 16" in text and "float32[batch, seq, 64]" in text


def test_cmake_project_builds(tmp_path, examples):
    import sdk
    model, bounds = examples["cnn"]
    out = sdk.compile(model, dims=bounds).save(tmp_path / "cnn")
    subprocess.run(["cmake", "-S", str(out), "-B", str(tmp_path / "build")], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(tmp_path / "build")], check=True, capture_output=True)
    assert (tmp_path / "build" / "model_main").exists()
