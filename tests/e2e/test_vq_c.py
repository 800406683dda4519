"""The C runtime against the Python reference: same ids, validation statuses, sanitizers, MCU build."""
import os
import re
import shutil
import subprocess
import zlib

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError
from sdk.resources import RUNTIME
from sdk.vq.native import NativeIndex
from test_vq_index import corrupt_blobs
from vq_data import gaussian_mixture

X = gaussian_mixture(2500, d=12)
Q = gaussian_mixture(40, d=12, seed=7)
SRC = RUNTIME
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CASES = [(None, 1, {}), ("atree", 1, {}), ("atree", 1, {"nprobe": 3, "budget": 150}),
         ("etree", 1, {"nprobe": 2, "budget": 60}), ("etree", 3, {"nprobe": 2, "budget": 100}),
         ("etree", 3, {}), ("atree", 1, {"nprobe": 8, "budget": 300}), ("ivf", 1, {}), ("ivf", 1, {"budget": 300})]


@pytest.fixture(scope="module")
def quantizer():
    return vq.train(X, method="da", stages=4, bits=5, beam=4, progress=False, iters=6)


def index_for(q, tree, forest, norm_bits=32):
    idx = vq.Index(q, tree=tree, forest=forest, norm_bits=norm_bits)
    idx.add(X)
    return idx


@pytest.mark.parametrize("tree,forest,kw", CASES)
def test_c_double_build_returns_python_ids(quantizer, tree, forest, kw):
    idx = index_for(quantizer, tree, forest)
    d_py, i_py = idx.search(Q, 10, **kw)
    d_c, i_c = NativeIndex(idx.to_bytes(), double=True).search(Q, 10, use_tree=tree is not None, **kw)
    np.testing.assert_array_equal(i_c, i_py)
    np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("tree", ["atree", "etree"])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("k,kw", [(10, {}), (10, {"nprobe": 3, "budget": 150}), (10, {"budget": 40}),
                                  (200, {"nprobe": 2, "budget": 90})])
def test_c_other_depths_return_python_ids(quantizer, tree, depth, k, kw):
    """One-level trees (IVF over the first codebook, which sdk.vq.tune may choose) and three-level A-Trees:
    the C double build returns the Python reference's ids (k = 200: the whole visited set is compared)."""
    idx = vq.Index(quantizer, tree=tree, depth=depth)
    idx.add(X)
    assert idx.trees[0].depth == depth
    d_py, i_py = idx.search(Q, k, **kw)
    d_c, i_c = NativeIndex(idx.to_bytes(), double=True).search(Q, k, use_tree=True, **kw)
    np.testing.assert_array_equal(i_c, i_py)
    np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("tree,forest,kw", [CASES[0], CASES[2], CASES[4]])
