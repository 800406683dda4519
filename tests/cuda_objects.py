"""nvcc objects of the GPU runtime built once per test session: a content-addressed store shared by every test (and
every pytest-xdist worker) that compiles a runtime configuration or builds a CUDA bundle.

The GPU runtime (runtime_c/cuda: minutes of cicc + ptxas for -arch=sm_90a) is the same in every bundle of a
checkout; the tests used to compile it once per distinct command line (ccache reused it for an identical one), so
the bundles' check build, the runtime compile tests and the fused-attention compile tests each paid for their own
copy of the same configuration. Here an object's key is, as in bench/nvcc_objects.py: the nvcc version, the flags,
the source and every local header it includes (directly or not), with two normalisations that cannot change what
nvcc compiles:
- a ``-D`` macro that no file of the source's include closure names is left out (e.g. the attention kernel's
  SDK_ATT_* options for sdk_cuda_kernels.cu, which never reads them): its value cannot reach the compiler (the
  toolkit's own headers do not name the runtime's SDK_* macros);
- the remaining ``-D`` flags are sorted (their order does not matter to the preprocessor when each is defined once).
The compile runs in a folder of its own with those files only, ``$NVCC <flags> -I. -c`` as a bundle's Makefile runs
it (so ccache, which `make test` puts in $NVCC, still serves a warm run), under a lock per key: a worker that needs
an object another worker is compiling waits for it. A failing compile is kept too (its rc and stderr), so every
test that needs that configuration fails with nvcc's message.

    store = CudaObjects(folder)
    r = store.runtime("sdk_cuda_igemm.cu", flags)     # -> Compiled(returncode, stderr, path)
    store.fill_bundle(bundle_dir, flags)               # the bundle's runtime objects copied in, make links the rest
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from nvcc_objects import includes, nvcc_version  # noqa: E402

# the compile-only check of every CUDA test: sm_XX machine code (ptxas still runs on every kernel; at -O0, since
# its optimisation was a third of the CPU, 36 -> 24 s for sdk_cuda_kernels.cu at sm_90) and warning-free host and
# device code
CHECK_FLAGS = ["-O1", "-Xptxas", "-O0", "-std=c++17", "-Xcompiler", "-Wall,-Wextra,-Werror", "-Werror", "all-warnings"]
# an arch-specific target (sm_90a: the wgmma / TMA code) also optimises the device IR at -O1 instead of nvcc's -O3:
# every kernel and template instantiation still goes through the front end, cicc and ptxas, but without -O3's
# unrolling the 16 wgmma GEMM / convolution instantiations of sdk_cuda_kernels.cu (96 % of its PTX at -O3, 882k
# lines against 86k) no longer take minutes (187.6 -> 12.3 CPU s at the cuda-sm90 profile's flags; sdk_cuda_igemm.cu
# 18.0 -> 3.4, sdk_cuda_attention.cu 34.4 -> 11.2: bench/RESULTS_tests.md). The portable arches' checks (sm_80,
# sm_90) keep the -O3 device pipeline, so the code all arches share is still compiled at -O3 (there it is cheap:
# 3.4 CPU s for sdk_cuda_kernels.cu at sm_80). No test runs these objects; the GPU benches build at the profile's -O3.
ARCH_SPECIFIC_FLAGS = ["-Xcicc", "-O1"]


def check_flags(arch, defines=()):
    """The nvcc flags of a compile check for ``arch`` (e.g. "sm_90a") with ``defines`` (["-DSDK_CUDA_WGMMA"])."""
    return [f"-arch={arch}", *defines, *CHECK_FLAGS, *(ARCH_SPECIFIC_FLAGS if arch.endswith("a") else [])]


def target_check_flags(target="cuda-sm90"):
    """The compile check of a CUDA target profile's own configuration: its -arch and -D flags
    (targets/<target>.toml) with CHECK_FLAGS instead of its optimisation and warning options."""
    from sdk.targets import load_target
    t = load_target(target)
    arch = next(f.split("=", 1)[1] for f in t.cflags if f.startswith("-arch="))
    return check_flags(arch, [f for f in t.cflags if f.startswith("-D")])


def _macro(flag):
    return flag[2:].split("=", 1)[0]


def key_flags(d: Path, source: str, flags):
    """(``flags`` without the -D macros that no file of ``source``'s include closure in ``d`` names, the other -D
    flags sorted, in place of the first -D; the closure)."""
    files = includes(d, source)
    text = "\n".join((d / f).read_text(errors="replace") for f in files)
    named = {m for m in (_macro(f) for f in flags if f.startswith("-D")) if re.search(rf"\b{re.escape(m)}\b", text)}
    defs = sorted(f for f in flags if f.startswith("-D") and _macro(f) in named)
    out, placed = [], False
    for f in flags:
        if f.startswith("-D"):
            if not placed:
                out += defs
                placed = True
        else:
            out.append(f)
    return out, files


@dataclass
class Compiled:
    returncode: int
    stderr: str
    path: Path  # the object (when returncode == 0)


class CudaObjects:
    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.nvcc = os.environ.get("NVCC") or "nvcc"
        self.compiled = []  # keys this process compiled (the others came from the store)

    def object(self, d, source: str, flags) -> Compiled:
        """``source`` of folder ``d`` (a bundle, or the runtime's sources) compiled with ``flags`` (a list)."""
        d = Path(d)
        kflags, files = key_flags(d, source, list(flags))
        h = hashlib.sha256("\0".join([nvcc_version(shlex.split(self.nvcc)[-1]), *kflags, source]).encode())
        for name in files:
            h.update(b"\0" + name.encode() + b"\0" + (d / name).read_bytes())
        key = h.hexdigest()[:32]
        obj, meta = self.root / f"{key}.o", self.root / f"{key}.json"
        with open(self.root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not meta.exists():
                work = self.root / f"{key}.src"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                for name in files:
                    shutil.copyfile(d / name, work / name)
                r = subprocess.run([*shlex.split(self.nvcc), *kflags, "-I.", "-c", "-o", "out.o", source], cwd=work,
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    os.replace(work / "out.o", obj)
                shutil.rmtree(work, ignore_errors=True)
                meta.write_text(json.dumps({"rc": r.returncode, "stderr": r.stderr, "source": source,
                                            "flags": kflags}))
                self.compiled.append(key)
        m = json.loads(meta.read_text())
        return Compiled(m["rc"], m["stderr"], obj)

    def runtime(self, source: str, flags) -> Compiled:
        """A GPU runtime source (e.g. "sdk_cuda_kernels.cu") as a bundle has it: runtime_c/cuda and the host
        runtime headers in one folder."""
        from sdk.resources import RUNTIME
        src = self.root / "runtime"
        with open(self.root / "runtime.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not src.exists():
                tmp = self.root / f"runtime.{os.getpid()}"
                tmp.mkdir()
                for f in [*(RUNTIME / "cuda").iterdir(), *(RUNTIME / "include").glob("*.h")]:
                    if f.is_file():
                        shutil.copyfile(f, tmp / f.name)
                os.replace(tmp, src)
        return self.object(src, source, flags)

    def fill_bundle(self, out, flags, runtime=None):
        """The GPU runtime objects of bundle ``out`` (sdk.resources.GPU_RUNTIME) for ``flags`` put in
        it (newer than its sources, so its Makefile only compiles the model, the demo and the host core, and
        links). Returns [Compiled] (a failed one is not put in: make then compiles it and reports its errors)."""
        from sdk.resources import GPU_RUNTIME
        out = Path(out)
        res = []
        for src in runtime or GPU_RUNTIME:
            r = self.object(out, src, flags)
            if r.returncode == 0:
                shutil.copyfile(r.path, out / (Path(src).stem + ".o"))
            res.append(r)
        return res

    def make(self, out, flags, goal=None):
        """``make`` of bundle ``out`` with NVCCFLAGS=``flags``, its runtime objects from the store."""
        self.fill_bundle(out, flags)
        return subprocess.run(["make", "-s", "-C", str(out), *([goal] if goal else []),
                               f"NVCCFLAGS={' '.join(flags)}"], capture_output=True, text=True)
