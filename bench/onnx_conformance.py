"""Run every ONNX backend node test case shipped with the onnx package (1,884 in onnx 1.23) through
sdk.compile on the host target, build and run each bundle, and compare with the case's reference outputs.

Usage: python bench/onnx_conformance.py [-j 2] [-k SUBSTR ...] [--op OP ...] [--json results.json] [-v]

Each case ends in one of four states, and the summary counts all of them against the TOTAL:
- pass:        every output has the reference's shape and dtype and matches it (the case's rtol/atol;
               for float16/bfloat16 outputs rtol >= two ulps of the type, see HALF_RTOL);
- wrong:       the bundle ran but an output differs (value, shape, dtype or count) -- a failure;
- error:       compiling (other than an UnsupportedOp), building or running failed -- a failure;
- unsupported: the compiler rejected the model with UnsupportedOp; listed by a short reason.
Every case not passed is listed with its reason.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import re
import sys
import tempfile
import time

import numpy as np

CFLAGS = "-O1 -std=c99 -Wall -Wextra -Werror"
# 16-bit float outputs are compared with rtol >= two ulps of their type: onnx's reference rounds intermediates
# to 16 bits in other places than the generated code (which accumulates in float32), and the cases' rtol (1e-3)
# is about one float16 ulp and finer than bfloat16's. Measured: on test_attention_4d_causal_bf16_expanded both
# are ~1.2 ulps from the float64 result; on test_attention_4d_causal_fp16 the generated code is closer to it
# (max abs err 4.2e-4) than the reference (4.9e-4), and 2 ulps from it.
HALF_RTOL = {"float16": 2.0 ** -9, "bfloat16": 2.0 ** -6}
TRAINING_DOMAIN = "ai.onnx.preview.training"
# Cases whose reference carries float32 rounding at outputs that are exactly 0, below the case's atol of 1e-7:
# the atol given here, measured. test_dft_inverse_opset19: onnx's reference is a float32 FFT, 1.9e-7 where the
# exact inverse (numpy's float64 ifft of the same input) is 0; outputs reach 54 (a float32 ulp is 3.8e-6 there);
# sdk's float32 basis product errs at most 3.8e-6, onnxruntime's DFT 1.9e-5 (2026-12-06).
REFERENCE_ATOL = {"test_dft_inverse_opset19": 1e-5}


def cases(names=None, ops=None):
    """The node test cases, optionally only those whose name contains one of ``names`` or whose
    graph uses one of ``ops``."""
    import warnings
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case generators overflow on purpose (casts to narrow types)
        all_cases = collect_testcases(None)
    out = []
    for c in all_cases:
        if names and not any(s in c.name for s in names):
            continue
        if ops and not {n.op_type for n in c.model.graph.node} & set(ops):
            continue
        out.append(c)
    return out


# ------------------------------------------------------------------ reasons
_LOWBIT = ("float8", "float4", "int4", "uint4", "int2", "uint2")


def _sdk_dtype(code) -> str:
    from onnx import helper
    from sdk.ir.dtypes import dtype_name
    return dtype_name(helper.tensor_dtype_to_np_dtype(code))


def model_reason(model):
    """A reason known from the model alone (types the compiler has no storage for), or None."""
    from onnx import TensorProto
    from sdk.ir.dtypes import DTYPES
    for n in model.graph.node:
        if n.domain == TRAINING_DOMAIN:
            return "training ops (ai.onnx.preview.training)"
    for vi in list(model.graph.input) + list(model.graph.output):
        kind = vi.type.WhichOneof("value")
        if kind in ("sequence_type", "optional_type", "map_type", "sparse_tensor_type"):
            return "sequence/optional/map types"
        if kind == "tensor_type":
            dt = TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower()
            if dt == "string":
                return "string tensors"
            if dt.startswith(_LOWBIT) and _sdk_dtype(vi.type.tensor_type.elem_type) not in DTYPES:
                return "float8/4-bit/2-bit formats"
            if dt.startswith("complex"):
                return "complex tensors"
    return None


def unsupported_reason(msg: str) -> str:
    """A short reason from an UnsupportedOp message ("unsupported op X (node 'n'): detail")."""
    m = re.match(r"unsupported op (dtype \S+|input dtype \S+|non-tensor input|\S+)(?: \(node '.*?'\))?(?:: (.*))?$",
                 msg, re.S)
    if not m:
        return msg[:80]
    op, detail = m.group(1), (m.group(2) or "").strip()
    if not detail:
        if op.startswith("dtype ") or op.startswith("input dtype"):
            return op.replace("input ", "")
        if op == "non-tensor input":
            return "sequence/optional/map types"
        return f"op {op} not implemented"
    if "known at compile time" in detail or "must be constants" in detail or "must be a constant" in detail:
        return f"run-time tensor as a shape/attribute input ({op})"
    if "training" in detail:
        return f"training mode ({op})"
    detail = re.sub(r"'[^']*'", "'...'", detail)
    detail = re.sub(r"\d+", "N", detail)
    return f"{op}: {detail[:70]}"


# ------------------------------------------------------------------ one case
def _arr(a):
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(a) if isinstance(a, TensorProto) else np.asarray(a)


def _dtname(a) -> str:
    return "bool" if a.dtype == np.bool_ else a.dtype.name


def compare(got: dict, names, expected, rtol, atol):
    """None if every output matches, else what differs."""
    if len(names) != len(expected):
        return f"{len(names)} outputs, the reference has {len(expected)}"
    for name, ref in zip(names, expected):
        ref = _arr(ref)
        y = got[name]
        if y.shape != ref.shape:
            return f"output {name}: shape {y.shape} != {ref.shape}"
        if _dtname(y) != _dtname(ref):
            return f"output {name}: dtype {_dtname(y)} != {_dtname(ref)}"
        if ref.dtype.kind in "iub":
            if not np.array_equal(y, ref):
                bad = int(np.sum(y != ref))
                return f"output {name}: {bad} of {ref.size} elements differ"
            continue
        y64, r64 = y.astype(np.float64), ref.astype(np.float64)
        tol = max(rtol, HALF_RTOL.get(_dtname(ref), 0.0))
        if not np.allclose(y64, r64, rtol=tol, atol=atol, equal_nan=True):
            err = np.nanmax(np.abs(y64 - r64)) if y.size else 0.0
            return f"output {name}: max abs err {err:.3g} (rtol {tol}, atol {atol})"
    return None


_OBJS = {}  # (file name, sha1 of its text, cflags) -> object file, built once per process


def build_bundle(out, cflags=CFLAGS):
    """Build the bundle's demo program like its Makefile does, but with the runtime's sources (the same for
    every case) compiled once per process; the model's sources and main.c (it includes model.h) every time, each
    to its own object (``-c``) and then linked: a compiler cache (ccache, as `make test` puts in front of gcc)
    can reuse a separate compile, not one that compiles and links in one command."""
    import hashlib
    import os
    import subprocess
    from pathlib import Path
    from sdk.resources import RUNTIME
    from sdk.errors import BuildError
    out = Path(out)
    name = json.loads((out / "bundle.json").read_text())["name"]
    objs = []
    for src in sorted(out.glob("*.c")) + sorted(out.glob("*.S")):
        if not (RUNTIME / "src" / src.name).exists():  # the model's own sources
            obj = src.stem + ".o"
            r = subprocess.run(["gcc", *cflags.split(), "-I.", "-c", src.name, "-o", obj], capture_output=True,
                               text=True, cwd=out, env=dict(os.environ, LC_ALL="C"))
            if r.returncode:
                raise BuildError(f"building {out} failed:\n{r.stderr[-2000:]}")
            objs.append(obj)
            continue
        key = (src.name, hashlib.sha1(src.read_bytes()).hexdigest(), cflags)
        if key not in _OBJS:
            obj = Path(tempfile.mkdtemp(prefix="sdk_obj_")) / (src.stem + ".o")
            cmd = ["gcc", *cflags.split(), "-I.", "-c", src.name, "-o", str(obj)]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
            if r.returncode:
                raise BuildError(f"building {src.name} failed:\n{r.stderr[-2000:]}")
            _OBJS[key] = str(obj)
        objs.append(_OBJS[key])
    cmd = ["gcc", *cflags.split(), "-I.", "-o", f"{name}_main", *objs, "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=out, env=dict(os.environ, LC_ALL="C"))
    if r.returncode:
        raise BuildError(f"building {out} failed:\n{r.stderr[-2000:]}")


def compile_with_runtime_bounds(c, sdk):
    """sdk.compile; a run-time (data-dependent) dim whose bound the compiler cannot infer gets, as a user
    would give with --dim, twice the largest dim of the case's inputs and expected outputs."""
    from sdk.errors import BoundError
    dims = {}
    cap = 2 * max([int(d) for ins, exp in c.data_sets for a in list(ins) + list(exp) for d in np.shape(a)] + [1])
    for _ in range(16):
        try:
            return sdk.compile(c.model, name="model", dims=dims or None)
        except BoundError as e:
            m = re.search(r"run-time dim '([A-Za-z0-9_]+)'", str(e))
            if not m or m.group(1) in dims:
                raise
            dims[m.group(1)] = cap
    return sdk.compile(c.model, name="model", dims=dims)


