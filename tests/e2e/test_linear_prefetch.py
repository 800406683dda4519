"""Linear layers whose weight is stored packed (``prepack_b``) prefetch the next weight panel into L2 from each
register tile (``sdk/tune/kernels.py`` ``_mm``): ViT-S's shapes (197 rows, a ragged last row tile; K and N cut into
two blocks each, so the prefetch crosses column and depth blocks), a Gemm with transB whose last column panel is
partial (a narrow tile), ReLU applied in the registers and a residual Add in the epilogue. Against onnxruntime on
random inputs: the C bundle on 1 and 2 threads (bit-equal, warning-free) and under AddressSanitizer +
UndefinedBehaviorSanitizer on 2 threads with every product split."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4


def vit_linears():
    """y = relu(x W1 + b1) W2 + b2 + x (ViT's MLP with ReLU for GELU), z = Gemm(x, Wt^T) + c (N = 1000)."""
    rng = np.random.default_rng(13)

    def w(name, shape, fan):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32), name)

    inits = [w("W1", [384, 1536], 384), w("b1", [1536], 1), w("W2", [1536, 384], 1536), w("b2", [384], 1),
             w("Wt", [1000, 384], 384), w("c", [1000], 1)]
    nodes = [h.make_node("MatMul", ["x", "W1"], ["m1"]), h.make_node("Add", ["m1", "b1"], ["a1"]),
             h.make_node("Relu", ["a1"], ["r1"]),
             h.make_node("MatMul", ["r1", "W2"], ["m2"]), h.make_node("Add", ["m2", "b2"], ["a2"]),
             h.make_node("Add", ["a2", "x"], ["y"]),
             h.make_node("Gemm", ["x", "Wt", "c"], ["z"], transB=1)]
    return float_model(nodes, "vit_linears", {"x": [197, 384]}, {"y": [197, 384], "z": [197, 1000]}, inits)


@pytest.mark.slow
def test_prefetching_linears_match_onnxruntime(tmp_path):
    m = vit_linears()
    b = sdk.compile(m, target="host")
    gemms = [s for s in b.program.steps if (getattr(s, "generated", None) or {}).get("kind") == "gemm"]
    assert len(gemms) == 3 and all(s.generated["b_packed"] for s in gemms)
    for s in gemms:
        assert "SDK_TUNED_PREFETCH(pfa + (uintptr_t)k * pfs);" in s.impl  # in every tile's k loop
    sched = {s.outputs[0].name: s.schedule for s in gemms}
    assert any(sched[n]["nc"] < 1536 and sched[n]["kc"] < 384 for n in sched)  # blocks of N and K: the stream crosses
    feeds = random_inputs(m, {}, 3)
    ref = ort_run(m, feeds)
    out = b.save(tmp_path / "v")
    assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
    flags = SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]
    got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=True)
    assert_outputs_close(got, ref, RTOL, ATOL)
