"""Phone target: android-arm64 / ios-arm64 bundles cross-built with aarch64-linux-gnu-gcc and run under
qemu-aarch64 match onnxruntime (float) and the numpy integer reference (int8, bit for bit), with NEON and SDOT
in the binaries; the generated CMakeLists.txt is generic and builds with a CMake toolchain file."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from kws import QUANT_BOUNDS, QUANT_EXAMPLES, calibration
from sdk.backends.phone.runner import Arm64Runner
from sdk.transform.quantize import reference_int8

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

RTOL, ATOL = 1e-4, 1e-5


def require_arm64_toolchain():
    """No skipping: `make setup` installs these (gcc-aarch64-linux-gnu qemu-user)."""
    for tool in ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objdump", "qemu-aarch64", "cmake"):
        assert shutil.which(tool), f"{tool} missing: run 'make setup' (apt-get install gcc-aarch64-linux-gnu qemu-user)"


def disassembly(exe):
    return subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(exe)], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module", autouse=True)
def _toolchain():
    require_arm64_toolchain()


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnext_block"])
def test_float_examples_match_onnxruntime_under_qemu(examples, tmp_path, name):
    model, bounds = examples[name]
    b = sdk.compile(model, target="android-arm64", dims=bounds, name=name)
    b.save(tmp_path / name)
    for batch in (1, bounds["batch"]):
        feeds = random_inputs(model, {"batch": batch}, seed=batch)
        assert_outputs_close(b.run(feeds), ort_run(model, feeds), RTOL, ATOL)
    assert "fmla" in disassembly(tmp_path / name / f"{name}_main")  # the NEON kernels are in


def test_transformer_two_seq_lengths_under_qemu(examples, tmp_path):
    model, _ = examples["transformer"]
    b = sdk.compile(model, target="android-arm64", dims={"batch": 2, "seq": 64}, name="transformer")
    b.save(tmp_path / "t")
    for batch, seq in ((1, 7), (2, 64)):
        feeds = random_inputs(model, {"batch": batch, "seq": seq}, seed=seq)
        got = b.run(feeds)["hidden"]
        assert got.shape == (batch, seq, 64)
        np.testing.assert_allclose(got, ort_run(model, feeds)["hidden"], rtol=RTOL, atol=ATOL)


def _int8_bundles():
    from make_examples import EXAMPLES
    from phone import mobile_block_calibration, mobile_block_model
    rng = np.random.default_rng(11)
    yield "mobile_block", mobile_block_model(), {"batch": 1}, mobile_block_calibration()
    yield "cnn", EXAMPLES["cnn"](), {"batch": 2}, {"image": rng.standard_normal((64, 1, 28, 28)).astype(np.float32)}
    for name in sorted(QUANT_EXAMPLES):
        yield name, QUANT_EXAMPLES[name][0](), QUANT_BOUNDS[name], calibration(name)


@pytest.mark.parametrize("variant", ["dotprod", "neon", "scalar"])
def test_int8_examples_equal_integer_reference_under_qemu(tmp_path, variant):
    """SDOT (neon+dotprod, the profile's default), SMLAL (NEON without dotprod) and plain C: all bit-exact."""
    flags = {"dotprod": None, "neon": "-O3 -std=c99 -march=armv8.2-a -DSDK_HAVE_NEON=1",
             "scalar": "-O3 -std=c99 -march=armv8.2-a -fno-tree-vectorize"}[variant]
    runner = Arm64Runner(cflags=flags)
    for name, model, dims, cal in _int8_bundles():
        b = sdk.compile(model, target="android-arm64", dims=dims, quantize="int8", calibration=cal, name=name)
        out = b.save(tmp_path / name)
        exe = runner.build(out)
        feeds = random_inputs(model, dims, seed=4)
        got, _ = runner.run(out, feeds)
        ref = reference_int8(b.func, feeds)
        out_name = b.func.output_names[0]
        if name == "cnn":  # a float Softmax tail: expf vs np.exp
            np.testing.assert_allclose(got[out_name], ref[out_name], rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(got[out_name], ref[out_name])
        dis = disassembly(exe)
        assert ("sdot" in dis) == (variant == "dotprod"), name
        if variant == "neon":
            assert "smlal" in dis


def test_ios_profile_same_code(examples, tmp_path):
    model, bounds = examples["cnn"]
    b = sdk.compile(model, target="ios-arm64", dims=bounds, name="cnn")
    out = b.save(tmp_path / "cnn")
    feeds = random_inputs(model, {"batch": 3}, seed=3)
    np.testing.assert_allclose(b.run(feeds)["probs"], ort_run(model, feeds)["probs"], rtol=RTOL, atol=ATOL)
    cm = (out / "CMakeLists.txt").read_text()
    assert "CMAKE_SYSTEM_NAME=iOS" in cm and "SDK_DOTPROD" in cm


def test_cmakelists_is_generic_and_cross_builds(examples, tmp_path):
    """No host-only flags in CMakeLists.txt; it builds with a toolchain file for the aarch64 cross gcc (standing in
    for the NDK's), and the program it builds runs under qemu with the same results."""
    model, bounds = examples["mlp"]
    b = sdk.compile(model, target="android-arm64", dims=bounds, name="mlp")
    out = b.save(tmp_path / "mlp")
    cm = (out / "CMakeLists.txt").read_text()
    code = "\n".join(ln.split("#")[0] for ln in cm.splitlines())
    for bad in ("-march=native", "aarch64-linux-gnu", "/usr/", "-O3", "qemu", "CMAKE_C_COMPILER"):
        assert bad not in code, bad
    assert "android.toolchain.cmake" in cm
    build = tmp_path / "build"
    cfg = subprocess.run(["cmake", "-S", str(out), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={out / 'aarch64-linux-gnu.cmake'}"],
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    assert "SDK_CC_HAS_DOTPROD - Success" in cfg.stdout
    bld = subprocess.run(["cmake", "--build", str(build), "-j", "2"], capture_output=True, text=True)
    assert bld.returncode == 0, bld.stdout + bld.stderr
    exe = build / "mlp_main"
    assert "fmla" in disassembly(exe)
    # run the CMake-built program through the runner's qemu command
    shutil.copy(exe, out / "mlp_main")
    feeds = random_inputs(model, {"batch": 5}, seed=5)
    got, _ = Arm64Runner().run(out, feeds)
    np.testing.assert_allclose(got["logits"], ort_run(model, feeds)["logits"], rtol=RTOL, atol=ATOL)


def test_cli_run_target_android(examples, tmp_path):
    model, bounds = examples["mlp"]
    import onnx
    onnx.save(model, tmp_path / "mlp.onnx")
    feeds = random_inputs(model, {"batch": 2}, seed=2)
    np.savez(tmp_path / "in.npz", **feeds)
    subprocess.run(["sdk", "build", str(tmp_path / "mlp.onnx"), "--dim", "batch=4", "--target", "android-arm64",
                    "-o", str(tmp_path / "out")], check=True, capture_output=True)
    r = subprocess.run(["sdk", "run", str(tmp_path / "out"), "--target", "android-arm64", "--inputs",
                        str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(got["logits"], ort_run(model, feeds)["logits"], rtol=RTOL, atol=ATOL)


def test_neon_gemm_needs_3x_fewer_instructions(tmp_path):
    """Retired instructions (qemu plugin) of one 64x256x256 MatMul: NEON tiles vs the scalar C build."""
    from phone import gemm_model, instructions_per_inference, variants
    model = gemm_model()
    out = sdk.compile(model, target="android-arm64", name="gemm").save(tmp_path / "gemm")
    feeds = random_inputs(model, {})
    v = variants()
    scalar = instructions_per_inference(out, feeds, v["scalar"])
    neon = instructions_per_inference(out, feeds, v["neon"])
    assert 64 * 256 * 256 / 4 < scalar  # sanity: at least one instruction per 4 MACs
    assert scalar >= 3 * neon, (scalar, neon)


def test_conv_kernel_geometries_under_qemu(tmp_path):
    """The NEON conv (im2col panels into an 8x8 FMLA tile, arch/arm64/sdk_kernels_neon.c) on kernels 1/3/5/7,
    strides 1/2, dilation, asymmetric pads, groups, channel counts off the tile, straddling columns, K over one
    packed block; and the same bundle built without NEON (the variant's portable fallback)."""
    from conv_cases import conv_cases_model
    model = conv_cases_model()
    b = sdk.compile(model, target="android-arm64", dims={"batch": 2}, name="cc")
    out = b.save(tmp_path / "cc")
    assert "sdk_kernels_neon.c" in (out / "Makefile").read_text()
    for batch in (1, 2):
        feeds = random_inputs(model, {"batch": batch}, seed=batch)
        assert_outputs_close(b.run(feeds), ort_run(model, feeds), RTOL, ATOL)
    plain = Arm64Runner(cflags="-O2 -std=c99 -Wall -Wextra -Werror -march=armv8-a")
    plain.build(out)
    feeds = random_inputs(model, {"batch": 2}, seed=7)
    got, _ = plain.run(out, feeds)
    assert_outputs_close(got, ort_run(model, feeds), RTOL, ATOL)


def test_neon_dense_conv_instructions_per_mac(tmp_path):
    """A 3x3 stride-1 conv, 32 -> 32 channels on 28x28 (7.2 M multiply-adds): at least 1.5 MACs per retired
    instruction (the direct kernel it replaced: about 0.3)."""
    from onnx import TensorProto, helper, numpy_helper
    from phone import instructions_per_inference, variants
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((32, 32, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "conv",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 28, 28])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out = sdk.compile(model, target="android-arm64", name="conv").save(tmp_path / "conv")
    n = instructions_per_inference(out, random_inputs(model, {}), variants()["neon+dotprod"])
    assert 32 * 32 * 9 * 28 * 28 / n >= 1.5, n


def test_neon_epilogues_equal_the_portable_arithmetic(tmp_path):
    """The NEON activations/residual epilogue (SDK_EPILOGUE_SIMD) and the plain C build give the float32 reference
    of the portable epilogue exactly, on NaN, infinities and exp's range limits too."""
    from conv_cases import assert_epilogues_exact, epilogue_input, epilogue_model
    model, x = epilogue_model(), epilogue_input()
    b = sdk.compile(model, target="android-arm64", name="ep")
    out = b.save(tmp_path / "ep")
    assert_epilogues_exact(b.run({"x": x}), x)
    plain = Arm64Runner(cflags="-O2 -std=c99 -Wall -Wextra -Werror -march=armv8-a")
    plain.build(out)
    got, _ = plain.run(out, {"x": x})
    assert_epilogues_exact(got, x)
