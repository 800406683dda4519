"""The index file format (".svq"): one little-endian blob that the C runtime reads in place.

Layout (docs/vq.md has the full table). Every section starts at a multiple of 8 bytes:
  header   16 x u32: magic "SDVQ", version, total_size, crc32, dim, stages, ksub, code_bytes,
           n, method, tree_kind, n_trees, codebooks_off, norms_off, codes_off, trees_off
  codebooks f32 [stages][dim][ksub]  (transposed: the C lookup-table loop runs over codewords)
  norms     f32 [n]                  ||decoded vector||^2, the per-item ADC term
           (version 2: u8 [n], the norm is lo + step * u8; lo, step in the header's words 17, 18)
  codes     u8/u16 [n][stages]
  trees     n_trees x 16 u32 headers: depth, n_rest, key_stages[4], level_count[4],
           level_off[4], ids_off, rest_off; then per tree the level node arrays
           ({u32 code, u32 start, u32 count, f32 norm} each), ids u32 [n], rest codes [n][n_rest]
           ivf (tree kind 3): one tree, depth 1, n_rest = stages, key_stages[0] = stages (the cell table), word 3
           (key_stages[1]) = offset of the cell centroids' codes [level_count[0]][stages]; a node's code is its row
           there and its norm ||decoded centroid||^2; word 4 (key_stages[2]) = the tree's positions P when items are
           stored in two cells (Index spill; ids, rest codes and leaf-order norms then have P rows, P >= n; 0 = n)
           word 5 (key_stages[3]) of a single tree of depth <= 3 = offset of its items' norms in leaf order (the
           norms section's type; norms[ids[pos]] at pos, read by the search in the order it visits items); 0 =
           absent (forests; files written before 2026-12-06, which readers still search the same way, as readers
           from before read the new files)
crc32 (zlib polynomial) covers bytes [16, total_size).
Version 2 (written only for 8-bit norms) has a 20-word header: words 16..19 are norm_bytes (1),
lo (f32), step (f32), 0; version 1 files (f32 norms) are written and read as before.
Version 3 (8-bit lookup tables, sdk/vq/lut8.py) has a 24-word header: words 16..19 as version 2 but norm_bytes
4 or 1 (lo = step = 0 with 4), word 20 = offset of the 8-bit codebooks u8 [stages][ceil(dim/4)][ksub][4]
(int8 + 128), word 21 = offset of their exponents i8 [stages][ksub], words 22, 23 = 0. Both are the float
codebooks' lut8.pack_codebooks (a reader checks that); the search computes its tables from them.
"""
import zlib

import numpy as np

from ..errors import FormatError
from .quantizer import METHODS, Quantizer
from .tree import MAX_DEPTH, MAX_TREES, Level, PrefixTree, set_subtree_items

MAGIC = b"SDVQ"
VERSION = 1
VERSIONS = (1, 2, 3)
HEADER_WORDS = 16
HEADER_WORDS_V2 = 20
HEADER_WORDS_V3 = 24
TREE_WORDS = 16
TREE_KINDS = (None, "atree", "etree", "ivf")
_NODE = np.dtype([("code", "<u4"), ("start", "<u4"), ("count", "<u4"), ("norm", "<f4")])


def _align(n):
    return (n + 7) & ~7


def quantize_norms(norms):
    """8-bit norms: (lo, step, u8 codes) with norm ~ lo + step * code (uniform over [min, max]); float32 lo, step."""
    norms = np.asarray(norms, np.float32)
    if not len(norms):
        return np.float32(0), np.float32(0), np.zeros(0, np.uint8)
    lo, hi = np.float32(norms.min()), np.float32(norms.max())
    step = np.float32((np.float64(hi) - lo) / 255)
    u = np.zeros(len(norms), np.uint8) if step == 0 else \
        np.clip(np.rint((norms.astype(np.float64) - lo) / step), 0, 255).astype(np.uint8)
    return lo, step, u


