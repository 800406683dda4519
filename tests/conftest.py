import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = HERE          # tests/: shared helpers (zoo.py, vq_data.py) and data (models/, torch_zoo/, fuzz/)
ROOT = os.path.dirname(HERE)
TIERS = ("unit", "e2e", "targets")  # tests/unit: fast, no target toolchain; e2e: compile+run on the host;
                                    # targets: the target toolchains and emulators (qemu, node, chromium, nvcc)
# Tests run side by side (pytest-xdist, one worker per core), so threads only contend: OpenMP threads of the
# bundles, JIT kernels and emulated programs sleep at barriers instead of spinning (same thread counts, same
# results; 2.3x less CPU for two zoo tests at once), and subprocesses get one OpenBLAS thread. `make test` also
# sets them before Python starts (numpy's own BLAS pool is made at import, before this file runs).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, HERE)
for _tier in TIERS:  # a test may import helpers of another tier's module (e.g. require_toolchain)
    sys.path.insert(1, os.path.join(HERE, _tier))

# Builds for tests that check results, not speed: -O0 (the generated C holds the weights as literals, ~1 MB of C per
# zoo model: gcc -O3 takes 30-60 s a model, -O0 a few seconds), still -Werror. -march=native as in the host profile:
# the tuned kernels' vector types are this machine's registers, which gcc otherwise splits into SSE operations
# (2.3x the -O0 compile time of a ResNet bottleneck's model.c, 3.6 s against 1.6 s).
FAST_CFLAGS = "-O0 -march=native -std=c99 -DSDK_POOL_PAD_FLOATS=4096 -Wall -Wextra -Werror"
# ASan+UBSan builds. -fno-var-tracking: gcc's tracking of variable locations for -g at -O1 took over half of the
# transformer's sanitizer build (model.c: 62 -> 29 CPU s); it only changes the debug info (variables' locations
# in a debugger), not the code (.text byte-identical) nor the file:line of a sanitizer report.
# Two options that change how gcc generates the instrumented code, not what is checked (the same accesses and the
# same undefined behaviour checked, the same reports: tests/unit/test_sanitize_flags.py):
# --param=asan-instrumentation-with-call-threshold=0: AddressSanitizer checks each load and store with a call into
# its runtime (__asan_load4, ...) instead of an inline shadow-memory test (gcc switches to calls by itself only in
# functions of more than 7,000 accesses); -fira-region=one: the register allocator takes a function as one region
# (gcc's choice at -O0 and -Os) instead of a region a loop. The tuned kernels' unrolled register tiles with an
# inline check per access made gcc -O1 spend most of a sanitizer build in register allocation (84 % of the
# generation test's model.c: 104.9 CPU s; 43.6 with the calls; 15.4 with both, at load ~15).
SANITIZE_FLAGS = ["-O1", "-g", "-fno-var-tracking", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "--param=asan-instrumentation-with-call-threshold=0", "-fira-region=one"]
# (the sanitizers alone; SANITIZE adds the strict C99 warning flags)
SANITIZE = SANITIZE_FLAGS + ["-std=c99", "-DSDK_POOL_PAD_FLOATS=4096", "-Wall", "-Wextra", "-Werror"]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown when it is not loaded
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (make test): the most expensive files first, tests/xdist_order.py."""
    if config.getoption("dist") == "loadfile":
        from xdist_order import CostFirstScheduling
        return CostFirstScheduling(config, log)
    return None


def gcc_macros(opt: str) -> set:
    """The macros gcc predefines with the options ``opt`` (e.g. "-O3 -march=native": __AVX512BW__ where this CPU
    has it), for tests of code that a target's instructions switch on."""
    import subprocess
    r = subprocess.run(["gcc", *opt.split(), "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True, text=True)
    return {ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("#define ")}


@pytest.fixture(scope="session")
def examples():
    from make_examples import BOUNDS, EXAMPLES
    return {name: (fn(), BOUNDS[name]) for name, fn in EXAMPLES.items()}


@pytest.fixture(scope="session")
def example_bundles(examples):
    """{example name: ``sdk.compile(model, dims=bounds, name=name)``}, each compiled on first use and shared by the
    tests of one worker (one file stays on one worker): its JIT model and its demo program (gcc -O3: ~12 s of
    CPU for the transformer's model.c) are built once, not once per test. Tests must not change a bundle."""
    import sdk

    class Lazy(dict):
        def __missing__(self, name):
            model, bounds = examples[name]
            self[name] = b = sdk.compile(model, dims=bounds, name=name)
            return b
    return Lazy()


def load_example(path):
    """The module of an example script (``path`` relative to examples/, e.g. "qgen/web.py"), imported from its file
    under a name of its own ("examples_qgen_web"). Several examples have a module of the same name (qgen/web.py,
    finetune/web.py): `sys.path.insert` + `import web` in two tests of one pytest worker gave the second test the
    first one's module from sys.modules (the qgen page test then built the fine-tune page, which also says
    data-ready, and waited 90 s for a #sentence that page does not have)."""
    import importlib.util
    name = "examples_" + path.removesuffix(".py").replace("/", "_")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def cuda_objects(tmp_path_factory):
    """The session's store of GPU runtime objects (tests/cuda_objects.py): each runtime configuration is compiled
    by nvcc once and shared by every test that compiles it or builds a CUDA bundle with it, on every pytest-xdist
    worker (the workers' temp folders share a parent)."""
    from cuda_objects import CudaObjects
    base = tmp_path_factory.getbasetemp()
    return CudaObjects((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "cuda_objects")


# A stand-in nvcc for the tests of the object stores (tests/cuda_objects.py, bench/nvcc_objects.py), so they need no
# CUDA toolkit: "-c -o OUT SRC" writes the flags and SRC to OUT (fails on a source saying FAIL), "-o EXE OBJS"
# concatenates the objects; every call but --version is logged.
FAKE_NVCC = """#!/bin/sh
case "$*" in --version) echo "fake nvcc 1.0"; exit 0;; esac
echo "$*" >> "{log}"
out=""; c=0; srcs=""; flags=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift;; -c) c=1;; -I*) ;; -*) flags="$flags $1";; *) srcs="$srcs $1";; esac
  shift
done
if [ $c = 1 ]; then
  grep -q FAIL $srcs && { echo "$srcs: error: bad source" >&2; exit 1; }
  { echo "flags:$flags"; cat $srcs; } > "$out"
else cat $srcs > "$out"; fi
"""


@pytest.fixture
def fake_nvcc(tmp_path, monkeypatch):
    """FAKE_NVCC as $NVCC (its key's nvcc version read afresh); returns the file its calls are logged to."""
    from cuda_objects import nvcc_version  # bench/nvcc_objects.py's (cached per nvcc)
    log = tmp_path / "nvcc.log"
    exe = tmp_path / "fake_nvcc"
    exe.write_text(FAKE_NVCC.replace("{log}", str(log)))
    exe.chmod(0o755)
    monkeypatch.setenv("NVCC", str(exe))
    nvcc_version.cache_clear()
    yield log
    nvcc_version.cache_clear()


def launch_args(args: str):
    """Top-level comma-separated arguments of a generated launch (``sdk_cuda_...(stream, ARGS)``)."""
    out, depth, cur = [], 0, ""
    for ch in args:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


def random_inputs(model, dims, seed=0):
    """Random inputs for a model's graph inputs, symbolic dims taken from ``dims``."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value if d.HasField("dim_value") else dims[d.dim_param] for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def float_model(nodes, name, ins, outs, inits):
    """A checked opset-17 ONNX model of float32 inputs ``ins`` and outputs ``outs`` ({name: shape}, symbolic dims
    as strings) computed by ``nodes`` with initializers ``inits``."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in ins.items()],
                          [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in outs.items()], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def onnx_model(nodes, inputs, outputs, inits=(), opset=17, domains=()):
    """An ONNX model of graph "g": ``inputs`` as (name, element type, shape) with symbolic dims as strings,
    ``outputs`` as (name, element type) with shapes left to inference, ``nodes`` and initializers ``inits``; opset
    ``opset`` of the default domain and ``domains`` ((domain, version) pairs) besides. Not checked: tests of
    refused forms build invalid ones too."""
    from onnx import helper
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, None) for n, t in outputs], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)] +
                             [helper.make_opsetid(d, v) for d, v in domains])


