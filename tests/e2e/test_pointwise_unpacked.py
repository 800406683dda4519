"""Pointwise convolutions whose image feeds at most two register-tile rows read it in place, not through packed panels
(``sdk/tune/space.py`` ``GemmSpace.default``; SqueezeNet's 16-channel squeeze layers on 55x55): 16 and 12 output
channels (12: rows of 6, a ragged last column tile of the 48-wide panels either way), ReLU and a residual Add + ReLU
fused, a symbolic batch and plane run below the bounds (fewer than 32 tiles wide there: the edge tile). Against
onnxruntime on random inputs: the C bundle on 1 and 2 threads (bit-equal, warning-free), the in-process engine, and
under AddressSanitizer + UndefinedBehaviorSanitizer on 2 threads with every parallel path taken. So do those whose
image feeds at most 6 row tiles at K >= 64 (SqueezeNet's deeper squeezes), where a ragged column edge runs the full tile
moved left (``kernels._mm``): 27 channels from 96 (rows of 7, A packed) and 32 from 72 with the residual; a plane of
3 x 5 (15 columns, narrower than a tile: the scalar edge). The gcc measurer checks the moved tile against the
library kernel with A read in place too (rows moved up and columns left at once), K blocked, both tile orders."""
import numpy as np
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import sdk
from conftest import SANITIZE, assert_c_threads_agree, assert_outputs_close, float_model, ort_run, random_inputs
from sdk.backends.host.runner import HostRunner

RTOL, ATOL = 1e-4, 1e-4

# (name, C, M, residual + ReLU (else ReLU))
CASES = [("a", 64, 16, False), ("b", 40, 12, True), ("c", 96, 27, False), ("d", 72, 32, True)]


def pointwise_model():
    rng = np.random.default_rng(5)
    nodes, inits, ins, outs = [], [], {}, {}
    for name, C, M, res in CASES:
        ins[f"x{name}"] = ["n", C, "h", "w"]
        inits += [nh.from_array((rng.standard_normal((M, C, 1, 1)) / np.sqrt(C)).astype(np.float32), f"w{name}"),
                  nh.from_array(rng.standard_normal(M).astype(np.float32), f"b{name}")]
        nodes.append(h.make_node("Conv", [f"x{name}", f"w{name}", f"b{name}"], [f"c{name}"], kernel_shape=[1, 1]))
        if res:
            ins[f"r{name}"] = ["n", M, "h", "w"]
            nodes += [h.make_node("Add", [f"c{name}", f"r{name}"], [f"s{name}"]),
                      h.make_node("Relu", [f"s{name}"], [f"y{name}"])]
        else:
            nodes.append(h.make_node("Relu", [f"c{name}"], [f"y{name}"]))
        outs[f"y{name}"] = ["n", M, "h", "w"]
    return float_model(nodes, "pointwise", ins, outs, inits)


@pytest.mark.slow
def test_unpacked_pointwise_convs_match_onnxruntime(tmp_path):
    m = pointwise_model()
    bounds = {"n": 2, "h": 55, "w": 53}
    b = sdk.compile(m, dims=bounds)
    sched = [getattr(s, "schedule", None) for s in b.program.steps if getattr(s, "schedule", None)]
    assert len(sched) == len(CASES) and all(s["pack_b"] is False for s in sched), sched
    assert not any(getattr(s, "fn", "") == "sdk_epilogue_f32" for s in b.program.steps)  # Add + ReLU fused
    out = b.save(tmp_path / "m")
    for dims in (bounds, {"n": 1, "h": 9, "w": 13}, {"n": 1, "h": 3, "w": 5}):  # at and below the bounds
        feeds = random_inputs(m, dims, 3)
        ref = ort_run(m, feeds)
        assert_outputs_close(b.run(feeds, engine="llvm"), ref, RTOL, ATOL)
        assert_c_threads_agree(out, feeds, ref, RTOL, ATOL)
        flags = SANITIZE + ["-fopenmp", "-DSDK_PAR_MIN_WORK=1"]  # the tiles split on 2 threads
        got, _ = HostRunner(cflags=" ".join(flags), threads=2).run(out, feeds, rebuild=dims["n"] == 2)
        assert_outputs_close(got, ref, RTOL, ATOL)


