"""float16 / bfloat16 storage and integer dtypes through the whole pipeline (import, ops, C, tensor files)."""
import subprocess

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import sdk
from conftest import SANITIZE
from sdk.resources import RUNTIME
from sdk.backends.host.runner import HostRunner
from sdk.tensorfile import read_tensor, write_tensor

BF16 = np.dtype(ml_dtypes.bfloat16)


def test_half_conversions_match_numpy(tmp_path):
    """sdk_half.h rounds float32 -> float16/bfloat16 to nearest even like numpy/ml_dtypes, on every half
    value and on a stride through all float32 bit patterns (NaNs stay NaN)."""
    u = np.arange(0, 2 ** 32, 65521, dtype=np.uint64).astype(np.uint32)
    u = np.concatenate([u, np.arange(0, 2 ** 16, dtype=np.uint32) << 13, np.arange(2 ** 16, dtype=np.uint32) << 16])
    f = u.view(np.float32)
    u.tofile(tmp_path / "in.bin")
    src = tmp_path / "t.c"
    src.write_text("""#include <stdio.h>
#include "sdk_half.h"
int main(void) {
  FILE *in = fopen("in.bin", "rb"), *out = fopen("out.bin", "wb");
  uint32_t x;
  while (fread(&x, 4, 1, in) == 1) {
    sdk_f32_bits b; b.u = x;
    uint16_t h = sdk_f32_to_f16(b.f), g = sdk_f32_to_bf16(b.f);
    float back[2] = {sdk_f16_to_f32(h), sdk_bf16_to_f32(g)};
    fwrite(&h, 2, 1, out); fwrite(&g, 2, 1, out); fwrite(back, 4, 2, out);
  }
  fclose(in); fclose(out); return 0;
}
""")
    subprocess.run(["gcc", *SANITIZE, "-I", str(RUNTIME / "include"), str(src), "-o", str(tmp_path / "t")], check=True)
    subprocess.run([str(tmp_path / "t")], cwd=tmp_path, check=True)
    rec = np.fromfile(tmp_path / "out.bin", dtype=[("h", "<u2"), ("g", "<u2"), ("bh", "<f4"), ("bg", "<f4")])
    with np.errstate(over="ignore", invalid="ignore"):
        want_h, want_g = f.astype(np.float16), f.astype(BF16)
    nan = np.isnan(f)
    np.testing.assert_array_equal(rec["h"][~nan], want_h.view(np.uint16)[~nan])
    np.testing.assert_array_equal(rec["g"][~nan], want_g.view(np.uint16)[~nan])
    assert np.isnan(rec["bh"][nan]).all() and np.isnan(rec["bg"][nan]).all()
    np.testing.assert_array_equal(rec["bh"][~nan], want_h[~nan].astype(np.float32))
    np.testing.assert_array_equal(rec["bg"][~nan], want_g[~nan].astype(np.float32))


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "int8", "uint16", "bool"])
def test_tensor_file_round_trip(tmp_path, dt):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5)).astype(BF16 if dt == "bfloat16" else dt)
    write_tensor(tmp_path / "a.sdkt", a)
    b = read_tensor(tmp_path / "a.sdkt")
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b.view(np.uint8), a.view(np.uint8))


def _half_model(elem):
    """x, w (16-bit weights), n: Cast/MatMul/Add/Softmax/Relu/ReduceMean in the half type, one float32 output."""
    f = helper.make_tensor_value_info
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 6)).astype(np.float32)
    w_t = numpy_helper.from_array(w.astype(np.float16) if elem == TensorProto.FLOAT16 else w.astype(BF16), "w")
    nodes = [
        helper.make_node("Cast", ["x"], ["xh"], to=elem),
        helper.make_node("MatMul", ["xh", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]),
        helper.make_node("Softmax", ["a"], ["s"], axis=-1),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["rm"], keepdims=1, axes=[1]),
        helper.make_node("Mul", ["s", "rm"], ["y16"]),
        helper.make_node("Cast", ["y16"], ["y"], to=TensorProto.FLOAT),
    ]
    g = helper.make_graph(nodes, "half", [f("x", TensorProto.FLOAT, [4, 8]), f("b", elem, [6])],
                          [f("y", TensorProto.FLOAT, [4, 6]), f("y16", elem, [4, 6])], [w_t])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("elem,blob", [(TensorProto.FLOAT16, False), (TensorProto.BFLOAT16, False),
                                       (TensorProto.FLOAT16, True)])
