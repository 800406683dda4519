"""Auto-tuning: generated GEMM/convolution kernels are correct for sampled schedules, the search is
reproducible with a seed, the database applies (and stale records warn), and `sdk tune` + `sdk build
--db` give a bundle that matches onnxruntime."""
import json
import math
import subprocess
import sys

import numpy as np
import onnx
import pytest

import sdk
from conftest import assert_outputs_close, ort_run, random_inputs
from sdk.errors import SdkError
from sdk.targets import load_target
from sdk.tune.database import TuningDatabase
from sdk.tune import winograd
from sdk.tune.workload import workload_of
from sdk.backends.host.measure import Measurer
from sdk.tune.search import Search, Task, skey
from sdk.tune.space import SPACE_VERSION, space_of, target_facts
from sdk.tune.workload import Workload


def gemm_wl(batch=1, M=13, N=37, K=19, trans_b=False, alpha=0, C=False):
    p = dict(batch=batch, M=M, N=N, K=K, alpha=alpha, a_bs=M * K, a_rs=K, a_cs=1, b_bs=K * N if batch > 1 else 0,
             b_rs=1 if trans_b else N, b_cs=K if trans_b else 1, beta=int(C), has_C=int(C), c_rs=N if C else 0,
             c_cs=1 if C else 0)
    return Workload("gemm", tuple(sorted(p.items())))


def conv_wl(N=2, C=8, H=9, W=11, M=12, K=3, S=1, P=1, D=1, groups=1, bias=1):
    OH = (H + 2 * P - D * (K - 1) - 1) // S + 1
    OW = (W + 2 * P - D * (K - 1) - 1) // S + 1
    p = dict(N=N, C=C, H=H, W=W, M=M, OH=OH, OW=OW, KH=K, KW=K, SH=S, SW=S, PH=P, PW=P, DH=D, DW=D, groups=groups,
             has_bias=bias)
    return Workload("conv2d", tuple(sorted(p.items())))


WORKLOADS = [
    gemm_wl(), gemm_wl(trans_b=True, alpha=1), gemm_wl(batch=3, M=8, N=48, K=64, C=True),
    gemm_wl(M=1, N=10, K=16), conv_wl(), conv_wl(S=2, P=0, D=1, groups=4, M=8), conv_wl(K=1, P=0, C=16, M=24),
    conv_wl(K=3, D=2, P=2, bias=0),
]


