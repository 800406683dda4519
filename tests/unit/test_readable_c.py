"""Generated C is for people too (issue 14): shortest round-trip float literals, dtype enum names, arena slots named
after tensors, no extent-1 loops, a banner naming the ONNX nodes of each kernel; and it builds warning-free under gcc AND clang with -Wall -Wextra -Werror."""
import re
import shutil
import subprocess

import numpy as np
import pytest

import sdk
from sdk.codegen.c import const_c

CLANG = shutil.which("clang") or shutil.which("clang-14")


@pytest.mark.parametrize("v", [49, 0.1, -2.5, 1e-7, 3.4e38, 1e-45, 1 / 3, 0.0, 16777217, 123456789.0, -1e-30])
def test_float_literals_round_trip(v):
    s = const_c(v, "float32")
    assert "0x" not in s and s.strip("()").endswith("f")
    assert np.float32(float(s.strip("()")[:-1])) == np.float32(v)
    assert len(s.strip("()-")) <= 16  # %.9g at most: 9 digits, a point, an exponent, the suffix
    d = const_c(v, "float64")
    assert float(d.strip("()")) == float(v)


def test_kernel_banners_name_onnx_nodes():
    from pathlib import Path
    src = sdk.compile(str(Path(__file__).parent.parent / "models" / "torch_names.onnx"), dims={"batch": 2}).sources["model.c"]
    assert ("/* ONNX nodes: /features/features.0/bn/BatchNormalization, /features/features.0/act/Clip */\n"
            "static void k__features_features_0_act_Clip(") in src


def test_readable_names(examples, tmp_path):
    model, bounds = examples["transformer"]
    src = sdk.compile(model, dims=bounds).sources["model.c"]
    assert "0x1." not in src  # no hex floats
    assert "sdk_check_input(&inputs[0], SDK_F32, 3)" in src
    assert not re.search(r"for \(int64_t \w+ = 0; \w+ < 1;", src)  # extent-1 loops are dropped
    assert re.search(r"off\[SLOT_t_\w+\]", src) and not re.search(r"off\[\d+\] =|A \+ off\[\d+\]", src)


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_warning_free(examples, tmp_path, compiler, name):
    cc = CLANG if compiler == "clang" else shutil.which("gcc")
    if cc is None:
        pytest.skip(f"{compiler} not installed (apt-get install clang)")
    model, bounds = examples[name]
    out = sdk.compile(model, dims=bounds).save(tmp_path / name)
    # gcc with the bundle Makefile's -march=native (the tuned kernels' vector types are this machine's registers:
    # without it gcc splits each 512-bit operation into SSE ones, 51 s of CPU for the transformer instead of 8);
    # clang with portable flags (it takes 19 s for the transformer so, 29 s with -march=native): both configurations
    # must be warning-free
    arch = ["-march=native"] if compiler == "gcc" else []
    r = subprocess.run([cc, "-O3", *arch, "-std=c99", "-ffp-contract=fast", "-fopenmp-simd", "-Wall", "-Wextra",
                        "-Werror", "-I.", "-c", "model.c", "-o", "model.o"], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
