"""Host latency of sdk bundles against onnxruntime and Apache TVM Relax, one thread each.

    python bench/host_latency.py [--repeat 50] [--zoo] [--models mlp,transformer@64] [--budget-s 20]

Per model, one table row: the median latency of
- sdk: the bundle built with the target's flags (gcc -O3 -march=native), timed
  inside its C demo program (``run_with_info(repeat=n)``);
- ort: onnxruntime, 1 intra-op and 1 inter-op thread, ORT_SEQUENTIAL, all graph
  optimizations, timed with perf_counter around ``session.run`` after warm-up;
- tvm: TVM Relax (``from_onnx`` with concrete input shapes, ``relax.build`` with
  the default pipeline, untuned, llvm target with ``mcpu`` = the host CPU),
  TVM_NUM_THREADS=1, timed with the VM's ``time_evaluator`` after warm-up.
If TVM's importer rejects a model, it is retried once on the model with static
input shapes and Shape arithmetic folded by onnxruntime's basic (ONNX-only)
graph optimizations; such rows say "(folded)" in the tvm=ort column.
``sdk=ort`` is np.allclose(rtol=1e-4, atol=1e-5) over every output, ``tvm=ort`` likewise.
Symbolic dims run at batch=1; the transformer runs at seq 16, 64 and 128
(``transformer@64`` names one). sdk compiles once at the example's upper bounds
(examples/make_examples.py BOUNDS) and runs at the concrete shape.
``n`` is the number of timed runs: --repeat, lowered for slow models so that one
measurement takes about --budget-s seconds (at least 3 runs).
"""
from __future__ import annotations

import os

# Thread pools read these when they start: set them before numpy/tvm are imported.
os.environ["TVM_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

TRANSFORMER_SEQS = (16, 64, 128)
RTOL, ATOL = 1e-4, 1e-5


def example_cases():
    """(row name, model name, ModelProto, sdk upper bounds, concrete dims)."""
    from make_examples import BOUNDS, EXAMPLES
    out = []
    for name, fn in EXAMPLES.items():
        m = fn()
        if name == "transformer":
            out += [(f"transformer@{s}", name, m, BOUNDS[name], {"batch": 1, "seq": s}) for s in TRANSFORMER_SEQS]
        else:
            out.append((name, name, m, BOUNDS[name], {"batch": 1}))
    return out


def zoo_cases():
    from zoo import ZOO, randomized
    return [(n, n, randomized(n), None, {}) for n in ZOO]


def input_specs(model, dims):
    """[(name, shape, numpy dtype)] of the graph inputs that are not initializers."""
    inits = {t.name for t in model.graph.initializer}
    specs = []
    for v in model.graph.input:
        if v.name in inits:
            continue
        tt = v.type.tensor_type
        shape = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif d.dim_param in dims:
                shape.append(dims[d.dim_param])
            else:
                raise ValueError(f"input {v.name}: no concrete value for dim '{d.dim_param}'")
        specs.append((v.name, shape, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)))
    return specs


def random_inputs(specs, seed=0):
    rng = np.random.default_rng(seed)
    feed = {}
    for name, shape, dt in specs:
        if np.issubdtype(dt, np.floating):
            feed[name] = rng.standard_normal(shape).astype(dt)
        else:
            feed[name] = rng.integers(0, 8, shape).astype(dt)
    return feed


def runs_for(first_s, repeat, budget_s):
    """How many timed runs fit the budget, given one run took first_s."""
    return max(3, min(repeat, int(budget_s / max(first_s, 1e-9))))


def outputs_match(got, ref):
    for k, r in ref.items():
        g = np.asarray(got[k])
        if g.shape != r.shape or not np.allclose(g, r, rtol=RTOL, atol=ATOL):
            return False
    return True


def max_abs_err(got, ref):
    errs = [float(np.max(np.abs(np.asarray(got[k], np.float64) - r.astype(np.float64)))) if r.size else 0.0
            for k, r in ref.items() if np.asarray(got[k]).shape == r.shape]
    return max(errs) if errs else float("nan")


class OrtPeer:
    def __init__(self, model):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.sess.get_outputs()]

    def run(self, feed):
        return dict(zip(self.names, self.sess.run(self.names, feed)))

    def median_ms(self, feed, repeat, budget_s):
        t0 = time.perf_counter()
        self.sess.run(self.names, feed)  # warm-up
        n = runs_for(time.perf_counter() - t0, repeat, budget_s)
        self.sess.run(self.names, feed)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.sess.run(self.names, feed)
            times.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(times), n


def fold_shapes(model, specs):
    """The model with its inputs made static and Shape arithmetic folded by
    onnxruntime's basic (ONNX-only) graph optimizations."""
    import tempfile

    import onnxruntime as ort
    m = onnx.ModelProto()
    m.CopyFrom(model)
    shapes = {n: s for n, s, _ in specs}
    for v in m.graph.input:
        if v.name in shapes:
            for d, n in zip(v.type.tensor_type.shape.dim, shapes[v.name]):
                d.Clear()
                d.dim_value = n
    with tempfile.TemporaryDirectory() as td:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.log_severity_level = 3
        so.optimized_model_filepath = os.path.join(td, "folded.onnx")
        ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        folded = onnx.load(so.optimized_model_filepath)
    odd = {n.domain for n in folded.graph.node} - {"", "ai.onnx"}
    if odd:
        raise ValueError(f"folded model uses op domains {sorted(odd)}")
    return folded


