"""bench/nvcc_objects.py: CUDA bundles built with each distinct object compiled once (the GPU runtime no longer
compiled per bundle). A stand-in nvcc (a shell script through $NVCC) records its calls, so no CUDA toolkit is
needed (the fake_nvcc fixture of tests/conftest.py); the Makefiles are the CUDA template's."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import nvcc_objects  # noqa: E402

MAKEFILE = """NVCC ?= nvcc
NVCCFLAGS = -O3 -DX
SRCS = model.cu model_weights.S kern.cu main.cu
OBJS = $(addsuffix .o,$(basename $(SRCS)))

model_main: $(OBJS)
\t$(NVCC) $(NVCCFLAGS) -o $@ $(OBJS)

%.o: %.cu *.h
\t$(NVCC) $(NVCCFLAGS) -I. -c -o $@ $<

%.o: %.S
\t$(NVCC) $(NVCCFLAGS) -I. -c -o $@ $<
"""


def bundle(root: Path, name: str, model: str, kern: str = '#include "sdk_cuda.h"\nkernels v1', header: str = "h1") -> Path:
    d = root / name
    d.mkdir()
    (d / "Makefile").write_text(MAKEFILE)
    (d / "model.cu").write_text(model)
    (d / "kern.cu").write_text(kern)
    (d / "main.cu").write_text("main")
    (d / "model_weights.S").write_text(f"weights of {name}")
    (d / "sdk_cuda.h").write_text(header)
    return d


def compiles(log: Path, src: str) -> int:
    return sum(1 for ln in log.read_text().splitlines() if ln.endswith(f" {src}") and " -c " in ln)


def test_the_runtime_is_compiled_once_for_every_bundle(tmp_path, fake_nvcc):
    ds = [bundle(tmp_path, f"b{i}", f"model {i}") for i in range(3)]
    res = nvcc_objects.build_all([(d, None) for d in ds], tmp_path / "store", jobs=2, log=lambda m: None)
    assert all(ok for ok, _ in res.values()), res
    assert compiles(fake_nvcc, "kern.cu") == 1 and compiles(fake_nvcc, "main.cu") == 1
    assert compiles(fake_nvcc, "model.cu") == 3
    for i, d in enumerate(ds):  # each demo program has its own model and weights, and the shared runtime
        exe = (d / "model_main").read_text()
        assert f"model {i}" in exe and f"weights of b{i}" in exe and "kernels v1" in exe
    # a second run (e.g. on the GPU machine, with the store carried there) compiles only the weights again
    before = fake_nvcc.read_text()
    (tmp_path / "again").mkdir()
    ds2 = [bundle(tmp_path / "again", f"b{i}", f"model {i}") for i in range(3)]
    nvcc_objects.build_all([(d, None) for d in ds2], tmp_path / "store", jobs=2, log=lambda m: None)
    new = fake_nvcc.read_text()[len(before):]
    assert " -c " in new and all(ln.endswith("model_weights.S") for ln in new.splitlines() if " -c " in ln)


def test_flags_headers_and_sources_are_in_the_key(tmp_path, fake_nvcc):
    a = bundle(tmp_path, "a", "m")
    b = bundle(tmp_path, "b", "m", header="h2")  # another header: the objects that include it differ
    c = bundle(tmp_path, "c", "m", kern="kernels v2")  # another runtime source: that object only
    res = nvcc_objects.build_all([(a, None), (b, None), (c, None), (bundle(tmp_path, "d", "m"), "-O3 -DY")],
                                 tmp_path / "store", jobs=2, log=lambda m: None)
    assert all(ok for ok, _ in res.values())
    assert compiles(fake_nvcc, "kern.cu") == 4 and compiles(fake_nvcc, "model.cu") == 2  # a = b = c, d
    assert "-DY" in (tmp_path / "d" / "model_main").read_text() and "-DY" not in (a / "model_main").read_text()
    assert "kernels v2" in (c / "model_main").read_text()
    assert not any(p.name.startswith("model_weights") for p in (tmp_path / "store").iterdir())


def test_a_failing_object_fails_its_bundles_only(tmp_path, fake_nvcc):
    good, bad = bundle(tmp_path, "good", "m1"), bundle(tmp_path, "bad", "FAIL")
    res = nvcc_objects.build_all([(good, None), (bad, None)], tmp_path / "store", jobs=2, log=lambda m: None)
    assert res[good][0] and not res[bad][0] and "bad source" in res[bad][1]
    assert len(list((tmp_path / "store").glob("*.o"))) == 3  # kern, main, good's model: never a failed one
    assert os.path.exists(good / "model_main") and not os.path.exists(bad / "model_main")


def test_only_the_headers_a_source_includes_are_in_its_key(tmp_path, fake_nvcc):
    """The model's header differs per bundle; the runtime does not include it, so its object is still shared."""
    a, b = bundle(tmp_path, "a", '#include "model.h"\nm'), bundle(tmp_path, "b", '#include "model.h"\nm')
    for d, text in ((a, "model a"), (b, "model b")):
        (d / "model.h").write_text(text)
        (d / "kern.cu").write_text('#include "sdk_cuda.h"\nkernels')
    res = nvcc_objects.build_all([(a, None), (b, None)], tmp_path / "store", jobs=2, log=lambda m: None)
    assert all(ok for ok, _ in res.values())
    assert compiles(fake_nvcc, "kern.cu") == 1 and compiles(fake_nvcc, "model.cu") == 2
    (b / "sdk_cuda.h").write_text("h2")  # an included header changed: compiled again
    nvcc_objects.build_all([(b, None)], tmp_path / "store", jobs=2, log=lambda m: None)
    assert compiles(fake_nvcc, "kern.cu") == 2
