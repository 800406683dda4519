"""Storage formats of a sparse weight S[O, K] (O outputs, K inputs), as the arrays the kernels of
``runtime_c/include/sdk_sparse.h`` read.

- ``csr``: row pointers (int32, O + 1), column indices (the smallest of uint8/uint16/int32 that holds K - 1) and the
  non-zero values (float32).
- ``nm``: N:M (e.g. 2:4): every group of M <= 4 consecutive inputs of a row holds at most N non-zeros; N values
  per group (zeros where a group has fewer) and one byte per group with their 2-bit offsets. No row pointers or
  column indices: 2:4 stores 2.25 bytes per weight position, 1:4 1.25.
- ``bsr``: blocks of ``BR`` rows x 1 column (the rows padded to a multiple of BR with zeros): row pointers per
  block row, one column index per block, ``BR`` values per block. A block is stored when any of its values is
  non-zero, so unstructured sparsity stores extra zeros; weights pruned in blocks (``sdk.prune(block=(BR, 1))``)
  store none.
- ``ell``: sliced ELL, slices of ``BR`` rows each as wide as its longest row: slice pointers (int32, one per slice
  + 1), then per slice its entries interleaved (entry j of row r at ``sliceptr[q] + j*BR + r``), column indices
  and values, shorter rows padded with zero values at column 0. No row pointers: each slice's rows advance in
  lockstep (BR independent sums). Plain ELL is the case of one width for every slice.
- ``hyb``: hybrid, BSR blocks of ``BR`` x 1 that hold at least half (and at least 2) non-zeros (``rowptr``, ``cols``, ``vals``)
  plus a CSR remainder of the other non-zeros (``crowptr``, ``ccols``, ``cvals``), summed in one pass: the blocks
  of a partly block-structured weight without storing the zeros of its scattered values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

SPARSE_TILE = 16  # SDK_SPARSE_TILE in runtime_c/include/sdk_sparse.h: columns p per register tile
SPARSE_PANEL = 4 * SPARSE_TILE  # SDK_SPARSE_PANEL: columns per panel; the kernels' scratch is K * SPARSE_PANEL floats


def index_dtype(K: int) -> np.dtype:
    """The smallest integer type the kernels take that holds every column index of a K-column matrix."""
    if K <= 1 << 8:
        return np.dtype(np.uint8)
    if K <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


@dataclass
class Encoded:
    """A weight in one format: ``arrays`` holds rowptr, cols, vals (the kernel's operands) by name."""
    format: str        # "csr" | "bsr" | "nm"
    block: int         # BSR block rows (1 for CSR and N:M)
    shape: tuple       # (O, K)
    arrays: Dict[str, np.ndarray]
    nnz: int           # stored values (BSR: blocks * BR, N:M: groups * N, including zeros stored)
    nm: tuple = None   # (N, M) of the N:M format

    @property
    def name(self) -> str:
        """How reports name it: csr, bsr4x1, nm2:4."""
        return {"csr": "csr", "bsr": f"bsr{self.block}x1", "ell": f"ell{self.block}", "hyb": f"hyb{self.block}x1"}.get(
            self.format) or f"nm{self.nm[0]}:{self.nm[1]}"

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def dense(self) -> np.ndarray:
        """The [O, K] matrix back (for tests)."""
        O, K = self.shape
        if self.format == "nm":
            N, M = self.nm
            G = -(-K // M)
            out = np.zeros((O, G * M), np.float32)
            idx, vals = self.arrays["idx"].reshape(O, G), self.arrays["vals"].reshape(O, G, N)
            for i in range(N):
                k = np.arange(G) * M + (idx >> (2 * i) & 3)
                np.add.at(out, (np.arange(O)[:, None], k), vals[:, :, i])
            return out[:, :K]
        if self.format == "ell":
            return _ell_dense(self)
        if self.format == "hyb":
            blocks = Encoded("bsr", self.block, self.shape, {k: self.arrays[k] for k in ("rowptr", "cols", "vals")}, 0)
            rest = Encoded("csr", 1, self.shape, {"rowptr": self.arrays["crowptr"], "cols": self.arrays["ccols"],
                                                  "vals": self.arrays["cvals"]}, 0)
            return blocks.dense() + rest.dense()
        rp, cols, vals = self.arrays["rowptr"], self.arrays["cols"].astype(np.int64), self.arrays["vals"]
        BR = self.block
        out = np.zeros((-(-O // BR) * BR, K), np.float32)
        for q in range(len(rp) - 1):
            for j in range(rp[q], rp[q + 1]):
                out[q * BR:(q + 1) * BR, cols[j]] = vals[j * BR:(j + 1) * BR]
        return out[:O]


def _nonempty(a: np.ndarray) -> np.ndarray:
    # a weight that is all zeros still gets one element per array: a C array of size 0 is not valid
    return a if a.size else np.zeros(1, a.dtype)


def nm_fits(S: np.ndarray, N: int, M: int) -> bool:
    """Does every group of M consecutive inputs of each row of S hold at most N non-zeros?"""
    O, K = S.shape
    G = -(-K // M)
    padded = np.zeros((O, G * M), bool)
    padded[:, :K] = S != 0
    return bool((padded.reshape(O, G, M).sum(axis=2) <= N).all())


def _encode_nm(S: np.ndarray, N: int, M: int) -> Encoded:
    O, K = S.shape
    if not (1 <= N <= M <= 4) or not nm_fits(S, N, M):
        raise ValueError(f"the weight is not {N}:{M} sparse (or N:M outside 1 <= N <= M <= 4)")
    G = -(-K // M)
    groups = np.zeros((O, G * M), np.float32)
    groups[:, :K] = S
    groups = groups.reshape(O, G, M)
    order = np.argsort(groups == 0, axis=2, kind="stable")[:, :, :N]      # non-zeros first, in k order
    vals = np.take_along_axis(groups, order, axis=2)
    offsets = np.where(vals != 0, order, 0)  # a padding value points at the group's first input (< K)
    idx = np.zeros((O, G), np.uint8)
    for i in range(N):
        idx |= (offsets[:, :, i] << (2 * i)).astype(np.uint8)
    return Encoded("nm", 1, (O, K), {"idx": idx.reshape(-1), "vals": vals.reshape(-1).astype(np.float32)},
                   int(vals.size), (N, M))


def _ell_dense(e: Encoded) -> np.ndarray:
    O, K = e.shape
    BR, sp = e.block, e.arrays["sliceptr"]
    out = np.zeros((-(-O // BR) * BR, K), np.float32)
    cols, vals = e.arrays["cols"].astype(np.int64), e.arrays["vals"]
    for q in range(len(sp) - 1):
        w = (sp[q + 1] - sp[q]) // BR
        ent = sp[q] + np.arange(w)[:, None] * BR + np.arange(BR)[None, :]  # [j, r]
        np.add.at(out, (q * BR + np.broadcast_to(np.arange(BR), ent.shape), cols[ent]), vals[ent])
    return out[:O]


def _encode_ell(S: np.ndarray, BR: int) -> Encoded:
    O, K = S.shape
    Q = -(-O // BR)
    padded = np.zeros((Q * BR, K), S.dtype)
    padded[:O] = S
    counts = np.count_nonzero(padded, axis=1).reshape(Q, BR)
    widths = counts.max(axis=1)
    sliceptr = np.zeros(Q + 1, np.int32)
    np.cumsum(widths * BR, out=sliceptr[1:])
    E = int(sliceptr[-1])
    cols = np.zeros(E, np.int64)
    vals = np.zeros(E, S.dtype)
    rows, ks = np.nonzero(padded)                                           # row-major: by row, then column
    starts = np.concatenate([[0], np.cumsum(counts.reshape(-1))[:-1]])
    rank = np.arange(len(rows)) - starts[rows]                              # the entry's place in its row
    at = sliceptr[rows // BR] + rank * BR + rows % BR
    cols[at], vals[at] = ks, padded[rows, ks]
    arrays = {"sliceptr": sliceptr, "cols": _nonempty(cols.astype(index_dtype(K))), "vals": _nonempty(vals)}
    return Encoded("ell", BR, (O, K), arrays, E)


def _encode_hyb(S: np.ndarray, BR: int) -> Encoded:
    O, K = S.shape
    Q = -(-O // BR)
    padded = np.zeros((Q * BR, K), S.dtype)
    padded[:O] = S
    counts = np.count_nonzero(padded.reshape(Q, BR, K), axis=1)          # [Q, K] non-zeros per block
    # a block is worth its BR multiply-adds when at least half of it (and 2 values) are non-zeros
    in_blocks = np.repeat(counts >= max(2, -(-BR // 2)), BR, axis=0)[:O]
    blocks = encode(np.where(in_blocks, S, 0), "bsr", BR)
    rest = encode(np.where(in_blocks, 0, S), "csr")
    arrays = dict(blocks.arrays, crowptr=rest.arrays["rowptr"], ccols=rest.arrays["cols"], cvals=rest.arrays["vals"])
    return Encoded("hyb", BR, (O, K), arrays, blocks.nnz + rest.nnz)


def encode(S: np.ndarray, fmt: str, block: int = 1, nm=(2, 4)) -> Encoded:
    """S (float32 [O, K], or int8 for quantized models: the values keep it) in ``fmt`` ("csr"; "bsr", "ell", "hyb"
    with ``block`` rows per block / slice; "nm" with ``nm`` = (N, M))."""
    S = np.asarray(S)
    S = S if S.dtype == np.int8 else S.astype(np.float32)
    O, K = S.shape
    if fmt == "nm":
        return _encode_nm(S, *nm)
    ix = index_dtype(K)
    if fmt in ("ell", "hyb"):
        if not 1 <= block <= 16:
            raise ValueError(f"sparse format {fmt!r} with block {block}: expected 1..16 rows per slice / block")
        return _encode_ell(S, block) if fmt == "ell" else _encode_hyb(S, block)
    if fmt == "csr":
        block = 1
    elif fmt != "bsr" or not 1 <= block <= 16:
        raise ValueError(f"sparse format {fmt!r} with block {block}: expected csr, or bsr with 1..16 block rows")
    Q = -(-O // block)
    padded = np.zeros((Q * block, K), S.dtype)
    padded[:O] = S
    blocks = padded.reshape(Q, block, K)                       # [block row, row in block, k]
    present = np.any(blocks != 0, axis=1)                      # [Q, K]: the stored blocks
    q_idx, k_idx = np.nonzero(present)                         # row-major: by block row, then column
    rowptr = np.zeros(Q + 1, np.int32)
    np.cumsum(present.sum(axis=1), out=rowptr[1:])
    vals = blocks[q_idx, :, k_idx].reshape(-1)  # [blocks, BR]
    arrays = {"rowptr": rowptr, "cols": _nonempty(k_idx.astype(ix)), "vals": _nonempty(vals)}
    return Encoded(fmt, block, (O, K), arrays, int(vals.size))
