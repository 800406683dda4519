"""The IVF search's cell ranking in the C runtime's AVX-512 builds (runtime_c/src/sdk_vq.c): ivf_level0 (the cells'
scores, node records read 16 at a time), the best-first order built a few bins at a time (bf_chunk, AVX-512 BW) and
the AMX table's vectorised scaling return, bit for bit, what the portable build (-O2, none of them) returns, and the
double build with the same flags ranks as the Python reference does. 8 stages of 256 codewords (the case
ivf_level0 takes), 64-d (AMX takes blocks of 32 queries where the CPU has it), cell counts that are not multiples
of 16, spilled and not, budget and adaptive stop, zero, far and nearly equal queries."""
import numpy as np
import pytest

from conftest import gcc_macros
from sdk import vq
from sdk.vq.native import NativeIndex
from vq_data import edge_queries, gaussian_mixture, rvq8

HOST = "-O3 -march=native -ffp-contract=fast"

pytestmark = pytest.mark.skipif(not {"__AVX512BW__", "__AVX512F__"} <= gcc_macros(HOST), reason="this CPU's "
                                "-march=native has no AVX-512 BW: the builds compared here would be the same code")


@pytest.fixture(scope="module")
def quantizer():
    return rvq8(1500, d=64, seed=11)


def _queries(n=70, d=64):
    return edge_queries(n, d, seed=12)  # the zero query: every cell scores its norm


@pytest.mark.parametrize("cells,spill", [(203, 0.0), (203, 4.0), (37, 4.0), (9, 0.0)])
def test_vectorised_cell_ranking_equals_the_portable_build(quantizer, cells, spill):
    x = gaussian_mixture(3000, d=64, seed=13)
    idx = vq.Index(quantizer, tree="ivf", cells=cells, spill=spill)
    idx.add(x)
    blob, queries = idx.to_bytes(), _queries()
    host, portable = NativeIndex(blob, opt=HOST), NativeIndex(blob, opt="-O2")
    dbl = NativeIndex(blob, double=True, opt=HOST)
    scale = float(np.median(idx.search(queries, 10, exhaustive=True)[0][:, -1]))
    visited_some = False
    for f, budget in ((0.01, 0), (0.2, 0), (0.5, 400), (1e6, 0), (0.0, 300), (0.0, 0)):
        margin = float(np.float32(f * scale))
        for group in (1, 32):
            kw = dict(use_tree=True, budget=budget, margin=margin, group=group)
            d_h, i_h = host.search(queries, 10, **kw)
            d_p, i_p = portable.search(queries, 10, **kw)
            np.testing.assert_array_equal(i_h, i_p)
            np.testing.assert_array_equal(d_h, d_p)  # the same float sums, scores and visiting order
        _, i_py = idx.search(queries, 10, budget=budget or None, margin=margin or None)
        _, i_d = dbl.search(queries, 10, use_tree=True, budget=budget, margin=margin, group=32)
        np.testing.assert_array_equal(i_d, i_py)
        visited_some |= bool((i_h >= 0).any())
    assert visited_some


def test_nan_query_in_the_vectorised_build(quantizer):
    """A NaN query scores every cell NaN: the chunked order falls back to one bin and both builds return nothing
    for it (and the other queries' results)."""
    idx = vq.Index(quantizer, tree="ivf", cells=50, spill=4.0)
    idx.add(gaussian_mixture(800, d=64, seed=14))
    q = _queries(40)
    q[5, 7] = np.nan
    blob = idx.to_bytes()
    for margin in (0.0, 1e6):
        out = [NativeIndex(blob, opt=o).search(q, 10, use_tree=True, margin=margin, group=32) for o in (HOST, "-O2")]
        np.testing.assert_array_equal(out[0][1], out[1][1])
        assert (out[0][1][5] == -1).all() and (out[0][1][6:] >= 0).all()