def test_c_8bit_norms_return_python_ids(quantizer, tree, forest, kw):
    """Format version 2 (one byte per item's norm): C (double) ranks with the same 8-bit norms as Python."""
    idx = index_for(quantizer, tree, forest, norm_bits=8)
    blob = idx.to_bytes()
    assert len(index_for(quantizer, tree, forest).to_bytes()) - len(blob) >= 3 * len(X) - 24
    d_py, i_py = idx.search(Q, 10, **kw)
    d_c, i_c = NativeIndex(blob, double=True).search(Q, 10, use_tree=tree is not None, **kw)
    np.testing.assert_array_equal(i_c, i_py)
    np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)
    d_f, _ = NativeIndex(blob, double=False).search(Q, 10, use_tree=tree is not None, **kw)
    np.testing.assert_allclose(d_f, d_py, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("tree,forest,kw", CASES)
def test_c_float_build_matches_up_to_rounding(quantizer, tree, forest, kw):
    idx = index_for(quantizer, tree, forest)
    d_py, i_py = idx.search(Q, 10, **kw)
    d_c, i_c = NativeIndex(idx.to_bytes(), double=False).search(Q, 10, use_tree=tree is not None, **kw)
    np.testing.assert_allclose(d_c, d_py, rtol=1e-4, atol=1e-3)
    # ids may differ only where two distances are equal within float32 rounding
    diff = i_c != i_py
    assert diff.mean() < 0.05
    assert np.all(np.abs(d_py[diff] - d_c[diff]) < 1e-3 * np.maximum(1, np.abs(d_py[diff])))


@pytest.mark.parametrize("tree,forest,kw", CASES)
def test_c_batch_lookup_table_groups_give_the_same_results(quantizer, tree, forest, kw):
    """sdk_vq_search_batch computes lookup tables for groups of queries when the scratch has room;
    every group size (40 queries: partial last groups too, and one group of all of them) returns exactly the
    one-at-a-time result."""
    nat = NativeIndex(index_for(quantizer, tree, forest).to_bytes(), double=True)
    d1, i1 = nat.search(Q, 10, use_tree=tree is not None, group=1, **kw)
    for group in (2, 3, 16, 33, 64):
        d, i = nat.search(Q, 10, use_tree=tree is not None, group=group, **kw)
        np.testing.assert_array_equal(i, i1)
        np.testing.assert_array_equal(d, d1)


def test_c_wide_frontier_selection_matches_python():
    """Frontiers wider than 64 entries go through the binned selection in C: 8-bit codes give 256
    level-0 nodes and thousands of leaves; the double build must return the Python ids."""
    q8 = vq.train(X, method="rvq", stages=3, bits=8, progress=False, iters=4)
    for tree in ("atree", "etree"):
        idx = index_for(q8, tree, 1)
        assert len(idx.trees[0].levels[0].code) > 64
        nat = NativeIndex(idx.to_bytes(), double=True)
        for nprobe, budget in ((5, 40), (100, 400), (None, 700)):
            d_py, i_py = idx.search(Q, 10, nprobe=nprobe, budget=budget)
            d_c, i_c = nat.search(Q, 10, use_tree=True, nprobe=nprobe or 0, budget=budget)
            np.testing.assert_array_equal(i_c, i_py)
            np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)


