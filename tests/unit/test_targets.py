"""Target profiles are checked against the declared spec (sdk/targets.py SPEC): every shipped profile loads, and an
unknown section, an unknown (e.g. misspelt) key or a value of the wrong type fails with one line naming the file."""
import pytest

from sdk import targets
from sdk.backends import BACKENDS, backend_of
from sdk.errors import SdkError


def test_every_profile_loads():
    for name in targets.available():
        t = targets.load_target(name)
        assert t.name == name and t.cc
        assert backend_of(t) is BACKENDS[t.backend]  # every profile names a registered backend


def test_unknown_backend_fails_with_one_line(tmp_path, monkeypatch):
    (tmp_path / "x.toml").write_text('name = "x"\nbackend = "fpga"\n')
    monkeypatch.setattr(targets, "TARGETS_DIR", tmp_path)
    with pytest.raises(SdkError, match=r"target 'x': unknown backend 'fpga' \(known: host, mcu, phone, wasm, cuda\)"):
        backend_of(targets.load_target("x"))


@pytest.mark.parametrize("text,match", [
    ('name = "x"\nbackend = "host"\n[codegen]\nloop_pargma = "omp simd"\n', r"unknown key \[codegen\] loop_pargma"),
    ('name = "x"\nrunner = "host"\n', "unknown key runner"),  # one key names the kind now: backend
    ('name = "x"\nindex_type = "int32_t"\n', "unknown key index_type"),
    ('name = "x"\n[cpuu]\narch = "armv8-a"\n', r"unknown section \[cpuu\]"),
    ('name = "x"\n[memory]\nmax_arena_bytes = "big"\n', r"\[memory\] max_arena_bytes = 'big': expected int"),
    ('name = "x"\n[cpu]\nneon = 1\n', r"\[cpu\] neon = 1: expected bool"),
])
def test_bad_profiles_fail_with_one_line(tmp_path, monkeypatch, text, match):
    (tmp_path / "x.toml").write_text(text)
    monkeypatch.setattr(targets, "TARGETS_DIR", tmp_path)
    with pytest.raises(SdkError, match=match) as e:
        targets.load_target("x")
    assert "targets/x.toml" in str(e.value) and "\n" not in str(e.value)
