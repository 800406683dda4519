"""Run the ONNX backend node test cases that ship with the onnx package
through sdk.compile on the host target and compare with their reference outputs.

Usage: python bench/onnx_conformance.py [-j 2] [--filter SUBSTR] [--cflags "-O1"]
A case is *attempted* when the compiler accepts its model; models rejected with
UnsupportedOp (an op or attribute value not implemented, data-dependent output
shapes, float16...) are counted separately and listed by reason.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import sys
import tempfile
import time

import numpy as np


def cases(filter_=None):
    from onnx.backend.test.case.node import collect_testcases
    out = []
    for c in collect_testcases(None):
        if filter_ and filter_ not in c.name:
            continue
        if not c.data_sets:
            continue
        out.append(c)
    return out


def run_case(c, cflags="-O1 -std=c99 -Wall -Wextra -Werror"):
    """Returns (status, detail): status in pass|fail|unsupported."""
    import sdk
    from sdk.errors import UnsupportedOp
    from sdk.runners.host import HostRunner
    try:
        b = sdk.compile(c.model, name="model")
    except UnsupportedOp as e:
        return "unsupported", str(e)
    except Exception as e:  # noqa: BLE001 - every other failure counts as a failed attempt
        return "fail", f"compile: {type(e).__name__}: {str(e)[:300]}"
    try:
        with tempfile.TemporaryDirectory() as td:
            b.save(td)
            runner = HostRunner(cflags=cflags)
            for inputs, expected in c.data_sets:
                inputs = [_arr(a) for a in inputs]
                expected = [_arr(a) for a in expected]
                feed = dict(zip(b.func.input_names, inputs))
                got, _ = runner.run(b.path, feed)
                for name, ref in zip(b.func.output_names, expected):
                    ref = np.asarray(ref)
                    y = got[name]
                    if y.shape != ref.shape:
                        return "fail", f"output {name}: shape {y.shape} != {ref.shape}"
                    if ref.dtype.kind in "fc":
                        ok = np.allclose(y.astype(np.float64), ref.astype(np.float64), rtol=c.rtol, atol=c.atol, equal_nan=True)
                    else:
                        ok = np.array_equal(y, ref.astype(y.dtype) if ref.dtype != y.dtype else ref)
                    if not ok:
                        err = np.max(np.abs(y.astype(np.float64) - ref.astype(np.float64))) if y.size else 0
                        return "fail", f"output {name}: max abs err {err:.3g} (rtol {c.rtol}, atol {c.atol})"
    except Exception as e:  # noqa: BLE001
        return "fail", f"run: {type(e).__name__}: {str(e)[:300]}"
    return "pass", ""


def _arr(a):
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(a) if isinstance(a, TensorProto) else np.asarray(a)


def _worker(args):
    name, cflags = args
    c = _CASES[name]
    t = time.time()
    st, detail = run_case(c, cflags)
    return name, st, detail, time.time() - t


_CASES = {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--filter")
    ap.add_argument("--cflags", default="-O1 -std=c99 -Wall -Wextra -Werror")
    ap.add_argument("-v", action="store_true", help="print every case")
    a = ap.parse_args(argv)
    global _CASES
    _CASES = {c.name: c for c in cases(a.filter)}
    t0 = time.time()
    with mp.Pool(a.j) as pool:
        results = list(pool.imap_unordered(_worker, [(n, a.cflags) for n in _CASES]))
    results.sort()
    by = collections.Counter(r[1] for r in results)
    attempted = by["pass"] + by["fail"]
    if a.v:
        for name, st, detail, dt in results:
            print(f"{st:12s} {name} {detail}")
    print("\nfailures:")
    for name, st, detail, _ in results:
        if st == "fail":
            print(f"  {name}: {detail}")
    reasons = collections.Counter(d.split(":")[0].replace("unsupported op ", "").split(" (node")[0]
                                  for _, st, d, _ in results if st == "unsupported")
    print("\nnot attempted (unsupported), by reason:")
    for r, n in reasons.most_common():
        print(f"  {n:4d}  {r}")
    rate = by["pass"] / attempted if attempted else 0.0
    print(f"\npassed/attempted: {by['pass']}/{attempted} ({100 * rate:.1f}%); "
          f"unsupported: {by['unsupported']}; total cases: {len(results)}; {time.time() - t0:.0f} s")
    return 0 if attempted >= 250 and rate >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