def to_bytes(quantizer, codes, norms, tree_kind, trees, norm_quant=None, table_bits=32):
    """Serialise an index. codes (n, stages) uint8/16, norms (n,) float32, trees list of PrefixTree.
    norm_quant: (lo, step, u8 codes) stores 8-bit norms (version 2); None stores float32 norms.
    table_bits 8 adds the 8-bit codebooks of the lookup tables (version 3, either norm kind)."""
    n, stages = codes.shape
    cb = 1 if quantizer.ksub <= 256 else 2
    ctype = "<u1" if cb == 1 else "<u2"
    version = 3 if table_bits == 8 else 1 if norm_quant is None else 2
    head_words = (HEADER_WORDS, HEADER_WORDS_V2, HEADER_WORDS_V3)[version - 1]
    parts, off = [], head_words * 4 + TREE_WORDS * 4 * len(trees)

    def place(arr):
        nonlocal off
        off = _align(off)
        parts.append((off, np.ascontiguousarray(arr).tobytes()))
        start = off
        off += parts[-1][1].__len__()
        return start

    cb_off = place(quantizer.codebooks.transpose(0, 2, 1).astype("<f4"))
    norms_off = place(norms.astype("<f4") if norm_quant is None else norm_quant[2].astype("<u1"))
    codes_off = place(codes.astype(ctype))
    if version == 3:
        from .lut8 import pack_codebooks
        u8, exps = pack_codebooks(quantizer.codebooks)
        lut8_off, exps_off = place(u8), place(exps.astype("i1"))
    tree_headers = []
    for t in trees:
        hdr = np.zeros(TREE_WORDS, "<u4")
        hdr[0], hdr[1] = t.depth, t.rest.shape[1]
        hdr[2:2 + t.depth] = t.key_stages
        if t.is_ivf:
            hdr[3] = place(t.cell_codes.astype(ctype))
            hdr[4] = len(t.ids) if len(t.ids) != n else 0  # positions: spilled items are stored twice
        if len(trees) == 1 and t.depth <= 3:  # leaf order: the C search reads them in the order it visits items
            hdr[5] = place((norms.astype("<f4") if norm_quant is None else norm_quant[2].astype("<u1"))[t.ids])
        for l, lv in enumerate(t.levels):
            nodes = np.zeros(len(lv.code), _NODE)
            nodes["code"], nodes["start"], nodes["count"], nodes["norm"] = lv.code, lv.start, lv.count, lv.norm
            hdr[6 + l] = len(nodes)
            hdr[10 + l] = place(nodes)
        hdr[14] = place(t.ids.astype("<u4"))
        hdr[15] = place(t.rest.astype(ctype))
        tree_headers.append(hdr)
    total = _align(off)
    buf = bytearray(total)
    for o, b in parts:
        buf[o:o + len(b)] = b
    head = np.array([0, version, total, 0, quantizer.dim, stages, quantizer.ksub, cb,
                     n, METHODS.index(quantizer.method), TREE_KINDS.index(tree_kind), len(trees),
                     cb_off, norms_off, codes_off, head_words * 4 if trees else 0], "<u4")
    buf[0:64] = head.tobytes()
    buf[0:4] = MAGIC
    if version >= 2:
        buf[64:80] = np.array([4 if norm_quant is None else 1, 0, 0, 0], "<u4").tobytes()
        if norm_quant is not None:
            buf[68:76] = np.array(norm_quant[:2], "<f4").tobytes()
    if version == 3:
        buf[80:96] = np.array([lut8_off, exps_off, 0, 0], "<u4").tobytes()
    for i, hdr in enumerate(tree_headers):
        t0 = head_words * 4 + TREE_WORDS * 4 * i
        buf[t0:t0 + TREE_WORDS * 4] = hdr.tobytes()
    buf[12:16] = np.array([zlib.crc32(bytes(buf[16:]))], "<u4").tobytes()
    return bytes(buf)