def fan_in_initializer(rng, inits):
    """``w(name, shape, scale=None)``: appends a float32 initializer ``name`` of ``shape`` to ``inits`` (``rng``'s
    standard normals times ``scale``, by default 1 / sqrt(fan-in), the product of the dims after the first: 1 for a
    vector) and returns its name, for a node's inputs."""
    from onnx import numpy_helper

    def w(name, shape, scale=None):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        a = rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(fan))
        inits.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name
    return w


def assert_outputs_close(got, ref, rtol=1e-4, atol=1e-5):
    """Every output of ``ref`` ({name: array}, e.g. from ``ort_run``) has its shape and values in ``got``."""
    for k, r in ref.items():
        assert got[k].shape == r.shape, k
        np.testing.assert_allclose(got[k], r, rtol=rtol, atol=atol)


def scheduled_kernels_c(out, name="model") -> str:
    """The scheduled GEMM / convolution kernels' C of a saved bundle: ``<name>_tuned.h`` and, where the profile puts
    each kernel in its own unit (``[codegen] kernel_units``), the ``<name>_tk<i>.c`` files."""
    from pathlib import Path
    out = Path(out)
    parts = [out / f"{name}_tuned.h"] + sorted(out.glob(f"{name}_tk*.c"))
    return "".join(p.read_text() for p in parts if p.exists())


