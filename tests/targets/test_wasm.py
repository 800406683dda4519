"""wasm32-browser target: every example runs in node and in headless Chromium and matches onnxruntime;
the demo page works when clicked through; the .wasm uses SIMD128 and stays small; errors reach JS."""
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.backends.wasm.runner import ChromiumRunner, WasmRunner, chromium_page, serve_folder

RTOL, ATOL = 1e-4, 1e-5
TARGET = "wasm32-browser"
# (dims of each run): the bounds and a smaller shape, one compile each
RUNS = {"mlp": [{"batch": 1}, {"batch": 16}], "cnn": [{"batch": 1}, {"batch": 4}],
        "resnext_block": [{"batch": 1}, {"batch": 2}],
        "transformer": [{"batch": 1, "seq": 17}, {"batch": 4, "seq": 128}]}


@pytest.fixture(scope="module")
def bundles(examples, tmp_path_factory):
    root = tmp_path_factory.mktemp("wasm")
    out = {}
    for name, (model, bounds) in examples.items():
        b = sdk.compile(model, target=TARGET, dims=bounds, name=name)
        out[name] = b.save(root / name)
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_example_in_node_matches_onnxruntime(examples, bundles, name):
    model, _ = examples[name]
    for k, dims in enumerate(RUNS[name]):
        feeds = random_inputs(model, dims, seed=k)
        got, info = WasmRunner().run(bundles[name], feeds)
        assert_outputs_close(got, ort_run(model, feeds), RTOL, ATOL)
        assert float(info["median_ms"]) > 0


def test_examples_in_chromium_match_onnxruntime(examples, bundles):
    runner = ChromiumRunner()
    for name, runs in RUNS.items():
        model, _ = examples[name]
        feeds = random_inputs(model, runs[-1], seed=3)
        got, _ = runner.run(bundles[name], feeds)
        assert_outputs_close(got, ort_run(model, feeds), RTOL, ATOL)


