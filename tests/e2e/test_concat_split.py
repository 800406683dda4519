"""A Concat along an outer axis is printed as one copy loop per input (sdk/codegen/c.py split_loops). Four inputs of
two widths along the channels of a [batch, C, H, W] tensor (resnext_block's pattern), the C bundle against
onnxruntime on random inputs. The bug this guards (the last input's inner loop started at the first input's end and
wrote nothing: a freed loop's id reused) depends on object ids; test_memory's resnext_block sanitizer build showed it
every time, this small model does not always."""
import re

import numpy as np
from onnx import helper as h

import sdk
from conftest import assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner


def test_concat_of_four_along_channels(tmp_path):
    ins = {"a": ["n", 32, 5, 7], "b": ["n", 32, 5, 7], "c": ["n", 16, 5, 7], "d": ["n", 16, 5, 7]}
    m = float_model([h.make_node("Concat", list(ins), ["y"], axis=1)], "cat", ins, {"y": ["n", 96, 5, 7]}, [])
    b = sdk.compile(m, dims={"n": 3}, name="cat")
    out = b.save(tmp_path / "cat")
    src = (out / "cat.c").read_text()
    body = src[src.index("k_Concat"):]
    assert len(re.findall(r"for \(int64_t i1 = ", body)) == 4  # one loop per input
    assert not re.search(r"for \(int64_t i[23] = [^0]", body)  # the inner loops start at 0
    feeds = random_inputs(m, {"n": 2}, 4)
    got, _ = HostRunner(threads=1).run(out, feeds)
    assert_outputs_close(got, ort_run(m, feeds), 0, 0)
