"""Dynamic-shape memory planning: plans are tight, exact for the actual dims,
and the runtime rejects dims above the bounds and arenas that are too small."""
import json

import numpy as np
import pytest

import sdk
from conftest import SANITIZE, assert_outputs_close, ort_run, random_inputs
from sdk.errors import BuildError
from sdk.memory.plan import workspace_at
from sdk.backends.host.runner import HostRunner


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnext_block", "transformer"])
def test_arena_within_5_percent_of_lower_bound(examples, name):
    model, bounds = examples[name]
    b = sdk.compile(model, dims=bounds)
    p = b.plan
    assert p.lower_bound_bytes <= p.arena_bytes <= 1.05 * p.lower_bound_bytes
    assert p.arena_bytes < p.naive_bytes


def test_multibranch_order_beats_file_order(examples):
    model, bounds = examples["resnext_block"]
    b = sdk.compile(model, dims=bounds)
    assert b.plan.lower_bound_bytes <= b.file_order_plan.lower_bound_bytes
    # this example is written branch-heads-first, so reordering must actually help
    assert b.plan.lower_bound_bytes < b.file_order_plan.lower_bound_bytes


def test_plan_json_and_drawing(examples, tmp_path):
    model, bounds = examples["transformer"]
    out = sdk.compile(model, dims=bounds).save(tmp_path / "tb")
    plan = json.loads((out / "plan.json").read_text())
    for key in ("arena_bytes", "lower_bound_bytes", "naive_bytes", "tensors"):
        assert key in plan
    t = plan["tensors"][0]
    assert {"offset", "size", "first_use", "last_use"} <= set(t)
    # no two tensors that are alive at the same time overlap in the arena
    ts = plan["tensors"]
    for i, a in enumerate(ts):
        for c in ts[i + 1:]:
            if a["first_use"] <= c["last_use"] and c["first_use"] <= a["last_use"]:
                assert a["offset"] + a["size"] <= c["offset"] or c["offset"] + c["size"] <= a["offset"]
    from sdk.cli import main
    png = tmp_path / "plan.png"
    assert main(["inspect", str(out), "--memory", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000


@pytest.mark.slow
def test_exact_workspace_under_asan(examples, tmp_path):
    """Arena of exactly workspace_size(dims) bytes (malloc'ed, so ASan sees its end),
    for several dims; one byte less and dims above the bound give error statuses."""
    model, bounds = examples["transformer"]
    b = sdk.compile(model, dims=bounds)
    b.save(tmp_path / "tb")
    runner = HostRunner(cflags=" ".join(SANITIZE))
    runner.build(b.path)
    for batch, seq in ((1, 1), (2, 31), (4, 128)):
        feeds = random_inputs(model, {"batch": batch, "seq": seq}, seed=seq)
        got, info = runner.run(b.path, feeds)
        assert int(info["workspace_bytes"]) == workspace_at(b.plan, {"batch": batch, "seq": seq})
        np.testing.assert_allclose(got["hidden"], ort_run(model, feeds)["hidden"], rtol=1e-4, atol=1e-5)
        need = int(info["workspace_bytes"])
        with pytest.raises(BuildError, match="arena too small"):
            runner.run(b.path, feeds, arena=need - 1)
    sizes = [workspace_at(b.plan, {"batch": 1, "seq": s}) for s in (1, 32, 128)]
    assert sizes[0] < sizes[1] < sizes[2] == b.plan.arena_bytes or sizes[2] <= b.plan.arena_bytes
    with pytest.raises(BuildError, match="dim out of compiled bounds"):
        runner.run(b.path, random_inputs(model, {"batch": 1, "seq": 129}))
    with pytest.raises(BuildError, match="dim out of compiled bounds"):
        runner.run(b.path, random_inputs(model, {"batch": 5, "seq": 8}))


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnext_block"])
def test_examples_clean_under_sanitizers(examples, name, tmp_path):
    model, bounds = examples[name]
    b = sdk.compile(model, dims=bounds)
    b.save(tmp_path / name)
    runner = HostRunner(cflags=" ".join(SANITIZE))
    feeds = random_inputs(model, bounds, seed=3)
    got, _ = runner.run(b.path, feeds, rebuild=True)
    assert_outputs_close(got, ort_run(model, feeds))
