"""The runtime's thread pool (runtime_c/src/sdk_pool.c, profiles with [cpu] threading = "pool"): the OpenMP regions
gcc emits run on it with the one-thread results, thread counts change between regions, error paths return status
codes; clean under ThreadSanitizer and AddressSanitizer + UndefinedBehaviorSanitizer; no libgomp in the program.
The region protocol under stress (random delays at its windows, thread counts changing, a busy thread), and a pool's
storage reused by another library's pool without a stop."""
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


def _build(tmp_path, srcs, flags, exe, link=("-pthread",)):
    objs = []
    for src in srcs:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(["gcc", *flags, "-c", str(src), "-o", str(obj)], check=True)
        objs.append(str(obj))
    subprocess.run(["gcc", *[f for f in flags if f.startswith("-f") and f != "-fopenmp"], *objs, "-o", str(exe),
                    *link], check=True)
    return exe


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("san", list(SANITIZERS))
def test_pool_protocol_under_stress(tmp_path, san):
    """sdk_pool.c built with -DSDK_POOL_JITTER (random yields / sleeps / spins where a descheduled thread opens a
    window): thousands of tiny read-modify-write regions, some with barriers, thread counts and num_threads changing,
    a busy thread oversubscribing the cores; each share runs exactly once, every barrier holds, no hang, the stop
    joins. Before pool43's fixes this failed within ~200 regions at 2 threads (a share run twice: a worker that read
    a finished region's generation claimed a later region's share) and hung or ran shares twice at 3-4 threads."""
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fopenmp", "-DSDK_POOL_JITTER", f"-I{RUNTIME / 'include'}",
             *SANITIZERS[san]]
    exe = _build(tmp_path, [HERE / "pool_stress.c", RUNTIME / "src" / "sdk_pool.c", RUNTIME / "src" / "sdk_status.c"],
                 flags, tmp_path / "pool_stress")
    regions = 5000 if san == "plain" else 1500
    for threads, seed in ((2, 1), (3, 2)):
        r = subprocess.run([str(exe), str(threads), str(regions), str(seed)], capture_output=True, text=True,
                           env=dict(os.environ, TSAN_OPTIONS="halt_on_error=1"), timeout=300)
        assert r.returncode == 0 and "pool stress ok" in r.stdout, r.stdout + r.stderr
        assert "WARNING" not in r.stderr, r.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_pool_storage_reused_without_stop(tmp_path):
    """Two copies of the runtime (one shared library loaded under two names, as two bundles): A's pool is abandoned
    without sdk_pool_stop and B starts its pool in the same storage (what bench/zoo_latency.py --interleave and
    bench/threads_ab.py did with the ctypes buffers of successive models). A's worker, woken by B's futex at the same
    address, exits instead of joining B's regions; B's read-modify-write regions and barriers are exact. Before
    pool43 this hung on B's first barrier region (A's worker ran B's region as thread 0 of 1, never at the barrier)."""
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{RUNTIME / 'include'}"]
    objs = []
    for src in (HERE / "pool_reuse.c", RUNTIME / "src" / "sdk_pool.c", RUNTIME / "src" / "sdk_status.c"):
        objs.append(str(tmp_path / (src.stem + ".o")))
        subprocess.run(["gcc", *flags, "-fopenmp", "-fPIC", "-DPOOL_REUSE_LIB", "-c", str(src), "-o", objs[-1]],
                       check=True)
    lib = tmp_path / "liba.so"  # linked without -fopenmp: the pool's GOMP entry points, no libgomp
    subprocess.run(["gcc", "-shared", "-o", str(lib), *objs, "-pthread"], check=True)
    assert "libgomp" not in subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
    shutil.copy(lib, tmp_path / "libb.so")
    exe = tmp_path / "pool_reuse"
    subprocess.run(["gcc", *flags, "-o", str(exe), str(HERE / "pool_reuse.c"), "-ldl"], check=True)
    for threads in (2, 3):
        r = subprocess.run([str(exe), str(lib), str(tmp_path / "libb.so"), str(threads), "200"], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0 and "pool reuse ok" in r.stdout, r.stdout + r.stderr


def test_threading_is_a_profile_fact():
    host = load_target("host")  # the runtime's pool by default; host-openmp: the host profile on libgomp (base = "host")
    assert threading(host) == "pool" and "sdk_pool.c" in runtime_files(_empty_program(), host)
    gomp = load_target("host-openmp")
    assert threading(gomp) == "openmp" and "sdk_pool.c" not in runtime_files(_empty_program(), gomp)
    assert gomp.cflags == host.cflags and gomp.ldlibs == ["-lm", "-fopenmp"] and gomp.backend == "host"
    assert host.ldlibs == ["-lm", "-pthread"]
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


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("san", ["plain", "tsan"])
def test_pool_share_clock(tmp_path, san):
    """-DSDK_POOL_SHARE_CLOCK (bench/pool_shares.py): the regions test passes with the share clock compiled in, and
    every region prints each thread's CPU us in its shares and in barrier waits (never more than in its shares),
    the wall us, its barriers and the shares the caller took; the barrier regions show their barriers."""
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fopenmp", "-DSDK_POOL_SHARE_CLOCK",
             f"-I{RUNTIME / 'include'}", *SANITIZERS[san]]
    exe = _build(tmp_path, [HERE / "pool_regions.c", RUNTIME / "src" / "sdk_pool.c", RUNTIME / "src" / "sdk_status.c"],
                 flags, tmp_path / "pool_regions")
    env = dict(os.environ, OMP_NUM_THREADS="3", TSAN_OPTIONS="halt_on_error=1")
    r = subprocess.run([str(exe), "3"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "pool test ok" in r.stdout, r.stdout + r.stderr
    assert "WARNING" not in r.stderr, r.stderr
    lines = [ln.split()[2:] for ln in r.stderr.splitlines() if ln.startswith("pool region ")]
    assert len(lines) > 100
    with_barriers = 0
    for f in lines:
        n = (len(f) - 3) // 2
        assert n >= 2 and len(f) == 2 * n + 3, f
        share, bar = [float(x) for x in f[:n]], [float(x) for x in f[n:2 * n]]
        assert all(s >= 0 for s in share) and all(0 <= b <= s + 1.0 for b, s in zip(bar, share)), f
        assert float(f[2 * n]) >= 0 and 0 <= int(f[2 * n + 2]) < n, f
        with_barriers += int(f[2 * n + 1]) > 0
    assert with_barriers > 0