def check_warnings(out, cflags):
    """The bundle's generated C compiled for diagnostics only (``-fsyntax-only`` with ``cflags``' warning flags):
    what the C build would warn about, without code generation, linking or running."""
    import subprocess
    from pathlib import Path
    from sdk.errors import BuildError
    import hashlib
    from sdk.resources import RUNTIME
    flags = [f for f in cflags.split() if f.startswith(("-W", "-std"))]
    for src in sorted(Path(out).glob("*.c")):
        if (RUNTIME / "src" / src.name).exists():  # the runtime's sources: the same for every case, once
            key = (src.name, hashlib.sha1(src.read_bytes()).hexdigest(), cflags, "syntax")
            if key in _OBJS:
                continue
            _OBJS[key] = ""
        r = subprocess.run(["gcc", "-fsyntax-only", *flags, "-I.", src.name], capture_output=True, text=True, cwd=out)
        if r.returncode:
            raise BuildError(f"building {src.name} failed (warnings):\n{r.stderr[-2000:]}")


def run_case(c, cflags=CFLAGS, engine="c"):
    """(status, reason, detail): status is pass | wrong | error | unsupported. ``engine="llvm"``: the outputs come
    from the in-process JIT and the generated C is only checked for warnings (``check_warnings``)."""
    import sdk
    from sdk.errors import UnsupportedOp
    from sdk.backends.host.runner import HostRunner
    atol = max(c.atol, REFERENCE_ATOL.get(c.name, 0.0))
    pre = model_reason(c.model)
    if pre:
        return "unsupported", pre, ""
    try:
        b = compile_with_runtime_bounds(c, sdk)
    except UnsupportedOp as e:
        return "unsupported", unsupported_reason(str(e)), str(e)[:300]
    except Exception as e:  # noqa: BLE001 - any other compile failure is a failed case
        return "error", f"compile: {type(e).__name__}", str(e)[:300]
    try:
        with tempfile.TemporaryDirectory() as td:
            b.save(td)
            if engine == "llvm":
                check_warnings(b.path, cflags)
                for inputs, expected in c.data_sets:
                    feed = dict(zip(b.func.input_names, (_arr(a) for a in inputs)))
                    bad = compare(b.run(feed, engine="llvm"), b.func.output_names, expected, c.rtol, atol)
                    if bad:
                        return "wrong", "wrong result", bad
                return "pass", "", ""
            build_bundle(b.path, cflags)
            runner = HostRunner(cflags=cflags)
            for inputs, expected in c.data_sets:
                feed = dict(zip(b.func.input_names, (_arr(a) for a in inputs)))
                got, _ = runner.run(b.path, feed)
                bad = compare(got, b.func.output_names, expected, c.rtol, atol)
                if bad:
                    return "wrong", "wrong result", bad
    except Exception as e:  # noqa: BLE001
        kind = "build" if "building" in str(e) else "run"
        return "error", f"{kind}: {type(e).__name__}", str(e)[-300:]
    return "pass", "", ""


