"""Scheduled GEMM kernels are generated once per distinct kernel text (sdk/tune/apply.py): a stack of identical
layers (a transformer's 12 layers) calls one C function per shape, not one copy per call; the bundle still matches
onnxruntime, at one thread and two."""
import re

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from sdk.backends.host.runner import HostRunner


def _stack(layers=4, width=48, out=24, seed=0):
    """``layers`` x (MatMul [width, width] + bias + Relu), then a MatMul to ``out`` columns; dynamic rows."""
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    for k in range(layers):
        inits += [nh.from_array((rng.standard_normal((width, width)) / width ** 0.5).astype(np.float32), f"W{k}"),
                  nh.from_array(rng.standard_normal(width).astype(np.float32), f"b{k}")]
        nodes += [h.make_node("MatMul", [x, f"W{k}"], [f"m{k}"]), h.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"]),
                  h.make_node("Relu", [f"a{k}"], [f"r{k}"])]
        x = f"r{k}"
    inits.append(nh.from_array(rng.standard_normal((width, out)).astype(np.float32), "Wo"))
    nodes.append(h.make_node("MatMul", [x, "Wo"], ["y"]))
    g = h.make_graph(nodes, "stack", [h.make_tensor_value_info("x", T.FLOAT, ["rows", width])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["rows", out])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("threads", [1, 2])
def test_identical_layers_share_one_kernel(tmp_path, threads):
    m = _stack()
    b = sdk.compile(m, target="host", dims={"rows": 40})
    out = b.save(tmp_path / "b")
    from conftest import scheduled_kernels_c
    tuned = scheduled_kernels_c(out)
    defined = re.findall(r"^static void (model_tk\d+)\(", tuned, re.M)
    units = sorted(p.stem for p in out.glob("model_tk*.c"))  # [codegen] kernel_units: one file per kernel
    called = re.findall(r"\b(model_tk\d+)(?:_site)?\(", (out / "model.c").read_text())
    if units:  # model.c calls each site's wrapper; the wrappers call the kernels
        assert units == sorted(defined), (units, defined)
        called_k = re.findall(r"^  (model_tk\d+)\(", tuned, re.M)
        assert sorted(set(called_k)) == sorted(defined) and len(called_k) == len(called), (called_k, called)
    else:
        called_k = called
    assert len(called) == 5, called  # every product is a scheduled kernel call
    assert len(defined) == len(set(defined)) == len(set(called_k)), (defined, called_k)  # each defined once, all used
    assert len(defined) < len(called)  # the four identical layers share a kernel
    x = np.random.default_rng(1).standard_normal((37, 48)).astype(np.float32)  # odd rows below the bound
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = b.run({"x": x}, runner=HostRunner(threads=threads), engine="c")["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_units_match_the_one_file_build(tmp_path, threads):
    """sdk tune's variant builds (``with_kernel_units``, ``[codegen] kernel_units``): each scheduled kernel in its own
    unit with one wrapper per call site; the kernels' text is the one-file build's, the bundle builds warning-free
    (-Werror) and gives the one-file bundle's outputs bit for bit, at one thread and two."""
    from sdk.backends.host.step_profile import with_kernel_units
    m = _stack()
    one = sdk.compile(m, target="host", dims={"rows": 40})
    split = with_kernel_units(sdk.compile(m, target="host", dims={"rows": 40}))
    units = sorted(f for f in split.sources if f.startswith("model_tk") and f.endswith(".c"))
    assert units and "model_tuned.h" in one.sources and not any(f.startswith("model_tk") for f in one.sources)
    tuned = one.sources["model_tuned.h"]
    for u in units:  # the kernel's own text, as in the one-file header
        fn = u[:-2]
        body = split.sources[u].split(f"static void {fn}(", 1)[1].split(f"void {fn}_site(", 1)[0]
        assert tuned.split(f"static void {fn}(", 1)[1].startswith(body.rstrip()[:2000]), u
    calls = re.findall(r"\b(model_tk\d+)_site\(", split.sources["model.c"])
    assert len(calls) == 5 and len(units) < len(calls)  # a wrapper per call site, a unit per kernel text
    x = np.random.default_rng(2).standard_normal((33, 48)).astype(np.float32)
    runner = HostRunner(threads=threads, extra_cflags=["-Werror"])
    a = one.run({"x": x}, runner=runner, engine="c")["y"]
    b = split.run({"x": x}, runner=runner, engine="c")["y"]
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(b, ref, rtol=1e-4, atol=1e-4)
    assert np.array_equal(a, b)
