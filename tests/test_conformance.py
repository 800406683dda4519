"""ONNX backend node tests (shipped with the onnx package) through sdk.compile."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))


@pytest.mark.slow
def test_onnx_node_conformance(capsys):
    import onnx_conformance
    rc = onnx_conformance.main(["-j", str(os.cpu_count() or 1)])
    out = capsys.readouterr().out
    summary = [ln for ln in out.splitlines() if ln.startswith("passed/attempted")][0]
    passed, attempted = (int(x) for x in summary.split()[1].split("/"))
    assert attempted >= 250, summary
    assert passed >= 0.95 * attempted, out[-3000:]
    assert rc == 0