def test_demo_page_click_through(examples, bundles, tmp_path):
    model, _ = examples["mlp"]
    with serve_folder(bundles["mlp"]) as url, chromium_page() as page:
        page.goto(url + "index.html")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        page.fill("#dim-batch", "3")
        page.fill("#seed", "42")
        page.click("#randomize")
        page.fill("#repeat", "5")
        page.click("#run")
        page.wait_for_function("document.getElementById('status').textContent === 'ok'", timeout=20000)
        shown = page.inner_text("#output")
        latency = page.inner_text("#latency")
        x = np.asarray(page.evaluate("Array.from(window.demo.lastInput.x.data)"), np.float32).reshape(3, 64)
        png = tmp_path / "demo.png"
        page.screenshot(path=str(png), full_page=True)
    assert shown.startswith("logits: [3, 10]"), shown
    values = [float(v) for line in shown.splitlines()[1:4] for v in line.split(",")]
    ref = ort_run(model, {"x": x})["logits"]
    np.testing.assert_allclose(np.asarray(values).reshape(3, 10), ref, rtol=1e-4, atol=1e-5)  # shown with 6 digits
    assert f"argmax per row: {', '.join(str(int(i)) for i in ref.argmax(1))}" in shown
    assert re.search(r"latency \d+\.\d+ ms \(mean of 5 runs\), arena \d+ bytes", latency), latency
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def _sections(wasm: bytes):
    """{section id: total payload bytes} of a .wasm file."""
    assert wasm[:4] == b"\0asm"
    pos, sizes = 8, {}
    while pos < len(wasm):
        sid = wasm[pos]
        pos += 1
        n = shift = 0
        while True:
            b = wasm[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        sizes[sid] = sizes.get(sid, 0) + n
        pos += n
    return sizes


def test_mlp_wasm_under_64kb_without_weights(examples, bundles):
    wasm = (bundles["mlp"] / "mlp.wasm").read_bytes()
    data = _sections(wasm).get(11, 0)  # data section: the weights (and a few bytes of runtime strings)
    weights = sum(int(np.prod(t.dims)) * 4 for t in examples["mlp"][0].graph.initializer)
    assert weights <= data < weights + 4096
    assert len(wasm) - data < 64 * 1024, f"{len(wasm)} bytes, {data} of data"


def test_wasm_uses_simd128(bundles):
    for name in ("mlp", "cnn", "transformer"):
        text = subprocess.run(["wasm-objdump", "-d", str(bundles[name] / f"{name}.wasm")], check=True,
                              capture_output=True, text=True).stdout
        for op in ("f32x4.mul", "f32x4.add", "v128.load", "v128.store"):
            assert op in text, (name, op)
    text = subprocess.run(["wasm-objdump", "-d", str(bundles["cnn"] / "cnn.wasm")], capture_output=True,
                          text=True).stdout
    assert "f32x4.max" in text  # pooling kernel
    assert "-msimd128" in (bundles["mlp"] / "Makefile").read_text()
    # the kernels' declared SIMD128 variant (runtime_c/src/arch/wasm32/) is compiled, not the portable file
    sources = re.search(r"^SOURCES = (.*)$", (bundles["cnn"] / "Makefile").read_text(), re.M).group(1).split()
    assert "sdk_kernels_wasm.c" in sources and "sdk_kernels.c" not in sources
    assert "-mrelaxed-simd" not in (bundles["mlp"] / "Makefile").read_text()  # relaxed SIMD off by default


NODE_API = r"""
import { Model } from '%s';
const m = await Model.load();
const res = { inputs: m.inputNames, outputs: m.outputNames, ws1: m.workspaceSize({ batch: 1 }),
              ws16: m.workspaceSize({ batch: 16 }) };
try { m.run({ x: new Float32Array(17 * 64) }, { batch: 17 }); } catch (e) { res.bounds = e.message; res.status = e.status; }
try { m.run({ x: new Float64Array(64) }, { batch: 1 }); } catch (e) { res.dtype = e.message; }
try { m.workspaceSize({ batch: 99 }); } catch (e) { res.ws = e.message; }
const out = m.run({ x: new Float32Array(2 * 64).fill(0.5) });  // batch inferred from the length
res.shape = out.logits.shape;
res.isF32 = out.logits instanceof Float32Array;
console.log(JSON.stringify(res));
"""


def test_js_api_workspace_and_errors(examples, bundles, tmp_path):
    script = tmp_path / "api.mjs"
    script.write_text(NODE_API % (bundles["mlp"] / "mlp.mjs").as_uri())
    r = subprocess.run(["node", str(script)], capture_output=True, text=True, check=True)
    res = json.loads(r.stdout)
    assert res["inputs"] == ["x"] and res["outputs"] == ["logits"]
    b = sdk.compile(examples["mlp"][0], target=TARGET, dims={"batch": 16}, name="mlp")  # the plan, no build
    assert res["ws1"] == b.workspace_size({"batch": 1}) and res["ws16"] == b.workspace_size({"batch": 16})
    assert 0 < res["ws1"] < res["ws16"]
    assert "dim out of compiled bounds" in res["bounds"] and res["status"] == 3
    assert "must be a Float32Array" in res["dtype"]
    assert "dim out of compiled bounds" in res["ws"]
    assert res["shape"] == [2, 10] and res["isF32"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_build_run_and_serve(examples, tmp_path):
    import onnx
    model_path = tmp_path / "mlp.onnx"
    onnx.save(examples["mlp"][0], model_path)
    out = tmp_path / "b"
    subprocess.run(["sdk", "build", str(model_path), "--target", TARGET, "--dim", "batch=8", "-o", str(out)],
                   check=True, capture_output=True)
    assert {"model.wasm", "model.mjs", "index.html", "run_node.mjs"} <= {p.name for p in out.iterdir()}
    feeds = random_inputs(examples["mlp"][0], {"batch": 5})
    np.savez(tmp_path / "in.npz", **feeds)
    r = subprocess.run(["sdk", "run", str(out), "--target", TARGET, "--inputs", str(tmp_path / "in.npz"), "--outputs",
                        str(tmp_path / "out.npz"), "--repeat", "3"], check=True, capture_output=True, text=True)
    assert "latency" in r.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["logits"], ort_run(examples["mlp"][0], feeds)["logits"],
                               rtol=RTOL, atol=ATOL)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sdk.cli", "serve", str(out), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        types = {}
        for _ in range(100):
            try:
                for f in ("model.wasm", "model.mjs", "index.html"):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{f}") as resp:
                        types[f] = resp.headers["Content-Type"]
                break
            except OSError:
                time.sleep(0.1)
        assert types["model.wasm"] == "application/wasm"
        assert types["model.mjs"].startswith("text/javascript")
        assert types["index.html"].startswith("text/html")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pooling_kernels_match_host_with_nan(tmp_path):
    """The SIMD pooling paths (unpadded rows, padded plane, overlapping last tile) agree with the portable kernel,
    NaN included."""
    from onnx import TensorProto as T, helper as h
    nodes = [h.make_node("MaxPool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("MaxPool", ["x"], ["b"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
             h.make_node("AveragePool", ["x"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             h.make_node("MaxPool", ["x"], ["d"], kernel_shape=[3, 2], strides=[3, 1])]
    outs = [h.make_tensor_value_info(n, T.FLOAT, None) for n in "abcd"]
    g = h.make_graph(nodes, "pools", [h.make_tensor_value_info("x", T.FLOAT, ["batch", 3, 14, 18])], outs)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    x = np.random.default_rng(5).standard_normal((2, 3, 14, 18)).astype(np.float32)
    x[0, 1, 4, 7] = np.nan
    x[1, 2, 13, 17] = np.nan
    got = sdk.compile(model, target=TARGET, dims={"batch": 2}, name="pools").run({"x": x})
    ref = sdk.compile(model, target="host", dims={"batch": 2}, name="pools").run({"x": x})
    for k in "abcd":
        assert got[k].shape == ref[k].shape
        np.testing.assert_array_equal(np.isnan(got[k]), np.isnan(ref[k]))
        assert np.isnan(got[k]).any(), k
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-6, atol=1e-6)


def test_conv_kernel_geometries_in_node(tmp_path):
    """The SIMD128 conv (im2col panels into the 4x8 micro-kernel) on kernels 1/3/5/7, strides 1/2, dilation,
    asymmetric pads, groups, channel counts off the tile, straddling columns, K over one packed block, with fused
    activations (tests/conv_cases.py), at two batch sizes."""
    from conv_cases import conv_cases_model
    model = conv_cases_model()
    b = sdk.compile(model, target=TARGET, dims={"batch": 2}, name="cc")
    out = b.save(tmp_path / "cc")
    for batch in (1, 2):
        feeds = random_inputs(model, {"batch": batch}, seed=batch)
        got, _ = WasmRunner().run(out, feeds)
        assert_outputs_close(got, ort_run(model, feeds), RTOL, ATOL)


def test_simd_epilogues_equal_the_portable_arithmetic():
    """The SIMD128 activations/residual epilogue (SDK_EPILOGUE_SIMD) gives the float32 reference of the portable
    epilogue exactly, on NaN, infinities and exp's range limits too."""
    from conv_cases import assert_epilogues_exact, epilogue_input, epilogue_model
    x = epilogue_input()
    assert_epilogues_exact(sdk.compile(epilogue_model(), target=TARGET, name="ep").run({"x": x}), x)


def test_gemm_kernel_geometries_in_node():
    """The SIMD128 GEMM (B packed 32 columns at a time, or read in place for up to 16 rows; the 4x8 micro-kernel)
    on rows off the tile (1, 5, 17, 37), columns off the 8-column panel and the 32-column block (1, 7, 31, 33,
    70), K past one packed block (300) and tiny (3), a transposed B (Gemm transB) and A (transA) with alpha, beta
    and a C, and batched activations times activations, at two batch sizes."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(11)
    inits, nodes, outs = [], [], []

    def const(name, a):
        inits.append(nh.from_array(np.asarray(a), name))
        return name

    def rows(name, m, k):  # x[:, :m, :k]
        nodes.append(h.make_node("Slice", ["x", const(f"{name}_b", np.array([0, 0], np.int64)),
                                           const(f"{name}_e", np.array([m, k], np.int64)),
                                           const(f"{name}_a", np.array([1, 2], np.int64))], [name]))
        return name

    for i, (m, k, n) in enumerate([(37, 300, 70), (37, 300, 33), (17, 300, 7), (5, 300, 31), (1, 300, 1),
                                   (37, 3, 8), (16, 300, 40), (37, 300, 8)]):
        w = const(f"w{i}", rng.standard_normal((k, n)).astype(np.float32))
        nodes.append(h.make_node("MatMul", [rows(f"s{i}", m, k), w], [f"y{i}"]))
        outs.append(f"y{i}")
    # 2-D Gemm on the first sample: transB (B read across its rows), and transA with alpha, beta and a C
    nodes.append(h.make_node("Gather", ["x", const("g0", np.array(0, np.int64))], ["x0"], axis=0))
    nodes.append(h.make_node("Gemm", ["x0", const("gb", rng.standard_normal((45, 300)).astype(np.float32))], ["g1"],
                             transB=1))
    nodes.append(h.make_node("Gemm", ["x0", const("ga", rng.standard_normal((37, 29)).astype(np.float32)),
                                      const("gc", rng.standard_normal((300, 29)).astype(np.float32))], ["g2"],
                             transA=1, alpha=0.5, beta=2.0))
    # activations times activations: [batch, 37, 300] x [batch, 300, 37]
    nodes.append(h.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]))
    nodes.append(h.make_node("MatMul", ["x", "xt"], ["aa"]))
    outs += ["g1", "g2", "aa"]
    g = h.make_graph(nodes, "gemms", [h.make_tensor_value_info("x", T.FLOAT, ["batch", 37, 300])],
                     [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs], inits)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    b = sdk.compile(model, target=TARGET, dims={"batch": 2}, name="gc")
    for batch in (1, 2):
        feeds = random_inputs(model, {"batch": batch}, seed=batch)
        assert_outputs_close(b.run(feeds), ort_run(model, feeds), 1e-4, 1e-4)
