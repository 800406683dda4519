"""Threads on the host profile (OpenMP regions on the runtime's pool, sdk_pool.c; host-openmp: on libgomp): real models from the PyTorch zoo built once with the profile's flags
(-Werror added), run with <name>_set_threads(1) and (2) through the demo's --threads: both match onnxruntime, and
the two runs agree bit for bit (a split never changes what one output element computes). One threaded bundle
also runs under AddressSanitizer + UndefinedBehaviorSanitizer."""
import subprocess

import numpy as np
import pytest

import sdk
from conftest import SANITIZE_FLAGS, assert_outputs_close, ort_run
from sdk.backends.host.runner import HostRunner
from test_torch_zoo import MANIFEST, RTOL, ATOL, feeds_for, load

# depthwise + pointwise + dense 3x3 (tuned GEMM kernels, dwconv), pooling + concat, attention + LayerNorm GEMMs
MODELS = ["mobilenet_v2.dynamo.onnx", "squeezenet.dynamo.onnx", "minilm.dynamo.onnx"]


def _build(tmp_path, file):
    rec = MANIFEST["models"][file.split(".")[0]]
    model = load(file)
    bundle = sdk.compile(model, target="host", dims=rec.get("bounds", {}))
    out = bundle.save(tmp_path / file.split(".")[0])
    return model, rec, out


@pytest.mark.slow
@pytest.mark.parametrize("file", MODELS)
def test_threads_match_onnxruntime_and_each_other(tmp_path, file):
    model, rec, out = _build(tmp_path, file)
    from conftest import scheduled_kernels_c
    src = (out / "model.c").read_text() + scheduled_kernels_c(out)
    assert "omp parallel" in src or "SDK_OMP(parallel" in src  # some kernel of a real model splits
    HostRunner(extra_cflags=["-Werror"]).build(out)  # warning-free under the profile's -Wall -Wextra
    # the regions gcc outlined for -fopenmp run on the runtime's pool (targets/host.toml [cpu] threading = "pool"):
    # the program defines GOMP_parallel (sdk_pool.c) and links no libgomp (host-openmp: libgomp)
    syms = subprocess.run(["nm", str(out / "model_main")], capture_output=True, text=True).stdout
    assert " T GOMP_parallel\n" in syms and " T sdk_pool_start\n" in syms
    assert "libgomp" not in subprocess.run(["ldd", str(out / "model_main")], capture_output=True, text=True).stdout
    feeds = feeds_for(model, rec, rec["dim_sets"][-1], seed=3, run=len(rec["dim_sets"]) - 1)
    ref = ort_run(model, feeds)
    runs = {}
    for threads in (1, 2):
        got, info = HostRunner(threads=threads).run(out, feeds)
        assert int(info["threads"]) == threads  # what <name>_set_threads returned
        assert_outputs_close(got, ref, RTOL, ATOL)
        runs[threads] = got
    for name in ref:
        assert np.array_equal(runs[1][name], runs[2][name]), name


@pytest.mark.slow
def test_threaded_bundle_under_sanitizers(tmp_path):
    model, rec, out = _build(tmp_path, MODELS[0])
    san = HostRunner(extra_cflags=SANITIZE_FLAGS, threads=2)  # the profile's flags, then the suite's sanitizer flags
    feeds = feeds_for(model, rec, rec["dim_sets"][0], seed=4)
    got, _ = san.run(out, feeds, rebuild=True)  # the arena is exactly the planned size: ASan sees any overrun
    assert_outputs_close(got, ort_run(model, feeds), RTOL, ATOL)


