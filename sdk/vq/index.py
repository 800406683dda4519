"""A searchable index of RVQ-family codes: exhaustive ADC or A-Tree / E-Tree / E-Forest search.

ADC for a sum of codewords: ||q - sum_m c_m||^2 = ||q||^2 - 2 sum_m <q, c_m> + ||sum_m c_m||^2.
The inner products come from a (stages, ksub) lookup table per query; the last term is stored
per item (float32). All search arithmetic is float64 in the same order as the C runtime built
with SDK_VQ_DOUBLE, so both return the same ids.
"""
from pathlib import Path

import numpy as np

from ..errors import FormatError, SdkError
from . import index_file, lut8
from .quantizer import Quantizer, _check_data
from .tree import MAX_DEPTH, MAX_TREES, build_ivf, build_tree, forest_key_stages, margin_search, tree_candidates

TREES = {"atree": 2, "etree": 3, "ivf": 1}  # kind -> default depth
# the SOAR weight of Index(tree="ivf", spill=SPILL), the tune's "ivf-spill" tree (tree.soar_cells): on the
# bench's MiniLM word pieces (near-isotropic) 4 and 8 needed about the same items at equal held-out recall, 1 more
# (bench/RESULTS_vq.md, 2026-12-07 vq44)
SPILL = 4.0
TREE_CHOICES = ("atree", "etree", "ivf", "ivf-spill")  # the tune's tree kinds


def index_for(quantizer, kind, depth=None, **kw):
    """Index(quantizer, ...) for one of the tune's tree kinds (TREE_CHOICES; "ivf-spill" = ivf, spill=SPILL)."""
    if kind == "ivf-spill":
        return Index(quantizer, tree="ivf", depth=depth, spill=SPILL, **kw)
    return Index(quantizer, tree=kind, depth=depth, **kw)
_CELLS = 1 << 22                   # float64 cells per exhaustive-search block (32 MiB)


def top_k_groups(qidx, dist, ids, nq, k):
    """Per query, the k smallest (dist, id) pairs of a flat candidate list; pads with (inf, -1)."""
    out_d = np.full((nq, k), np.inf, np.float64)
    out_i = np.full((nq, k), -1, np.int64)
    if not len(qidx):
        return out_d, out_i
    order = np.lexsort((ids, dist, qidx))
    qs = qidx[order]
    first = np.searchsorted(qs, np.arange(nq))
    rank = np.arange(len(qs)) - first[qs]
    sel = rank < k
    out_d[qs[sel], rank[sel]] = dist[order][sel]
    out_i[qs[sel], rank[sel]] = ids[order][sel]
    return out_d, out_i


