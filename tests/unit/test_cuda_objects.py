"""tests/cuda_objects.py: the session's store of GPU runtime objects compiles each configuration once. A stand-in
nvcc (a shell script through $NVCC) records its calls, so no CUDA toolkit is needed."""
import os

import pytest

from cuda_objects import CudaObjects, check_flags, key_flags, target_check_flags

@pytest.fixture
def fake(fake_nvcc, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "k.cu").write_text('#include "k.h"\n#ifdef USED_IN_SOURCE\n#endif\n')
    (src / "k.h").write_text("#if USED_IN_HEADER > 1\n#endif\n")
    (src / "bad.cu").write_text("FAIL\n")
    return src, fake_nvcc


def calls(log):
    return log.read_text().splitlines() if log.exists() else []


def test_a_macro_the_sources_never_name_shares_the_object(fake, tmp_path):
    src, log = fake
    store = CudaObjects(tmp_path / "store")
    a = store.object(src, "k.cu", ["-arch=sm_90a", "-DUSED_IN_SOURCE", "-DUNUSED=1", "-O1"])
    b = store.object(src, "k.cu", ["-arch=sm_90a", "-DOTHER", "-DUSED_IN_SOURCE", "-O1"])
    assert a.returncode == b.returncode == 0 and a.path == b.path and len(calls(log)) == 1
    assert "flags: -arch=sm_90a -DUSED_IN_SOURCE -O1" in a.path.read_text()  # compiled without the unused ones
    # a macro named by an included header, another arch, another option: each its own object
    c = store.object(src, "k.cu", ["-arch=sm_90a", "-DUSED_IN_SOURCE", "-DUSED_IN_HEADER=2", "-O1"])
    d = store.object(src, "k.cu", ["-arch=sm_80", "-DUSED_IN_SOURCE", "-O1"])
    e = store.object(src, "k.cu", ["-arch=sm_90a", "-DUSED_IN_SOURCE", "-O3"])
    assert len({a.path, c.path, d.path, e.path}) == 4 and len(calls(log)) == 4
    # the same configuration again, from another process's store object (same folder): no compile
    again = CudaObjects(tmp_path / "store").object(src, "k.cu", ["-arch=sm_80", "-DUSED_IN_SOURCE", "-O1"])
    assert again.path == d.path and len(calls(log)) == 4


def test_a_changed_header_is_another_object(fake, tmp_path):
    src, log = fake
    store = CudaObjects(tmp_path / "store")
    a = store.object(src, "k.cu", ["-arch=sm_90"])
    (src / "k.h").write_text("/* changed */\n")
    b = store.object(src, "k.cu", ["-arch=sm_90"])
    assert a.path != b.path and len(calls(log)) == 2


def test_a_failed_compile_fails_every_test_that_needs_it(fake, tmp_path):
    src, log = fake
    store = CudaObjects(tmp_path / "store")
    for _ in range(2):
        r = store.object(src, "bad.cu", ["-arch=sm_90"])
        assert r.returncode != 0 and "error: bad source" in r.stderr
    assert len(calls(log)) == 1


def test_key_flags_sort_defines_in_place():
    from pathlib import Path
    d = Path(__file__).parent
    unnamed = "-DNOT_NAMED" + "_ANYWHERE"  # (spelled apart: this file is the source)
    flags, files = key_flags(d, "test_cuda_objects.py", ["-arch=sm_90a", "-DUSED_IN_SOURCE", "-DUSED_IN_HEADER=2",
                                                         "-O1", unnamed])
    assert flags == ["-arch=sm_90a", "-DUSED_IN_HEADER=2", "-DUSED_IN_SOURCE", "-O1"] and files == ["test_cuda_objects.py"]


def test_bundles_check_the_target_profile_configuration():
    from sdk.targets import load_target
    t = load_target("cuda-sm90")
    flags = target_check_flags("cuda-sm90")
    assert flags == check_flags(t.data["arch"], [f for f in t.cflags if f.startswith("-D")])
    assert f"-arch={t.data['arch']}" in t.cflags and "-Werror" in flags and "-O3" not in flags


def test_fill_bundle_puts_objects_newer_than_the_sources(fake, tmp_path):
    src, log = fake
    from sdk.resources import GPU_RUNTIME
    for name in GPU_RUNTIME:
        (src / name).write_text('#include "k.h"\n')
    store = CudaObjects(tmp_path / "store")
    res = store.fill_bundle(src, ["-arch=sm_90a"])
    assert all(r.returncode == 0 for r in res) and len(calls(log)) == len(GPU_RUNTIME) == 3
    for name in GPU_RUNTIME:
        o = src / name.replace(".cu", ".o")
        assert o.read_text().endswith('#include "k.h"\n')
        assert os.path.getmtime(o) >= max(os.path.getmtime(src / f) for f in (name, "k.h"))


def test_the_igemm_flags_recompile_the_implicit_gemm_only(fake_nvcc, tmp_path):
    """The runtime's own sources: the cuda-sm90 profile's flags and -DSDK_CUDA_WGMMA alone differ only in
    SDK_CUDA_IGEMM_WGMMA, which only sdk_cuda_igemm.cu names, so the other library object is shared (the split of
    sdk_cuda_kernels.cu: ~190 CPU s of nvcc each at sm_90a before)."""
    from sdk.resources import GPU_LIBRARY
    store = CudaObjects(tmp_path / "store")
    profile = target_check_flags("cuda-sm90")
    assert "-DSDK_CUDA_IGEMM_WGMMA" in profile
    plain = check_flags("sm_90a", ["-DSDK_CUDA_WGMMA"])
    objs = {(src, tuple(f)): store.runtime(src, f).path for src in GPU_LIBRARY for f in (profile, plain)}
    assert objs[("sdk_cuda_kernels.cu", tuple(profile))] == objs[("sdk_cuda_kernels.cu", tuple(plain))]
    assert objs[("sdk_cuda_igemm.cu", tuple(profile))] != objs[("sdk_cuda_igemm.cu", tuple(plain))]
    assert len(calls(fake_nvcc)) == 3
