"""Prefix trees over RVQ codes: the A-Tree (aggregating tree) and the E-Tree / E-Forest.

A tree is keyed by the codes of a few stages (`key_stages`). Level l holds one node per distinct
prefix (c[key_0], ..., c[key_l]); its partial distance ||q - sum of the prefix codewords||^2 is
||q||^2 - 2 * (sum of lookup-table entries along the path) + ||prefix||^2 (stored per node), so a
path's lookup sum is computed once and shared by every child and item below it. Items are stored
in leaf order with only their remaining ("rest") codes; the full ADC distance of an item is the
leaf's path sum plus its rest codes' lookups.

Search: score all level-0 nodes and keep the `nprobe` best (like IVF's nprobe); at each deeper
internal level keep the best children until the items below them cover `budget`; at the last
level visit leaves in order of partial distance until `budget` items were seen.
The C runtime (sdk_vq.c) runs the same traversal with the same arithmetic order.

The IVF tree (`build_ivf`) is a one-level tree whose nodes are k-means cells of the decoded vectors instead of
the first codebook's codewords: each cell's centroid is stored as a code of the index's own quantizer
(`cell_codes`), so a cell's score is the ADC distance to its centroid (one more "item" per cell, from the same
lookup table), and its items keep all their codes (every stage is a rest stage; their sums start at 0, so an
item's distance is exactly its exhaustive ADC distance). Its key stage is written as `stages` (one past the last
codebook: "the cell table").
"""
from dataclasses import dataclass

import numpy as np

MAX_DEPTH = 4
MAX_TREES = 8


@dataclass
class Level:
    code: np.ndarray    # (count,) uint32 code of this node's stage
    start: np.ndarray   # (count,) uint32 first child (next level) or first item (leaf level)
    count: np.ndarray   # (count,) uint32 number of children / items
    norm: np.ndarray    # (count,) float32 ||sum of the path's codewords||^2
    items: np.ndarray = None  # (count,) items below each node (derived, not stored in files)


@dataclass
class PrefixTree:
    key_stages: tuple
    levels: list        # of Level, len == depth
    ids: np.ndarray     # (n,) uint32 item id at each leaf-order position
    rest: np.ndarray    # (n, stages - depth) codes of the non-key stages, in leaf order
    cell_codes: np.ndarray = None  # IVF only: (cells, stages) codes of the cell centroids (node code = row)

    depth = property(lambda self: len(self.key_stages))
    is_ivf = property(lambda self: self.cell_codes is not None)

    def rest_stages(self, stages):
        return [m for m in range(stages) if m not in self.key_stages]

    def max_children(self, level):
        c = self.levels[level].count
        return int(c.max()) if len(c) else 0


def forest_key_stages(stages, depth, trees):
    """Key stages of each tree of a forest: all start at stage 0 (the coarsest); tree t then
    takes the next depth-1 stages of a rotation, so trees partition items differently."""
    if depth > stages:
        raise ValueError(f"tree depth {depth} exceeds stages {stages}")
    out = []
    for t in range(trees):
        rest = [1 + (t * (depth - 1) + j) % max(stages - 1, 1) for j in range(depth - 1)]
        out.append(tuple([0] + rest))
    return out


def build_tree(codes, codebooks, key_stages):
    """Group items by their codes at `key_stages` (lexicographic); vectorised."""
    n, stages = codes.shape
    keys = codes[:, list(key_stages)].astype(np.int64)
    order = np.lexsort(keys.T[::-1]) if n else np.zeros(0, np.int64)
    sk = keys[order]
    change = np.zeros(n, bool)
    if n:
        change[0] = True
    starts = []
    for l in range(len(key_stages)):
        if n > 1:
            change[1:] |= sk[1:, l] != sk[:-1, l]
        starts.append(np.flatnonzero(change))
    levels = []
    prefix = np.zeros((0, codebooks.shape[2]), np.float32)
    for l, st in enumerate(starts):
        if l + 1 < len(starts):
            first = np.searchsorted(starts[l + 1], st)
            count = np.diff(np.r_[first, len(starts[l + 1])])
        else:
            first, count = st, np.diff(np.r_[st, n])
        path = np.zeros((len(st), codebooks.shape[2]), np.float32)
        for j in range(l + 1):
            path += codebooks[key_stages[j]][sk[st, j]]
        prefix = path
        levels.append(Level(sk[st, l].astype(np.uint32), first.astype(np.uint32),
                            count.astype(np.uint32), np.einsum("ij,ij->i", prefix, prefix).astype(np.float32)))
    set_subtree_items(levels)
    rest_stages = [m for m in range(stages) if m not in key_stages]
    return PrefixTree(tuple(int(s) for s in key_stages), levels, order.astype(np.uint32),
                      np.ascontiguousarray(codes[order][:, rest_stages]))


