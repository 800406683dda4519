"""Per-kernel GPU time of one run of a CUDA bundle, through Nsight Compute (``ncu``, one metric: each kernel's
duration; clocks left alone), summed by kernel name: where a model's time goes.

    python bench/gpu_profile.py BUNDLE_DIR IN_0.sdkt ... [--top 25]

Needs the bundle built (``model_main``) and ncu (on PATH or under /opt/nvidia/nsight-compute)."""
from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path


def ncu_path():
    return shutil.which("ncu") or next(iter(sorted(glob.glob("/opt/nvidia/nsight-compute/*/ncu"))), None)


def profile(bundle: Path, inputs, top=25, launches=False):
    nout = len(json.loads((bundle / "bundle.json").read_text())["outputs"])
    outs = [f"/tmp/prof_out{k}.sdkt" for k in range(nout)]
    cmd = [ncu_path(), "--clock-control", "none", "--metrics", "gpu__time_duration.sum", "--csv",
           str(bundle / "model_main"), "--repeat", "1", *inputs, *outs]
    r = subprocess.run(cmd, capture_output=True, text=True)
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith('"')]
    if not rows:
        return f"ncu gave no rows (exit {r.returncode}): {r.stderr[-500:]}{r.stdout[-500:]}"
    by = defaultdict(lambda: [0, 0.0])
    each = []  # (kernel, grid, us) of every launch, in order
    for row in csv.DictReader(io.StringIO("\n".join(rows))):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"].split("(")[0]
        if name.startswith("k__"):  # generated kernels: the layers' copies together (digits as #)
            name = re.sub(r"\d+", "#", name)
        v = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "nsecond")
        us = v * {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3}.get(unit, 1e-3)
        by[name][0] += 1
        by[name][1] += us
        each.append((name, row.get("Grid Size", "?"), us))
    total = sum(t for _, t in by.values())
    lines = [f"{bundle.name}: {sum(c for c, _ in by.values())} kernels, {total / 1e3:.3f} ms of kernel time",
             "| kernel | launches | us | share |", "| --- | ---: | ---: | ---: |"]
    for name, (c, t) in sorted(by.items(), key=lambda kv: -kv[1][1])[:top]:
        lines.append(f"| {name} | {c} | {t:.1f} | {100 * t / total:.1f}% |")
    if launches:  # every launch in the order the model runs them
        lines += ["", "| # | kernel | grid | us |", "| ---: | --- | --- | ---: |"]
        lines += [f"| {k} | {name} | {grid} | {us:.1f} |" for k, (name, grid, us) in enumerate(each)]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--launches", action="store_true", help="also every launch in order, with its grid")
    a = ap.parse_args(argv)
    print(profile(a.bundle, a.inputs, a.top, a.launches))
    return 0


if __name__ == "__main__":
    sys.exit(main())
