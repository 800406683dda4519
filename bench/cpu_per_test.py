"""pytest plugin: CPU time (user+sys of the test process and its waited-for children) per test.

    PYTHONPATH=$PWD:$PWD/bench python -m pytest -p cpu_per_test --cpu-log=/tmp/cpu.tsv tests/...

Each line of the log: nodeid, wall seconds, CPU seconds (setup+call+teardown, children included). With
pytest-xdist each worker appends its own lines. bench/cpu_report.py sums the log per file and per tier.
"""
import os
import resource
import time

import pytest


def pytest_addoption(parser):
    parser.addoption("--cpu-log", default=None, help="append 'nodeid<TAB>wall<TAB>cpu' per test to this file")


def _cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    path = item.config.getoption("--cpu-log")
    t0, c0 = time.perf_counter(), _cpu()
    yield
    if path:
        with open(path, "a") as f:
            f.write(f"{item.nodeid}\t{time.perf_counter() - t0:.3f}\t{_cpu() - c0:.3f}\n")
