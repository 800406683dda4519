"""Build a phone (ARM64) bundle with the profile's cross compiler and run it under qemu-aarch64 user-mode
emulation: ``qemu-aarch64 -L /usr/aarch64-linux-gnu ./model_main IN... OUT...``.

``count_instructions=True`` loads a small TCG plugin (built here from the C below with the host gcc) that
counts the guest instructions qemu executes: ``info["instructions"]`` is deterministic, unlike time under
emulation."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...errors import BuildError
from ...targets import load_target
from ..host.runner import HostRunner

INSTALL_HINT = "install the ARM64 toolchain: 'apt-get install gcc-aarch64-linux-gnu qemu-user' (or 'make setup')"

# qemu's plugin ABI (include/qemu/qemu-plugin.h, API version 1 as in qemu 7.2): Debian ships plugin support in
# qemu-aarch64 but neither the header nor example plugins, so the few declarations needed are spelled out here.
# Every translated block adds its instruction count to a counter each time it runs (an inline add, no callback).
INSN_PLUGIN_C = r"""
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
typedef uint64_t qemu_plugin_id_t;
typedef struct { const char *target_name; struct { int min; int cur; } version; bool system_emulation;
  union { struct { int smp_vcpus; int max_vcpus; } system; }; } qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
static uint64_t count;
static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &count, qemu_plugin_tb_n_insns(tb));
}
static void on_exit(qemu_plugin_id_t id, void *p) { (void)id; (void)p; fprintf(stderr, "sdk_instructions %" PRIu64 "\n", count); }
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info; (void)argc; (void)argv;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_exit, NULL);
  return 0;
}
"""


def insn_plugin() -> Path:
    """Path of the instruction-counting qemu plugin, built once per source version."""
    tag = hashlib.sha1(INSN_PLUGIN_C.encode()).hexdigest()[:12]
    so = Path(tempfile.gettempdir()) / f"sdk_qemu_insn_{tag}.so"
    if not so.exists():
        # per-process names: parallel test workers may build it at once (the .so lands by rename)
        src = so.with_suffix(f".{os.getpid()}.c")
        src.write_text(INSN_PLUGIN_C)
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        r = subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src)], capture_output=True, text=True)
        src.unlink(missing_ok=True)
        if r.returncode != 0:
            raise BuildError(f"building the qemu instruction-count plugin failed:\n{r.stderr[-2000:]}")
        tmp.replace(so)
    return so


class Arm64Runner(HostRunner):
    """Cross-build with make (the bundle's Makefile names the cross gcc) and run under qemu-aarch64."""

    def __init__(self, cflags=None, extra_cflags=(), count_instructions=False):
        super().__init__(cflags=cflags, extra_cflags=extra_cflags)
        self.count_instructions = count_instructions

    def build(self, out: Path, program: str = None) -> Path:
        out = Path(out)
        cc = next((ln.split("=", 1)[1].strip() for ln in (out / "Makefile").read_text().splitlines()
                   if ln.startswith("CC =")), "aarch64-linux-gnu-gcc")
        if shutil.which(cc) is None:
            raise BuildError(f"{cc} not found: {INSTALL_HINT}")
        return super().build(out, program)

    def command(self, out: Path, exe: Path) -> list:
        """The qemu command line that runs ``exe``, from the profile's ``[emulator]`` table."""
        meta = json.loads((Path(out) / "bundle.json").read_text())
        emu = load_target(meta["target"]).data.get("emulator", {})
        qemu = emu.get("qemu", "qemu-aarch64")
        if shutil.which(qemu) is None:
            raise BuildError(f"{qemu} not found: {INSTALL_HINT}")
        cmd = [qemu, "-L", emu.get("sysroot", "/usr/aarch64-linux-gnu")]
        if emu.get("cpu"):
            cmd += ["-cpu", emu["cpu"]]
        threads = load_target(meta["target"]).data.get("cpu", {}).get("threads", 1)
        if threads > 1:  # OpenMP profiles: the guest's thread count
            cmd += ["-E", f"OMP_NUM_THREADS={threads}"]
        if self.count_instructions:
            cmd += ["-plugin", str(insn_plugin())]
        return cmd + [str(exe)]

    what = "bundle run under qemu"

    def extra_info(self, proc, info: dict):
        """With ``count_instructions``, ``info["instructions"]`` counts every guest instruction of the
        process (start-up and file I/O too)."""
        for line in proc.stderr.splitlines():
            if line.startswith("sdk_instructions "):
                info["instructions"] = int(line.split()[1])