def numpy_reference(wl, ops):
    """The workload's result from numpy (independent of the C library kernels)."""
    p = wl.p
    A, B, C = ops["A"], ops["B"], ops["C"]
    if wl.kind == "gemm":
        st = np.lib.stride_tricks.as_strided
        a = st(A, (p["batch"], p["M"], p["K"]), (4 * p["a_bs"], 4 * p["a_rs"], 4 * p["a_cs"]))
        b = st(B, (p["batch"], p["K"], p["N"]), (4 * p["b_bs"], 4 * p["b_rs"], 4 * p["b_cs"]))
        y = (0.5 if p["alpha"] else 1.0) * (a.astype(np.float64) @ b)
        if p["has_C"]:
            y = y + 0.5 * st(C, (p["M"], p["N"]), (4 * p["c_rs"], 4 * p["c_cs"]))
        return y.reshape(-1)
    n, c, h, w, m, g = p["N"], p["C"], p["H"], p["W"], p["M"], p["groups"]
    x = A.reshape(n, c, h, w).astype(np.float64)
    wt = B.reshape(m, c // g, p["KH"], p["KW"])
    xp = np.pad(x, ((0, 0), (0, 0), (p["PH"], p["PH"]), (p["PW"], p["PW"])))
    y = np.zeros((n, m, p["OH"], p["OW"]))
    for kh in range(p["KH"]):
        for kw in range(p["KW"]):
            h0, w0 = kh * p["DH"], kw * p["DW"]
            patch = xp[:, :, h0:h0 + p["SH"] * (p["OH"] - 1) + 1:p["SH"], w0:w0 + p["SW"] * (p["OW"] - 1) + 1:p["SW"]]
            for gi in range(g):
                cs, ms = slice(gi * c // g, (gi + 1) * c // g), slice(gi * m // g, (gi + 1) * m // g)
                y[:, ms] += np.einsum("nchw,mc->nmhw", patch[:, cs], wt[ms, :, kh, kw])
    if p["has_bias"]:
        y += C[:m].reshape(1, m, 1, 1)
    return y.reshape(-1)


@pytest.fixture(scope="module")
def host():
    return load_target("host")


class O2Measurer(Measurer):
    """The gcc measurer with the host profile's flags at -O2 instead of -O3. The generated kernels' loops have
    constant trip counts, which -O3 unrolls and peels completely: a batch of 3-4 sampled kernels takes 8-10 s of
    gcc at -O3 and 0.8 s at -O2 (strict aliasing, vectorisation and the rest of the optimiser that exposes
    undefined behaviour are -O2's). Tuned kernels are still built at -O3 where a bundle uses them:
    test_cli_tune_then_build runs the tuned cnn bundle's program against onnxruntime."""

    def _flags(self):
        return ["-O2" if f == "-O3" else f for f in super()._flags()]


@pytest.mark.parametrize("wl", WORKLOADS, ids=str)
def test_sampled_schedules_compute_the_right_thing(wl, host):
    """The library kernel (the measurer's check) agrees with numpy, and 6 sampled schedules plus the default
    agree with it: a wrong candidate would come back as inf with an error."""
    m = O2Measurer(host, seed=1, budget_s=1e-4, repeat=1)
    assert "-O2" in m._flags() and "-O3" not in m._flags()
    ops = m._operands(wl)
    ref = m._reference(wl, ops)
    np.testing.assert_allclose(ref, numpy_reference(wl, ops), rtol=1e-4, atol=1e-4)
    sp = space_of(wl, target_facts(host))
    rng = np.random.default_rng(0)
    scheds = [sp.default()] + [sp.sample(rng) for _ in range(6)]
    assert all(sp.valid(s) for s in scheds)
    times = m.measure(wl, scheds)
    assert m.errors == []
    assert all(math.isfinite(t) and t > 0 for t in times)


# large enough to split (SDK_PAR_MIN_WORK): wide and tall GEMMs (columns or rows split), a pointwise and a strided
# 3x3 convolution (implicit im2col), and a GEMM with K and N large enough for blocks that exceed a thread's own
# buffers (its own panels in narrower column blocks, or, kc too large even for that, the shared-panel split)
BIG_GEMM = gemm_wl(M=64, N=512, K=1024)
THREADED = [gemm_wl(M=70, N=300, K=40), gemm_wl(M=600, N=40, K=30, trans_b=True, C=True), BIG_GEMM,
            conv_wl(N=1, C=16, H=30, W=30, M=64, K=1, P=0), conv_wl(N=1, C=32, H=28, W=28, M=64, K=3, S=2, P=1)]


@pytest.mark.parametrize("wl", THREADED, ids=str)
def test_sampled_schedules_on_two_threads(wl, host, monkeypatch):
    """On 2 threads, schedules whose panels fit a thread's own buffers (``own_floats``) split Y into parts, each
    thread packing its own panels (in the schedule's column blocks, or in narrower ones, ``own_nc``, where those
    are too large); the others split each block's tiles and share the panels. Each kind, sampled, agrees with the
    library kernel and numpy (the measurer times on one thread: here it runs two)."""
    from sdk.backends.host import measure
    from sdk.tune.kernels import own_nc
    bench_fn = measure._bench_fn
    monkeypatch.setattr(measure, "_bench_fn", lambda *a, **k: bench_fn(*a, **k).replace(
        "omp_set_num_threads(1);", "omp_set_num_threads(2);"))
    m = O2Measurer(host, seed=1, budget_s=1e-4, repeat=1)
    ops = m._operands(wl)
    np.testing.assert_allclose(m._reference(wl, ops), numpy_reference(wl, ops), rtol=1e-4, atol=1e-4)
    sp = space_of(wl, target_facts(host))
    rng = np.random.default_rng(2)
    pool = [sp.default()] + [sp.sample(rng) for _ in range(40)]
    own = [s for s in pool if own_nc(s) == s["nc"]][:4]
    cut = [s for s in pool if 0 < own_nc(s) < s["nc"]][:2]
    shared = [s for s in pool if not own_nc(s)][:2]
    assert len(own) == 4 and (len(cut) == len(shared) == 2 or wl is not BIG_GEMM)
    times = m.measure(wl, own + cut + shared)
    assert m.errors == []
    assert all(math.isfinite(t) and t > 0 for t in times)


# Spatial-rows ("trans") schedules of the default (``GemmSpace._spatial_rows``): a pointwise convolution on a 7x7
# plane, and ResNet-18's 3x3 stride-2 layer on 14x14 (odd 7-pixel output rows: tiles of 7 read a zero-padded copy
# of the image through a table of column offsets, "pad"). Their kernel reads the weights packed as the build stores
# them (``pack_conv_t_const``); the measurer once passed them as they come and every such candidate was wrong (max
# error 93.7, on one thread as on two).
TRANS = [conv_wl(N=1, C=64, H=7, W=7, M=96, K=1, P=0), conv_wl(N=1, C=256, H=14, W=14, M=512, K=3, S=2, P=1),
         # the other strided ones whose output rows hold whole tiles (``_strided_rows``): ResNet-18's 3x3/2 layers
         # on 56x56 and 28x28, ViT-S's 16x16/16 patch embedding (no padding: the tiles read the image itself)
         conv_wl(N=1, C=64, H=56, W=56, M=128, K=3, S=2, P=1), conv_wl(N=1, C=128, H=28, W=28, M=256, K=3, S=2, P=1),
         conv_wl(N=1, C=3, H=224, W=224, M=384, K=16, S=16, P=0)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("wl", TRANS, ids=str)
def test_measured_spatial_rows_schedules(wl, threads, host, monkeypatch):
    """The default spatial-rows schedules, measured on one and two threads, agree with the library kernel (itself
    checked against numpy)."""
    from sdk.backends.host import measure
    bench_fn = measure._bench_fn
    monkeypatch.setattr(measure, "_bench_fn", lambda *a, **k: bench_fn(*a, **k).replace(
        "omp_set_num_threads(1);", f"omp_set_num_threads({threads});"))
    m = O2Measurer(host, seed=1, budget_s=1e-4, repeat=1)
    ops = m._operands(wl)
    np.testing.assert_allclose(m._reference(wl, ops), numpy_reference(wl, ops), rtol=1e-4, atol=1e-4)
    s = space_of(wl, target_facts(host)).default()
    assert s.get("trans") and bool(s.get("pad")) == (not wl.pointwise), s
    times = m.measure(wl, [s])
    assert m.errors == [], m.errors
    assert all(math.isfinite(t) and t > 0 for t in times)


@pytest.mark.parametrize("lanes,regs", [(None, None), (4, 16), (1, 16)])
def test_jit_measurer_schedules_compute_the_right_thing(lanes, regs, host):
    """The scheduled kernels as LLVM IR (what the JIT runs and the default measurer times): the default and
    sampled schedules of every workload, at this machine's vector width and at 4 and 1 lanes, agree with the
    NumPy reference (a wrong candidate comes back as inf with an error); its reference is the one above."""
    from sdk.backends.host.measure_jit import JitMeasurer, reference
    from sdk.tune.space import TargetFacts
    facts = target_facts(host) if lanes is None else TargetFacts("host", lanes, regs)
    m = JitMeasurer(host, seed=1, budget_s=1e-5, repeat=1)
    rng = np.random.default_rng(lanes or 0)
    for wl in WORKLOADS if lanes is None else WORKLOADS[1::2]:  # other widths: every other workload (time)
        ops, ref = m._operands(wl)
        np.testing.assert_allclose(ref, numpy_reference(wl, ops), rtol=1e-5, atol=1e-5)
        sp = space_of(wl, facts)
        scheds = [sp.default()] + [sp.sample(rng) for _ in range(4 if lanes is None else 2)]
        times = m.measure(wl, scheds)
        assert m.errors == [], m.errors
        assert all(math.isfinite(t) and t > 0 for t in times)
        # B packed beforehand (a weight, as the build stores it): also right
        if wl.kind == "gemm" and lanes is None and (wl["batch"] == 1 or wl["b_bs"] == 0):
            packed = [dict(s, pack_b=True) for s in scheds if sp.valid(dict(s, pack_b=True))]
            assert packed and all(math.isfinite(t) and t > 0 for t in m.measure(wl, packed, b_packed=True))
            assert m.errors == [], m.errors


def test_trace_mutation_stays_in_space(host):
    sp = space_of(gemm_wl(M=64, N=96, K=80), target_facts(host))
    rng = np.random.default_rng(3)
    s = sp.sample(rng)
    for _ in range(200):
        s = sp.mutate(s, rng)
        assert sp.valid(s), s


def fake_time(wl, s):
    """A deterministic stand-in for measuring: prefers big register tiles and packing."""
    if s is None:
        return 1e-3
    return 1e-4 * (1 + 1 / (s["mr"] * s["nv"]) + 0.3 * (not s["pack_b"]) + 0.01 * s["unroll"] + 1e-5 * s["kc"])


def run_fake_search(seed, host, db=None, trials=96):
    facts = target_facts(host)
    wls = [gemm_wl(M=64, N=96, K=80), gemm_wl(M=32, N=64, K=48, trans_b=True)]
    tasks = [Task(w, space_of(w, facts), w.hash("host"), sites=[f"m:t{i}"]) for i, w in enumerate(wls)]
    s = Search(tasks, lambda wl, scheds: [fake_time(wl, x) for x in scheds], "host", seed=seed, db=db)
    s.run(trials)
    return s


def test_search_is_reproducible_with_a_seed(host):
    a = [r for r in (lambda d: (run_fake_search(7, host, d), d.records)[1])(TuningDatabase())]
    b = [r for r in (lambda d: (run_fake_search(7, host, d), d.records)[1])(TuningDatabase())]
    c = [r for r in (lambda d: (run_fake_search(8, host, d), d.records)[1])(TuningDatabase())]
    key = lambda rs: [(r["hash"], json.dumps(r["schedule"], sort_keys=True)) for r in rs]  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_weight_gemms_are_measured_with_b_packed(examples, host):
    """A task whose B is a weight at every site (the build packs it once, apply.prepack_b) is measured with B packed
    beforehand; a product of two activations (attention's q k^T) is not."""
    from sdk.tune.tuner import extract_tasks
    m, _ = examples["transformer"]
    tasks = extract_tasks({"model": m}, host, {"model": {"batch": 2, "seq": 16}})
    weights = [t for t in tasks if t.wl["batch"] == 1]  # the projections: one matrix, a weight
    acts = [t for t in tasks if t.wl["batch"] > 1]      # per-head products of activations
    assert weights and acts and all(t.b_const for t in weights) and not any(t.b_const for t in acts)
    seen = []

    def measure(wl, scheds, b_packed=False):
        seen.append((wl, b_packed))
        return [fake_time(wl, s) for s in scheds]
    Search(tasks, measure, "host", seed=0, packed_b=True).run(len(tasks) * 8)
    assert {(t.wl, t.b_const) for t in tasks} == set(seen)


def test_time_budget_bounds_the_first_batches_too(host):
    """Each measurement batch takes 0.2 s here; with a 0.3 s budget the search stops after two batches, although
    three tasks have not had their first one (a model of 19 workloads once spent 22 minutes of a 300 s budget on
    first batches). The largest workload (count x multiply-adds) is measured first."""
    import time as _time
    facts = target_facts(host)
    wls = [gemm_wl(M=16, N=16, K=16), gemm_wl(M=64, N=96, K=80), gemm_wl(M=32, N=64, K=48),
           gemm_wl(M=8, N=32, K=16)]
    tasks = [Task(w, space_of(w, facts), w.hash("host"), sites=[f"m:t{i}"]) for i, w in enumerate(wls)]
    order = []

    def measure(wl, scheds):
        order.append(wl)
        _time.sleep(0.2)
        return [fake_time(wl, x) for x in scheds]
    s = Search(tasks, measure, "host", seed=0, confirm_share=0)
    s.run(10_000, time_budget_s=0.3)
    assert len(order) == 2 and order[0] is wls[1] and order[1] is wls[2]
    assert [t.wl for t in tasks if t.measured] == [wls[1], wls[2]]


def test_search_with_cost_model_beats_its_first_batch(host):
    s = run_fake_search(0, host, trials=160)
    assert s.model.ready
    for t in s.tasks:
        first = min(v for _, v in list(t.measured.values())[:8])
        assert t.best[1] < first


def test_cost_model_ranks_held_out_schedules(host):
    from sdk.tune.cost_model import CostModel
    facts = target_facts(host)
    wl = gemm_wl(M=64, N=96, K=80)
    sp = space_of(wl, facts)
    rng = np.random.default_rng(0)
    train = [sp.sample(rng) for _ in range(120)]
    test = [sp.sample(rng) for _ in range(60)]
    cm = CostModel(seed=0)
    cm.update([(wl, s, fake_time(wl, s)) for s in train])
    pred = cm.predict(wl, test)
    truth = np.array([1 / fake_time(wl, s) for s in test])
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(pred), rank(truth))[0, 1]
    assert rho > 0.7, rho


def _cnn(examples):
    """A model with both kinds of steps: GEMMs the search schedules (1x1 convolutions) and kernels a tuned build
    keeps (the grouped 3x3's direct kernel)."""
    m, _ = examples["resnext_block"]
    return m, {"batch": 2}


def _all_workloads(m, host, dims, epilogue=False):
    """(site, workload, Winograd by the profile's rule) of every GEMM/convolution step of the unscheduled program, as
    `sdk tune` lowers it; ``epilogue``: the workload with the epilogue the build fuses in (what records are keyed by)."""
    from sdk import pipeline
    from sdk.transform.epilogue import epilogue_after
    f, _ = pipeline.front(m, dims, "model", layout=pipeline.layout_options(host))
    prog = pipeline.lower(f, options=host.data.get("lower"))
    out = []
    for i, s in enumerate(prog.steps):
        wl = workload_of(s, dims)
        if wl is not None:
            out.append((f"model:{s.outputs[0].name}", wl.with_epilogue(epilogue_after(prog, i)) if epilogue else wl,
                        winograd.chosen(s, wl, host)))
    return out


def test_database_applies_and_stale_records_warn(examples, host, tmp_path):
    from sdk.tune import gconv
    from sdk.tune.space import space_of, target_facts
    from sdk.tune.tuner import extract_tasks
    m, dims = _cnn(examples)
    facts = target_facts(host)
    db_path = tmp_path / "db.jsonl"
    tasks = extract_tasks({"model": m}, host, {"model": dims})
    every = _all_workloads(m, host, dims)
    wino = {wl.hash("host") for _, wl, w in every if w}
    kept = {wl.hash("host"): gconv.schedule(wl, facts) for _, wl, w in every if not w and gconv.schedule(wl, facts)}
    # the layers of the direct kernel and of Winograd are not searched
    assert tasks and kept and wino and not (kept.keys() | wino) & {t.hash for t in tasks}
    db = TuningDatabase(db_path)
    rng = np.random.default_rng(0)
    chosen = {}
    fused = _all_workloads(m, host, dims, epilogue=True)  # records are keyed by the workload with its epilogue
    assert any(wl.epilogue for _, wl, _ in fused)
    for site, wl, _ in fused:  # a record for every step, also the kept ones (an older database, or one by hand)
        s = chosen.setdefault(wl.hash("host"), space_of(wl, facts).sample(rng))
        db.add({"hash": wl.hash("host"), "target": "host", "workload": wl.key(), "site": site,
                "space": SPACE_VERSION, "schedule": s, "cost": 1e-6, "unit": "s", "trial": 1})
    b = sdk.compile(m, "host", dims=dims, tuning_db=str(db_path))
    steps = [s for s in b.program.steps if getattr(s, "schedule", None)]
    # searched: the record of the workload with the epilogue fused into the step (the build may lower the memory-aware
    # order, where an Add's epilogue follows another convolution); kept: its own kernel (Winograd's: no schedule)
    assert len(steps) == sum(1 for _, wl, _ in every if wl.hash("host") not in wino)
    for s in steps:
        fused_wl = s.workload.with_epilogue(s.generated["epilogue"])
        assert s.schedule == kept.get(s.workload.hash("host"), chosen.get(fused_wl.hash("host"))), s.outputs[0].name
    assert sum(getattr(s, "fn", None) == "sdk_winograd_f32" for s in b.program.steps) == len(wino)
    feeds = random_inputs(m, dims)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds))
    # a record from another schedule-space version no longer fits: warning, default schedule
    stale = tmp_path / "stale.jsonl"
    recs = [json.loads(x) for x in db_path.read_text().splitlines()]
    stale.write_text("".join(json.dumps({**r, "space": SPACE_VERSION + 99}) + "\n" for r in recs))
    with pytest.warns(UserWarning, match="does not match the kernel"):
        b2 = sdk.compile(m, "host", dims=dims, tuning_db=str(stale))
    defaults = {s.workload.hash("host"): s.schedule for s in b2.program.steps if getattr(s, "schedule", None)}
    assert defaults == {wl.hash("host"): kept.get(wl.hash("host")) or space_of(wl, facts).default()
                        for _, wl, w in every if not w}
    # the model changed (other bounds -> other workloads at the same sites): warning, not an error
    with pytest.warns(UserWarning, match="for another kernel"):
        sdk.compile(m, "host", dims={"batch": 3}, tuning_db=str(db_path))


