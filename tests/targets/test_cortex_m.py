"""Cortex-M bundles: firmware built with arm-none-eabi-gcc, run on the emulated
MPS2 boards (qemu-system-arm) over the serial protocol, compared with onnxruntime."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import sdk
from conftest import ort_run, random_inputs
from sdk.errors import BuildError
from sdk.backends.mcu.runner import CortexMRunner
from sdk.targets import load_target

TARGETS = ["cortex-m4", "cortex-m7"]


def require_toolchain():
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run 'make setup' (apt: gcc-arm-none-eabi libnewlib-arm-none-eabi "
                        "qemu-system-arm)")


@pytest.mark.parametrize("target", TARGETS)
def test_profile_is_complete(target):
    t = load_target(target)
    assert t.backend == "mcu" and t.cc == "arm-none-eabi-gcc"
    assert f"-mcpu={target}" in t.cflags and "-mfloat-abi=hard" in t.cflags
    for key in ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes", "stack_bytes"):
        assert key in t.data["memory"]
    assert t.data["cpu"]["dsp"] is True and t.data["cpu"]["helium"] is False
    assert t.data["board"]["machine"] == {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500"}[target]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name,dims", [("mlp", {"batch": 3}), ("cnn", {"batch": 2})])
def test_float_example_on_emulated_board(examples, tmp_path, target, name, dims):
    require_toolchain()
    model, bounds = examples[name]
    b = sdk.compile(model, target=target, dims=bounds, name=name)
    b.save(tmp_path / name)
    rep = json.loads((tmp_path / name / "build_report.json").read_text())
    assert 0 < rep["flash_bytes"] <= rep["budget"]["flash_bytes"] and rep["ram_bytes"] > b.plan.arena_bytes
    feeds = random_inputs(model, dims, seed=1)
    outs, info = b.run_with_info(feeds)
    ref = ort_run(model, feeds)
    for k, v in ref.items():
        np.testing.assert_allclose(outs[k], v, rtol=1e-4, atol=1e-5)
    assert info["timer"] == "systick" and info["cycles"] > 0  # qemu has no DWT cycle counter
    assert info["workspace_bytes"] <= b.plan.arena_bytes


@pytest.mark.slow
def test_resnext_block_fits_and_runs_on_m4(examples, tmp_path):
    require_toolchain()
    model, bounds = examples["resnext_block"]
    b = sdk.compile(model, target="cortex-m4", dims=bounds)
    b.save(tmp_path / "rx")
    feeds = random_inputs(model, {"batch": 1}, seed=2)
    outs = b.run(feeds)
    np.testing.assert_allclose(outs["y"], ort_run(model, feeds)["y"], rtol=1e-4, atol=1e-5)


def test_firmware_never_mallocs(examples, tmp_path):
    require_toolchain()
    model, bounds = examples["mlp"]
    sdk.compile(model, target="cortex-m4", dims=bounds).save(tmp_path / "b")
    syms = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "b" / "firmware.elf")], capture_output=True,
                          text=True, check=True).stdout.split()
    assert "malloc" not in syms and "_malloc_r" not in syms
    assert "MODEL_ARENA_BYTES" in (tmp_path / "b" / "model.h").read_text()
    assert "MODEL_ARENA_BYTES" in (tmp_path / "b" / "main.c").read_text()


def test_planned_ram_over_budget_fails_with_one_line(examples, tmp_path):
    model, bounds = examples["cnn"]
    b = sdk.compile(model, target="cortex-m4", dims=bounds, budget={"ram_bytes": 65536})
    with pytest.raises(BuildError) as e:
        b.save(tmp_path / "b")
    msg = str(e.value)
    assert "\n" not in msg and "cortex-m4 budget of 65536 B" in msg and "RAM" in msg and "by " in msg


def test_linked_flash_over_budget_fails(examples, tmp_path):
    require_toolchain()
    model, bounds = examples["cnn"]
    b = sdk.compile(model, target="cortex-m7", dims=bounds, budget={"flash_bytes": 8192})
    with pytest.raises(BuildError, match=r"^firmware flash \d+ B exceeds the cortex-m7 budget of 8192 B by \d+ B$"):
        b.save(tmp_path / "b")


def test_cli_build_and_run(examples, tmp_path):
    require_toolchain()
    import onnx
    model, _ = examples["cnn"]
    onnx.save(model, tmp_path / "cnn.onnx")
    feeds = random_inputs(model, {"batch": 1}, seed=3)
    np.savez(tmp_path / "in.npz", **feeds)
    sdk_cmd = [sys.executable, "-m", "sdk.cli"]
    r = subprocess.run(sdk_cmd + ["build", str(tmp_path / "cnn.onnx"), "--dim", "batch=4", "--target", "cortex-m4",
                                  "-o", str(tmp_path / "b")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "firmware: flash" in r.stdout and "RAM" in r.stdout
    r = subprocess.run(sdk_cmd + ["run", str(tmp_path / "b"), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                                  str(tmp_path / "out.npz"), "--repeat", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "cycles" in r.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["probs"], ort_run(model, feeds)["probs"],
                               rtol=1e-4, atol=1e-5)
    r = subprocess.run(sdk_cmd + ["build", str(tmp_path / "cnn.onnx"), "--dim", "batch=4", "--target", "cortex-m4",
                                  "-o", str(tmp_path / "c"), "--budget", "ram=4096"], capture_output=True, text=True)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "budget of 4096 B" in r.stderr


def test_runner_rejects_host_bundle(examples, tmp_path):
    model, bounds = examples["mlp"]
    sdk.compile(model, target="host", dims=bounds).save(tmp_path / "h")
    with pytest.raises(sdk.errors.SdkError, match="not an MCU bundle"):
        CortexMRunner().run(tmp_path / "h", random_inputs(model, {"batch": 1}))