def test_c_fused_leaf_selection_matches_python():
    """With 8-bit codes in one tree, C fuses the last level's expansion with the leaf selection (no
    frontier written; the cut bin's leaves alone go through fr_select) when the budget binds below the
    kept nodes and more than 64 leaves compete: the double build returns Python's ids and distances,
    the float build agrees up to rounding. The A-Tree settings are checked to take that path; with k
    above the budget every selected item is in the result, so the selected set itself is compared."""
    q8 = vq.train(X, method="rvq", stages=4, bits=8, progress=False, iters=3)
    for tree in ("atree", "etree"):
        idx = index_for(q8, tree, 1)
        blob = idx.to_bytes()
        for nprobe, budget, k in ((12, 60, 120), (40, 250, 320), (120, 700, 10), (None, 1200, 10)):
            if tree == "atree":  # every query: > 64 leaves below its nprobe best cells, more items than the budget
                lv0, lv1 = idx.trees[0].levels[:2]
                lut, qn = idx.lookup_tables(Q)
                score = qn[:, None] - 2 * lut[:, 0, lv0.code] + lv0.norm
                best = np.argsort(score, axis=1, kind="stable")[:, :nprobe or len(lv0.code)]
                assert (lv0.count[best].sum(1) > 64).all() and (lv0.items[best].sum(1) > budget).all()
            d_py, i_py = idx.search(Q, k, nprobe=nprobe, budget=budget)
            d_c, i_c = NativeIndex(blob, double=True).search(Q, k, use_tree=True, nprobe=nprobe or 0, budget=budget)
            np.testing.assert_array_equal(i_c, i_py)
            np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)
            d_f, _ = NativeIndex(blob).search(Q, k, use_tree=True, nprobe=nprobe or 0, budget=budget)
            np.testing.assert_allclose(d_f, d_py, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("bits", [5, 8])
@pytest.mark.parametrize("stages", [5, 6, 7, 8, 9])
def test_c_unrolled_adc_loops_match_python(stages, bits):
    """The 8-bit ADC loops are written out for 5 to 8 summed stages (exhaustive: all stages; a tree: its
    rest stages): every count from 2 to 9 (exhaustive, A-Tree, E-Tree) against Python, double build; with 256
    codewords (bits 8) the rows of consecutive stages take the one-pointer loops (the forest's rest stages are
    not consecutive: the per-row loops). The
    trees run with a binding budget and with one larger than the kept level-0 nodes' items (then C scores
    those items without a frontier), single trees and a forest of 3."""
    q = vq.train(X[:800], method="rvq", stages=stages, bits=bits, progress=False, iters=2)
    for tree, forest, limits in ((None, 1, [{}]), ("atree", 1, [{}, {"nprobe": 4, "budget": 120}, {"nprobe": 3, "budget": 800}]),
                                 ("etree", 1, [{}, {"nprobe": 3, "budget": 90}, {"nprobe": 2, "budget": 800}]),
                                 ("etree", 3, [{"nprobe": 3, "budget": 90}, {"nprobe": 2, "budget": 800}])):
        idx = index_for(q, tree, forest)
        sizes = np.bincount(idx.codes[:, 0], minlength=q.ksub)
        assert sizes.max() * 3 < 800 < len(X)  # budget 800 covers any 3 level-0 nodes' items, not all items
        # -Os builds keep only the plain loop (SDK_VQ_UNROLL_ADC 0): checked once, with 8 stages
        for opt in ("-O2", "-Os") if stages == 8 else ("-O2",):
            nat = NativeIndex(idx.to_bytes(), double=True, opt=opt)
            for kw in limits:
                d_py, i_py = idx.search(Q, 10, **kw)
                d_c, i_c = nat.search(Q, 10, use_tree=tree is not None, **kw)
                np.testing.assert_array_equal(i_c, i_py)
                np.testing.assert_allclose(d_c, d_py, rtol=1e-6, atol=1e-6)


def _has_avx():
    import platform
    if platform.machine() != "x86_64":
        return False
    with open("/proc/cpuinfo") as f:
        return any(line.startswith("flags") and " avx " in f" {line.split(':', 1)[1].strip()} " for line in f)


@pytest.mark.parametrize("bits", [2, 3, 5, 7, 8])
def test_c_avx_lookup_table_kernel_is_identical(bits):
    """x86-64 builds for the baseline CPU compute the lookup tables with an AVX copy of the kernel when
    the CPU has AVX (64 codewords a pass, 32 in double), and the float build with an AVX-512 copy blocked over 4
    queries when it has AVX-512F: float and double results are bit for bit those of the baseline kernel
    (-DSDK_VQ_LUT_DISPATCH=0), the double build's ids are Python's. ksub 4, 8, 32, 128, 256 reach every pass
    and tail (and dim 12 is no multiple of a vector); groups of 1, 6 (4 + 2 single queries) and 8; trees too."""
    if not _has_avx():
        pytest.skip("no AVX on this machine: the AVX kernel is not taken")
    from sdk.vq.native import build_library
    for opt, built in (("-O2", True), ("-O2 -DSDK_VQ_LUT_DISPATCH=0", False)):  # the AVX copy is there
        syms = subprocess.run(["nm", str(build_library(False, opt))], capture_output=True, text=True).stdout
        assert ("lut_stage_avx" in syms) == built
        assert ("lut_stage_avx512" in syms) == built  # float build only
    syms = subprocess.run(["nm", str(build_library(True, "-O2"))], capture_output=True, text=True).stdout
    assert "lut_stage_avx" in syms and "lut_stage_avx512" not in syms
    q = vq.train(X, method="rvq", stages=3, bits=bits, progress=False, iters=2)
    opts = ("-O2", "-O2 -DSDK_VQ_LUT_AVX512=0", "-O2 -DSDK_VQ_LUT_DISPATCH=0")
    for tree, kw in ((None, {}), ("atree", {"nprobe": 3, "budget": 200})):
        idx = index_for(q, tree, 1)
        blob = idx.to_bytes()
        d_py, i_py = idx.search(Q, 10, **kw)
        for double in (False, True):
            runs = [NativeIndex(blob, double=double, opt=opt).search(Q, 10, use_tree=tree is not None, group=g, **kw)
                    for opt in opts for g in (1, 6, 8)]
            for d, i in runs[1:]:
                np.testing.assert_array_equal(i, runs[0][1])
                np.testing.assert_array_equal(d, runs[0][0])
            if double:
                np.testing.assert_array_equal(runs[0][1], i_py)
                np.testing.assert_allclose(runs[0][0], d_py, rtol=1e-6, atol=1e-6)


def _has_avx512f():
    with open("/proc/cpuinfo") as f:
        return any(line.startswith("flags") and " avx512f " in f" {line.split(':', 1)[1].strip()} " for line in f)


@pytest.mark.parametrize("bits", [7, 8])
def test_c_fma_lookup_table_option(bits):
    """-DSDK_VQ_LUT_FMA=1: the float build's AVX-512 copy uses fused multiply-adds (vfmadd on zmm registers in
    lut_stage_avx512); its results equal the exact build's up to the last bits of each table entry, and the ids
    are the Python reference's except where two distances are within float32 rounding. ksub 128 and 256: the
    64-codeword blocks; 40 queries in groups of 1, 6 and 32."""
    if not _has_avx():
        pytest.skip("no AVX on this machine: the AVX-512 copy is not built")
    from sdk.vq.native import build_library
    fma = "-O2 -DSDK_VQ_LUT_FMA=1"
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(build_library(False, fma))],
                         capture_output=True, text=True).stdout
    body = re.search(r"<lut_stage_avx512[.\w]*>:\n(.*?)\n\n", asm, re.S).group(1)  # gcc may name a clone .isra.0
    assert re.search(r"vfmadd\w*ps\s+.*zmm", body), "no fused multiply-add on zmm registers in lut_stage_avx512"
    exact = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(build_library(False, "-O2"))],
                           capture_output=True, text=True).stdout
    assert "vfmadd" not in exact
    if not _has_avx512f():
        pytest.skip("no AVX-512F on this machine: the FMA copy is built but not taken")
    q = vq.train(X, method="rvq", stages=3, bits=bits, progress=False, iters=2)
    for tree, kw in ((None, {}), ("atree", {"nprobe": 3, "budget": 200})):
        idx = index_for(q, tree, 1)
        d_py, i_py = idx.search(Q, 10, **kw)
        d_ex, _ = NativeIndex(idx.to_bytes(), opt="-O2").search(Q, 10, use_tree=tree is not None, **kw)
        for group in (1, 6, 32):
            d_c, i_c = NativeIndex(idx.to_bytes(), opt=fma).search(Q, 10, use_tree=tree is not None, group=group, **kw)
            np.testing.assert_allclose(d_c, d_ex, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(d_c, d_py, rtol=1e-4, atol=1e-3)
            diff = i_c != i_py
            assert diff.mean() < 0.05
            assert np.all(np.abs(d_py[diff] - d_c[diff]) < 1e-3 * np.maximum(1, np.abs(d_py[diff])))


def test_c_lookup_table_copies_clear_upper_registers():
    """The AVX and AVX-512 copies of the table kernel in a baseline (-O2) x86-64 build run vzeroupper before
    code built for SSE2 runs after them (gcc emits none there by itself): with dirty upper halves the SSE scan loops
    ran 2.6x slower on an AMD Zen 4 CPU. Before every ret or tail call out of each copy, the nearest vector
    instruction is a vzeroupper."""
    if not _has_avx():
        pytest.skip("no AVX on this machine: the copies are not built")
    from sdk.vq.native import build_library
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(build_library(False, "-O2"))],
                         capture_output=True, text=True).stdout
    for name in ("lut_stage_avx", "lut_stage_avx512"):
        body = re.search(rf"<{name}(?:\.[\w.]+)?>:\n(.*?)\n\n", asm, re.S).group(1)
        ops = [(f[1].split()[0], f[1]) for f in (line.split("\t") for line in body.splitlines()) if len(f) > 1]
        # leaving the function: a return, or a jump to another function (a tail call)
        exits = [i for i, (op, text) in enumerate(ops) if op.startswith("ret") or
                 (op == "jmp" and "<" in text and not re.search(rf"<{name}[.+>]", text))]
        assert exits, f"no exit found in {name}"
        for i in exits:  # walking back from the exit, a vzeroupper comes before any ymm / zmm instruction
            back = [op if op == "vzeroupper" else "vector" for op, text in reversed(ops[:i])
                    if op == "vzeroupper" or "ymm" in text or "zmm" in text]
            assert back and back[0] == "vzeroupper", f"{name}: {ops[i][1]} after vector code without vzeroupper"