def assert_c_threads_agree(out, feeds, ref, rtol, atol):
    """The C bundle in folder ``out`` built warning-free (-Werror) and run on 1 and 2 threads: both close to ``ref``
    and bit-equal to each other (kernels split work without changing any output's sum)."""
    from sdk.backends.host.runner import HostRunner
    runs = {}
    for threads in (1, 2):
        got, info = HostRunner(threads=threads, extra_cflags=["-Werror"]).run(out, feeds, rebuild=True)
        assert int(info["threads"]) == threads
        assert_outputs_close(got, ref, rtol, atol)
        runs[threads] = got
    for k in ref:
        assert np.array_equal(runs[1][k], runs[2][k]), k
    return runs


def assert_engines_and_builds(b, m, out, builds, rtol, atol, at=({"n": 2}, 1), builds_at=None):
    """Bundle ``b`` of model ``m`` against onnxruntime on random inputs at ``at`` ((dims, seed)): the in-process
    LLVM engine, then the C bundle saved to folder ``out`` on 1 and 2 threads (bit-equal, -Werror); then each of
    ``builds`` (HostRunner keyword arguments, e.g. sanitizer or portable-C flags; rebuilt) on the inputs at
    ``builds_at`` (those at ``at`` where None)."""
    from sdk.backends.host.runner import HostRunner
    feeds = random_inputs(m, *at)
    ref = ort_run(m, feeds)
    assert_outputs_close(b.run(feeds, engine="llvm"), ref, rtol, atol)
    out = b.save(out)
    assert_c_threads_agree(out, feeds, ref, rtol, atol)
    if builds_at is not None:
        feeds = random_inputs(m, *builds_at)
        ref = ort_run(m, feeds)
    for kw in builds:
        got, _ = HostRunner(**kw).run(out, feeds, rebuild=True)
        assert_outputs_close(got, ref, rtol, atol)
    return out


def ort_run(model, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
