"""Sum a bench/cpu_per_test.py log per tier and per file (CPU and wall seconds, test count).

    python bench/cpu_report.py /tmp/cpu.tsv [--tests N]   # N: also list the N most expensive tests
"""
import argparse
import collections


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--tests", type=int, default=0)
    a = ap.parse_args()
    rows = [(n, float(w), float(c)) for n, w, c in (ln.rstrip("\n").split("\t") for ln in open(a.log) if ln.strip())]
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