def test_gemv_rows_keep_their_kernel_with_records(examples, host, tmp_path):
    """The MLP at batch 2: two-row products run the GEMV kernel, which the search does not measure: `sdk tune` has
    nothing to search, and records of GEMM schedules for them leave the kernel in place."""
    from sdk.tune.space import space_of, target_facts
    from sdk.tune.tuner import extract_tasks
    m, _ = examples["mlp"]
    dims = {"batch": 2}
    assert extract_tasks({"model": m}, host, {"model": dims}) == []
    db = TuningDatabase()
    for site, wl, _ in _all_workloads(m, host, dims):
        db.add({"hash": wl.hash("host"), "target": "host", "workload": wl.key(), "site": site,
                "space": SPACE_VERSION, "schedule": space_of(wl, target_facts(host)).default(), "cost": 1e-6,
                "unit": "s", "trial": 1})
    b = sdk.compile(m, "host", dims=dims, tuning_db=db)
    fns = [getattr(s, "fn", None) for s in b.program.steps]
    assert fns.count("sdk_gemv_f32") == len(_all_workloads(m, host, dims)) > 0, fns
    feeds = random_inputs(m, dims)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds))


def test_corrupt_database_is_a_clear_error(examples, tmp_path):
    m, dims = _cnn(examples)
    p = tmp_path / "bad.jsonl"
    p.write_text('{"hash": "x"}\nnot json\n')
    with pytest.raises(SdkError, match="not a tuning record"):
        sdk.compile(m, "host", dims=dims, tuning_db=str(p))
    with pytest.raises(SdkError, match="not found"):
        sdk.compile(m, "host", dims=dims, tuning_db=str(tmp_path / "missing.jsonl"))