def _worker(args):
    name, cflags, engine = args
    t = time.time()
    st, reason, detail = run_case(_CASES[name], cflags, engine)
    return name, st, reason, detail, time.time() - t


_CASES = {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-j", type=int, default=1, help="parallel cases (default 1)")
    ap.add_argument("-k", action="append", help="only cases whose name contains this (repeatable)")
    ap.add_argument("--op", action="append", help="only cases whose graph uses this op type (repeatable)")
    ap.add_argument("--cflags", default=CFLAGS)
    ap.add_argument("--engine", choices=("c", "llvm"), default="c",
                    help="c: build and run each bundle's demo program (default); llvm: run it in process with the "
                    "JIT and only check the generated C for warnings (gcc -fsyntax-only with --cflags' -W flags)")
    ap.add_argument("--json", help="write every case's result to this file")
    ap.add_argument("-v", action="store_true", help="print every case as it finishes")
    a = ap.parse_args(argv)
    global _CASES
    _CASES = {c.name: c for c in cases(a.k, a.op)}
    t0 = time.time()
    results = []
    with mp.Pool(a.j) as pool:
        for r in pool.imap_unordered(_worker, [(n, a.cflags, a.engine) for n in sorted(_CASES)]):
            results.append(r)
            if a.v:
                print(f"{r[1]:11s} {r[0]} {r[2]} {r[3][:200]}", flush=True)
    results.sort()
    by = collections.Counter(r[1] for r in results)
    print("\ncases not passed (status, reason, detail):")
    for name, st, reason, detail, _ in results:
        if st != "pass":
            print(f"  {name}: {st}: {reason}" + (f" -- {detail[:200]}" if detail and st != "unsupported" else ""))
    reasons = collections.Counter((st, reason) for _, st, reason, _, _ in results if st != "pass")
    print("\nnot passed, by reason:")
    for (st, r), n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:4d}  {st:11s} {r}")
    total = len(results)
    print(f"\npassed {by['pass']}/{total}; wrong {by['wrong']}; error {by['error']}; "
          f"unsupported {by['unsupported']}; {time.time() - t0:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump([dict(zip(("name", "status", "reason", "detail", "seconds"), r)) for r in results], f, indent=0)
    return 0 if by["wrong"] == 0 and by["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
