"""Correctness sweep of the PyTorch model zoo (tests/torch_zoo/) on another target, under its emulator.

Each file is compiled once for the target with the manifest's bounds, run at both dim sets (qemu-aarch64, node,
qemu-system-arm, as ``Bundle.run`` picks for the target) and every output compared with onnxruntime at the zoo's
tolerances (tests/e2e/test_torch_zoo.py's ``check_matches_onnxruntime``). One line per file: OK / FAIL, seconds,
the first line of the error; a FAIL's traceback goes to ``--tb-dir``. tests/targets/test_torch_zoo_targets.py runs a
fixed subset in CI; this runs any list, or every file (``--all``, int8 files left out with ``--no-int8``).

    PYTHONPATH=$PWD python bench/zoo_targets.py android-arm64 --all --no-int8
    PYTHONPATH=$PWD python bench/zoo_targets.py cortex-m7 squeezenet.dynamo lstm.ts
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "tests"), str(ROOT)]

import sdk  # noqa: E402
from test_torch_zoo import MANIFEST, ZOO_DIR, check_matches_onnxruntime, load  # noqa: E402


def model_of(file: str) -> str:
    return next(name for name, rec in MANIFEST["models"].items()
                if any(f["path"].endswith("/" + file) for f in rec["files"].values()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target")
    ap.add_argument("files", nargs="*", help="zoo files (with or without .onnx)")
    ap.add_argument("--all", action="store_true", help="every committed zoo file")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--tb-dir", default=tempfile.gettempdir())
    a = ap.parse_args(argv)
    files = sorted(p.name for p in (ZOO_DIR / "models").glob("*.onnx")) if a.all else list(a.files)
    files = [f if f.endswith(".onnx") else f + ".onnx" for f in files]
    if a.no_int8:
        files = [f for f in files if "_int8." not in f]
    failed = 0
    for file in files:
        t = time.time()
        try:
            rec = MANIFEST["models"][model_of(file)]
            model = load(file)
            with tempfile.TemporaryDirectory() as d:
                b = sdk.compile(model, target=a.target, dims=rec["bounds"], name="zoo")
                b.save(Path(d) / "zoo")
                check_matches_onnxruntime(b, model, rec)
            print(f"OK   {a.target} {file} {time.time() - t:.0f}s", flush=True)
        except Exception as e:  # a sweep: report and go on
            failed += 1
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            print(f"FAIL {a.target} {file} {time.time() - t:.0f}s {type(e).__name__}: {first}", flush=True)
            with open(Path(a.tb_dir) / f"zoo_targets_{a.target}_{file}.txt", "w") as fh:
                traceback.print_exc(file=fh)
    print(f"{len(files) - failed} of {len(files)} files match onnxruntime on {a.target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
