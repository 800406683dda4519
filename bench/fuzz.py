"""Fuzz the parsers: libFuzzer (clang, ASan + UBSan) on the C ones, hypothesis on the Python entry points.

C targets (harnesses in tests/fuzz/): the bundle demo's tensor file reader (+ the model's dims checks and a
run), the VQ index reader sdk_vq_open (+ a search on every accepted index), the firmware's serial frame
parser and message handlers (host-built). Python targets: the ONNX importer (sdk.compile on mutated real
models: truncated, bit-flipped, wrong types, huge/negative dims, cyclic graphs, unknown ops, bad
attributes), the tensor file reader, the VQ index reader.

A finding is a crash, an ASan/UBSan report, a Python exception that is not an SdkError, or an input that
takes longer than the per-input timeout (a hang). The bounded CI run is tests/e2e/test_fuzz.py; the long run:

    python bench/fuzz.py --c-runs 1000000 --py-runs 100000      # numbers go to bench/RESULTS_fuzz.md
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HARNESS = ROOT / "tests" / "fuzz"
CLANG = os.environ.get("SDK_FUZZ_CC", "clang-14")
C_FLAGS = ["-g", "-O1", "-std=c99", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
           "-fno-omit-frame-pointer", "-DSDK_POOL_PAD_FLOATS=4096"]
C_TARGETS = ("tensorfile", "vq", "proto")
NO_OPT_SOURCES = ("sdk_kernels.c",)  # compiled at -O0 (same sanitizers): see _fuzz_object
PY_TARGETS = ("onnx_import", "tensorfile", "vq_index")
PER_INPUT_TIMEOUT_S = 5


# ---------------------------------------------------------------------------------------- seeds
def _mlp():
    from onnx import TensorProto as T
    from onnx import helper as h
    rng = np.random.default_rng(0)
    w1 = h.make_tensor("w1", T.FLOAT, [16, 8], rng.standard_normal(128).astype(np.float32))
    w2 = h.make_tensor("w2", T.FLOAT, [8, 4], rng.standard_normal(32).astype(np.float32))
    g = h.make_graph([h.make_node("MatMul", ["x", "w1"], ["h"]), h.make_node("Relu", ["h"], ["r"]),
                      h.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
                     [h.make_tensor_value_info("x", T.FLOAT, ["batch", 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["batch", 4])], [w1, w2])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def seed_models() -> list:
    """Real models to mutate: the examples (made with onnx.helper) and the committed test models."""
    sys.path.insert(0, str(ROOT / "examples"))
    from make_examples import EXAMPLES
    models = [fn().SerializeToString() for fn in EXAMPLES.values()] + [_mlp().SerializeToString()]
    for p in sorted((ROOT / "tests" / "models").glob("*.onnx")):
        if p.stat().st_size < 2_000_000:
            models.append(p.read_bytes())
    return models


def tensor_bytes(arr) -> bytes:
    arr = np.asarray(arr)
    from sdk.ir.dtypes import DTYPE_CODE
    return (b"SDKT" + struct.pack("<Iii", 1, DTYPE_CODE[arr.dtype.name], arr.ndim) +
            struct.pack(f"<{arr.ndim}q", *arr.shape) + arr.tobytes())


def vq_seeds() -> list:
    from sdk import vq
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    out = []
    for tree, forest in ((None, 1), ("atree", 1), ("etree", 2)):
        q = vq.train(x, method="rvq", stages=2, bits=4, progress=False, iters=3)
        idx = vq.Index(q, tree=tree, forest=forest)
        idx.add(x[:100])
        out.append(idx.to_bytes())
    return out


def frame(t, seq, payload=b""):
    body = struct.pack("<BBI", t, seq, len(payload)) + payload
    return b"\xa5\x5a" + body + struct.pack("<I", zlib.crc32(body))


def proto_seeds() -> list:
    x = np.ones((2, 16), np.float32)
    set_in = struct.pack("<BBBBII", 0, 1, 2, 0, 2, 16) + x.tobytes()
    session = frame(1, 1) + frame(2, 2, set_in) + frame(3, 3, struct.pack("<I", 1)) + frame(4, 4, b"\x00")
    return [session, frame(1, 9), frame(2, 5, set_in) + frame(4, 6, b"\x00"), b"\x00\xa5" + frame(3, 7)]


# ------------------------------------------------------------------------------------ C fuzzers
def build_c(work: Path) -> dict:
    """Bundles to fuzz against + the three libFuzzer executables; returns {target: (exe, corpus dir)}."""
    import sdk
    if shutil.which(CLANG) is None:
        raise RuntimeError(f"{CLANG} not found: apt-get install clang libclang-rt-14-dev (see Makefile APT_PKGS)")
    work.mkdir(parents=True, exist_ok=True)
    host = sdk.compile(_mlp(), dims={"batch": 4}).save(work / "host_bundle", force=True)
    mcu = sdk.compile(_mlp(), target="cortex-m4", dims={"batch": 4})
    mcu_dir = work / "mcu_bundle"
    if mcu_dir.exists():
        shutil.rmtree(mcu_dir)
    from sdk.backends.mcu import bundle as mcu_bundle
    build_fw = mcu_bundle.build_firmware
    mcu_bundle.build_firmware = lambda out: {}  # host build of the sources only: no arm toolchain needed
    try:
        mcu.save(mcu_dir)
    finally:
        mcu_bundle.build_firmware = build_fw
    rt = ROOT / "runtime_c"
    host_srcs = [str(p) for p in sorted(host.glob("*.c")) if p.name != "main.c"]
    mcu_srcs = [str(mcu_dir / "proto.c"), str(mcu_dir / "model.c")] + \
        [str(p) for p in sorted(mcu_dir.glob("sdk_*.c"))]
    specs = {
        "tensorfile": (["-I", str(host), str(HARNESS / "fuzz_tensorfile.c")] + host_srcs + ["-lm"],
                       [tensor_bytes(np.ones((2, 16), np.float32)), tensor_bytes(np.zeros((4, 16), np.float32)),
                        tensor_bytes(np.ones((2, 16), np.int32))]),
        "vq": (["-I", str(rt / "include"), str(HARNESS / "fuzz_vq.c"), str(rt / "src" / "sdk_vq.c"),
                str(rt / "src" / "sdk_status.c"), "-lm"], vq_seeds()),
        "proto": (["-I", str(mcu_dir), str(HARNESS / "fuzz_proto.c")] + mcu_srcs + ["-lm"], proto_seeds()),
    }
    out = {}
    objs = {}  # (source text, flags) -> object: the runtime files two fuzzers share are compiled once
    for name, (args, seeds) in specs.items():
        exe = work / f"fuzz_{name}"
        incs = [a for i, a in enumerate(args) if a == "-I" or (i and args[i - 1] == "-I")]
        link = [str(_fuzz_object(Path(a), incs, work / "obj", objs)) if a.endswith(".c") else a
                for a in args if a not in incs]
        r = subprocess.run([CLANG, *C_FLAGS, "-o", str(exe), *link], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building fuzz_{name} failed:\n{r.stderr[-3000:]}")
        corpus = work / f"corpus_{name}"
        corpus.mkdir(exist_ok=True)
        for k, s in enumerate(seeds):
            (corpus / f"seed{k}").write_bytes(s)
        out[name] = (exe, corpus)
    return out


def _fuzz_object(src: Path, incs: list, obj_dir: Path, objs: dict) -> Path:
    """``src`` compiled with C_FLAGS (sanitizers and libFuzzer's coverage) into an object in ``obj_dir``, once per
    text and flags. The kernel library (NO_OPT_SOURCES) is compiled at -O0: clang 14 takes 31 s of CPU for
    sdk_kernels.c at -O1 with UBSan's checks (2.5 s without them, 1 s at -O0 with all of them), and the parsers
    the fuzzers target, their harnesses and model.c keep -O1."""
    import hashlib
    flags = [f for f in C_FLAGS if f != "-O1"] + ["-O0"] if src.name in NO_OPT_SOURCES else list(C_FLAGS)
    key = (hashlib.sha1(src.read_bytes()).hexdigest(), tuple(flags), tuple(incs))
    if key not in objs:
        obj_dir.mkdir(parents=True, exist_ok=True)
        obj = obj_dir / f"{len(objs)}_{src.stem}.o"
        r = subprocess.run([CLANG, *flags, *incs, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building {src} failed:\n{r.stderr[-3000:]}")
        objs[key] = obj
    return objs[key]


def fresh_rss(args: list) -> list:
    """``args`` run as a child of a small shell: a process keeps the peak RSS (getrusage ru_maxrss) of the one
    that forked it across exec, and libFuzzer's -rss_limit_mb reads that peak, so a fuzzer started straight from a
    test worker that once held 5.7 GB stopped at once with "out-of-memory" (the suite's test_c_parser_fuzz)."""
    return ["sh", "-c", '"$@"; exit $?', "sh", *args]


def run_c(exe: Path, corpus: Path, seconds: float = None, runs: int = None, timeout_s: int = PER_INPUT_TIMEOUT_S,
          jobs: int = 1) -> dict:
    """One libFuzzer run; returns {'execs', 'seconds', 'ok', 'log'} (ok: no crash, leak, hang or OOM)."""
    args = [str(exe), str(corpus), f"-timeout={timeout_s}", "-rss_limit_mb=2048", "-malloc_limit_mb=1024",
            "-print_final_stats=1", f"-artifact_prefix={corpus.parent}/crash_{exe.name}_", "-max_len=4096"]
    if seconds:
        args.append(f"-max_total_time={int(seconds)}")
    if runs:
        args.append(f"-runs={runs}")
    t0 = time.monotonic()
    r = subprocess.run(fresh_rss(args), capture_output=True, text=True)
    log = r.stderr
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    return {"execs": int(m.group(1)) if m else 0, "seconds": time.monotonic() - t0, "ok": r.returncode == 0,
            "log": log[-4000:]}


# ------------------------------------------------------------------------------- Python targets
class Hang(Exception):
    """An input ran past the per-input timeout."""


def _alarm(signum, frame):
    raise Hang(f"input took longer than {PER_INPUT_TIMEOUT_S} s")


def call_with_timeout(fn, *args):
    """Run fn(*args); an SdkError is the expected answer to bad input, anything else is a finding."""
    from sdk.errors import SdkError
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(PER_INPUT_TIMEOUT_S)
    try:
        fn(*args)
    except SdkError:
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Choices:
    """Decisions drawn from the fuzzer's bytes (libFuzzer/atheris mutate them, hypothesis generates them):
    the same target code runs under both. Exhausted input answers the smallest choice."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def int(self, lo: int, hi: int) -> int:
        span = hi - lo
        if span <= 0:
            return lo
        nbytes = (span.bit_length() + 7) // 8
        chunk = self.data[self.pos:self.pos + nbytes]
        self.pos += nbytes
        return lo + int.from_bytes(chunk, "little") % (span + 1) if chunk else lo

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def bool(self) -> bool:
        return bool(self.int(0, 1))

    def value(self):
        """An integer from the edges that break parsers: signs, int32/int64 limits, huge products."""
        return self.pick([0, 1, -1, 2, 7, -3, 2**31 - 1, 2**31, 2**32 + 1, -2**31, 2**63 - 1, -2**63, 10**12,
                          self.int(-2**20, 2**20)])

    def rest(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


MODEL_MUTATIONS = ["truncate", "flip", "splice", "dims", "dtype", "cycle", "op", "attr", "drop_node", "rename",
                   "ext_data", "none"]


def mutate_model(ch: Choices, seeds) -> bytes:
    """One real model, then a byte- or structure-level mutation (ONNX protobuf edits)."""
    import onnx
    raw = ch.pick(seeds)
    kind = ch.pick(MODEL_MUTATIONS)
    if kind == "truncate":
        return raw[:ch.int(0, len(raw))]
    if kind == "flip":
        b = bytearray(raw)
        for _ in range(ch.int(1, 8)):
            b[ch.int(0, len(b) - 1)] = ch.int(0, 255)
        return bytes(b)
    if kind == "splice":
        other = ch.pick(seeds)
        return raw[:ch.int(0, len(raw))] + other[ch.int(0, len(other)):]
    m = onnx.ModelProto.FromString(raw)
    g = m.graph
    for _ in range(ch.int(1, 3)):
        _mutate_graph(ch, g, kind)
        kind = ch.pick(MODEL_MUTATIONS[3:])
    return m.SerializeToString()


def _mutate_graph(ch, g, kind):
    import onnx
    from onnx import helper as h
    if kind == "dims" and g.input:
        vi = ch.pick(g.input)
        dims = vi.type.tensor_type.shape.dim
        if dims and ch.int(0, 5):
            d = ch.pick(dims)
            if ch.bool():
                d.dim_value = max(min(ch.value(), 2**63 - 1), -2**63)
            else:
                d.dim_param = ch.pick(["", "n", "1x", "a b", "batch", "seq"])
        else:
            vi.type.tensor_type.ClearField("shape")
    elif kind == "dtype":
        col = ch.pick([g.input, g.initializer, g.output])
        if col:
            t = ch.pick(col)
            if isinstance(t, onnx.TensorProto):
                t.data_type = ch.int(0, 25)
            else:
                t.type.tensor_type.elem_type = ch.int(0, 25)
    elif kind == "cycle" and len(g.node) >= 2:
        a, b = ch.int(0, len(g.node) - 1), ch.int(0, len(g.node) - 1)
        a, b = min(a, b), max(a, b)
        if g.node[a].input:  # an early node reads a later node's output, or its own: a cycle
            g.node[a].input[ch.int(0, len(g.node[a].input) - 1)] = g.node[b].output[0]
    elif kind == "op" and g.node:
        from sdk.ops.registry import OPS
        ch.pick(g.node).op_type = ch.pick(sorted(OPS) + ["NoSuchOp", "", "If", "Loop"])
    elif kind == "attr" and g.node:
        n = ch.pick(g.node)
        name = ch.pick(["axis", "perm", "kernel_shape", "strides", "pads", "group", "alpha", "to", "keepdims",
                        "axes", "transA", "transB", "dilations", "mode", "epsilon", "auto_pad", "ceil_mode"])
        value = ch.pick([ch.value(), [ch.value() for _ in range(ch.int(0, 6))], float("nan"), 1e30, "SAME_UPPER",
                         b"\xff", -1.5])
        for k in reversed([k for k, a in enumerate(n.attribute) if a.name == name]):
            del n.attribute[k]
        try:
            n.attribute.append(h.make_attribute(name, value))
        except (ValueError, TypeError):
            pass
    elif kind == "drop_node" and g.node:
        del g.node[ch.int(0, len(g.node) - 1)]
    elif kind == "rename" and g.node:
        n = ch.pick(g.node)
        if n.output:
            n.output[0] = ch.pick(["", "x", n.input[0] if n.input else "z", "a.b/c:0", "1", g.output[0].name
                                   if g.output else "y"])
    elif kind == "ext_data" and g.initializer:
        t = ch.pick(g.initializer)
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        e = t.external_data.add()
        e.key, e.value = "location", ch.pick(["../../etc/passwd", "/etc/passwd", "x.bin", "..", "a/../../b", ""])


def mutate_bytes(ch: Choices, seeds) -> bytes:
    b = bytearray(ch.pick(seeds))
    for _ in range(ch.int(0, 6)):
        op = ch.pick(["set", "set32", "set64", "cut", "insert"])
        pos = ch.int(0, max(len(b) - 1, 0))
        if op == "set" and b:
            b[pos] = ch.int(0, 255)
        elif op in ("set32", "set64"):
            n = 4 if op == "set32" else 8
            b[pos:pos + n] = (ch.value() % 2 ** (8 * n)).to_bytes(n, "little")
        elif op == "cut":
            del b[pos:]
        else:
            b[pos:pos] = ch.rest(ch.int(0, 16))
    return bytes(b)


def py_target(name):
    """fn(bytes) for one Python entry point: an SdkError is the expected answer to bad input; any other
    exception, and an input running past PER_INPUT_TIMEOUT_S, is a finding."""
    import sdk
    from sdk import tensorfile
    from sdk.vq import index as vq_index
    if name == "onnx_import":
        seeds = seed_models()

        def run(data):
            ch = Choices(data)
            model = mutate_model(ch, seeds)
            call_with_timeout(_compile_any, sdk, model, ch.pick([1, 3, 2**31 - 1]), ch.int(0, 15) == 0)
        return run
    if name == "tensorfile":
        seeds = [tensor_bytes(np.ones((2, 3), np.float32)), tensor_bytes(np.arange(5, dtype=np.int64)),
                 tensor_bytes(np.array(3.0, np.float64)), tensor_bytes(np.zeros((0, 4), np.uint8))]
        return lambda data: call_with_timeout(tensorfile.parse_tensor, mutate_bytes(Choices(data), seeds))
    if name == "vq_index":
        seeds = vq_seeds()

        def run(data):
            ch = Choices(data)
            b = bytearray(mutate_bytes(ch, seeds))
            if len(b) >= 64 and ch.int(0, 3):
                total = int.from_bytes(b[8:12], "little")
                if 16 <= total <= len(b):  # a valid checksum: reach the checks behind it
                    b[12:16] = zlib.crc32(bytes(b[16:total])).to_bytes(4, "little")
            call_with_timeout(_vq_load_and_search, vq_index, bytes(b))
        return run
    raise ValueError(name)


def _compile_any(sdk, model, bound, full):
    import onnx
    try:
        m = onnx.ModelProto.FromString(model)
        syms = {d.dim_param for vi in m.graph.input for d in vi.type.tensor_type.shape.dim if d.dim_param}
    except Exception:  # noqa: BLE001 - not parseable: sdk.compile must say so itself
        syms = set()
    dims = {s: bound for s in syms if isinstance(s, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s)}
    if full:  # the whole pipeline short of the C compiler: lowering, schedules, memory plan, codegen
        sdk.compile(model, dims=dims, max_arena=1 << 30)
    else:
        from sdk.frontend.onnx import import_onnx
        import_onnx(model, dims)


def _vq_load_and_search(vq_index, blob):
    idx = vq_index.from_bytes(blob)
    if idx.codes.shape[0] and idx.quantizer.dim <= 1024:
        d, ids = idx.search(np.ones((1, idx.quantizer.dim), np.float32), k=3)
        ids, d = np.asarray(ids), np.asarray(d)
        assert ((ids >= 0) & (ids < idx.codes.shape[0]) | (ids == -1)).all(), f"id outside the index: {ids}"
        assert not np.isnan(d[ids >= 0]).any(), f"NaN distance as a hit: {d}"


class _TimeUp(BaseException):
    pass


def run_py(name: str, examples: int, seconds: float = None, derandomize: bool = False) -> dict:
    """Bounded run (CI) of one Python target under hypothesis; {'execs', 'seconds', 'ok', 'log'}."""
    import warnings

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    step = py_target(name)
    count = [0]
    t0 = time.monotonic()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
              derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(min_size=0, max_size=256))
    def prop(data):
        if seconds and time.monotonic() - t0 > seconds:
            raise _TimeUp()  # a BaseException: hypothesis stops at once, no shrinking
        count[0] += 1
        step(data)

    log, ok = "", True
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            prop()
        except _TimeUp:
            pass
        except Exception:  # noqa: BLE001 - a finding, with hypothesis' minimal input
            import traceback
            ok, log = False, traceback.format_exc()[-4000:]
    return {"execs": count[0], "seconds": time.monotonic() - t0, "ok": ok, "log": log}


def run_atheris(name: str, runs: int, work: Path, seconds: float = None) -> dict:
    """Long run of one Python target under atheris (libFuzzer, coverage-guided) in a subprocess."""
    corpus = work / f"corpus_py_{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, __file__, "--atheris", name, str(corpus), f"-timeout={PER_INPUT_TIMEOUT_S}",
            "-rss_limit_mb=4096", "-print_final_stats=1", f"-artifact_prefix={work}/crash_py_{name}_",
            f"-runs={runs}"] + ([f"-max_total_time={int(seconds)}"] if seconds else [])
    t0 = time.monotonic()
    r = subprocess.run(fresh_rss(args), capture_output=True, text=True)
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
    return {"execs": int(m.group(1)) if m else 0, "seconds": time.monotonic() - t0, "ok": r.returncode == 0,
            "log": r.stderr[-4000:]}


def _atheris_main(name, argv):
    import warnings

    import atheris
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    with atheris.instrument_imports(include=["sdk.frontend", "sdk.ops", "sdk.tensorfile", "sdk.vq", "sdk.ir"]):
        import sdk  # noqa: F401
        import sdk.vq.index  # noqa: F401
    fn = py_target(name)
    atheris.Setup([sys.argv[0]] + argv, fn)
    atheris.Fuzz()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c-runs", type=int, default=1_000_000, help="libFuzzer executions per C target")
    ap.add_argument("--c-seconds", type=float, help="or: seconds per C target")
    ap.add_argument("--py-runs", type=int, default=100_000, help="atheris executions per Python target")
    ap.add_argument("--py-seconds", type=float, help="or: seconds per Python target")
    ap.add_argument("--hypothesis", type=int, metavar="N", help="Python targets under hypothesis, N examples "
                    "each (the CI mode), instead of atheris")
    ap.add_argument("--only", nargs="*", help="targets, e.g. c:vq py:onnx_import")
    ap.add_argument("--work", default=None, help="folder for harnesses and corpora (default: a temp folder)")
    ap.add_argument("--results", default=str(ROOT / "bench" / "RESULTS_fuzz.md"))
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--atheris"]:  # child process of run_atheris: libFuzzer owns the remaining arguments
        return _atheris_main(argv[1], argv[2:])
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="sdk_fuzz_"))
    rows, bad = [], 0
    want = set(a.only or [f"c:{t}" for t in C_TARGETS] + [f"py:{t}" for t in PY_TARGETS])
    if any(w.startswith("c:") for w in want):
        exes = build_c(work)
        for t in C_TARGETS:
            if f"c:{t}" in want:
                r = run_c(*exes[t], seconds=a.c_seconds, runs=None if a.c_seconds else a.c_runs)
                rows.append((f"C {t} (libFuzzer, ASan+UBSan)", r))
    for t in PY_TARGETS:
        if f"py:{t}" in want:
            if a.hypothesis:
                rows.append((f"Python {t} (hypothesis)", run_py(t, a.hypothesis, a.py_seconds)))
            else:
                rows.append((f"Python {t} (atheris)", run_atheris(t, a.py_runs, work, a.py_seconds)))
    lines = ["| target | executions | seconds | execs/s | findings |", "| --- | ---: | ---: | ---: | --- |"]
    for label, r in rows:
        bad += not r["ok"]
        lines.append(f"| {label} | {r['execs']} | {r['seconds']:.0f} | {r['execs'] / max(r['seconds'], 1e-9):.0f} | "
                     f"{'none' if r['ok'] else 'FAILED (see log)'} |")
        print(f"{label}: {r['execs']} execs in {r['seconds']:.0f} s, {'ok' if r['ok'] else 'FINDING'}", flush=True)
        if not r["ok"]:
            print(r["log"], file=sys.stderr)
    table = "\n".join(lines)
    print(table)
    if a.results:
        Path(a.results).write_text(f"# Fuzzing results\n\n`python bench/fuzz.py {' '.join(argv)}` "
                                   f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; per-input timeout "
                                   f"{PER_INPUT_TIMEOUT_S} s, hangs count as findings)\n\n{table}\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