def test_narrower_column_blocks_on_two_threads(tmp_path):
    """Pointwise convolutions whose schedule's packed B block (kc x nc) exceeds a thread's own buffers: on 2 threads
    each thread packs its own panels in narrower column blocks (``own_nc``; SqueezeNet's 128 -> 16 and 256 -> 32
    squeeze layers), which changes no sum: 1 and 2 threads agree bit for bit, and both match onnxruntime."""
    import re
    from onnx import helper as h
    from onnx import numpy_helper as nh
    from conftest import assert_c_threads_agree, float_model, random_inputs, scheduled_kernels_c
    rng = np.random.default_rng(5)

    def w(name, shape):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    nodes = [h.make_node("Conv", ["x", "Wa", "ba"], ["a0"]), h.make_node("Relu", ["a0"], ["a"]),
             h.make_node("Conv", ["a", "Wb", "bb"], ["y"])]
    m = float_model(nodes, "squeeze", {"x": [1, 128, 41, 37]}, {"y": [1, 32, 41, 37]},
                    [w("Wa", [256, 128, 1, 1]), w("ba", [256]), w("Wb", [32, 256, 1, 1]), w("bb", [32])])
    out = sdk.compile(m, target="host").save(tmp_path / "sq")
    src = scheduled_kernels_c(out)
    one = re.findall(r"for \(int64_t jc = 0; jc < N; jc \+= (\d+)\)", src)
    part = re.findall(r"for \(int64_t jc = j0; jc < j1; jc \+= (\d+)\)", src)
    assert any(int(p) < int(o) for o, p in zip(one, part)), (one, part)  # some kernel's threads use narrower blocks
    feeds = random_inputs(m, {}, 1)
    assert_c_threads_agree(out, feeds, ort_run(m, feeds), 1e-4, 1e-4)


@pytest.mark.parametrize("heads", [6, 3])
def test_batched_products_split_by_matrix(tmp_path, heads):
    """Attention's batched products (q k^T, softmax, p v over the heads; 197 tokens: partial register tiles on both
    edges): with a batch that is a whole number of shares (6 heads on 2 threads) the threads take whole matrices in
    one region (``_batch_split``); 3 heads keep the per-matrix split. 1 and 2 threads agree bit for bit and match
    onnxruntime."""
    from onnx import helper as h
    from conftest import assert_c_threads_agree, float_model, random_inputs, scheduled_kernels_c
    nodes = [h.make_node("MatMul", ["q", "k"], ["s"]), h.make_node("Softmax", ["s"], ["p"], axis=-1),
             h.make_node("MatMul", ["p", "v"], ["y"])]
    m = float_model(nodes, "attn", {"q": [1, heads, 197, 64], "k": [1, heads, 64, 197], "v": [1, heads, 197, 64]},
                    {"y": [1, heads, 197, 64]}, [])
    out = sdk.compile(m, target="host").save(tmp_path / "attn")
    src = scheduled_kernels_c(out)
    assert src.count("_mm_own(M, N, K") == 2  # both products can split their batch
    feeds = random_inputs(m, {}, 1)
    assert_c_threads_agree(out, feeds, ort_run(m, feeds), 1e-4, 1e-5)


