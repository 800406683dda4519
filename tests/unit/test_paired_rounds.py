"""bench/paired_rounds.py: the paired rounds bench/zoo_latency.py --interleave times sdk and onnxruntime in, and the
median of the per-round ratios with its order-statistic interval."""
import importlib.util
import math
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _mod(name):
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_median_ci_ranks_of_sixteen_samples():
    m = _mod("paired_rounds")
    # n = 16: P(Binomial(16, 1/2) <= 3) = 697/65536 = 0.011 <= 0.025 < P(<= 4) = 0.038: the 4th and 13th smallest
    xs = list(range(1, 17))
    random.Random(1).shuffle(xs)
    assert m.median_ci(xs) == (8.5, 4, 13)
    assert m.median_ci([3.0]) == (3.0, 3.0, 3.0)
    assert m.median_ci([5, 1, 4, 2, 3]) == (3, 1, 5)  # n = 5 cannot reach 95 %: the whole range
    with pytest.raises(ValueError):
        m.median_ci([])


def test_median_ci_covers_the_true_ratio_at_its_stated_rate():
    m = _mod("paired_rounds")
    rng = random.Random(7)
    true, hits, widths = 0.7, 0, []
    for _ in range(400):
        # per-round ratios: the true ratio times lognormal noise (8 % spread) and an occasional preempted round
        xs = [true * math.exp(rng.gauss(0, 0.08)) * (1.6 if rng.random() < 0.1 else 1.0) for _ in range(16)]
        med, lo, hi = m.median_ci(xs)
        assert lo <= med <= hi
        widths.append(hi - lo)
        hits += lo <= true <= hi
    # the contamination moves the population median up a little: coverage stays near the nominal 97.9 % of n = 16
    assert hits / 400 >= 0.85, hits
    assert sorted(widths)[200] < 0.15  # the interval is narrow enough to tell 0.70 from 0.78


def test_paired_rounds_swap_the_order_and_time_only_the_block():
    m = _mod("paired_rounds")
    now = [0.0]
    calls = []

    def peer(name, cost):
        def f():
            calls.append(name)
            now[0] += cost
        return f

    slept = []
    ta, tb = m.paired_rounds(peer("a", 1.0), peer("b", 2.0), rounds=4, k=3, clock=lambda: now[0], pause=0.5,
                             sleep=slept.append)
    # per block: one untimed call, then k timed ones; the order swaps round by round
    assert calls == ["a"] * 4 + ["b"] * 4 + ["b"] * 4 + ["a"] * 4 + ["a"] * 4 + ["b"] * 4 + ["b"] * 4 + ["a"] * 4
    assert ta == [[1.0] * 3] * 4 and tb == [[2.0] * 3] * 4
    assert slept == [0.5] * 8
    assert m.round_ratios(ta, tb) == [0.5] * 4
    assert m.geomean([0.5, 2.0]) == pytest.approx(1.0)


def test_zoo_plan_fills_the_budget():
    z = _mod("zoo_latency")
    # a 3 ms pair and 6 s: 16 rounds of (1 + 124) runs of each peer
    assert z.plan_rounds(0.003, 16, 6.0) == (16, 124)
    # a 125 ms pair (ConvNeXt-T): still 16 rounds, 2 timed runs; a 1 s pair: 5 rounds at least
    assert z.plan_rounds(0.125, 16, 6.0) == (16, 2)
    assert z.plan_rounds(1.0, 16, 6.0) == (5, 2)


def test_zoo_table_reports_the_paired_ratio_and_its_interval():
    z = _mod("zoo_latency")
    row = {"model": "m", "sdk": 2.0, "sdk_min": 1.9, "ort1": 2.5, "ort1_min": 2.4, "sdkN": 1.1, "sdkN_min": 1.0,
           "ortN": 1.3, "ortN_min": 1.2, "arena": 4096, "ok": "yes", "n": "16x9", "load0": 1.0, "load1": 1.2,
           "ratio1": (0.71, 0.69, 0.74), "ratioN": (0.83, 0.8, 0.9), "aa_ort1": (1.004, 0.99, 1.02),
           "aa_sdk1": (0.998, 0.98, 1.01), "aa_ortN": (1.01, 0.97, 1.05), "aa_sdkN": (0.99, 0.95, 1.03)}
    lines = z.table([row]).splitlines()
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert cells[head.index("sdk/ort 1t")] == "0.71"  # the per-round median, not 2.0 / 2.5
    assert cells[head.index("sdk/ort 1t 95% CI")] == "0.69-0.74"
    assert cells[head.index("A/A sdk 1t (CI)")] == "0.998 (0.98-1.01)"
    assert "1 thread 0.71" in lines[-2] and "sdk/sdk 1t 0.998" in lines[-1]


def test_zoo_sdk_call_keeps_its_output_buffers_alive():
    # the A/A control dropped the returned outputs (sdk_b, _ = sdk_call(...)): the bound call must keep them, or
    # model_run writes into freed numpy memory (a heap corruption that onnxruntime's next allocation tripped over)
    import inspect
    z = _mod("zoo_latency")
    src = inspect.getsource(z.sdk_call)
    assert "call.keep = (xs, ys," in src
