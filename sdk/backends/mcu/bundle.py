"""Microcontroller bundles: the model's C sources plus a bare-metal firmware
(``templates/mcu/``) that serves the model over the serial protocol, a linker
script made from the target profile's memory map, and a build report that
checks flash and RAM against the profile's budget."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from ...errors import BuildError
from ...ir import sym
from ...memory.plan import nbytes
from ..project import (RUNTIME, TEMPLATES, _io_doc, _render, copy_runtime, objects, runtime_files, write_plan,
                       write_sources)
from .flags import compile_flags

FIRMWARE = ["startup.c", "timer.c", "uart_cmsdk.c", "proto.c", "main.c"]
FIRMWARE_H = ["fw.h", "proto.h"]
RX_HEADER = 4 + 4 * 8  # SET_INPUT: index, dtype, rank, pad, dims[8]
MAX_TEXT_BYTES = 4096  # GENERATE_TEXT: the longest text a request carries (UTF-8 bytes)
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")


def budget_of(target, overrides=None) -> dict:
    mem = target.data["memory"]
    b = {"flash_bytes": mem["flash_bytes"], "ram_bytes": mem["ram_bytes"]}
    b.update(target.data.get("budget", {}))
    for key, limit in (overrides or {}).items():
        # the linker script places everything in the profile's FLASH and RAM regions: a budget can model a
        # smaller part, never a larger one (that needs a region in the memory map, e.g. external flash/PSRAM)
        if limit > mem[key]:
            kind = key.split("_")[0]
            raise BuildError(f"--budget {kind}={limit}: larger than the {target.name} memory map's {kind.upper()} "
                             f"region ({mem[key]} B at {mem[kind + '_origin']:#x}), which the linker script fills; "
                             f"give the board's real size in targets/{target.name}.toml [memory] (external "
                             f"flash/PSRAM regions are not supported yet)")
        b[key] = limit
    return b


def _align16(n: int) -> int:
    return (n + 15) // 16 * 16


def write_mcu_bundle(out: Path, bundle) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name, prog, plan, target = bundle.name, bundle.program, bundle.plan, bundle.target
    write_sources(out, bundle)
    generate = getattr(bundle, "generation", None) is not None  # a decoder step: <name>_generate on the device (GENERATE)
    rt = copy_runtime(out, runtime_files(prog, target) + (["sdk_generate.c"] if generate else []))
    for h in (RUNTIME / "include").glob("*.h"):  # headers are free: the generated code picks what it includes
        shutil.copy(h, out / h.name)
    mem, cpu, board, tc = target.data["memory"], target.data["cpu"], target.data["board"], target.data["toolchain"]
    train = getattr(bundle, "training", None)  # a training step: TRAIN / GET_STATE on the device's RAM state
    in_bytes = [_align16(max(1, sym.upper_bound(nbytes(b), bundle.bounds))) for b in prog.inputs]
    out_bytes = [_align16(max(1, sym.upper_bound(nbytes(b), bundle.bounds))) for b in prog.outputs]
    if train is not None:  # only the batch and its labels come over the line; parameters live in the state
        in_bytes = in_bytes[:train.n_model_inputs + 1] + [16] * (len(in_bytes) - train.n_model_inputs - 1)
        out_bytes = [16] * len(out_bytes)
    rx_bytes = _align16(RX_HEADER + max(in_bytes + [64]))
    gen = _generate_kw(bundle) if generate else {}
    if generate:
        rx_bytes = max(rx_bytes, _align16(gen["request_bytes"]))
    weights = f"{name}_weights.S" if f"{name}_weights.S" in bundle.sources else None
    sources = [f"{name}.c"] + ([f"{name}_generate.c"] if generate else []) + \
        ([f"{name}_train.c"] if train is not None else []) + rt + ([weights] if weights else []) + \
        objects(bundle)
    text = generate and getattr(bundle, "encoder", None) is not None  # text in, text out (GENERATE_TEXT)
    text_kw, text_flash = {}, 0
    if text:
        text_sources, text_kw, text_flash = _write_text_path(out, bundle, target, sources)
        sources += text_sources
        rx_bytes = max(rx_bytes, _align16(RX_HEADER + 44 + MAX_TEXT_BYTES))
    sources += FIRMWARE
    for h in FIRMWARE_H:
        shutil.copy(TEMPLATES / "mcu" / h, out / h)
    cflags = compile_flags(target)
    budget = budget_of(target, bundle.budget)
    kw = dict(name=name, NAME=name.upper(), target=target.name, board=board["machine"], cc=target.cc,
              size=tc.get("size", "arm-none-eabi-size"), cflags=" ".join(cflags),
              ldflags=" ".join(tc.get("ldflags", [])), ldlibs=" ".join(target.ldlibs), sources=" ".join(sources),
              clock_hz=cpu["clock_hz"], baud=board["baud"], frame_timeout_ms=board["frame_timeout_ms"],
              rx_bytes=rx_bytes, in_bytes=in_bytes, out_bytes=out_bytes,
              flash_origin=f"{mem['flash_origin']:#010x}", flash_bytes=mem["flash_bytes"],
              ram_origin=f"{mem['ram_origin']:#010x}", ram_bytes=mem["ram_bytes"], stack_bytes=mem["stack_bytes"],
              ram_limit=min(budget["ram_bytes"], mem["ram_bytes"]), generate=generate,
              ctx_index=gen.get("ctx_index", []), ctx_names=gen.get("ctx_names", ""), train=train is not None,
              text=text, **text_kw)
    for t in FIRMWARE + ["linker.ld", "Makefile"]:
        (out / t).write_text(_render(f"mcu/{t}", **kw))
    weights_bytes = sum(arr.nbytes for _, arr in prog.consts) + text_flash
    ram = {"arena": plan.arena_bytes + 16, "inputs": sum(in_bytes), "outputs": sum(out_bytes), "rx_buffer": rx_bytes,
           "stack": mem["stack_bytes"]}
    if train is not None:
        from ...train.c_api import state_layout
        ram["train_state"] = state_layout(train, bundle.bounds)["bytes"]
    (out / "README.md").write_text(_readme(bundle, target, kw, ram, weights_bytes))
    write_plan(out, bundle)
    meta = {"name": name, "target": target.name, "kind": "mcu", "inputs": bundle.func.input_names,
            "outputs": bundle.func.output_names, "bounds": bundle.bounds, "budget": budget,
            "ram_estimate": ram, "weights_bytes": weights_bytes}
    if bundle.quant is not None:
        meta["quantization"] = bundle.quant
    if train is not None:
        from ...train.c_api import state_layout
        lay = state_layout(train, bundle.bounds)
        meta["train"] = {"num_inputs": train.n_model_inputs, "state_bytes": lay["bytes"],
                         "params": [{"name": p.name, "offset": off, "shape": list(p.init.shape)}
                                    for p, off, _ in lay["params"]]}
    if generate:
        meta["generate"] = {"vocab": bundle.generation.vocab, "context": gen["ctx_names_list"],
                            "context_index": gen["ctx_index"], "max_len": gen["max_len"], "max_batch": gen["max_batch"],
                            **({"cache_capacity": bundle.generation.capacity} if bundle.generation.capacity else {}),
                            **({"text": {"encoder": bundle.encoder.name, "max_text_bytes": MAX_TEXT_BYTES}}
                               if text else {})}
    (out / "bundle.json").write_text(json.dumps(meta, indent=1))
    # fail early, before any compiler runs, when the planned memory alone is over budget
    check_budget(target.name, budget, flash=weights_bytes, ram=sum(ram.values()), what="planned")
    if shutil.which(target.cc):
        build_firmware(out)
    return out


def _write_text_path(out: Path, bundle, target, sources):
    """The text path in the firmware (GENERATE_TEXT; as in the C project, sdk/generate/text.py): the encoder's sources
    and runtime files, the C tokenizer with the vocabulary, ``<name>_text.c``. Returns (the C sources not yet in
    ``sources``, the template values, the flash they add: the encoder's weights and the vocabulary's text)."""
    from ...generate.text import text_params
    from ...text.bundle import write_tokenizer
    name, enc, tok = bundle.name, bundle.encoder, bundle.tokenizer
    write_sources(out, enc)
    new = [f"{enc.name}.c"] + ([f"{enc.name}_weights.S"] if f"{enc.name}_weights.S" in enc.sources else [])
    new += objects(enc) + copy_runtime(out, runtime_files(enc.program, target))
    new += write_tokenizer(out, tok, name, js=False)
    kw = dict(name=name, name_upper=name.upper(), **text_params(bundle))
    for ext in ("h", "c"):
        (out / f"{name}_text.{ext}").write_text(_render(f"c_project/text_generate.{ext}", **kw))
    new.append(f"{name}_text.c")
    longest = max(len(t) for t in tok.vocab)
    text_kw = {"text_out_bytes": _align16(bundle.generation_max_len() * (longest + 1) + 1)}
    flash = sum(arr.nbytes for _, arr in enc.program.consts) + sum(len(t) + 1 for t in tok.vocab)
    return [f for f in dict.fromkeys(new) if f not in sources], text_kw, flash


def _generate_kw(bundle) -> dict:
    """The GENERATE command's template values: context inputs, the largest request (header, 64 stop tokens,
    the prompts at the bounds)."""
    from ...frontend.onnx import _sym_name
    roles = bundle.generation
    max_len, max_batch = bundle.generation_max_len(), bundle.bounds[_sym_name(roles.batch)]
    names = [bundle.func.input_names[k] for k in roles.context]
    return {"ctx_index": list(roles.context), "ctx_names": ", ".join(names) or "none", "ctx_names_list": names,
            "max_len": max_len, "max_batch": max_batch, "request_bytes": 56 + 8 * 64 + 8 * max_batch * max_len}


def check_budget(target_name, budget, flash, ram, what="firmware"):
    for kind, used in (("flash", flash), ("RAM", ram)):
        limit = budget[f"{kind.lower()}_bytes"]
        if used > limit:
            raise BuildError(f"{what} {kind} {used} B exceeds the {target_name} budget of {limit} B "
                             f"by {used - limit} B")


def build_firmware(out: Path) -> dict:
    """make the firmware, then check its sections against the budget; returns the build report."""
    out = Path(out)
    meta = json.loads((out / "bundle.json").read_text())
    r = subprocess.run(["make", "-s", "-C", str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        m = re.search(r"region `(\w+)' overflowed by (\d+) bytes", r.stderr)
        if m:
            raise BuildError(f"firmware does not fit the {meta['target']} memory map: {m.group(1)} overflowed by "
                             f"{m.group(2)} bytes")
        raise BuildError(f"building firmware in {out} failed: {r.stderr.strip()[-3000:]}")
    report = size_report(out)
    (out / "build_report.json").write_text(json.dumps(report, indent=1))
    check_budget(meta["target"], meta["budget"], report["flash_bytes"], report["ram_bytes"])
    return report


def size_report(out: Path) -> dict:
    """Flash and RAM of firmware.elf from ``arm-none-eabi-size -A``, with the RAM broken down."""
    out = Path(out)
    meta = json.loads((out / "bundle.json").read_text())
    sections = {}
    for line in (out / "firmware.size").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in FLASH_SECTIONS + RAM_SECTIONS and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    flash = sum(sections.get(s, 0) for s in FLASH_SECTIONS)
    ram = sum(sections.get(s, 0) for s in RAM_SECTIONS)
    est = meta["ram_estimate"]
    return {"target": meta["target"], "flash_bytes": flash, "ram_bytes": ram, "sections": sections,
            "weights_bytes": meta["weights_bytes"], "code_bytes": sections.get(".text", 0),
            "ram_breakdown": {**est, "runtime_state": max(0, ram - sum(est.values()))},
            "budget": meta["budget"]}


def format_report(rep: dict) -> str:
    b = rep["budget"]
    ram = ", ".join(f"{k} {v}" for k, v in rep["ram_breakdown"].items())
    return (f"flash {rep['flash_bytes']} B of {b['flash_bytes']} B (code {rep['code_bytes']} B, weights "
            f"{rep['weights_bytes']} B); RAM {rep['ram_bytes']} B of {b['ram_bytes']} B ({ram})")


def firmware_report(out: Path):
    """``Backend.report``: the built firmware's flash and RAM against the budget, or None before it is built."""
    rep = Path(out) / "build_report.json"
    return "firmware: " + format_report(json.loads(rep.read_text())) if rep.exists() else None


def _readme(bundle, target, kw, ram, weights_bytes):
    return f"""# {bundle.name}: sdk firmware bundle for `{target.name}` ({kw['board']})

Build: `make` (needs `{target.cc}` with newlib) gives `firmware.elf`; `firmware.size` has its sections.
Run on the emulated board: `sdk run . --inputs in.npz --outputs out.npz` (starts qemu, talks over the
serial protocol); on a real board flash `firmware.elf` and use `sdk run . --port /dev/ttyACM0 --baud 115200 ...`.

Inputs:
{_io_doc(bundle.func.input_names, bundle.program.inputs)}Outputs:
{_io_doc(bundle.func.output_names, bundle.program.outputs)}
Static RAM (bytes): {', '.join(f'{k} {v}' for k, v in ram.items())}. Weights: {weights_bytes} bytes in flash.
The model never allocates: its arena (`{kw['NAME']}_ARENA_BYTES`) is a static array in `main.c`.
"""