def test_half_model_matches_reference(tmp_path, monkeypatch, elem, blob):
    from onnx.reference import ReferenceEvaluator
    if blob:  # weights in the .incbin blob instead of C arrays
        monkeypatch.setattr("sdk.codegen.c.INLINE_WEIGHTS_MAX", 0)
    m = _half_model(elem)
    onnx.checker.check_model(m)
    rng = np.random.default_rng(2)
    np_dt = np.float16 if elem == TensorProto.FLOAT16 else BF16
    feeds = {"x": rng.standard_normal((4, 8)).astype(np.float32),
             "b": rng.standard_normal(6).astype(np_dt)}
    ref = dict(zip(["y", "y16"], ReferenceEvaluator(m).run(None, feeds)))
    b = sdk.compile(m)
    b.save(tmp_path / "b")
    got, _ = HostRunner(extra_cflags=SANITIZE[:1] + SANITIZE[4:]).run(tmp_path / "b", feeds, rebuild=True)
    assert got["y16"].dtype == np_dt
    # float32 accumulation against the reference's per-op rounding: within a few 16-bit ulps
    tol = 2e-3 if elem == TensorProto.FLOAT16 else 1.6e-2
    np.testing.assert_allclose(got["y"], ref["y"].astype(np.float32), rtol=tol, atol=tol)
    np.testing.assert_allclose(got["y16"].astype(np.float32), ref["y16"].astype(np.float32), rtol=tol, atol=tol)


@pytest.mark.parametrize("src,dst", [("float32", "float16"), ("float16", "int32"), ("int64", "bfloat16"),
                                     ("bfloat16", "float16"), ("float64", "int8"), ("int32", "bool"),
                                     ("bool", "float32"), ("uint8", "int64")])
def test_cast_between_dtypes(tmp_path, src, dst):
    from onnx.reference import ReferenceEvaluator
    code = {n: helper.np_dtype_to_tensor_dtype(BF16 if n == "bfloat16" else np.dtype(n)) for n in (src, dst)}
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=code[dst])], "cast",
        [helper.make_tensor_value_info("x", code[src], [64])], [helper.make_tensor_value_info("y", code[dst], [64])]),
        opset_imports=[helper.make_opsetid("", 19)])
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(64) * 20).astype(np.float32)  # inside int8 range: float->int overflow is undefined
    x = x.astype(BF16 if src == "bfloat16" else src)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    got = sdk.compile(m).run({"x": x})["y"]
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got.view(np.uint8), np.ascontiguousarray(ref).view(np.uint8))


def test_one_dtype_table_matches_the_c_enum_and_generates_the_js_maps():
    """sdk/ir/dtypes.py TABLE is the one dtype table: the runtime's sdk_dtype enum must say the same (parsed here),
    and the wasm loaders' JS maps are generated from it (no literal map left in the templates)."""
    import re
    from pathlib import Path

    from sdk.ir.dtypes import DTYPES, TABLE, js_arrays
    root = Path(__file__).resolve().parents[2]
    header = (root / "runtime_c" / "include" / "sdk_runtime.h").read_text()
    enum = re.search(r"typedef enum \{(.*?)\} sdk_dtype;", header, re.S).group(1)
    c = {name: int(code) for name, code in re.findall(r"(SDK_\w+)\s*=\s*(\d+)", enum)}
    assert c == {e: code for code, e, _ in TABLE.values()}
    assert set(TABLE) == set(DTYPES)
    for t in ("model.mjs", "run_node.mjs"):
        src = (root / "templates" / "wasm" / t).read_text()
        assert "/*@ARRAYS@*/null" in src and "Float32Array," not in src, t
    assert js_arrays().startswith("{ 1: Float32Array, 2: Uint8Array") and "16: Uint16Array" in js_arrays()


def test_tensor_files_and_the_c_runtime_use_the_table_codes_and_sizes(tmp_path):
    """A tensor file's header carries TABLE's code for its dtype (so the C demo's reader and run_node.mjs agree),
    and the runtime's sdk_dtype_size (runtime_c/src/sdk_runtime.c) gives the table's item size for every code."""
    import struct

    from sdk.ir.dtypes import TABLE, itemsize, np_dtype
    for name, (code, _, _) in TABLE.items():
        write_tensor(tmp_path / "t.sdkt", np.zeros((2, 3), np_dtype(name)))
        raw = (tmp_path / "t.sdkt").read_bytes()
        assert raw[:4] == b"SDKT" and struct.unpack("<Iii", raw[4:16]) == (1, code, 2), name
        assert len(raw) == 16 + 2 * 8 + 6 * itemsize(name), name
        assert read_tensor(tmp_path / "t.sdkt").dtype == np_dtype(name), name
    src = tmp_path / "sizes.c"
    src.write_text('#include <stdio.h>\n#include "sdk_runtime.h"\nint main(void) {\n'
                   + "".join(f'  printf("{e} %d %zu\\n", (int){e}, sdk_dtype_size({e}));\n' for _, e, _ in TABLE.values())
                   + "  return 0;\n}\n")
    exe = tmp_path / "sizes"
    subprocess.run(["gcc", *SANITIZE, "-I", str(RUNTIME / "include"), str(src), str(RUNTIME / "src" / "sdk_runtime.c"),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    got = {out[i]: (int(out[i + 1]), int(out[i + 2])) for i in range(0, len(out), 3)}
    assert got == {e: (code, itemsize(name)) for name, (code, e, _) in TABLE.items()}