class TvmPeer:
    def __init__(self, model, specs):
        import tvm
        from tvm import relax
        from tvm.relax.frontend.onnx import from_onnx
        from tvm.target import codegen
        self.tvm = tvm
        # 0.27 takes targets as dicts; "native" is rejected for its conda triple, so name the CPU.
        target = tvm.target.Target({"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu()})
        # the importer prints its errors to stdout and warns about every initializer
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = from_onnx(model, shape_dict={n: s for n, s, _ in specs}, keep_params_in_input=False)
        self.vm = relax.VirtualMachine(relax.build(mod, target=target), tvm.cpu())
        self.order = [n for n, _, _ in specs]

    def _args(self, feed):
        return [self.tvm.runtime.tensor(feed[n]) for n in self.order]

    def run(self, feed, names):
        out = self.vm["main"](*self._args(feed))
        outs = list(out) if not hasattr(out, "numpy") else [out]
        return {n: o.numpy() for n, o in zip(names, outs)}

    def median_ms(self, feed, repeat, budget_s):
        args = self._args(feed)
        t0 = time.perf_counter()
        self.vm["main"](*args)  # warm-up
        n = runs_for(time.perf_counter() - t0, repeat, budget_s)
        res = self.vm.time_evaluator("main", self.tvm.cpu(), number=1, repeat=n)(*args)
        return 1e3 * statistics.median(res.results), n


def bench_row(row, model_name, model, bounds, dims, repeat, budget_s, sdk_cache):
    import sdk
    r = {"model": row}
    specs = input_specs(model, dims)
    feed = random_inputs(specs)

    ort = OrtPeer(model)
    ref = ort.run(feed)
    r["ort"], r["n_ort"] = ort.median_ms(feed, repeat, budget_s)

    try:
        if model_name not in sdk_cache:
            sdk_cache[model_name] = sdk.compile(model, target="host", dims=bounds, name="model")
        b = sdk_cache[model_name]
        got, info = b.run_with_info(feed, repeat=1)  # builds on first use; also the output check
        n = runs_for(float(info["median_ms"]) / 1e3, repeat, budget_s)
        _, info = b.run_with_info(feed, repeat=n)
        r["sdk"], r["n_sdk"] = float(info["median_ms"]), n
        r["sdk=ort"] = "yes" if outputs_match(got, ref) else f"NO ({max_abs_err(got, ref):.2g})"
    except Exception as e:  # noqa: BLE001 - a failing model is reported in its row
        r["sdk"], r["sdk=ort"] = None, f"ERROR {type(e).__name__}: {_short(e)}"

    try:
        try:
            tv, mark = TvmPeer(model, specs), ""
        except Exception as e:  # noqa: BLE001 - retried once on the shape-folded model
            first = f"{type(e).__name__}: {_short(e)}"
            try:
                tv, mark = TvmPeer(fold_shapes(model, specs), specs), " (folded)"
            except Exception:  # noqa: BLE001
                raise RuntimeError(first) from None
        tgot = tv.run(feed, list(ref))
        r["tvm=ort"] = ("yes" if outputs_match(tgot, ref) else f"NO ({max_abs_err(tgot, ref):.2g})") + mark
        r["tvm"], r["n_tvm"] = tv.median_ms(feed, repeat, budget_s)
    except Exception as e:  # noqa: BLE001
        r["tvm"], r["tvm=ort"] = None, f"ERROR {_short(e)}"
    return r


def _short(e, n=90):
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    # TVM errors end with the useful line; others start with it
    msg = lines[-1] if lines and "tvm" in type(e).__module__ else (lines[0] if lines else "")
    return msg.replace("|", "/")[:n]


def fmt_ms(v):
    return "-" if v is None else (f"{v:.4f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}")


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def table(rows):
    head = ["model", "sdk ms", "ort ms", "tvm ms", "sdk/ort", "sdk/tvm", "sdk=ort", "tvm=ort", "n sdk/ort/tvm"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        n = "/".join(str(r.get(k, "-")) for k in ("n_sdk", "n_ort", "n_tvm"))
        lines.append("| " + " | ".join([r["model"], fmt_ms(r.get("sdk")), fmt_ms(r.get("ort")), fmt_ms(r.get("tvm")),
                                        fmt_ratio(r.get("sdk"), r.get("ort")), fmt_ratio(r.get("sdk"), r.get("tvm")),
                                        r.get("sdk=ort", "-"), r.get("tvm=ort", "-"), n]) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=50, help="timed runs per peer (median); default 50")
    ap.add_argument("--zoo", action="store_true", help="also the nine light model-zoo models (random weights)")
    ap.add_argument("--models", default="", help="comma-separated row names (mlp, transformer@64, resnet50...)")
    ap.add_argument("--budget-s", type=float, default=20.0, help="seconds per measurement before n is lowered")
    a = ap.parse_args(argv)

    cases = example_cases() + (zoo_cases() if a.zoo or a.models else [])
    if a.models:
        want = set(a.models.split(","))
        cases = [c for c in cases if c[0] in want or c[1] in want]
        missing = want - {c[0] for c in cases} - {c[1] for c in cases}
        if missing:
            ap.error(f"unknown model(s): {', '.join(sorted(missing))}")

    import onnxruntime
    import tvm
    print(f"onnxruntime {onnxruntime.__version__}, tvm {tvm.__version__}, repeat {a.repeat}", file=sys.stderr)
    rows, sdk_cache = [], {}
    for row, name, model, bounds, dims in cases:
        t = time.time()
        rows.append(bench_row(row, name, model, bounds, dims, a.repeat, a.budget_s, sdk_cache))
        print(f"  {row}: {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
