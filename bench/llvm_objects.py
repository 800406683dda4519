"""``--codegen llvm`` (the steps as an LLVM object) against the C path (gcc / arm-none-eabi-gcc / emcc compiles
the generated C) per target, same model, same library kernels, in one run:

    python bench/llvm_objects.py [--targets android-arm64,cortex-m4,wasm32-browser] [--out FILE.md]

- **android-arm64**: guest instructions of one ``model_run`` under qemu-aarch64 (the instruction-counting
  plugin: (count at 6 runs - count at 1 run) / 5, so start-up and file I/O cancel); code: ``.text`` bytes of
  the demo program (``aarch64-linux-gnu-size``).
- **cortex-m4**: cycles of one ``model_run`` on the emulated MPS2 AN386 board (SysTick under ``-icount``:
  deterministic); code: the firmware's ``.text`` bytes (flash minus weights and data).
- **wasm32-browser**: median ms of ``model_run`` in node (machine load shows); code: the ``.wasm`` code
  section bytes (weights are in the data section).
Outputs of both paths are checked against onnxruntime first.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import sdk  # noqa: E402
from conftest import ort_run, random_inputs  # noqa: E402

MODELS = ("mlp", "cnn", "resnext_block", "transformer")


def _text_bytes(size_tool: str, path: Path) -> int:
    out = subprocess.run([size_tool, str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[1].split()[0])  # berkeley format: text data bss dec hex filename


def _wasm_code_bytes(path: Path) -> int:
    """Bytes of the code section (id 10) of a .wasm file."""
    data, i = path.read_bytes(), 8
    while i < len(data):
        sid = data[i]
        i += 1
        size = shift = 0
        while True:
            b = data[i]
            i += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if sid == 10:
            return size
        i += size
    return 0


def measure(target: str, b, out: Path, feeds):
    """(time per run, its unit, code bytes)."""
    if target == "android-arm64":
        from sdk.backends.phone.runner import Arm64Runner
        r = Arm64Runner(count_instructions=True)
        one = r.run(out, feeds, repeat=1)[1]["instructions"]
        six = r.run(out, feeds, repeat=6)[1]["instructions"]
        return (six - one) / 5, "instructions", _text_bytes("aarch64-linux-gnu-size", out / f"{b.name}_main")
    if target.startswith("cortex-m"):
        _, info = b.run_with_info(feeds, repeat=3)
        return info["cycles"], "cycles", _text_bytes("arm-none-eabi-size", out / "firmware.elf")
    _, info = b.run_with_info(feeds, repeat=30)
    return float(info["median_ms"]), "ms (node)", _wasm_code_bytes(out / f"{b.name}.wasm")


def bench(target: str, name: str, workdir: Path):
    from make_examples import BOUNDS, EXAMPLES
    model = EXAMPLES[name]()
    dims = {"batch": 1, "seq": 32} if name == "transformer" else {"batch": 1}
    feeds = random_inputs(model, dims, seed=0)
    ref = ort_run(model, feeds)
    row = {"target": target, "model": name + ("@32" if name == "transformer" else "")}
    for kind in ("c", "llvm"):
        b = sdk.compile(model, target=target, dims=BOUNDS[name], name=name, codegen=kind)
        out = b.save(workdir / f"{target}_{name}_{kind}")
        got = b.run(feeds)
        row[f"ok_{kind}"] = all(np.allclose(got[k], v, rtol=1e-4, atol=1e-5) for k, v in ref.items())
        row[f"t_{kind}"], row["unit"], row[f"code_{kind}"] = measure(target, b, out, feeds)
    return row


def table(rows):
    head = "| target | model | C path | LLVM object | LLVM / C | unit | code C (B) | code LLVM (B) | outputs = ORT (C, LLVM) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        fmt = (lambda v: f"{v:.3f}") if r["unit"].startswith("ms") else (lambda v: f"{v:,.0f}")
        lines.append(f"| {r['target']} | {r['model']} | {fmt(r['t_c'])} | {fmt(r['t_llvm'])} | "
                     f"{r['t_llvm'] / r['t_c']:.2f} | {r['unit']} | {r['code_c']:,} | {r['code_llvm']:,} | "
                     f"{'yes' if r['ok_c'] else 'NO'}, {'yes' if r['ok_llvm'] else 'NO'} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="android-arm64,cortex-m4,wasm32-browser")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=None, help="write the record (markdown) here")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for target in a.targets.split(","):
            for name in a.models.split(","):
                rows.append(bench(target, name, Path(td)))
                r = rows[-1]
                print(f"{target} {name}: C {r['t_c']:.4g}, LLVM {r['t_llvm']:.4g} {r['unit']}", flush=True)
    text = table(rows)
    print(text)
    if a.out:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        load = __import__("os").getloadavg()
        Path(a.out).write_text(
            f"# LLVM objects (`--codegen llvm`) against the C path per target\n\n"
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Commit: `{commit}`. Machine: 2 shared cores "
            f"(load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; only the node column is "
            f"wall time, the others are counted by the emulators).\n"
            f"Command: `python bench/llvm_objects.py {' '.join(argv or sys.argv[1:])}`\n\n"
            f"{__doc__.split(chr(10), 3)[3]}\n{text}\n")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
