"""``--codegen llvm``: the model's steps as an LLVM object for ARM64 (qemu-aarch64), Cortex-M4/M7 (the
emulated MPS2 boards, hard-float ABI), wasm32 (node) and the host, linked by the target's usual toolchain
with the same header and API file; outputs against onnxruntime."""
import shutil
import subprocess

import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.errors import SdkError

RTOL, ATOL = 1e-4, 1e-5
TOOLS = {"android-arm64": ("aarch64-linux-gnu-gcc", "qemu-aarch64"), "cortex-m4": ("arm-none-eabi-gcc", "qemu-system-arm"),
         "cortex-m7": ("arm-none-eabi-gcc", "qemu-system-arm"), "wasm32-browser": ("emcc", "node"), "host": ("gcc",)}
# what the object's disassembly shows when LLVM compiled the tir kernels for the target's vector/float unit
DISASM = {"android-arm64": (["aarch64-linux-gnu-objdump", "-d"], ".4s"),
          "cortex-m4": (["arm-none-eabi-objdump", "-d"], ".f32"), "cortex-m7": (["arm-none-eabi-objdump", "-d"], ".f32")}


def _build(examples, tmp_path, target, name):
    for tool in TOOLS[target]:
        assert shutil.which(tool), f"{tool} missing: run 'make setup'"
    model, bounds = examples[name]
    b = sdk.compile(model, target=target, dims=bounds, name=name, codegen="llvm")
    out = b.save(tmp_path / name)
    return model, b, out


@pytest.mark.parametrize("target,name", [("android-arm64", "transformer"), ("cortex-m4", "cnn"), ("cortex-m7", "mlp"),
                                         ("wasm32-browser", "cnn"), ("host", "transformer")])
def test_llvm_object_bundle_matches_onnxruntime(examples, tmp_path, target, name):
    model, b, out = _build(examples, tmp_path, target, name)
    obj = out / f"{name}_llvm.o"
    assert obj.exists() and obj.stat().st_size > 0
    src = (out / f"{name}.c").read_text()
    assert f"{name}_entry(syms, ptrs, out_dims)" in src and "static void k_" not in src  # steps: in the object
    dims = {"batch": 2, "seq": 16} if name == "transformer" else {"batch": 2}
    feeds = random_inputs(model, dims, seed=3)
    assert_outputs_close(b.run(feeds, engine="c"), ort_run(model, feeds), RTOL, ATOL)
    if target in DISASM:
        cmd, mark = DISASM[target]
        assert mark in subprocess.run(cmd + [str(obj)], capture_output=True, text=True, check=True).stdout


def test_llvm_object_needs_an_llvm_table(examples):
    model, bounds = examples["mlp"]
    with pytest.raises(SdkError, match=r"no \[llvm\] table"):
        sdk.compile(model, target="cuda-sm90", dims=bounds, codegen="llvm")