def from_bytes(data, name="index"):
    """Parse and fully validate a blob; returns (quantizer, codes, norms, tree_kind, trees, norm_quant, table_bits)
    (norm_quant: (lo, step, u8 codes) for 8-bit norms, whose float32 values norms holds; else None;
    table_bits: 8 for a file with 8-bit lookup-table codebooks (version 3), else 32).

    Raises FormatError naming `name` for a bad magic, version, size, checksum or any
    out-of-range field, so that a loaded index can never index out of bounds.
    """
    data = bytes(data)

    def fail(msg):
        raise FormatError(f"{name}: {msg}")

    if len(data) < 64:
        fail(f"truncated: {len(data)} bytes, a header needs 64")
    if data[:4] != MAGIC:
        fail(f"bad magic {data[:4]!r} (not a vq index)")
    h = np.frombuffer(data, "<u4", HEADER_WORDS).astype(np.int64)
    if h[1] not in VERSIONS:
        fail(f"unsupported version {h[1]} (this reader knows {', '.join(map(str, VERSIONS))})")
    head_bytes = 4 * (HEADER_WORDS, HEADER_WORDS_V2, HEADER_WORDS_V3)[int(h[1]) - 1]
    total = int(h[2])
    if total > len(data):
        fail(f"truncated: header says {total} bytes, file has {len(data)}")
    if total < 64 or total % 8:
        fail(f"bad total size {total}")
    if zlib.crc32(data[16:total]) != int(h[3]):
        fail("checksum mismatch (file is corrupt)")
    dim, stages, ksub, cb, n, method, tkind, ntrees = (int(v) for v in h[4:12])
    if dim < 1 or not 1 <= stages <= 64 or not 2 <= ksub <= 65536 or cb != (1 if ksub <= 256 else 2):
        fail(f"bad dims (dim={dim}, stages={stages}, ksub={ksub}, code_bytes={cb})")
    if method >= len(METHODS) or tkind >= len(TREE_KINDS) or ntrees > MAX_TREES or (tkind == 0) != (ntrees == 0):
        fail(f"bad method/tree fields ({method}, {tkind}, {ntrees})")
    ctype = np.dtype("<u1" if cb == 1 else "<u2")

    def section(off, dtype, count, what):
        off, size = int(off), int(count) * np.dtype(dtype).itemsize
        if off % 8 or off < head_bytes or off + size > total:
            fail(f"{what} section out of bounds (offset {off}, {size} bytes)")
        return np.frombuffer(data, dtype, int(count), off)

    books = section(h[12], "<f4", stages * ksub * dim, "codebooks").reshape(stages, dim, ksub).transpose(0, 2, 1)
    norm_quant = None
    norm_bytes = 4 if h[1] == 1 else int(np.frombuffer(data, "<u4", 1, 64)[0]) if total >= head_bytes else 0
    if h[1] != 1 and norm_bytes not in ((1,) if h[1] == 2 else (1, 4)):
        fail(f"bad norm encoding ({norm_bytes}-byte norms in version {h[1]})")
    if norm_bytes == 4:
        norms = section(h[13], "<f4", n, "norms")
    else:
        lo, step = np.frombuffer(data, "<f4", 2, 68)
        u = section(h[13], "<u1", n, "norms")
        if not (np.isfinite(lo) and np.isfinite(step) and step >= 0):
            fail("bad norm range")
        norm_quant = (lo, step, u.copy())
        norms = (lo + step * u.astype(np.float32)).astype(np.float32)
    codes = section(h[14], ctype, n * stages, "codes").reshape(n, stages)
    if n and int(codes.max()) >= ksub:
        fail("a code exceeds ksub")
    if not (np.isfinite(books).all() and np.isfinite(norms).all()):
        fail("NaN or Inf in the codebooks or norms (corrupt or badly trained index)")
    trees = []
    if ntrees:
        th = section(h[15], "<u4", ntrees * TREE_WORDS, "tree headers").reshape(ntrees, TREE_WORDS).astype(np.int64)
        stored = norms if norm_quant is None else norm_quant[2]
        for t in range(ntrees):
            trees.append(_parse_tree(th[t], stages, ksub, n, ctype, section, fail, TREE_KINDS[tkind] == "ivf",
                                     stored, ntrees == 1))
        if TREE_KINDS[tkind] == "ivf" and ntrees != 1:
            fail(f"an ivf index has one tree, not {ntrees}")
    table_bits = 32
    if h[1] == 3:
        from .lut8 import MAX_DIM, pack_codebooks
        w = np.frombuffer(data, "<u4", 4, 80).astype(np.int64)
        if dim > MAX_DIM or w[2] or w[3]:
            fail("bad 8-bit table fields")
        u8, exps = pack_codebooks(np.ascontiguousarray(books))
        if (section(w[0], "<u1", u8.size, "8-bit codebooks").tobytes() != u8.tobytes()
                or section(w[1], "i1", exps.size, "8-bit codebook exponents").tobytes() != exps.tobytes()):
            fail("the 8-bit codebooks differ from the float codebooks'")
        table_bits = 8
    q = Quantizer(books.copy(), METHODS[method])
    return q, codes.copy(), norms.copy(), TREE_KINDS[tkind], trees, norm_quant, table_bits


