"""bench/vq_phase_profile.py puts its time-stamp probes into a copy of runtime_c/src/sdk_vq.c by text: each probe
site must still be in the runtime exactly once, and the probed copy must compile (with the profiler's driver hook),
or the profiler would rot silently when the runtime changes."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import vq_phase_profile as vp  # noqa: E402


def test_every_probe_site_is_in_the_runtime_once():
    src = (ROOT / "runtime_c/src/sdk_vq.c").read_text()
    for old, _ in vp.PROBES:
        assert src.count(old) == 1, old[:60]
    probed = vp.instrumented(src)
    assert probed.count("VQP(") == 8  # the macro and 7 calls (one records the first or a later cell)
    assert probed.count("vqp_count[") >= 5


@pytest.mark.skipif(shutil.which("gcc") is None or sys.platform != "linux", reason="needs gcc on x86-64 Linux")
def test_probed_runtime_compiles(tmp_path):
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the probes read the x86 time-stamp counter")
    (tmp_path / "p.c").write_text(vp.instrumented((ROOT / "runtime_c/src/sdk_vq.c").read_text()))
    (tmp_path / "d.c").write_text(vp.DUMP)
    rt = ROOT / "runtime_c"
    vbmi = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vbmi"]
    for flags in (["-O2"], ["-O2", *vbmi]):  # the plain scan, and the bound tables' path
        subprocess.run(["gcc", "-std=c99", *flags, "-c", f"-I{rt / 'include'}", "-o", str(tmp_path / "p.o"),
                        str(tmp_path / "p.c")], check=True)
    subprocess.run(["gcc", "-std=c99", "-O2", "-c", "-o", str(tmp_path / "d.o"), str(tmp_path / "d.c")], check=True)
