"""Sum a bench/cpu_per_test.py log per tier and per file (CPU and wall seconds, test count).

    python bench/cpu_report.py /tmp/cpu.tsv [--tests N]   # N: also list the N most expensive tests
    python bench/cpu_report.py /tmp/cpu.tsv --costs tests/costs.json  # rewrite the xdist order's cost table

A log of the whole suite (`pytest -p cpu_per_test --cpu-log=LOG tests`) is what `--costs` should read: the
table is replaced, not merged (a file missing from the log would fall back to 1 s a test).
"""
import argparse
import collections
import json
import os
import sys


def write_costs(rows, path):
    """tests/costs.json for tests/xdist_order.py: CPU seconds and test count per file, and per test for the
    files it hands out test by test."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from xdist_order import SPLIT
    files = collections.defaultdict(lambda: [0.0, 0])
    tests = {}
    for n, _w, c in rows:
        f = n.split("::")[0]
        files[f][0] += c
        files[f][1] += 1
        if f in SPLIT:
            tests[n] = round(c, 1)
    body = lambda d: ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(d.items()))  # noqa: E731
    with open(path, "w") as fh:  # one entry a line: diffs of a re-measure stay readable
        fh.write('{"files": {\n' + body({f: [round(c, 1), k] for f, (c, k) in files.items()}) + '},\n"tests": {\n'
                 + body(tests) + "}}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--tests", type=int, default=0)
    ap.add_argument("--costs", help="write the per-file (and SPLIT files' per-test) CPU seconds to this JSON")
    a = ap.parse_args()
    rows = [(n, float(w), float(c)) for n, w, c in (ln.rstrip("\n").split("\t") for ln in open(a.log) if ln.strip())]
    if a.costs:
        write_costs(rows, a.costs)
    for title, key in (("tier", lambda n: "/".join(n.split("/")[:2])), ("file", lambda n: n.split("::")[0])):
        agg = collections.defaultdict(lambda: [0.0, 0.0, 0])
        for n, w, c in rows:
            agg[key(n)][0] += c
            agg[key(n)][1] += w
            agg[key(n)][2] += 1
        print(f"| {title} | CPU s | wall s | tests |\n| --- | ---: | ---: | ---: |")
        for k, (c, w, n) in sorted(agg.items(), key=lambda kv: -kv[1][0]):
            print(f"| {k} | {c:.1f} | {w:.1f} | {n} |")
        print()
    if a.tests:
        print("| test | CPU s | wall s |\n| --- | ---: | ---: |")
        for n, w, c in sorted(rows, key=lambda r: -r[2])[:a.tests]:
            print(f"| {n} | {c:.1f} | {w:.1f} |")


if __name__ == "__main__":
    main()
