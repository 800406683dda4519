"""Do 4 KiB pages cost a bundle time? The weights (``.rodata``, file-backed: 4 KiB pages on this kernel, no
``CONFIG_READ_ONLY_THP_FOR_FS``) and the arena (the caller's memory) each on 4 KiB pages or on 2 MiB transparent huge
pages (``madvise(MADV_HUGEPAGE)`` on an anonymous copy / buffer aligned to 2 MiB), one thread, alternating.

    PYTHONPATH=$PWD python bench/pages_ab.py resnet18 [--rounds 8] [--repeat 5]

The bundle's C sources are built into one shared library in which ``model_weights`` is read through a pointer
(``gap_weights``) that points at the ``.rodata`` array or at an anonymous copy; the arena is a 4 KiB-page buffer
(``MADV_NOHUGEPAGE``) or a huge-page one. Four variants, run in rotating order in rounds of ``--repeat`` runs, each
timed with the thread's CPU clock (whole ``model_run``); onnxruntime's ``session.run`` in every round too.
"""
import argparse
import ctypes
import mmap
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
HUGE = 2 << 20
SHIM = r"""
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
extern const unsigned char model_weights[];
const unsigned char *gap_weights = model_weights;
/* huge < 0: back to .rodata; else an anonymous copy of n bytes, 2 MiB-aligned, MADV_HUGEPAGE if huge */
int gap_weights_place(size_t n, int huge) {
  static unsigned char *copy[2];
  if (huge < 0) { gap_weights = model_weights; return 0; }
  if (!copy[huge]) {
    size_t len = n + (2u << 20);
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    p += (-(size_t)p) & ((2u << 20) - 1);
    if (madvise(p, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) return -2;
    memcpy(p, model_weights, n);
    copy[huge] = p;
  }
  gap_weights = copy[huge];
  return 0;
}
"""


