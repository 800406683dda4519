"""The nine light model-zoo models (with random weights) match onnxruntime."""
import numpy as np
import pytest

import sdk
from conftest import ort_run, random_inputs
from zoo import ZOO, randomized


def test_zoo_is_complete():
    assert len(ZOO) == 9


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_matches_onnxruntime(name):
    model = randomized(name)
    b = sdk.compile(model, name="zoo")
    feeds = random_inputs(model, {})
    ref = ort_run(model, feeds)
    got = b.run(feeds)
    for k, r in ref.items():
        np.testing.assert_allclose(got[k], r, rtol=1e-4, atol=1e-5)