def test_moved_column_edge_tiles_match_the_library_kernel():
    """Schedules with B read in place on planes that end in a partial column tile (13 x 11 = 143 = 2 x 48 + 47,
    9 x 7 = 63), M not a whole number of row tiles with A in place (the last tile moved up and left) or packed, K
    blocked (the accumulating pass) or not, both tile orders, with ReLU and with a residual: the gcc measurer runs
    each against the runtime's library convolution (a wrong result is an error and an infinite time)."""
    from sdk.backends.host.measure import Measurer
    from sdk.targets import load_target
    from sdk.tune.space import GemmSpace, target_facts
    from sdk.tune.workload import Workload
    tgt = load_target("host")
    facts = target_facts(tgt)
    m = Measurer(tgt, repeat=1, budget_s=1e-5)
    for C, M, H, W, res in ((96, 27, 13, 11, 0), (72, 20, 9, 7, 1)):
        d = dict(C=C, DH=1, DW=1, H=H, KH=1, KW=1, M=M, N=1, OH=H, OW=W, PH=0, PW=0, SH=1, SW=1, W=W, groups=1,
                 has_bias=1)
        wl = Workload("conv2d", tuple(sorted(d.items())), ("relu", 0.0, 0.0, res))
        s0 = GemmSpace(wl, facts).default()
        assert s0["pack_b"] is False, s0  # the rule: <= 6 row tiles at K >= 64
        scheds = [dict(s0, mr=8, mc=16, kc=kc, pack_a=pa, order=order, nc=H * W)
                  for kc in (C, 24) for pa in (False, True) for order in ("ij", "ji")]
        times = m.measure(wl, scheds)
        assert not m.errors, m.errors[:3]
        assert all(np.isfinite(times)), times


def test_column_order_tiles_prefetch_the_next_column_tile():
    """B read in place with tiles in column order ("ji", SqueezeNet's 16-channel squeezes on 55x55): each k step of
    the register tiles brings the next column tile's lines of row k into L1 (nv lines and the tile's last byte, an
    unaligned row's extra line), from the address the driver passes (the tile's columns + nr, a plane apart per k);
    row order ("ij") and packed B do not (the rows before read the block into L2: slower per step with it). The
    numbers of such schedules are checked by the tests above (the measurer's moved tiles take both orders)."""
    from sdk.targets import load_target
    from sdk.tune.kernels import conv_source
    from sdk.tune.space import GemmSpace, target_facts
    from sdk.tune.workload import Workload
    facts = target_facts(load_target("host"))
    d = dict(C=128, DH=1, DW=1, H=55, KH=1, KW=1, M=16, N=1, OH=55, OW=55, PH=0, PW=0, SH=1, SW=1, W=55, groups=1,
             has_bias=1)
    s0 = GemmSpace(Workload("conv2d", tuple(sorted(d.items())), ("relu", 0.0, 0.0, 0)), facts).default()
    assert (s0["pack_b"], s0["order"]) == (False, "ji"), s0
    nv, L = s0["nv"], s0["lanes"]
    src = conv_source("k", s0, pointwise=True, epilogue=("relu", 0.0, 0.0, 0))
    line = next(ln for ln in src.splitlines() if "pk = pfa + (uintptr_t)k * pfs" in ln)
    assert [f"SDK_TUNED_PREFETCH_L1(pk + {o});" in line for o in [*range(0, 64 * nv, 64), nv * L * 4 - 1]] == \
        [True] * (nv + 1), line
    assert f"(uintptr_t)(src->p + pc * src->rs + jc + jr) + {nv * L * 4}," in src  # the next column tile
    assert "pfs = (uintptr_t)src->rs * sizeof(float)" in src  # its row k: a plane further per k
    for other in (dict(s0, order="ij"), dict(s0, pack_b=True)):
        assert "SDK_TUNED_PREFETCH_L1(pk" not in conv_source("k", other, pointwise=True, epilogue=("relu", 0.0, 0.0, 0))