def anon(size: int, huge: bool):
    """(mmap object, aligned address) of an anonymous buffer of ``size`` bytes on huge pages or 4 KiB ones."""
    m = mmap.mmap(-1, size + 2 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    off = (-addr) % HUGE
    m.madvise(mmap.MADV_HUGEPAGE if huge else mmap.MADV_NOHUGEPAGE, off, size + (-size) % HUGE)
    ctypes.memset(addr + off, 0, size)
    return m, addr + off


def smaps_huge(addr: int) -> str:
    """AnonHugePages of the mapping holding ``addr`` (this process's /proc/self/smaps)."""
    cur = None
    for ln in Path("/proc/self/smaps").read_text().splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", ln)
        if m:
            cur = int(m.group(1), 16) <= addr < int(m.group(2), 16)
        elif cur and ln.startswith("AnonHugePages:"):
            return ln.split(":")[1].strip()
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=str(ROOT / "bench" / "data" / "zoo_full"))
    a = ap.parse_args()
    import sdk
    from sdk.backends.host.ctensor import Tensor, start_pool, stop_pool, view
    for name in a.models.split(","):
        model = onnx.load(str(Path(a.dir) / f"{name}.onnx"))
        inp = model.graph.input[0]
        shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        b = sdk.compile(model, target="host", name="model")
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        ref = sess.run(None, {inp.name: x})[0]
        with tempfile.TemporaryDirectory(prefix="pages_ab_") as tmp:
            out = Path(b.save(Path(tmp) / "m"))
            src = (out / "model.c").read_text()
            decl = "extern const unsigned char model_weights[];"
            assert decl in src
            (out / "model.c").write_text(src.replace(decl, "extern const unsigned char *gap_weights;\n"
                                                           "#define model_weights gap_weights"))
            (out / "gap_weights.c").write_text(SHIM)
            mk = (out / "Makefile").read_text()
            cflags = re.search(r"^CFLAGS = (.*)$", mk, re.M).group(1).split()
            ldlibs = re.search(r"^LDLIBS = (.*)$", mk, re.M).group(1).split()
            srcs = [s for s in re.search(r"^SRCS = (.*)$", mk, re.M).group(1).split() if s != "main.c"]
            subprocess.run(["gcc", *cflags, "-fPIC", "-shared", "-o", "lib.so", *srcs, "gap_weights.c", *ldlibs],
                           cwd=out, check=True)
            lib = ctypes.CDLL(str(out / "lib.so"))
            start_pool(lib)
            lib.model_set_threads(1)
            lib.model_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
            lib.gap_weights_place.argtypes = [ctypes.c_size_t, ctypes.c_int]
            nw = (out / "model_weights.bin").stat().st_size
            size = b.plan.arena_bytes + 64
            arenas = {False: anon(size, False), True: anon(size, True)}
            y = np.empty_like(ref)
            ins, outs = (Tensor * 1)(view(x)), (Tensor * 1)(view(y))
            variants = [(w, ar) for w in ("rodata", "4k", "huge") for ar in (False, True)]
            t = {v: [] for v in variants}
            t["ort"] = []
            err = {}
            try:
                for w, ar in variants:  # place each copy once, check the outputs
                    assert lib.gap_weights_place(nw, {"rodata": -1, "4k": 0, "huge": 1}[w]) == 0
                    assert lib.model_run(arenas[ar][1], size, ctypes.addressof(ins), ctypes.addressof(outs)) == 0
                    err[(w, ar)] = float(np.abs(y - ref).max())
                pages = {f"weights {w}": "-" for w in ("4k", "huge")}
                load0 = os.getloadavg()[0]
                for r in range(a.rounds):
                    order = variants[r % len(variants):] + variants[: r % len(variants)]
                    for w, ar in order:
                        lib.gap_weights_place(nw, {"rodata": -1, "4k": 0, "huge": 1}[w])
                        lib.model_run(arenas[ar][1], size, ctypes.addressof(ins), ctypes.addressof(outs))  # warm
                        for _ in range(a.repeat):
                            t0 = time.thread_time()
                            lib.model_run(arenas[ar][1], size, ctypes.addressof(ins), ctypes.addressof(outs))
                            t[(w, ar)].append(1e3 * (time.thread_time() - t0))
                    for _ in range(a.repeat):
                        t0 = time.thread_time()
                        sess.run(None, {inp.name: x})
                        t["ort"].append(1e3 * (time.thread_time() - t0))
                load1 = os.getloadavg()[0]
                for w in ("4k", "huge"):
                    lib.gap_weights_place(nw, {"4k": 0, "huge": 1}[w])
                    pages[f"weights {w}"] = smaps_huge(ctypes.c_void_p.in_dll(lib, "gap_weights").value)
                pages["arena 4k"], pages["arena huge"] = smaps_huge(arenas[False][1]), smaps_huge(arenas[True][1])
            finally:
                stop_pool(lib)
        base = t[("rodata", False)]
        print(f"\n{name}: one thread, CPU clock, {a.rounds} rotating rounds x {a.repeat} runs, ms; load "
              f"{load0:.1f}-{load1:.1f}; weights {nw} bytes, arena {b.plan.arena_bytes} bytes; AnonHugePages: "
              + ", ".join(f"{k} {v}" for k, v in pages.items()))
        print("| weights | arena | min | median | / product min | / product median | max abs err vs ort |")
        print("|---|---|---|---|---|---|---|")
        for (w, ar) in variants:
            v = t[(w, ar)]
            print(f"| {w} | {'huge' if ar else '4k'} | {min(v):.2f} | {statistics.median(v):.2f} | "
                  f"{min(v) / min(base):.3f} | {statistics.median(v) / statistics.median(base):.3f} | "
                  f"{err[(w, ar)]:.1e} |")
        print(f"| onnxruntime | | {min(t['ort']):.2f} | {statistics.median(t['ort']):.2f} | "
              f"{min(t['ort']) / min(base):.3f} | {statistics.median(t['ort']) / statistics.median(base):.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
