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


def test_vq_subcommands_through_sdk_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1500, 16)).astype(np.float32)
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "q.npy", base[:4])
    idx = tmp_path / "idx.sdkvq"
    assert main(["vq", "train", str(tmp_path / "base.npy"), "-o", str(idx), "--method", "rvq",
                 "--stages", "4", "--bits", "6"]) == 0
    assert main(["vq", "search", str(idx), str(tmp_path / "q.npy"), "-k", "5", "-o", str(tmp_path / "r.npz")]) == 0
    ids = np.load(tmp_path / "r.npz")["ids"]
    assert ids.shape == (4, 5)
    assert (ids[:, 0] == np.arange(4)).mean() >= 0.75  # a base vector finds itself first (quantized distances)
    capsys.readouterr()
    assert main(["vq", "search", str(tmp_path / "missing.sdkvq"), str(tmp_path / "q.npy")]) != 0
    assert "cannot read" in capsys.readouterr().err
