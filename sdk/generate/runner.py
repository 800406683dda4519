"""Run a bundle's generation demo (``<name>_generate``, ``templates/c_project/generate_main.c``) through a runner of
its target: built with the runner's flags, started with its command prefix (an emulator for phone bundles); a
runner with its own ``generate`` (Cortex-M: the GENERATE command of the serial protocol) runs it instead."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BuildError, SdkError
from ..tensorfile import read_tensor, write_tensor
from .sampler import GenerateParams


def run_generate(runner, out: Path, prompt: np.ndarray, max_len: int, params: GenerateParams, rebuild=False,
                 context=None, repeat: int = 1):
    """Generate from ``prompt`` (int64 [batch, prompt_len]) with the ``context`` arrays (the step's context inputs, in
    order: ``meta["generate"]["context"]``); returns (tokens as one list per row, or per beam best
    first, info dict with workspace_bytes, first_token_ms, total_ms, new_tokens). ``repeat``: generate that many
    times in one process; the times are then medians (the C demo adds cold_first_token_ms and cold_total_ms: the
    first run's). A device runner generates once."""
    out = Path(out)
    meta = json.loads((out / "bundle.json").read_text())
    if "generate" not in meta:
        raise SdkError(f"{out}: not compiled for generation (sdk build --generate --dim max_len=N)")
    if hasattr(runner, "generate"):  # a device runner (Cortex-M over the serial protocol): the loop runs there
        return runner.generate(out, prompt, max_len, params, context=context)
    exe = out / f"{meta['name']}_generate"
    if rebuild or not exe.exists():
        exe = runner.build(out, f"{meta['name']}_generate")
    args = list(runner.command(out, exe)) + [
        "--max-len", str(max_len), "--max-new", str(params.max_new_tokens), "--sample", str(int(params.do_sample)),
        "--temperature", repr(float(params.temperature)), "--top-k", str(params.top_k),
        "--top-p", repr(float(params.top_p)), "--seed", str(params.seed), "--beams", str(params.num_beams),
        "--length-penalty", repr(float(params.length_penalty))] + (["--repeat", str(int(repeat))] if repeat > 1 else [])
    for s in params.stop_tokens:
        args += ["--stop", str(int(s))]
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        write_tensor(td / "prompt.sdkt", np.ascontiguousarray(prompt, dtype=np.int64))
        for k, c in enumerate(context or ()):
            write_tensor(td / f"context{k}.sdkt", np.ascontiguousarray(c))
            args += ["--context", str(td / f"context{k}.sdkt")]
        args += [str(td / "prompt.sdkt"), str(td / "tokens.sdkt"), str(td / "lengths.sdkt")]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"generation failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
        tokens, lengths = read_tensor(td / "tokens.sdkt"), read_tensor(td / "lengths.sdkt")
    info = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    return [list(map(int, row[:n])) for row, n in zip(tokens, lengths)], info
