"""The 8-bit lower-bound tables of the C runtime (runtime_c/src/sdk_vq.c SDK_VQ_BOUND8: 8-stage, 256-codeword scans
pruned before the float sums, in builds for AVX-512 VBMI): the host-profile build returns exactly the distances and
ids of the same build with -DSDK_VQ_BOUND8=0 (the plain scan), for exhaustive ADC and IVF trees (plain and spilled,
budget and adaptive stop), float and 8-bit norms, float and 8-bit tables, ties, runs shorter than a block, large and
degenerate queries; and the ids of the Python reference."""
import subprocess

import numpy as np
import pytest

from conftest import gcc_macros
from sdk import vq
from sdk.vq.native import NativeIndex
from vq_data import edge_queries, gaussian_mixture, rvq8

PLAIN = "-DSDK_VQ_BOUND8=0"


def _host_opt():
    import tomllib
    from sdk.resources import TARGETS_DIR
    flags = tomllib.loads((TARGETS_DIR / "host.toml").read_text())["toolchain"]["cflags"]
    return " ".join(f for f in flags if f.startswith(("-O", "-march", "-ffp-contract")))


OPT = _host_opt()


pytestmark = pytest.mark.skipif(not {"__AVX512VBMI__", "__AVX512BW__"} <= gcc_macros(OPT), reason="the host "
                                "profile does not target AVX-512 VBMI here: the bound tables are not built (the plain "
                                "scan is the only one)")


@pytest.fixture(scope="module")
def quantizer():
    return rvq8(1200, d=24, seed=3)


def _queries(n=48, d=24):
    return edge_queries(n, d, seed=9)


def _same(idx, queries, k, **kw):
    blob = idx.to_bytes()
    use_tree = idx.tree_kind is not None
    runs = []
    for opt in (OPT, f"{OPT} {PLAIN}"):
        nat = NativeIndex(blob, opt=opt)
        runs.append([nat.search(queries, k, use_tree=use_tree, group=g, **kw) for g in (1, 32)])
    for (d_b, i_b), (d_p, i_p) in zip(*runs):
        np.testing.assert_array_equal(i_b, i_p)
        np.testing.assert_array_equal(d_b, d_p)  # bit for bit: the same float sums
    return runs[0][1]


@pytest.mark.parametrize("n", [1, 63, 64, 65, 130, 2000])
@pytest.mark.parametrize("norm_bits,table_bits", [(32, 8), (8, 8), (32, 32)])
def test_exhaustive_scan_is_the_plain_scan(quantizer, n, norm_bits, table_bits):
    x = gaussian_mixture(n, d=24, seed=5)
    idx = vq.Index(quantizer, norm_bits=norm_bits, table_bits=table_bits)
    idx.add(x)
    for k in (1, 10, 100):
        d, ids = _same(idx, _queries(), k)
        if n >= k:
            _, ref = idx.search(_queries(), k)
            assert (ids == ref).mean() > 0.97  # the Python reference (float64) up to float near-ties
            assert (ids[:, :1] == ref[:, :1]).mean() > 0.97


def test_ties_break_by_id_as_in_the_plain_scan(quantizer):
    """Many items at the same distance (repeated rows): the k-th best is a tie; equal items must not be dropped."""
    base = gaussian_mixture(40, d=24, seed=6)
    x = np.repeat(base, 25, axis=0)  # 1,000 items, 25 copies of each
    idx = vq.Index(quantizer)
    idx.add(x)
    _, ids = _same(idx, _queries(), 10)
    _, ref = idx.search(_queries(), 10)
    np.testing.assert_array_equal(ids[3:], ref[3:])  # row 1 is far away: its distances are 1e8, ties within rounding


@pytest.mark.parametrize("spill", [0.0, 4.0])
def test_ivf_tree_search_is_the_plain_scan(quantizer, spill):
    x = gaussian_mixture(2500, d=24, seed=8)
    idx = vq.Index(quantizer, tree="ivf", cells=40, spill=spill)
    idx.add(x)
    for kw in ({}, {"budget": 300}, {"budget": 3000}, {"budget": 600, "margin": 0.5}, {"budget": 0, "margin": 2.0}):
        _same(idx, _queries(), 10, **kw)


def test_nan_query_returns_nothing_in_both(quantizer):
    idx = vq.Index(quantizer)
    idx.add(gaussian_mixture(300, d=24, seed=2))
    q = _queries(4)
    q[0, 5] = np.nan
    _, ids = _same(idx, q, 10)
    assert (ids[0] == -1).all() and (ids[1:] >= 0).all()


def test_bundle_under_sanitizers_matches_the_plain_build(quantizer, tmp_path):
    """The exported demo built for this CPU (-march=native: the bound tables) with ASan/UBSan prints what the plain
    build prints: exhaustive ADC and a spilled IVF tree, 8-bit norms (n not a multiple of 64: masked tails)."""
    import os
    sanitize = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
    idx = vq.Index(quantizer, tree="ivf", cells=30, spill=4.0, norm_bits=8)
    idx.add(gaussian_mixture(1001, d=24, seed=4))
    out = idx.export(tmp_path / "bundle")
    qfile = tmp_path / "q.f32"
    _queries(20).astype("<f4").tofile(qfile)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
    prints = []
    for extra in ("", PLAIN):
        subprocess.run(["make", "-s", "-C", str(out), "clean"], capture_output=True)
        r = subprocess.run(["make", "-s", "-C", str(out), f"CFLAGS=-std=c99 -Wall -Wextra -Werror -O1 -g -march=native "
                            f"{sanitize} {extra}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        runs = [subprocess.run([str(out / "vq_demo"), str(qfile), "-k", "10", *tree], capture_output=True, text=True,
                               env=env) for tree in ([], ["--tree", "1", "400"], ["--tree", "1", "0"])]
        assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
        prints.append([r.stdout for r in runs])
    assert prints[0] == prints[1] and all(len(p.splitlines()) == 20 for p in prints[0])