def test_c_host_profile_build_matches_python():
    """The runtime built with the host profile's flags (targets/host.toml: -O3 -march=native -ffp-contract=fast; on
    an AVX-512 CPU the table comes from the AVX-512 copy called directly, with fused multiply-adds): distances
    within float rounding of Python's, ids Python's up to near-ties. ksub 128 and 256 (the 64-codeword blocks) and
    ksub 8 (the tails), 40 queries in groups of 1, 6 and 32, exhaustive and tree search."""
    import tomllib
    from sdk.resources import TARGETS_DIR
    flags = tomllib.loads((TARGETS_DIR / "host.toml").read_text())["toolchain"]["cflags"]
    opt = " ".join(f for f in flags if f.startswith(("-O", "-march", "-ffp-contract")))
    for bits in (3, 7, 8):
        q = vq.train(X, method="rvq", stages=3, bits=bits, progress=False, iters=2)
        for tree, kw in ((None, {}), ("atree", {"nprobe": 3, "budget": 200})):
            idx = index_for(q, tree, 1)
            d_py, i_py = idx.search(Q, 10, **kw)
            for group in (1, 6, 32):
                d_c, i_c = NativeIndex(idx.to_bytes(), opt=opt).search(Q, 10, use_tree=tree is not None, group=group,
                                                                      **kw)
                np.testing.assert_allclose(d_c, d_py, rtol=1e-4, atol=1e-3)
                diff = i_c != i_py
                assert diff.mean() < 0.05
                assert np.all(np.abs(d_py[diff] - d_c[diff]) < 1e-3 * np.maximum(1, np.abs(d_py[diff])))


