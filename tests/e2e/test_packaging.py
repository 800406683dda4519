"""The package installs without the source tree: `pip install .` (not editable) and `pip wheel` + `pip install
dist/*.whl`, each in a fresh venv, give an `sdk` that builds a bundle from another folder (runtime_c/, targets/ and
templates/ come from the package data). Builds run with pip's build isolation (setuptools from the package index)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", "build", "out", "dist", "__pycache__", ".pytest_cache", "data", "models"}


def _copy_source(dst: Path) -> Path:
    """The repository without build outputs, git data, generated models or benchmark data."""
    def ignore(d, names):
        return [n for n in names if n in SKIP and not (Path(d) == ROOT / "tests") or n.endswith(".egg-info")]
    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst


def _sh(cmd, cwd, env=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{cmd}: {r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def _venv(path: Path):
    # the sdk's dependencies (onnx, numpy, jinja2...) come from this interpreter's site-packages; sdk itself must
    # come from the venv's install. No pip of its own (ensurepip: ~5 CPU s a venv): _pip installs into it.
    _sh([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], cwd=path.parent)
    return path / "bin"


def _pip(bin_dir: Path, *args):
    """pip (this interpreter's) acting on the venv's interpreter: `pip --python` (pip >= 22.3)."""
    return [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), *args]


def _model(path: Path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")
    g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["a"]), h.make_node("Relu", ["a"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["n", 8])], [h.make_tensor_value_info("y", T.FLOAT, ["n", 4])],
                     [w])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), path)


def _check_installed(bin_dir: Path, work: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = _sh([str(bin_dir / "python"), "-c", "import sdk; print(sdk.__file__)"], cwd=work, env=env).strip()
    assert where.startswith(str(bin_dir.parent)), where  # the venv's copy, not the checkout
    assert _sh([str(bin_dir / "sdk"), "--version"], cwd=work, env=env).strip() == "sdk 0.1.0"
    _model(work / "m.onnx")
    _sh([str(bin_dir / "sdk"), "build", "m.onnx", "--dim", "n=4", "-o", "bundle"], cwd=work, env=env)
    for f in ("model.c", "sdk_runtime.c", "sdk_status.h", "Makefile", "main.c"):
        assert (work / "bundle" / f).exists(), f
    _sh(["make", "-s", "-C", "bundle"], cwd=work, env=env)
    _sh([str(bin_dir / "sdk"), "build", "m.onnx", "--dim", "n=4", "--target", "cortex-m4", "-o", "fw"], cwd=work,
        env=env)  # another profile and its templates
    assert (work / "fw" / "linker.ld").exists()


@pytest.mark.slow
def test_pip_install_dot_in_fresh_venv(tmp_path):
    src = _copy_source(tmp_path / "src")
    bin_dir = _venv(tmp_path / "venv")
    _sh(_pip(bin_dir, "install", "-q", "--no-deps", "--ignore-installed", str(src)), cwd=tmp_path)
    shutil.rmtree(src)  # nothing may point back at the source tree
    (tmp_path / "work").mkdir()
    _check_installed(bin_dir, tmp_path / "work")


@pytest.mark.slow
def test_wheel_in_fresh_venv(tmp_path):
    src = _copy_source(tmp_path / "src")
    bin_dir = _venv(tmp_path / "venv")
    _sh(_pip(bin_dir, "wheel", "-q", "--no-deps", str(src), "-w", str(tmp_path / "dist")), cwd=tmp_path)
    shutil.rmtree(src)
    wheels = list((tmp_path / "dist").glob("sdk-*.whl"))
    assert len(wheels) == 1
    _sh(_pip(bin_dir, "install", "-q", "--no-deps", "--ignore-installed", str(wheels[0])), cwd=tmp_path)
    (tmp_path / "work").mkdir()
    _check_installed(bin_dir, tmp_path / "work")