def ivf_cells(n):
    """The IVF tree's default number of cells for n items: 4 sqrt(n) rounded to a power of two on a log scale
    (512 at 8,192-32,767 items, 1,024 at 32,768-131,071, 2,048 up to 524,287), at most n. A query pays every cell
    (its ADC sum, score and bin: ~1.5 items' cost) and each cell it visits (~10 items' cost: a call, the stop test,
    the leaf's first cache lines) besides the items; with the adaptive stop, half the cells of the former default
    8 sqrt(n) visit ~15% more items at equal held-out recall but cost less: on the bench's MiniLM passages (39,500)
    and sift-like (20,000) sets the held-out split's fastest IVF at equal recall@10 had 1,024 and 512 cells
    (bench/RESULTS_vq.md, 2026-12-06 vq42; 8 sqrt(n) had come from budget-only searches)."""
    if n < 1:
        return 1
    return int(min(n, 1 << max(0, int(np.floor(np.log2(4.0 * np.sqrt(n)) + 0.5)))))


def soar_cells(rec, chat, labels, spill, block=4096):
    """Each item's second cell (SOAR spilled assignment, Sun et al. 2023): the cell j != its own cell p minimising
    ||x - c_j||^2 + spill * <x - c_j, r / ||r||>^2 with r = x - c_p, i.e. near the item but with a residual
    orthogonal to its first one, so that a query the first cell ranks badly (a query along r) finds the item
    through the second. rec (n, dim) the decoded items, chat (cells, dim) the decoded centers; -1 where there is
    one cell only."""
    n = len(rec)
    out = np.full(n, -1, np.int64)
    if len(chat) < 2:
        return out
    cn = np.einsum("ij,ij->i", chat, chat)
    for s in range(0, n, block):
        x, p = rec[s:s + block].astype(np.float64), labels[s:s + block]
        r = x - chat[p]
        rn = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-30)
        dist = np.einsum("ij,ij->i", x, x)[:, None] - 2.0 * x @ chat.T.astype(np.float64) + cn[None]
        proj = np.einsum("ij,ij->i", x, rn)[:, None] - rn @ chat.T.astype(np.float64)
        loss = dist + spill * proj * proj
        loss[np.arange(len(p)), p] = np.inf
        out[s:s + block] = np.argmin(loss, axis=1)
    return out


