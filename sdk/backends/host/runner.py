"""Build and run a bundle on this machine (gcc + make)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ...errors import BuildError, SdkError
from ...targets import load_target
from ...tensorfile import read_tensor, write_tensor


class HostRunner:
    def __init__(self, cflags=None, extra_cflags=(), threads=None, compiler_cache=False):
        self.cflags = cflags  # replaces the target's CFLAGS when given
        self.extra_cflags = list(extra_cflags)
        self.threads = threads  # the demo's --threads (<name>_set_threads); None: the profile's [cpu] threads
        # sdk tune's variant builds: ccache in front of the compiler where installed (the runtime's sources are the
        # same in every variant of a model: sdk_kernels.c alone is ~9 s of gcc's ~35 s CPU for SqueezeNet 1.1) and
        # the sources compiled in parallel
        self.compiler_cache = compiler_cache

    def build(self, out: Path, program: str = None) -> Path:
        """Build the bundle's demo program (``program``: another Makefile target, e.g. ``<name>_generate``)."""
        out = Path(out)
        cmd = ["make", "-s", "-B", "-C", str(out)] + ([program] if program else [])
        if self.cflags is not None or self.extra_cflags:
            base = self.cflags
            if base is None:
                base = next(ln.split("=", 1)[1].strip() for ln in (out / "Makefile").read_text().splitlines()
                            if ln.startswith("CFLAGS ="))
            cmd.append("CFLAGS=" + " ".join([base] + self.extra_cflags))
            flags = base.split() + self.extra_cflags
            cmd.append("LDLIBS=-lm" + "".join(" " + f for f in flags if f.startswith("-fsanitize")))
        env = None
        if self.compiler_cache:
            cmd.insert(1, f"-j{os.cpu_count() or 1}")
            if shutil.which("ccache") and os.path.isdir("/usr/lib/ccache"):
                # its compiler links first in PATH; the hash ignores the variant's folder (objects reused across them)
                env = dict(os.environ, PATH="/usr/lib/ccache:" + os.environ.get("PATH", ""), CCACHE_NOHASHDIR="1")
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise BuildError(f"building {out} failed:\n{r.stderr[-4000:]}")
        meta = json.loads((out / "bundle.json").read_text())
        return out / (program or f"{meta['name']}_main")

    what = "bundle run"  # names the run in error messages

    def command(self, out: Path, exe: Path) -> list:
        """How to start the demo program (an emulator prefix goes here)."""
        return [str(exe)]

    def extra_info(self, proc, info: dict):
        """Hook: add what a subclass reads off the finished process to ``info``."""

    def run(self, out: Path, inputs: dict, arena=None, repeat=1, rebuild=False):
        """Run the bundle; returns ({output name: array}, info dict)."""
        out = Path(out)
        meta = json.loads((out / "bundle.json").read_text())
        exe = out / f"{meta['name']}_main"
        if rebuild or not exe.exists():
            exe = self.build(out)
        threads = self.threads
        if threads is None:  # the profile's [cpu] threads (0 or absent: the bundle's default, all cores)
            threads = load_target(meta["target"]).data.get("cpu", {}).get("threads") or None
        outs, info, proc = run_demo(self.command(out, exe), meta, inputs, arena, repeat, self.what, threads)
        self.extra_info(proc, info)
        return outs, info


def run_demo(command: list, meta: dict, inputs: dict, arena=None, repeat=1, what="bundle run", threads=None):
    """Run a bundle's demo program (``command`` + options + tensor files), the exchange every runner
    shares: inputs go in as .sdkt files, outputs come back as arrays keyed by the ONNX output names.
    Returns (outputs, info from its stdout "key value" lines, the finished process)."""
    missing = [n for n in meta["inputs"] if n not in inputs]
    if missing:
        raise SdkError(f"missing input '{missing[0]}' (the model's inputs: {', '.join(meta['inputs'])})")
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        args = list(command)
        if arena is not None:
            args += ["--arena", str(arena)]
        if repeat > 1:
            args += ["--repeat", str(repeat)]
        if threads is not None:
            args += ["--threads", str(threads)]
        for k, n in enumerate(meta["inputs"]):
            write_tensor(td / f"in{k}.sdkt", np.asarray(inputs[n]))
            args.append(str(td / f"in{k}.sdkt"))
        outs = [td / f"out{k}.sdkt" for k in range(len(meta["outputs"]))]
        args += [str(p) for p in outs]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"{what} failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
        info = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
        return {n: read_tensor(p) for n, p in zip(meta["outputs"], outs)}, info, r
