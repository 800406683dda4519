"""Every shell block of README.md and docs/*.md runs (issue 16), so documented commands cannot rot.

The blocks of one file run in order in one sandbox folder (later blocks use earlier outputs), through a
`sdk` on PATH that is this checkout. Long runs are shortened by SHORTER (same command, smaller numbers);
placeholders get small real files (PLACEHOLDERS). Lines that need hardware, run forever or run whole
suites/benchmarks are in SKIP, each with its reason; everything else must exit 0."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

SKIP = {  # pattern in a command line -> why it does not run here
    "make demo": "the README's demo target: apt + pip setup, then the same commands as the tour below",
    "make test": "the whole test suite (this test is part of it)",
    "make setup": "apt-get/pip installs (CI's machine is set up by it before the tests)",
    "sdk serve": "serves until Ctrl-C; tests/targets/test_wasm.py drives the demo page",
    "/dev/ttyACM0": "needs a board on a serial port",
    "openocd": "flashes a real board",
    "$ANDROID_NDK": "the Android NDK is not installed here (the bundle's CMakeLists is built with a cross toolchain file below)",
    "-G Xcode": "needs macOS and Xcode",
    "bench/phone.py": "a benchmark (minutes); bench/ results are checked in",
    "bench/vq_bench.py": "a benchmark (needs faiss-cpu and a downloaded model)",
    "bench/vq_tree_bench.py": "a benchmark (trains IRVQ on the real sets, minutes; needs the MiniLM model package)",
    "pytest tests/": "runs part of this test suite",
    "--target cuda-sm90 --dim batch=4 --dim seq=512 --precision": "tests/targets/test_cuda.py builds fp16 bundles",
    "make -C out/tr_gpu": "nvcc builds of every kernel take minutes; tests/targets/test_cuda.py compiles CUDA bundles",
    "sdk run out/tr_gpu": "needs a GPU (tests/targets/test_cuda.py runs on the GPU machine)",
    "examples/semantic_search/": "builds MiniLM for the browser (a 90 MB wasm, minutes); tests/targets/test_vq_web.py "
                                 "runs the same steps on 500 sentences and drives the page in Chromium",
    "minilm_web": "the 90 MB MiniLM wasm bundle and the page on it (tests/targets/test_vq_web.py)",
    "EMB.npy": "needs the passages' embeddings, which the skipped steps above make",
    "finetune.py --target cortex-m7": "60 training steps under qemu (minutes); tests/targets/test_train_targets.py "
                                      "trains on cortex-m4/m7",
}
SHORTER = [(r"--trials \d+", "--trials 4"), (r"--stages 8 --bits 8 --beam 8", "--stages 2 --bits 4 --beam 2"),
           (r"--repeat \d+", "--repeat 2"), (r"--dim seq=512", "--dim seq=64")]
PLACEHOLDERS = {"model.onnx": "examples/models/mlp.onnx"}


def shell_blocks(path: Path):
    return [m.group(1) for m in re.finditer(r"```(?:sh|bash|shell)\n(.*?)```", path.read_text(), re.S)]


def prepare(block: str) -> str:
    """The block as it runs here: continuation lines joined, SKIP lines replaced, SHORTER applied."""
    lines = block.replace("\\\n", " ").splitlines()
    out = []
    for ln in lines:
        cmd = ln.split(" #")[0].strip() if not ln.lstrip().startswith("#") else ""
        why = next((r for p, r in SKIP.items() if p in cmd), None)
        if why:
            out.append(f"# skipped: {why}")
            continue
        for pat, rep in SHORTER:
            cmd = re.sub(pat, rep, cmd)
        for ph, real in PLACEHOLDERS.items():
            cmd = re.sub(rf"(?<![\w/]){re.escape(ph)}", real, cmd)
        if cmd:
            out.append(cmd)
    return "\n".join(out)


@pytest.fixture(scope="module")
def example_models(tmp_path_factory):
    """examples/models as `python examples/make_examples.py` writes it (the README's first step, which the other
    pages take as done), made once per worker and copied into each sandbox: the script's run is mostly Python
    importing onnx (~1.2 CPU s), and the README page still runs it as documented."""
    tmp = tmp_path_factory.mktemp("examples_made")
    (tmp / "examples").mkdir()
    for p in (ROOT / "examples").glob("*.py"):
        shutil.copy(p, tmp / "examples" / p.name)
    subprocess.run([sys.executable, "examples/make_examples.py"], cwd=tmp, check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return tmp / "examples" / "models"


def sandbox(tmp: Path, models: Path) -> dict:
    (tmp / "examples").mkdir()
    for p in (ROOT / "examples").glob("*.py"):
        shutil.copy(p, tmp / "examples" / p.name)
    shutil.copytree(models, tmp / "examples" / "models")
    os.symlink(ROOT / "examples" / "qgen", tmp / "examples" / "qgen")  # docs/generation.md: the trained model
    os.symlink(ROOT / "examples" / "finetune", tmp / "examples" / "finetune")  # docs/training.md's example
    os.symlink(ROOT / "bench", tmp / "bench")
    os.symlink(ROOT / "tests", tmp / "tests")
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    (bin_dir / "sdk").write_text(f"#!/bin/sh\nexec {sys.executable} -m sdk.cli \"$@\"\n")
    (bin_dir / "sdk").chmod(0o755)
    (bin_dir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (bin_dir / "python").chmod(0o755)
    rng = np.random.default_rng(0)
    np.save(tmp / "DATA.npy", rng.standard_normal((600, 16)).astype(np.float32))  # docs/vq.md placeholders
    np.save(tmp / "QUERIES.npy", rng.standard_normal((5, 16)).astype(np.float32))
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=str(ROOT), MPLBACKEND="Agg")


def test_every_shell_block_is_covered():
    """Each documented line either runs or is skipped for a stated reason: no block silently left out."""
    n_run = n_skip = 0
    for doc in DOCS:
        for block in shell_blocks(doc):
            for ln in prepare(block).splitlines():
                n_skip += ln.startswith("# skipped")
                n_run += not ln.startswith("# skipped")
    # a pattern may stand for a few lines (e.g. `sdk serve` after each page build): two lines a pattern at most
    assert n_run >= 30 and n_skip <= 2 * len(SKIP), (n_run, n_skip)


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if shell_blocks(d)], ids=lambda d: d.name)
def test_documented_commands_run(doc, tmp_path, example_models):
    env = sandbox(tmp_path, example_models)
    for k, block in enumerate(shell_blocks(doc)):
        script = prepare(block)
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{doc.name} block {k} failed:\n{script}\n--- stderr:\n{r.stderr[-3000:]}"