def build_ivf(codes, quantizer, cells=None, iters=10, seed=0, spill=0.0):
    """IVF tree: k-means (sdk.vq.kmeans, `cells` centers, default ivf_cells(n)) of the decoded items, each
    center encoded with `quantizer`, each item in the cell of its nearest *decoded* center (the centers the
    search scores); empty cells are dropped. Deterministic for a seed. spill > 0: every item is also stored in a
    second cell (soar_cells with that weight), so the tree holds 2n positions and an item may be visited twice
    (the searches count it once: both visits give the same distance)."""
    from .kmeans import assign, kmeans
    n, stages = codes.shape
    dt = quantizer.code_dtype
    if n == 0:
        z = np.zeros(0, np.uint32)
        lv = Level(z, z, z, np.zeros(0, np.float32))
        set_subtree_items([lv])
        return PrefixTree((stages,), [lv], z, np.zeros((0, stages), dt), np.zeros((0, stages), dt))
    k = min(int(cells or ivf_cells(n)), n)
    rec = quantizer.decode(codes).astype(np.float32)
    centers = kmeans(rec, k, iters=iters, seed=seed)[0]
    ccodes = np.asarray(quantizer.encode(centers), dt)
    chat = quantizer.decode(ccodes).astype(np.float32)
    labels = assign(rec, chat)[0]
    second = soar_cells(rec, chat, labels, spill) if spill > 0 else np.full(n, -1, np.int64)
    used = np.unique(np.r_[labels, second[second >= 0]])
    ccodes, chat = ccodes[used], chat[used]
    item = np.r_[np.arange(n), np.flatnonzero(second >= 0)]
    labels = np.searchsorted(used, np.r_[labels, second[second >= 0]])
    order = np.lexsort((item, labels))  # by cell, then id
    count = np.bincount(labels, minlength=len(used))
    start = np.cumsum(count) - count
    lv = Level(np.arange(len(used), dtype=np.uint32), start.astype(np.uint32), count.astype(np.uint32),
               np.einsum("ij,ij->i", chat, chat).astype(np.float32))
    set_subtree_items([lv])
    return PrefixTree((stages,), [lv], item[order].astype(np.uint32), np.ascontiguousarray(codes[item[order]]),
                      np.ascontiguousarray(ccodes))


def set_subtree_items(levels):
    """Fill Level.items bottom-up (children of a node are contiguous and non-empty)."""
    below = levels[-1].count.astype(np.int64)
    levels[-1].items = below
    for lv in reversed(levels[:-1]):
        below = np.add.reduceat(below, lv.start.astype(np.int64)) if len(lv.start) else below[:0]
        lv.items = below


def tree_candidates(tree, lut, qn, norms, nprobe, budget):
    """Items visited by the traversal for each query of a block.

    lut: (nq, stages, ksub) float64 inner products <q, c>; qn: (nq,) ||q||^2.
    Returns (query index, item id, ADC distance) as flat arrays, in visiting order.
    """
    nq = len(lut)
    stages = lut.shape[1]
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if not len(tree.levels[0].code):
        return empty
    lv, nodes, prefix, valid, score = last_level(tree, lut, qn, nprobe, budget)
    count = np.where(valid, lv.count[nodes], 0).astype(np.int64)
    before = np.cumsum(count, axis=1) - count
    visit = valid & (before < budget)
    qi, col = np.nonzero(visit)
    if not len(qi):
        return empty
    leaf = nodes[qi, col]
    cnt = lv.count[leaf].astype(np.int64)
    rep = np.repeat(np.arange(len(leaf)), cnt)
    pos = lv.start[leaf].astype(np.int64)[rep] + (np.arange(rep.size) - (np.cumsum(cnt) - cnt)[rep])
    qidx = qi[rep]
    acc = np.zeros(len(rep)) if tree.is_ivf else prefix[qi, col][rep]  # IVF items: sums from 0, all stages
    for r, stage in enumerate(tree.rest_stages(stages)):
        acc = acc + lut[qidx, stage, tree.rest[pos, r]]
    ids = tree.ids[pos].astype(np.int64)
    return qidx, ids, qn[qidx] - 2.0 * acc + norms[ids].astype(np.float64)


