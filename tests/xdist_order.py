"""Order of the work units under pytest-xdist (`make test`: one worker per core, `--dist loadfile`).

xdist's loadfile scheduler hands out one file at a time, files with the most tests first. The suite's cost is
not in its test count: one test (the ONNX conformance run) costs as much as a hundred others, and when such a
file comes last one worker runs it alone while the other has nothing left. This scheduler hands out the most
expensive units first (longest processing time first: the tail is then made of short units), by the CPU seconds
per file in `tests/costs.json` (measured with bench/cpu_per_test.py, which `make test` loads: its log of a whole
run, `.pytest_cpu.tsv`, is what `python bench/cpu_report.py .pytest_cpu.tsv --costs tests/costs.json` rewrites the
table from). A file not in the table counts 1 s a test.

The files in SPLIT are handed out test by test: their tests share no expensive fixture (each builds its own
sandbox or bundles), so two workers can run them side by side at no extra CPU. Every other file stays on one
worker, so its module fixtures and the per-worker session fixtures (e.g. conftest.example_bundles) are built
once, as with plain loadfile.
"""
import json
from pathlib import Path

from xdist.scheduler import LoadFileScheduling

COSTS = Path(__file__).with_name("costs.json")
SPLIT = {"tests/e2e/test_docs_commands.py", "tests/e2e/test_tune.py"}
DEFAULT_PER_TEST = 1.0


def load_costs(path=COSTS):
    """{"files": {path: [CPU seconds, tests]}, "tests": {node id: CPU seconds}} (the tests of SPLIT files)."""
    try:
        costs = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        costs = {}
    return {"files": costs.get("files", {}), "tests": costs.get("tests", {})}


def unit_of(nodeid):
    """The work unit of a test: its node id in a SPLIT file, else its file."""
    path = nodeid.split("::", 1)[0]
    return nodeid if path in SPLIT else path


def unit_cost(unit, nodeids, costs):
    """A unit's expected CPU seconds: the table's number for the file or test; a test of a SPLIT file without
    its own number gets its file's mean; anything else DEFAULT_PER_TEST a test."""
    path = unit.split("::", 1)[0]
    if unit != path and unit in costs["tests"]:
        return costs["tests"][unit]
    if path in costs["files"]:
        cpu, n = costs["files"][path]
        return cpu if unit == path else cpu / max(1, n)
    return DEFAULT_PER_TEST * len(nodeids)


class CostFirstScheduling(LoadFileScheduling):
    """loadfile with SPLIT files per test and the most expensive units handed out first."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self.costs = load_costs()

    def _split_scope(self, nodeid):
        return unit_of(nodeid)

    def schedule(self):
        # as LoadScopeScheduling.schedule, with the work queue ordered by cost instead of by test count
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self._reschedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        if not self.collection:
            return
        units = {}
        for nodeid in self.collection:
            units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
        for unit in sorted(units, key=lambda u: -unit_cost(u, units[u], self.costs)):  # stable: ties keep order
            self.workqueue[unit] = units[unit]
        for _ in range(max(0, len(self.nodes) - len(self.workqueue))):
            unused, _assigned = self.assigned_work.popitem()
            unused.shutdown()
        for node in self.nodes:
            self._assign_work_unit(node)
        for node in self.nodes:
            self._reschedule(node)
        if not self.workqueue:
            for node in self.nodes:
                node.shutdown()