@pytest.mark.slow
def test_pool_bundle_under_thread_sanitizer(tmp_path):
    """The host profile's regions run on the runtime's pool (pthreads + atomics, which ThreadSanitizer sees; libgomp's
    barriers it does not): a bundle with split Winograd, GEMM, depthwise and pooling kernels, at 2 and 3 threads under
    -fsanitize=thread, reports no race and matches onnxruntime."""
    from onnx import helper as h
    from onnx import numpy_helper as nh
    from conftest import float_model, random_inputs
    rng = np.random.default_rng(7)

    def w(name, shape):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    nodes = [h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["a0"], ["a"]),
             h.make_node("Conv", ["a", "Wd"], ["d"], group=32, pads=[1, 1, 1, 1]),
             h.make_node("Conv", ["d", "Wb", "bb"], ["c"]),
             h.make_node("MaxPool", ["c"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    m = float_model(nodes, "tsan", {"x": [1, 16, 30, 30]}, {"y": [1, 64, 14, 14]},
                    [w("Wa", [32, 16, 3, 3]), w("ba", [32]), w("Wd", [32, 1, 3, 3]), w("Wb", [64, 32, 1, 1]),
                     w("bb", [64])])
    out = sdk.compile(m, target="host").save(tmp_path / "tsan")
    feeds = random_inputs(m, {}, 1)
    ref = ort_run(m, feeds)
    for threads in (2, 3):
        san = HostRunner(extra_cflags=["-O1", "-g", "-fsanitize=thread"], threads=threads)
        got, info = san.run(out, feeds, rebuild=threads == 2)
        assert int(info["threads"]) == threads
        assert_outputs_close(got, ref, 1e-4, 1e-4)


def test_pool_thread_counts_change_between_runs(tmp_path):
    """One process, one pool (the host profile's [cpu] threading = "pool"): the bundle's model_run at 2, 1, 3 and 2
    threads again (model_set_threads between runs, workers started as needed) gives the same bits each time, and
    matches onnxruntime; with no pool attached model_set_threads returns 1 and the run is the same again."""
    import ctypes
    import re
    from onnx import helper as h
    from onnx import numpy_helper as nh
    from conftest import float_model, random_inputs
    from sdk.backends.host.ctensor import Tensor, view
    rng = np.random.default_rng(11)

    def w(name, shape):
        return nh.from_array((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    nodes = [h.make_node("Conv", ["x", "Wa", "ba"], ["a0"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["a0"], ["a"]),
             h.make_node("Conv", ["a", "Wb", "bb"], ["y"])]
    m = float_model(nodes, "counts", {"x": [1, 32, 28, 28]}, {"y": [1, 64, 28, 28]},
                    [w("Wa", [64, 32, 3, 3]), w("ba", [64]), w("Wb", [64, 64, 1, 1]), w("bb", [64])])
    b = sdk.compile(m, target="host")
    out = b.save(tmp_path / "counts")
    mk = (out / "Makefile").read_text()
    cflags = re.search(r"^CFLAGS = (.*)$", mk, re.M).group(1).split()
    srcs = [x for x in re.search(r"^SRCS = (.*)$", mk, re.M).group(1).split() if x != "main.c"]
    assert "sdk_pool.c" in srcs
    subprocess.run(["gcc", *cflags, "-fPIC", "-shared", "-o", "lib.so", *srcs, "-lm", "-pthread"], cwd=out, check=True)
    lib = ctypes.CDLL(str(out / "lib.so"))

    feeds = random_inputs(m, {}, 1)
    x = np.ascontiguousarray(feeds["x"])
    arena = np.zeros(b.plan.arena_bytes + 128, np.uint8)
    base = ctypes.c_void_p(arena.ctypes.data + (-arena.ctypes.data) % 64)
    lib.model_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]

    def run():
        y = np.full((1, 64, 28, 28), np.nan, np.float32)
        ins, outs = (Tensor * 1)(view(x)), (Tensor * 1)(view(y))
        assert lib.model_run(base, b.plan.arena_bytes + 64, ctypes.addressof(ins), ctypes.addressof(outs)) == 0
        return y
    assert lib.model_set_threads(2) == 1  # no pool attached to this thread yet: one thread
    one = run()
    lib.sdk_pool_size.restype = ctypes.c_size_t
    pool = ctypes.create_string_buffer(lib.sdk_pool_size())
    assert lib.sdk_pool_start(pool, 2) == 0
    for threads in (2, 1, 3, 2):
        assert lib.model_set_threads(threads) == threads
        assert np.array_equal(run(), one), threads
    assert lib.sdk_pool_stop(pool) == 0
    assert lib.sdk_pool_stop(pool) != 0  # stopped already: SDK_ERR_THREADS
    assert lib.model_set_threads(2) == 1  # detached by the stop
    assert_outputs_close({"y": one}, ort_run(m, feeds), 1e-4, 1e-4)