class Index:
    """Codes of a database plus an optional search tree.

    tree: None (exhaustive ADC), "atree" (2-level aggregating tree over stages 0,1) or
    "etree" (3-level code trie); forest > 1 builds that many trees keyed by different stages; "ivf" (one level
    of k-means cells of the decoded items, `cells` of them, default tree.ivf_cells(n); centroids stored as codes);
    spill > 0 (ivf only) also stores every item in a second cell (tree.soar_cells, that weight): see SPILL.
    norm_bits: 32 stores each item's ||decoded||^2 as float32 (4 bytes), 8 as one byte on a
    uniform grid over [min, max] (format version 2; the search uses the 8-bit values, in Python
    and C alike).
    table_bits: 8 (the default where dim <= 65,536) computes each query's lookup table from int8 codebooks and
    an int8 query with power-of-two scales (sdk/vq/lut8.py, format version 3): exact integer dot products, the same
    entries in Python and every C build, ~3x faster tables in C on CPUs with int8 multiply-adds (AVX-512 VNNI);
    32 from the float codebooks (float64 here, float or double in C).
    """

    def __init__(self, quantizer, tree=None, depth=None, forest=1, norm_bits=32, cells=None, table_bits=None,
                 spill=0.0):
        if not isinstance(quantizer, Quantizer):
            raise SdkError("Index needs a Quantizer (from sdk.vq.train)")
        if tree not in (None, *TREES):
            raise SdkError(f"unknown tree '{tree}' (expected atree, etree, ivf or none)")
        self.quantizer, self.tree_kind = quantizer, tree
        self.depth = min(depth or TREES.get(tree, 1), quantizer.stages, MAX_DEPTH)
        if tree and not 1 <= forest <= MAX_TREES:
            raise SdkError(f"forest must be 1..{MAX_TREES}, got {forest}")
        if tree == "ivf" and (self.depth != 1 or forest != 1):
            raise SdkError(f"an ivf tree has one level and no forest (depth {depth}, forest {forest})")
        if cells is not None and (tree != "ivf" or cells < 1):
            raise SdkError(f"cells (>= 1) applies to the ivf tree only, got {cells} for {tree}")
        if spill and tree != "ivf" or not spill >= 0:
            raise SdkError(f"spill (>= 0) applies to the ivf tree only, got {spill} for {tree}")
        self.cells, self.spill = cells, float(spill)
        self.forest = forest if tree else 0
        if norm_bits not in (32, 8):
            raise SdkError(f"norm_bits must be 32 or 8, got {norm_bits}")
        self.norm_bits, self._norm_quant = norm_bits, None
        if table_bits is None:
            table_bits = 8 if quantizer.dim <= lut8.MAX_DIM else 32
        if table_bits not in (32, 8) or table_bits == 8 and quantizer.dim > lut8.MAX_DIM:
            raise SdkError(f"table_bits must be 32 or 8 (8 for dim <= {lut8.MAX_DIM}), got {table_bits}")
        self.table_bits = table_bits
        self.codes = np.zeros((0, quantizer.stages), quantizer.code_dtype)
        self.norms = np.zeros(0, np.float32)
        self._trees = None

    ntotal = property(lambda self: len(self.codes))

    def add(self, x):
        """Encode x (n, dim) and append; ids are consecutive from the current ntotal."""
        self.add_codes(self.quantizer.encode(x))

    def add_codes(self, codes):
        codes = np.asarray(codes, self.quantizer.code_dtype)
        rec = self.quantizer.decode(codes)
        self.codes = np.concatenate([self.codes, codes])
        self.norms = np.concatenate([self.norms, np.einsum("ij,ij->i", rec, rec).astype(np.float32)])
        self._trees = self._norm_quant = None

    @property
    def norm_quant(self):
        """(lo, step, u8 codes) of the 8-bit norms (None with float32 norms)."""
        if self.norm_bits == 32:
            return None
        if self._norm_quant is None:
            self._norm_quant = index_file.quantize_norms(self.norms)
        return self._norm_quant

    def search_norms(self):
        """The per-item ADC term the search adds, float64: the stored float32 or 8-bit values."""
        nq = self.norm_quant
        if nq is None:
            return self.norms.astype(np.float64)
        return np.float64(nq[0]) + np.float64(nq[1]) * nq[2].astype(np.float64)

    @property
    def trees(self):
        if self._trees is None and self.tree_kind == "ivf":
            self._trees = [build_ivf(self.codes, self.quantizer, self.cells, spill=self.spill)]
        if self._trees is None:
            keys = forest_key_stages(self.quantizer.stages, self.depth, self.forest) if self.tree_kind else []
            self._trees = [build_tree(self.codes, self.quantizer.codebooks, ks) for ks in keys]
        return self._trees

    def lookup_tables(self, q):
        """(nq, stages, ksub) float64 <q, c_m,j> (8-bit tables: lut8.tables), and ||q||^2 (nq,)."""
        q64 = q.astype(np.float64)
        if self.table_bits == 8:
            return lut8.tables(q, self.quantizer.codebooks), np.einsum("qd,qd->q", q64, q64)
        books = self.quantizer.codebooks.astype(np.float64)
        return np.einsum("qd,mkd->qmk", q64, books, optimize=True), np.einsum("qd,qd->q", q64, q64)

    def search(self, q, k=10, nprobe=None, budget=None, exhaustive=False, margin=None):
        """k nearest items of each query by ADC distance: (distances float32 (nq, k), ids int64).

        With a tree (and exhaustive=False): nprobe = nodes kept per level, budget = items visited
        per tree; None means unlimited (then the result equals exhaustive ADC). margin (> 0, squared-distance
        units): adaptive stop, the last level's leaves best first until a leaf's score exceeds the k-th best
        distance so far plus the margin (the C runtime's sdk_vq_params.margin; tree.margin_search).
        Missing results (k > candidates) are id -1 with distance inf.
        """
        q, k, nprobe, budget = check_search_args(q, self.quantizer.dim, k, nprobe, budget)
        if margin is not None and not margin > 0:
            raise SdkError(f"margin must be > 0 (None: off), got {margin}")
        margin = None if margin is None else float(np.float32(margin))  # the C parameter is a float
        out_d = np.empty((len(q), k), np.float32)
        out_i = np.empty((len(q), k), np.int64)
        step = self.query_step(self.ntotal, exhaustive)
        for s in range(0, len(q), step):
            lut, qn = self.lookup_tables(q[s:s + step])
            d, i = top_k_groups(*self.candidates(lut, qn, k, nprobe, budget, exhaustive, margin), len(lut), k)
            out_d[s:s + step], out_i[s:s + step] = d, i
        return out_d, out_i

    def query_step(self, ntotal, exhaustive):
        """Queries per lookup-table block (bounds the exhaustive block's distance matrix)."""
        if self.tree_kind is not None and not exhaustive:
            return 32
        return max(1, min(64, _CELLS // max(ntotal, 1)))

    def candidates(self, lut, qn, k, nprobe, budget, exhaustive=False, margin=None):
        """(query index, float64 distance, item id) of every candidate for a block of lookup
        tables; top_k_groups of them is the search result."""
        if self.tree_kind is not None and not exhaustive:
            nprobe, budget = nprobe or self.quantizer.ksub ** MAX_DEPTH, budget or max(self.ntotal, 1)
            if margin:
                return margin_search(self.trees, lut, qn, self.search_norms(), nprobe, budget, margin, k)
            return self._tree_block(lut, qn, nprobe, budget)
        return self._exhaustive_block(lut, qn, k)

    def _exhaustive_block(self, lut, qn, k):
        acc = np.zeros((len(lut), self.ntotal))
        for m in range(self.quantizer.stages):
            acc += lut[:, m, :][:, self.codes[:, m]]
        dist = qn[:, None] - 2.0 * acc + self.search_norms()
        if not self.ntotal:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        # keep every item tied with the k-th distance so that ties break by id, as in C
        kk = min(k, self.ntotal) - 1
        kth = np.partition(dist, kk, axis=1)[:, kk]
        qi, ii = np.nonzero(dist <= kth[:, None])
        return qi, dist[qi, ii], ii

    def _tree_block(self, lut, qn, nprobe, budget):
        norms = self.search_norms()
        parts = [tree_candidates(t, lut, qn, norms, nprobe, budget) for t in self.trees]
        qi = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        if (len(parts) > 1 or len(self.trees[0].ids) > self.ntotal) and len(qi):
            # an item found by several trees (or twice in a spilled IVF tree: same distance) counts once
            order = np.lexsort((np.arange(len(qi)), ids, qi))
            dup = np.zeros(len(qi), bool)
            dup[order[1:]] = (qi[order[1:]] == qi[order[:-1]]) & (ids[order[1:]] == ids[order[:-1]])
            qi, ids, dist = qi[~dup], ids[~dup], dist[~dup]
        return qi, dist, ids

    # --- persistence -------------------------------------------------------------------------
    def to_bytes(self):
        return index_file.to_bytes(self.quantizer, self.codes, self.norms, self.tree_kind, self.trees,
                                   self.norm_quant, self.table_bits)

    def save(self, path):
        Path(path).write_bytes(self.to_bytes())

    def export(self, out, name="vq_index"):
        """Write a C bundle (index as a C array, runtime sources, demo main, Makefile) to `out`."""
        from .export import export_bundle
        return export_bundle(self, out, name)


def check_search_args(q, dim, k, nprobe, budget):
    q = _check_data(q, dim)
    if k < 1:
        raise SdkError(f"k must be >= 1, got {k}")
    if nprobe is not None and nprobe < 1 or budget is not None and budget < 1:
        raise SdkError("nprobe and budget must be >= 1")
    return q, k, nprobe, budget


def from_bytes(data, name="index"):
    """Index from a blob (validated; FormatError if corrupt)."""
    q, codes, norms, tree_kind, trees, norm_quant, table_bits = index_file.from_bytes(data, name)
    idx = Index(q, tree=tree_kind, depth=trees[0].depth if trees else None, forest=len(trees) or 1,
                norm_bits=32 if norm_quant is None else 8, table_bits=table_bits)
    idx.codes, idx.norms, idx._norm_quant = codes, norms, norm_quant
    idx._trees = trees if tree_kind else None
    return idx


def load(path):
    """Load an index file written by Index.save(); FormatError if it is corrupt or truncated."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror})") from None
    return from_bytes(data, str(path))