def _parse_tree(hdr, stages, ksub, n, ctype, section, fail, ivf=False, stored_norms=None, single=True):
    depth, n_rest = int(hdr[0]), int(hdr[1])
    if ivf:
        if depth != 1 or n_rest != stages or int(hdr[2]) != stages:
            fail(f"bad ivf tree (depth {depth}, {n_rest} rest stages, key {int(hdr[2])})")
    elif not 1 <= depth <= min(MAX_DEPTH, stages) or n_rest != stages - depth:
        fail(f"bad tree depth {depth}")
    keys = tuple(int(s) for s in hdr[2:2 + depth])
    positions = int(hdr[4]) if ivf and hdr[4] else n  # a spilled ivf tree's positions (word 4; 0: n)
    if positions < n:
        fail(f"bad ivf tree ({positions} positions for {n} items)")
    if not ivf and (len(set(keys)) != depth or max(keys) >= stages):
        fail(f"bad tree key stages {keys}")
    levels = []
    for l in range(depth):
        nodes = section(hdr[10 + l], _NODE, hdr[6 + l], f"tree level {l}")
        below = positions if l == depth - 1 else int(hdr[7 + l])
        cnt = nodes["count"].astype(np.int64)
        # children/items of consecutive nodes must tile [0, below) exactly
        if ((cnt == 0).any() or int(cnt.sum()) != below
                or (nodes["start"].astype(np.int64) != np.cumsum(cnt) - cnt).any()
                or (len(nodes) and int(nodes["code"].max()) >= (len(nodes) if ivf else ksub))):
            fail(f"inconsistent tree level {l}")
        if not np.isfinite(nodes["norm"]).all():
            fail(f"NaN or Inf in the norms of tree level {l}")
        levels.append(Level(nodes["code"].copy(), nodes["start"].copy(), nodes["count"].copy(),
                            nodes["norm"].copy()))
    set_subtree_items(levels)
    if (n == 0) != (len(levels[0].code) == 0):
        fail("inconsistent tree level 0")
    ids = section(hdr[14], "<u4", positions, "tree ids")
    rest = section(hdr[15], ctype, positions * n_rest, "tree codes").reshape(positions, n_rest)
    if n and (int(ids.max()) >= n or (n_rest and int(rest.max()) >= ksub)):
        fail("tree item out of range")
    cells = None
    if ivf:
        cells = section(hdr[3], ctype, len(levels[0].code) * stages, "ivf cell codes").reshape(-1, stages)
        if len(cells) and int(cells.max()) >= ksub:
            fail("an ivf cell code exceeds ksub")
        cells = cells.copy()
    if depth <= 3 and int(hdr[5]):  # the items' norms in leaf order: the norms section's, permuted (bit for bit)
        if not single:
            fail("leaf-order norms in a forest")
        leaf = section(hdr[5], stored_norms.dtype.newbyteorder("<"), positions, "tree leaf norms")
        if leaf.view(f"u{leaf.itemsize}").tobytes() != stored_norms[ids].view(f"u{leaf.itemsize}").tobytes():
            fail("the tree's leaf-order norms differ from the items' norms")
    return PrefixTree(keys, levels, ids.copy(), rest.copy(), cells)
