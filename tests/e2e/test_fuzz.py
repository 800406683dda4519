"""Bounded fuzzing in CI (issue 16): libFuzzer + ASan/UBSan on the C parsers, hypothesis on the Python entry
points, per-input timeouts (a hang is a failure). The long run is `python bench/fuzz.py` (docs/reliability.md)."""
import os
import shutil
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench"))
import fuzz  # noqa: E402

import sdk  # noqa: E402
from sdk.errors import FormatError, ImportError_  # noqa: E402

C_SECONDS = 12       # per C target
PY_SECONDS = 10      # per Python target


@pytest.fixture(scope="module")
def c_fuzzers(tmp_path_factory):
    if shutil.which(fuzz.CLANG) is None:
        pytest.fail(f"{fuzz.CLANG} missing: run 'make setup' (apt: clang libclang-rt-14-dev)")
    return fuzz.build_c(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.slow
@pytest.mark.parametrize("target", fuzz.C_TARGETS)
def test_c_parser_fuzz(c_fuzzers, target):
    r = fuzz.run_c(*c_fuzzers[target], seconds=C_SECONDS)
    assert r["ok"], r["log"]
    assert r["execs"] > 1000, r["log"]  # it really ran


@pytest.mark.parametrize("target", fuzz.PY_TARGETS)
def test_python_entry_point_fuzz(target):
    r = fuzz.run_py(target, examples=100_000, seconds=PY_SECONDS, derandomize=True)  # CI: the same inputs each run
    assert r["ok"], r["log"]
    assert r["execs"] >= 50


def test_fuzz_findings_stay_fixed():
    """Inputs the fuzzers found, each once a crash: now a FormatError/ImportError_."""
    import struct
    from sdk.tensorfile import parse_tensor
    with pytest.raises(FormatError, match="too large"):  # numpy could not even describe the array
        parse_tensor(b"SDKT" + struct.pack("<Iii", 1, 1, 3) + struct.pack("<3q", 0, 2**62, 2**62))
    with pytest.raises(FormatError, match="negative"):
        parse_tensor(b"SDKT" + struct.pack("<Iii", 1, 1, 1) + struct.pack("<q", -1))
    m = fuzz._mlp()
    raw = m.SerializeToString()
    name = m.graph.node[1].output[0].encode()
    with pytest.raises(ImportError_, match="UTF-8"):  # a bit flip inside a tensor name
        sdk.compile(raw.replace(name, b"\xb6" + name[1:]), dims={"batch": 2})
    bad_attr = h.make_model(h.make_graph(
        [h.make_node("Cast", ["x"], ["y"], to=1), ], "g", [h.make_tensor_value_info("x", T.FLOAT, [2])],
        [h.make_tensor_value_info("y", T.FLOAT, [2])]), opset_imports=[h.make_opsetid("", 17)])
    bad_attr.graph.node[0].attribute.append(h.make_attribute("mode", "ok"))
    bad_attr.graph.node[0].attribute[-1].s = b"\xff\xfe"
    with pytest.raises(ImportError_, match="attribute 'mode'"):
        sdk.compile(bad_attr)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/hostname", "sub/../../outside.bin"])
def test_external_data_cannot_escape_the_model_folder(tmp_path, location):
    (tmp_path / "outside.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    w = h.make_tensor("w", T.FLOAT, [4], [0, 0, 0, 0])
    w.ClearField("float_data")
    w.data_location = T.EXTERNAL
    e = w.external_data.add()
    e.key, e.value = "location", location
    g = h.make_graph([h.make_node("Add", ["x", "w"], ["y"])], "g", [h.make_tensor_value_info("x", T.FLOAT, [4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [4])], [w])
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "model.onnx"
    path.write_bytes(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]).SerializeToString())
    for model in (str(path), path.read_bytes()):
        with pytest.raises(ImportError_, match="outside|cannot read|not a valid"):
            sdk.compile(model)


def test_onnx_node_with_more_outputs_than_its_op():
    """Found by atheris: a node naming more outputs than its op produces was an IndexError."""
    m = fuzz._mlp()
    m.graph.node[1].output.append("extra")
    with pytest.raises(ImportError_, match="2 outputs, the op has 1"):
        sdk.compile(m, dims={"batch": 2})


def test_more_fuzz_findings():
    """Found by the random-mutation run of the ONNX importer target."""
    import time
    from sdk.errors import ShapeError
    from sdk.tune.space import _divisors
    t0 = time.monotonic()
    assert _divisors(2**62)[:3] == [1, 2, 4] and 2**62 in _divisors(2**62)  # was a hang (sqrt(2^62) steps)
    assert time.monotonic() - t0 < 1
    shape = h.make_tensor("s", T.INT64, [2], [0, -1])
    g = h.make_graph([h.make_node("Reshape", ["x", "s"], ["y"], allowzero=1)], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [2, 3])], [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [shape])
    with pytest.raises(ShapeError, match="zero-sized"):  # was ZeroDivisionError
        sdk.compile(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
