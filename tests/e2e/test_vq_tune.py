"""sdk.vq.tune: tree settings chosen on held-out (leave-one-out) queries."""
import numpy as np
import pytest

from sdk import vq
from sdk.errors import SdkError
from sdk.vq.index import index_for
from sdk.vq.tune import leave_one_out, recall_at, tune_search
from vq_data import gaussian_mixture

X = gaussian_mixture(3000, d=16)


@pytest.fixture(scope="module")
def quantizer():
    return vq.train(X, method="rvq", stages=4, bits=6, progress=False, iters=6)


def test_leave_one_out_truth_is_the_nearest_other_row():
    rows, truth = leave_one_out(X, 40, seed=3)
    assert len(set(rows)) == 40 and not np.any(truth == rows)
    d = ((X[rows][:, None, :].astype(np.float64) - X[None].astype(np.float64)) ** 2).sum(-1)
    d[np.arange(40), rows] = np.inf
    np.testing.assert_allclose(d[np.arange(40), truth], d.min(1), rtol=1e-5)
    with pytest.raises(SdkError):
        leave_one_out(X[:1], 1)


def test_tune_search_reaches_the_target_on_the_held_out_queries(quantizer):
    codes = quantizer.encode(X)
    rows, truth = leave_one_out(X, 200, seed=1)
    got = tune_search(quantizer, codes, X[rows], truth, self_ids=rows, probes=(2, 4, 8, 16, 64),
                      budgets=(50, 100, 200, 400, 800, 0))
    assert got["target"] == got["exhaustive_recall"] > 0.5
    assert got["recall"] >= got["target"] and got["qps"] > 0
    assert {c[:2] for c in got["candidates"]} == {("atree", 1), ("atree", 2), ("ivf", 1), ("ivf-spill", 1)}
    # (unlimited always reaches it) the chosen setting, searched again in Python with each query's own id dropped,
    # has the recall reported
    idx = index_for(quantizer, got["tree"], got["depth"])
    idx.add_codes(codes)
    _, ids = idx.search(X[rows], 11, nprobe=got["nprobe"] or None, budget=got["budget"] or None,
                        margin=got["margin"] or None)  # an adaptive-stop choice searched with its margin
    ids = np.array([[i for i in row if i != r][:10] for row, r in zip(ids, rows)])
    assert recall_at(ids, truth, 10) == got["recall"]
    with pytest.raises(SdkError):
        tune_search(quantizer, codes, X[rows], truth, target=1.01, probes=(2,), budgets=(50,))


def test_smallest_budget_bisects_between_grid_values():
    from sdk.vq.tune import _smallest_budget
    calls = []

    def recall(b):  # reaches 0.9 from budget 700 on (0 = unlimited: 1.0)
        calls.append(b)
        return 1.0 if b == 0 else min(1.0, b / 700 * 0.9)
    assert _smallest_budget(recall, 0.9, (250, 500, 1000, 0), refine=3) == (750, recall(750))
    assert calls[:6] == [250, 500, 1000, 750, 625, 687]  # grid, then 3 bisection steps in (500, 1000]
    assert _smallest_budget(recall, 0.9, (250, 500, 1000, 0), refine=0) == (1000, 1.0)
    assert _smallest_budget(recall, 0.95, (250, 500), refine=3) is None
    assert _smallest_budget(recall, 0.2, (250, 500), refine=3) == (250, recall(250))