def test_cli_tune_then_build(examples, tmp_path):
    m, dims = _cnn(examples)
    model = tmp_path / "cnn.onnx"
    onnx.save(m, model)
    db, png, out = tmp_path / "db.jsonl", tmp_path / "tune.png", tmp_path / "out"
    # the whole-model walk on one knob (sdk tune --whole-model-knobs), not the profile's twelve: the slots' alignment,
    # which reaches every model
    r = subprocess.run([sys.executable, "-m", "sdk.cli", "tune", str(model), "--dim", "batch=2", "--trials", "24",
                        "--db", str(db), "--plot", str(png), "--seed", "3", "--whole-model-knobs", "memory.align"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "tuned us" in r.stdout and png.stat().st_size > 1000
    recs = [json.loads(x) for x in db.read_text().splitlines()]
    # the trials, then the confirmation of each task's two best against the default
    searched = [r for r in recs if not r.get("confirm") and not r.get("bundle") and "model" not in r]
    assert len(searched) == 24 and all(r["target"] == "host" for r in recs)
    # last, the schedules the build takes measured in the bundle against the defaults: a pair per changed workload
    checked = [r for r in recs if r.get("bundle")]
    assert len(checked) % 2 == 0 and all(sum(q["hash"] == r["hash"] for q in checked) == 2 for r in checked)
    # first, each convolution's candidate kernels measured in builds of the bundle (sdk/tune/kernel_choice.py)
    choices = [r for r in recs if "choice" in r]
    assert choices and "kernel choices of model" in r.stdout
    # at the end, the model's complete builds (untuned, tuned, near) as whole runs (sdk/tune/whole_model.py): a record
    # per candidate where two builds differ, else none (every candidate the untuned build)
    wholes = [r for r in recs if "model" in r]
    assert "whole model model:" in r.stdout
    assert not wholes or {w["schedule"]["build"] for w in wholes} == {"untuned", "tuned", "near"}, wholes
    # the walk (records with knobs) tried the named knob only
    assert {k for w in wholes for k in (w["schedule"].get("knobs") or {})} <= {"memory.align"}, wholes
    confirmed = [r for r in recs if r.get("confirm") and "choice" not in r]
    # (the two best and the default, and the profile's confirm_neighbours mutations of the default)
    extra = load_target("host").data["tune"].get("confirm_neighbours", 0)
    assert confirmed and len(confirmed) <= (3 + extra) * len({r["hash"] for r in searched})
    assert all(r["cost"] is None or r["cost"] > 0 for r in recs) and {r["unit"] for r in recs} == {"s"}
    r = subprocess.run([sys.executable, "-m", "sdk.cli", "build", str(model), "--dim", "batch=2", "--db", str(db),
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # other bounds: other workloads at the same sites -> a one-line warning, the build still succeeds
    r2 = subprocess.run([sys.executable, "-m", "sdk.cli", "build", str(model), "--dim", "batch=3", "--db", str(db),
                         "-o", str(tmp_path / "out3")], capture_output=True, text=True)
    assert r2.returncode == 0 and "sdk: warning:" in r2.stderr and "another kernel" in r2.stderr, r2.stderr
    feeds = random_inputs(m, {"batch": 2}, seed=5)
    np.savez(tmp_path / "in.npz", **feeds)
    r = subprocess.run([sys.executable, "-m", "sdk.cli", "run", str(out), "--inputs", str(tmp_path / "in.npz"),
                        "--outputs", str(tmp_path / "o.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "o.npz")
    assert_outputs_close(got, ort_run(m, feeds))


def test_cli_tune_whole_model_knobs_unknown_name(examples, tmp_path):
    """``sdk tune --whole-model-knobs`` with a knob the profile does not list: one error line naming the valid ones,
    before anything is measured (the database is not written)."""
    m, _ = _cnn(examples)
    model = tmp_path / "cnn.onnx"
    onnx.save(m, model)
    r = subprocess.run([sys.executable, "-m", "sdk.cli", "tune", str(model), "--dim", "batch=2", "--trials", "4",
                        "--db", str(tmp_path / "db.jsonl"), "--whole-model-knobs", "memory.align,layout.nchw"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "unknown knob 'layout.nchw'" in r.stderr, r.stderr
    assert all(k in r.stderr for k in load_target("host").data["tune"]["whole_model_knobs"]), r.stderr
    assert not (tmp_path / "db.jsonl").exists() or not (tmp_path / "db.jsonl").read_text()


def test_cli_tune_dry_run_lists_the_decisions(examples, tmp_path):
    """``sdk tune --dry-run``: each convolution's candidate kernels (the rule's first) and the schedule search's
    workloads, with nothing built, measured or written (no --db needed)."""
    from sdk.backends.host.step_profile import points_of
    from sdk.tune.tuner import extract_tasks
    from sdk.targets import load_target
    from sdk.tune import kernel_choice as kc
    m, dims = _cnn(examples)
    model = tmp_path / "cnn.onnx"
    onnx.save(m, model)
    r = subprocess.run([sys.executable, "-m", "sdk.cli", "tune", str(model), "--dim", "batch=2", "--dry-run"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pts = points_of(sdk.compile(m, dims={"batch": 2}, name="model"))
    tasks = extract_tasks({"model": m}, load_target("host"), {"model": {"batch": 2}})
    assert pts and f"kernel choices of model: {len(pts)} layers" in r.stdout, r.stdout
    for p in pts:  # each workload's candidates, the default first
        assert " | ".join(kc.label(c) for c in p.candidates) in r.stdout, (p, r.stdout)
    assert f"schedule search: {len(tasks)} workloads" in r.stdout
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cnn.onnx"]  # nothing written
    r = subprocess.run([sys.executable, "-m", "sdk.cli", "tune", str(model), "--dim", "batch=2"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "--db FILE" in r.stderr, r.stderr


def test_tune_rejects_untunable_target(examples):
    m, dims = _cnn(examples)
    with pytest.raises(SdkError, match="no \\[tune\\] table"):
        from sdk.tune.tuner import tune
        tune(m, "cortex-m4", dims=dims, trials=4, progress=False)


def test_tune_rejects_a_backend_without_measurer(examples, tmp_path, monkeypatch):
    """A profile with a [tune] table whose backend has no measurer (wasm here) fails with one line naming the
    backends that have one, before anything is measured."""
    from sdk import targets
    from sdk.tune.tuner import tune
    (tmp_path / "w.toml").write_text('name = "w"\nbackend = "wasm"\n[tune]\ndefault = "heuristic"\n')
    monkeypatch.setattr(targets, "TARGETS_DIR", tmp_path)
    m, dims = _cnn(examples)
    with pytest.raises(SdkError, match=r"backend 'wasm' has no tuning measurer yet \(backends with one: host, phone\)"):
        tune(m, "w", dims=dims, trials=4, progress=False)


def test_arm64_tuning_through_qemu(examples, tmp_path):
    """The phone target measures through its runner: guest instructions under qemu-aarch64; the tuned bundle
    (cross-compiled, run under qemu) matches onnxruntime."""
    from sdk.tune.tuner import tune
    m, dims = examples["cnn"][0], {"batch": 1}
    db = tmp_path / "arm.jsonl"
    s = tune(m, "android-arm64", dims=dims, trials=24, db=str(db), progress=False)
    assert s.unit == "insn"
    recs = [json.loads(x) for x in db.read_text().splitlines()]
    assert {r["unit"] for r in recs} == {"insn"} and len([r for r in recs if not r.get("confirm")]) == 24
    measured = [t for t in s.tasks if t.measured]
    assert measured and all(math.isfinite(t.best[1]) for t in measured)
    for t in measured:  # the search never loses to the library kernel or the default schedule it measured first
        assert t.best[1] <= min(t.library_s, t.default_s)
    b = sdk.compile(m, "android-arm64", dims=dims, tuning_db=str(db))
    feeds = random_inputs(m, dims, seed=2)
    assert_outputs_close(b.run(feeds), ort_run(m, feeds))


def test_database_reads_records_written_before_cost_unit(tmp_path):
    p = tmp_path / "old.jsonl"
    p.write_text(json.dumps({"hash": "h", "target": "host", "schedule": {"library": True}, "seconds": 2e-6}) + "\n")
    db = TuningDatabase(p)
    assert db.best("h", "host")["cost"] == 2e-6 and db.records[0]["unit"] == "s"


def _silu(v):
    return v / (1.0 + np.exp(-v))


@pytest.mark.parametrize("wl,epi,act", [
    (gemm_wl(M=40, N=48, K=32), ("silu", 0.0, 0.0, True), _silu),
    (gemm_wl(M=21, N=37, K=24), ("clip", 0.0, 6.0, False), lambda v: np.clip(v, 0.0, 6.0)),
    (conv_wl(K=1, P=0, C=16, M=24), ("relu", 0.0, 0.0, True), lambda v: np.maximum(v, 0.0)),
])
def test_c_measurer_times_the_kernel_with_its_epilogue(wl, epi, act, host):
    """The gcc measurer (the host's default) builds each candidate as the bundle does: the epilogue fused in (the
    activation, the residual R) and, for a weight GEMM, B packed beforehand; every candidate's output matches NumPy's
    act(product + R) (the measurer's reference, the library call then ``sdk_epilogue_f32``, checked here too)."""
    act_name, a, b, has_r = epi
    w = wl.with_epilogue((act_name, a, b, object() if has_r else None))
    assert w.hash("host") != wl.hash("host") and "epilogue" in w.key()
    m = Measurer(host, seed=4, budget_s=1e-5, repeat=1)
    sp = space_of(w, target_facts(host))
    rng = np.random.default_rng(1)
    scheds = [None, sp.default(spatial_rows=False)] + [sp.sample(rng) for _ in range(4)]
    t = m.measure(w, scheds, b_packed=wl.kind == "gemm")
    assert not m.errors and all(math.isfinite(x) and x > 0 for x in t), (m.errors, t)
    ops = m._operands(w)
    want = numpy_reference(w, ops) + (ops["R"].astype(np.float64) if has_r else 0.0)
    np.testing.assert_allclose(m._reference(w, ops), act(want), rtol=1e-4, atol=1e-4)


def test_confirmation_keeps_the_default_unless_the_winner_beats_it_by_the_margin(host):
    """After the search, each task's two best and the default are measured again; the fastest is taken only where it is
    ``margin`` faster than the default in those measurements, and all three are recorded as confirmation records."""
    for margin, want_default in ((0.99, True), (0.0, False)):
        db = TuningDatabase()
        facts = target_facts(host)
        wls = [gemm_wl(M=64, N=96, K=80), gemm_wl(M=32, N=64, K=48, trans_b=True)]
        tasks = [Task(w, space_of(w, facts), w.hash("host"), sites=[f"m:t{i}"]) for i, w in enumerate(wls)]
        s = Search(tasks, lambda wl, sc: [fake_time(wl, x) for x in sc], "host", seed=0, db=db, margin=margin)
        s.run(64)
        for t in tasks:
            best, dflt = t.best[0], t.space.default(spatial_rows=False)
            assert best != dflt and t.confirmed is not None
            assert t.chosen == (dflt if want_default else best)
            conf = {json.dumps(r["schedule"], sort_keys=True) for r in db.records if r.get("confirm") and r["hash"] == t.hash}
            assert len(conf) == 3 and {json.dumps(x, sort_keys=True) for x in (best, dflt)} <= conf


def test_default_wins_ties_in_the_database(examples, host, tmp_path):
    """A record replaces the default schedule only where it beats the default's record by the profile's tie_margin;
    confirmation records, where present, decide over the search's own; the tuned build matches onnxruntime."""
    from sdk.tune.apply import pick_record
    from sdk.tune.tuner import extract_tasks
    margin = host.data["tune"]["tie_margin"]
    assert 0 < margin < 0.2
    m, dims = _cnn(examples)
    facts = target_facts(host)
    tasks = extract_tasks({"model": m}, host, {"model": dims})
    assert tasks
    rng = np.random.default_rng(3)
    other = {}
    for t in tasks:
        d = t.space.default(spatial_rows=False)
        o = t.space.sample(rng)
        while o == d:
            o = t.space.sample(rng)
        other[t.hash] = (d, o)

    def db_with(faster, confirm=None):
        db = TuningDatabase(tmp_path / f"db{faster}{confirm}.jsonl")
        for t in tasks:
            d, o = other[t.hash]
            for s, c, extra in ((d, 1e-4, {}), (o, 1e-4 * (1 - faster), {})) + (
                    ((d, 1e-4, {"confirm": 1}), (o, 1e-4 * (1 - confirm), {"confirm": 1})) if confirm is not None
                    else ()):
                db.add({"hash": t.hash, "target": "host", "workload": t.wl.key(), "site": t.sites[0],
                        "space": SPACE_VERSION, "schedule": s, "cost": c, "unit": "s", "trial": 1, **extra})
        return db
    ok = lambda r: True  # noqa: E731
    for faster, confirm, want in ((margin / 3, None, 0), (2 * margin, None, 1), (0.5, margin / 3, 0),
                                  (0.0, 2 * margin, 1)):
        db = db_with(faster, confirm)
        for t in tasks:
            rec = pick_record(db, t.hash, "host", ok, other[t.hash][0], margin)
            assert rec["schedule"] == other[t.hash][want], (faster, confirm)
    # through a build: within the margin every searched step keeps the default schedule (the untuned build's)
    plain = sdk.compile(m, "host", dims=dims)
    tied = sdk.compile(m, "host", dims=dims, tuning_db=db_with(margin / 3))
    won = sdk.compile(m, "host", dims=dims, tuning_db=db_with(2 * margin))
    sched = lambda b: {s.outputs[0].name: s.schedule for s in b.program.steps if getattr(s, "schedule", None)}  # noqa
    assert sched(tied) == sched(plain)
    others = [o for _, o in other.values()]
    assert sched(won) != sched(plain) and any(s in others for s in sched(won).values())
    feeds = random_inputs(m, dims, seed=7)
    ref = ort_run(m, feeds)
    for b in (tied, won):
        assert_outputs_close(b.run(feeds), ref)


def test_jit_measurer_times_c_only_forms_in_gcc(host, monkeypatch):
    """A spatial-rows ("trans") or tap-plane schedule has no LLVM form (the IR kernels ignore those keys): the JIT
    measurer times it through the gcc batches, as the bundle runs it, and the other schedules of the same call
    through the JIT, each time in its own place; all agree with the reference."""
    from sdk.backends.host.measure_jit import JitMeasurer, c_only_form
    wl = TRANS[0]
    sp = space_of(wl, target_facts(host))
    trans, plain = sp.default(), sp.default(spatial_rows=False)
    assert c_only_form(trans) and not c_only_form(plain)
    m = JitMeasurer(host, seed=1, budget_s=1e-5, repeat=1)
    gcc = O2Measurer(host, seed=1, budget_s=1e-5, repeat=1)
    seen = []
    measure = gcc.measure
    monkeypatch.setattr(gcc, "measure", lambda w, s, **k: seen.append(s) or measure(w, s, **k))
    monkeypatch.setattr(m, "_c_measurer", lambda: gcc)
    times = m.measure(wl, [plain, trans, None])
    assert seen == [[trans]]
    assert m.errors == [] and gcc.errors == [], (m.errors, gcc.errors)
    assert all(math.isfinite(t) and t > 0 for t in times)


def test_confirmation_measures_neighbours_of_the_default(host):
    """With ``neighbours``, the confirmation also measures that many distinct, valid mutations of the default (one
    decision each) with the winners, and takes one that the confirmation's measurer times faster than the default by
    the margin, although the search's own measurer ranked it nowhere: what gcc runs faster is not the JIT's pick."""
    facts = target_facts(host)
    w = gemm_wl(M=64, N=96, K=80)
    task = Task(w, space_of(w, facts), w.hash("host"), sites=["m:t0"])
    dflt = task.space.default(spatial_rows=False)
    seen = []

    def confirm(wl, sc, **k):  # here every schedule the search measured runs as the default, the others faster
        seen.append(sc)
        return [1e-4 if x is None or skey(x) in task.measured else 0.8e-4 for x in sc]
    db = TuningDatabase()
    s = Search([task], lambda wl, sc: [fake_time(wl, x) for x in sc], "host", seed=0, db=db, margin=0.03,
               confirm_measure=confirm, neighbours=12)
    s.run(32)
    group = seen[0]
    assert all(g == group for g in seen) and len(seen) == 3  # the same schedules, three rounds
    neigh = group[3:]
    assert len(neigh) == 12 and len({json.dumps(x, sort_keys=True) for x in group}) == len(group)
    assert all(task.space.valid(x) and x != dflt for x in neigh)
    assert task.chosen in neigh and skey(task.chosen) not in task.measured
    conf = [r for r in db.records if r.get("confirm") and r["hash"] == task.hash]
    assert len(conf) == len(group)
