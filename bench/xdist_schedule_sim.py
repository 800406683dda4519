"""Simulate `make test`'s two xdist workers on a bench/cpu_per_test.py log: the time until the last test ends
under xdist's loadfile order (files with the most tests first) and under tests/xdist_order.py (most CPU first,
test_docs_commands/test_tune split per test), each test taking its logged CPU seconds (CI's 2 cores have no
other load, so a test's wall time there is about its CPU time).

    python bench/xdist_schedule_sim.py /tmp/cpu.tsv [--workers 2] [--costs tests/costs.json ...]

The "most CPU first" row orders the units by the log's own seconds (the order a current table would give); each
--costs table adds a row with the order that table gives (tests/xdist_order.py's unit_cost: what a run that read
it did, e.g. a table measured before the suite grew).

xdist's rule is kept: a worker is given the next unit once it has at most 2 tests not finished.
"""
import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from xdist_order import load_costs, unit_cost, unit_of  # noqa: E402


def simulate(units, workers):
    """units: [(name, [test seconds])] in hand-out order. Returns (makespan, per-worker busy seconds)."""
    queue = collections.deque(units)
    pending = [collections.deque() for _ in range(workers)]
    clock = [0.0] * workers

    def refill(w):
        while queue and len(pending[w]) <= 2:
            pending[w].extend(queue.popleft()[1])
    for w in range(workers):
        refill(w)
    while any(pending):
        w = min((k for k in range(workers) if pending[k]), key=lambda k: clock[k])
        clock[w] += pending[w].popleft()
        refill(w)
    return max(clock), clock


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--costs", action="append", default=[], help="a tests/costs.json to order the units by")
    a = ap.parse_args()
    rows = [(n, float(c)) for n, _w, c in (ln.rstrip("\n").split("\t") for ln in open(a.log) if ln.strip())]
    by_file, by_unit = collections.OrderedDict(), collections.OrderedDict()
    for n, c in rows:
        by_file.setdefault(n.split("::")[0], []).append(c)
        by_unit.setdefault(unit_of(n), []).append(c)
    total = sum(c for _, c in rows)
    default = sorted(by_file.items(), key=lambda kv: -len(kv[1]))  # xdist: most tests first (stable)
    costly = sorted(by_unit.items(), key=lambda kv: -sum(kv[1]))
    print(f"{len(rows)} tests, {total:.0f} CPU s; {a.workers} workers: at best {total / a.workers:.0f} s, "
          f"longest test {max(c for _, c in rows):.0f} s")
    print("| order | last test ends (s) | busy per worker (s) |\n| --- | ---: | --- |")
    orders = [("loadfile (most tests first)", default), ("tests/xdist_order.py (most CPU first)", costly)]
    for path in a.costs:
        table = load_costs(path)
        orders.append((f"tests/xdist_order.py by {path}",
                       sorted(by_unit.items(), key=lambda kv: -unit_cost(kv[0], kv[1], table))))
    for name, units in orders:
        span, clock = simulate(units, a.workers)
        print(f"| {name} | {span:.0f} | {', '.join(f'{c:.0f}' for c in clock)} |")


if __name__ == "__main__":
    main()