def test_c_crc32_matches_zlib():
    import ctypes
    lib = NativeIndex(index_for(vq.train(X, "rvq", stages=1, bits=2, progress=False, iters=1), None, 1).to_bytes()).lib
    data = os.urandom(1000)
    out = ctypes.c_uint32()
    assert lib.sdk_vq_crc32(data, ctypes.c_size_t(len(data)), ctypes.byref(out)) == 0
    assert out.value == zlib.crc32(data)


def test_c_rejects_corrupt_blobs(quantizer):
    blob = index_for(quantizer, "etree", 2).to_bytes()
    expect = {"empty": "truncated", "short header": "truncated", "truncated body": "truncated",
              "magic": "bad format", "version": "bad format", "bit flip": "checksum",
              "code out of range": "bad format", "section offset": "truncated", "nan norm": "bad format",
              "inf codebook": "bad format"}
    for label, data, _ in corrupt_blobs(blob):
        with pytest.raises(FormatError, match=expect[label]):
            NativeIndex(data)


def _make(out, cflags):
    r = subprocess.run(["make", "-s", "-C", str(out), f"CFLAGS={cflags}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out / "vq_demo"


def _parse(text):
    rows = [[tok.split(":") for tok in line.split()] for line in text.strip().splitlines()]
    return (np.array([[int(a) for a, _ in r] for r in rows]), np.array([[float(b) for _, b in r] for r in rows]))


@pytest.mark.parametrize("tree,forest,kw,norm_bits", [(None, 1, {}, 32), ("etree", 2, {"nprobe": 2, "budget": 80}, 32),
                                                      ("atree", 1, {"nprobe": 8, "budget": 300}, 32),
                                                      ("ivf", 1, {"nprobe": 1, "budget": 300}, 32),
                                                      ("etree", 2, {"nprobe": 2, "budget": 80}, 8)])
def test_exported_bundle_under_sanitizers(quantizer, tree, forest, kw, norm_bits, tmp_path):
    """Export, build the demo with gcc + ASan/UBSan (double: exact ids), run it, compare with Python."""
    idx = index_for(quantizer, tree, forest, norm_bits)
    out = idx.export(tmp_path / "bundle")
    exe = _make(out, " ".join(STRICT) + f" -O1 -g -fno-var-tracking -DSDK_VQ_DOUBLE {SANITIZE}")
    assert "__asan_init" in subprocess.run(["nm", str(exe)], capture_output=True, text=True).stdout
    qfile = tmp_path / "q.f32"
    Q.astype("<f4").tofile(qfile)
    args = [str(exe), str(qfile), "-k", "7"]
    if tree:
        args += ["--tree", str(kw["nprobe"]), str(kw["budget"])]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    ids, dist = _parse(r.stdout)
    d_py, i_py = idx.search(Q, 7, **kw)
    np.testing.assert_array_equal(ids, i_py)
    np.testing.assert_allclose(dist, d_py, rtol=1e-6, atol=1e-6)
    # the same demo reading the index from a file (--index) agrees
    r2 = subprocess.run(args + ["--index", str(out / "vq_index.svq")], capture_output=True, text=True, env=env)
    assert r2.returncode == 0 and r2.stdout == r.stdout
    # and every corrupt variant of the file gives a status, not a crash (sanitizers are on)
    for label, data, _ in corrupt_blobs(idx.to_bytes()):
        if label == "nan norm" and norm_bits == 8:  # 8-bit norms have no NaN: any byte is a valid norm
            continue
        bad = tmp_path / "bad.svq"
        bad.write_bytes(data)
        r3 = subprocess.run(args + ["--index", str(bad)], capture_output=True, text=True, env=env)
        assert r3.returncode == 1, (label, r3.stderr)
        assert "opening index:" in r3.stderr and "status" in r3.stderr, (label, r3.stderr)


def test_exported_bundle_default_makefile(quantizer, tmp_path):
    """`make -C OUT` with the bundle's own flags (gcc -O2) builds and runs without Python."""
    idx = index_for(quantizer, "atree", 1)
    out = idx.export(tmp_path / "b")
    r = subprocess.run(["make", "-s", "-C", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    Q[:3].astype("<f4").tofile(tmp_path / "q.f32")
    r = subprocess.run([str(out / "vq_demo"), str(tmp_path / "q.f32"), "-k", "5", "-o", str(tmp_path / "o.txt")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ids, _ = _parse((tmp_path / "o.txt").read_text())
    assert ids.shape == (3, 5)
    np.testing.assert_array_equal(ids[:, 0], idx.search(Q[:3], 5)[1][:, 0])


def test_c_sources_strict_warnings_both_precisions(tmp_path):
    for extra in ([], ["-DSDK_VQ_DOUBLE"]):
        r = subprocess.run(["gcc", *STRICT, "-O2", *extra, f"-I{SRC / 'include'}", "-c",
                            str(SRC / "src/sdk_vq.c"), "-o", str(tmp_path / "o.o")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("fpu", [[], ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]])
def test_cortex_m4_compile(fpu, tmp_path):
    obj = tmp_path / "sdk_vq.o"
    r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", *fpu, "-Os", *STRICT,
                        f"-I{SRC / 'include'}", "-c", str(SRC / "src/sdk_vq.c"), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # no heap and no mutable globals: the object has no .data/.bss and references no malloc
    syms = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True).stdout
    assert "malloc" not in syms and not re.search(r" [bBdD] ", syms), syms
    size = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True).stdout
    sections = {ln.split()[0]: int(ln.split()[1]) for ln in size.splitlines() if ln.startswith(".")}
    assert sections.get(".data", 0) == 0 and sections.get(".bss", 0) == 0
