"""The runtime's thread pool (runtime_c/src/sdk_pool.c, profiles with [cpu] threading = "pool"): the OpenMP regions
gcc emits run on it with the one-thread results, thread counts change between regions, error paths return status
codes; clean under ThreadSanitizer and AddressSanitizer + UndefinedBehaviorSanitizer; no libgomp in the program."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sdk.backends.project import runtime_files, threading
from sdk.errors import SdkError
from sdk.resources import RUNTIME
from sdk.targets import load_target

HERE = Path(__file__).resolve().parent
SANITIZERS = {"plain": ["-O2"], "tsan": ["-O1", "-g", "-fsanitize=thread"],
              "asan": ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("san", list(SANITIZERS))
def test_pool_regions(tmp_path, san):
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fopenmp", f"-I{RUNTIME / 'include'}", *SANITIZERS[san]]
    objs = []
    for src in (HERE / "pool_regions.c", RUNTIME / "src" / "sdk_pool.c", RUNTIME / "src" / "sdk_status.c"):
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(["gcc", *flags, "-c", str(src), "-o", str(obj)], check=True)
        objs.append(str(obj))
    exe = tmp_path / "pool_regions"
    # linked without -fopenmp: the GOMP entry points are the pool's, libgomp is not in the program
    subprocess.run(["gcc", *[f for f in flags if f.startswith("-f") and f != "-fopenmp"], *objs, "-o", str(exe),
                    "-pthread"], check=True)
    assert "libgomp" not in subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    env = dict(os.environ, OMP_NUM_THREADS="3", TSAN_OPTIONS="halt_on_error=1")
    r = subprocess.run([str(exe), "3"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "pool test ok" in r.stdout, r.stdout + r.stderr
    assert "WARNING" not in r.stderr, r.stderr  # no sanitizer report


def test_threading_is_a_profile_fact():
    host = load_target("host")  # libgomp by default; host-pool: the host profile with the pool (base = "host")
    assert threading(host) == "openmp" and "sdk_pool.c" not in runtime_files(_empty_program(), host)
    pool = load_target("host-pool")
    assert threading(pool) == "pool" and "sdk_pool.c" in runtime_files(_empty_program(), pool)
    assert pool.cflags == host.cflags and pool.ldlibs == ["-lm", "-pthread"] and pool.backend == "host"
    phone = load_target("android-arm64-mt")  # built by the NDK's clang in apps: libomp's entry points, not gcc's
    assert threading(phone) == "openmp" and "sdk_pool.c" not in runtime_files(_empty_program(), phone)
    bad = load_target("host")
    bad.data = {**bad.data, "cpu": {**bad.data["cpu"], "threading": "tbb"}}
    with pytest.raises(SdkError, match="threading"):
        threading(bad)


def _empty_program():
    class Program:
        steps = []
    return Program()
