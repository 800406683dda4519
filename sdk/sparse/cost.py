"""The cost model that picks a weight's storage: dense, CSR, BSR, sliced ELL, hybrid (BSR + CSR) or N:M, from the bytes each stores and the cycles it
is estimated to take on the target (``sdk/transform/sparsify.py`` asks; ``sdk inspect`` and ``bench/sparse.py``
print the estimate next to the choice, the bench next to the measured time).

Cycles are counted in vector operations of the target's width (``lanes`` floats; 1 on a scalar FPU):

- dense GEMM/conv: ``O*K*P / lanes`` FMAs at ``dense_fma`` cycles each;
- CSR: per tile of T = SPARSE_TILE columns, each stored value costs T/lanes FMAs plus ``per_index`` (load the
  index and value, broadcast, address), each row ``per_row`` (zero, epilogue, store);
- BSR (BR x 1 blocks): per block BR*T/lanes FMAs (one load of the X row serves BR rows) plus ``per_index``;
- N:M: like CSR per stored value, at half the index cost (a 2-bit offset in a byte shared by the group);
- sliced ELL: like CSR per stored entry (padding included) at ``ell_index`` of the index cost: a slice's rows run
  in lockstep, BR independent sums with no row bounds to load, which hides the FMA latency that one row's single
  chain of sums waits on;
- hybrid: its BSR blocks as BSR plus its CSR remainder as CSR;
- a strided X (MatMul rows) is copied into tiles first: ``pack`` per float;
- every sparse call: ``call`` (its scalar copies in and out and panel set-up, which decide tiny layers).

The constants are rough fits to ``bench/sparse.py`` on the shared build host (x86-64 with AVX-512, loaded: about
half a core per process, so "cycles" at the nominal 3 GHz are about twice an idle core's) and are the same for
every target; they rank formats, they do not predict time to better than a factor of about two.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .formats import SPARSE_TILE

T = SPARSE_TILE


@dataclass(frozen=True)
class Costs:
    dense_fma: float = 1.1    # cycles per vector FMA of the dense library GEMM/conv
    sparse_fma: float = 1.0   # cycles per vector FMA in a sparse tile (X rows from L1/L2)
    per_index: float = 3.0    # cycles per stored column index per tile
    per_row: float = 8.0      # cycles per output row per tile
    pack: float = 1.0         # cycles per float of X copied into a tile
    ell_index: float = 0.75   # sliced ELL's index cost relative to CSR's (rows in lockstep)
    call: float = 4000.0      # per sparse call: panel set-up and the scalar copies in and out (a 32x32 weight over
                              # 32 rows takes ~2 us in any format where the dense GEMM takes 0.65 us)
    clock_hz: float = 3.0e9   # to print microseconds (a profile's [cpu] clock_hz replaces it)


COSTS = Costs()


def dense_cycles(O: int, K: int, P: int, lanes: int, c: Costs = COSTS) -> float:
    return O * K * P / lanes * c.dense_fma


def sparse_cycles(fmt: str, block: int, O: int, K: int, P: int, stored_indices: int, lanes: int, strided: bool,
                  c: Costs = COSTS, rest: int = 0) -> float:
    """Estimated cycles of one call of the sparse kernel with ``stored_indices`` column indices (CSR: non-zeros;
    BSR and the hybrid's blocks: blocks of ``block`` rows; ELL: entries, padding included; N:M: stored values)
    and ``rest`` CSR non-zeros (the hybrid's remainder)."""
    tiles = math.ceil(P / T)
    vec = math.ceil(T / lanes)
    rows = math.ceil(O / block) * block if fmt in ("bsr", "ell", "hyb") else O
    per_index = {"nm": c.per_index / 2, "ell": c.per_index * c.ell_index}.get(fmt, c.per_index)
    per = (block if fmt in ("bsr", "hyb") else 1) * vec * c.sparse_fma + per_index
    # the hybrid's remainder is a second walk over the rows (their CSR bounds) into the same sums
    rest_cycles = rest * (vec * c.sparse_fma + c.per_index) + (O * c.per_row if fmt == "hyb" else 0.0)
    return (tiles * (stored_indices * per + rest_cycles + rows * c.per_row) + (K * P * c.pack if strided else 0.0)
            + c.call)


def stored_indices(e) -> tuple:
    """(column indices the kernel walks, CSR remainder non-zeros) of an encoded weight (``formats.Encoded``), the
    counts ``sparse_cycles`` takes."""
    a = e.arrays
    if e.format == "nm":
        return e.nnz, 0
    if e.format == "ell":
        return int(a["sliceptr"][-1]), 0
    return int(a["rowptr"][-1]), (int(a["crowptr"][-1]) if e.format == "hyb" else 0)


def bsr_block_rows(lanes: int, registers: int) -> int:
    """BSR block rows from the target's vector width and register count: the BR x T accumulator tile may use half
    the vector registers (the other half loads X and broadcasts weights), BR in 2, 4, 8."""
    vec = max(1, math.ceil(T / lanes))
    br = max(1, (registers // 2) // vec)
    return max(b for b in (1, 2, 4, 8) if b <= br) if br >= 2 else 2


# int8 (quantized models; the Cortex-M kernels), in instructions of the Cortex-M4 (what qemu's instruction clock
# counts): the dense kernels pair MACs with SMLAD (about 0.75 per MAC with their packing); the sparse kernel
# gathers two columns of X as int16 pairs (about 3 per input and column) and runs four stored values per step over
# both columns in four SMLADs (19 instructions: about 2.4 per value and column); both requantize every output
# (about 20).
S8_DENSE_MAC = 0.75
S8_SPARSE_MAC = 2.4
S8_GATHER = 3.0
S8_ROW = 20.0


def dense_cycles_s8(O: int, K: int, P: int) -> float:
    return O * K * P * S8_DENSE_MAC + O * P * S8_ROW


def sparse_cycles_s8(O: int, K: int, P: int, nnz: int) -> float:
    return P * (K * S8_GATHER + nnz * S8_SPARSE_MAC + O * S8_ROW)