def margin_search(trees, lut, qn, norms, nprobe, budget, margin, k):
    """Adaptive stop (the C runtime's params.margin > 0), one query at a time: each tree's last-level leaves in
    (score, node) order, stopping before the first leaf whose score exceeds the k-th best distance so far plus
    `margin` (once k are held) or once `budget` items of that tree were seen; the top-k is shared by the trees
    (an item found by an earlier tree is not scored again). Returns (query index, ADC distance, item id) of each
    query's top k, in the order of top_k_groups' input."""
    stages = lut.shape[1]
    out_q, out_d, out_i = [], [], []
    per_tree = [last_level(t, lut, qn, nprobe, budget) if len(t.levels[0].code) else None for t in trees]
    for qx in range(len(lut)):
        top, seen = [], set()  # top: sorted (distance, id), at most k
        for t, lvl in zip(trees, per_tree):
            if lvl is None:
                continue
            lv, nodes, prefix, valid, score = lvl
            rest = t.rest_stages(stages)
            items = 0
            for col in np.flatnonzero(valid[qx]):
                if items >= budget or len(top) == k and score[qx, col] > top[-1][0] + margin:
                    break
                leaf = nodes[qx, col]
                pos = np.arange(int(lv.start[leaf]), int(lv.start[leaf]) + int(lv.count[leaf]))
                acc = np.zeros(len(pos)) if t.is_ivf else np.full(len(pos), prefix[qx, col])
                for r, stage in enumerate(rest):
                    acc = acc + lut[qx, stage, t.rest[pos, r]]
                ids = t.ids[pos].astype(np.int64)
                dist = qn[qx] - 2.0 * acc + norms[ids].astype(np.float64)
                for d, i in zip(dist.tolist(), ids.tolist()):
                    if len(seen) and i in seen or d != d:
                        continue
                    seen.add(i)
                    if len(top) < k or (d, i) < top[-1]:
                        top.append((d, i))
                        top.sort()
                        del top[k:]
                items += int(lv.count[leaf])
        out_q += [qx] * len(top)
        out_d += [d for d, _ in top]
        out_i += [i for _, i in top]
    return np.asarray(out_q, np.int64), np.asarray(out_d, np.float64), np.asarray(out_i, np.int64)


def last_level(tree, lut, qn, nprobe, budget):
    """The traversal down to the last level for a block of queries: (level, nodes, path sums, valid, scores),
    each (nq, width) with the leaves of each query in (score, node) order (invalid entries last)."""
    nq = len(lut)
    stages = lut.shape[1]
    ks = tree.key_stages
    qrow = np.arange(nq)[:, None]
    lv = tree.levels[0]
    nodes = np.broadcast_to(np.arange(len(lv.code)), (nq, len(lv.code)))
    if tree.is_ivf:  # a cell's lookup sum: its centroid's codes, stage by stage (as an item's)
        prefix = np.zeros(nodes.shape)
        for m in range(stages):
            prefix = prefix + lut[:, m, :][:, tree.cell_codes[lv.code, m]]
    else:
        prefix = lut[:, ks[0], :][:, lv.code]
    valid = np.ones(nodes.shape, bool)
    for l in range(tree.depth):
        lv = tree.levels[l]
        score = qn[:, None] - 2.0 * prefix + lv.norm[nodes].astype(np.float64)
        score = np.where(valid, score, np.inf)
        order = np.lexsort((nodes, score), axis=-1)  # by score, ties by node index (as in C)
        if l == tree.depth - 1:
            break
        if l == 0:
            keep = order[:, :min(nprobe, nodes.shape[1])]
            nodes, prefix, valid = (np.take_along_axis(a, keep, 1) for a in (nodes, prefix, valid))
        else:  # keep best nodes while the items already covered are fewer than the budget
            nodes, prefix, valid = (np.take_along_axis(a, order, 1) for a in (nodes, prefix, valid))
            items = np.where(valid, lv.items[nodes], 0)
            valid &= (np.cumsum(items, axis=1) - items) < budget
            width = max(int(valid.sum(1).max()), 1)
            nodes, prefix, valid = nodes[:, :width], prefix[:, :width], valid[:, :width]
        first = lv.start[nodes].astype(np.int64)
        count = np.where(valid, lv.count[nodes], 0).astype(np.int64)
        span = np.arange(max(tree.max_children(l), 1))
        valid = (span < count[:, :, None]).reshape(nq, -1)
        nodes = np.where(valid, (first[:, :, None] + span).reshape(nq, -1), 0)
        nxt = tree.levels[l + 1]
        prefix = np.repeat(prefix, len(span), axis=1) + lut[qrow, ks[l + 1], nxt.code[nodes]]
    nodes, prefix, valid, score = (np.take_along_axis(a, order, 1) for a in (nodes, prefix, valid, score))
    return lv, nodes, prefix, valid, score
