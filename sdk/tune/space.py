"""The schedule space of a GEMM/convolution workload, MetaSchedule style.

A schedule rule looks at the workload and the target's facts (vector lanes and registers, from the
profile's ``[tune]`` table) and makes stochastic decisions: the register tile (``mr`` rows x ``nv``
vectors, within the register file), cache blocks by perfect-tile sampling (``kc`` divides K, ``mc``
and ``nc`` are whole numbers of register tiles), packing of A/B, tile-loop order and k-loop unroll.
The decisions form a trace: replaying it gives the same schedule, mutating one decision gives a
neighbour. ``default_schedule`` is the untuned heuristic (what builds get without a database).
"""
from __future__ import annotations


import functools
import math
import re
import subprocess
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from ..errors import SdkError
from .workload import Workload

# 2: schedules measured as the build compiles them (the C compiler, the fused epilogue in the workload and its hash,
# weights packed beforehand) and confirmed against the default (records "confirm"); version 1 records were timed as
# LLVM kernels without their epilogue and are not read (sdk tune again)
SPACE_VERSION = 2
DECISIONS = ("mr", "nv", "kc", "mc", "nc", "pack_a", "pack_b", "order", "unroll")


@dataclass(frozen=True)
class TargetFacts:
    name: str
    lanes: int       # floats per vector register (1: scalar)
    registers: int   # vector registers the register tile may use
    # a pointwise convolution takes spatial rows where they fill this many times the lanes of vectors along the
    # plane (``GemmSpace._spatial_rows``; the profile's [tune] spatial_rows_gain)
    spatial_rows_gain: float = 1.1
    # pointwise convolutions walk their tiles row tile by row tile (``GemmSpace.default``; the profile's [tune]
    # pointwise_ij)
    pointwise_ij: bool = False


@functools.lru_cache(maxsize=None)
def _probe_native(cc: str, flags: Tuple[str, ...]) -> Tuple[int, int]:
    """(lanes, registers) of the compiler's target, from its predefined macros."""
    try:
        out = subprocess.run([cc, *flags, "-dM", "-E", "-x", "c", "-"], input="", capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return _probe_llvm() if "-march=native" in flags or not flags else (1, 16)
    m = set(re.findall(r"#define (\w+)", out))
    if "__AVX512F__" in m:
        return 16, 32
    if "__AVX__" in m:
        return 8, 16
    if "__ARM_NEON" in m or "__aarch64__" in m:
        return 4, 32
    if "__SSE2__" in m or "__wasm_simd128__" in m:
        return 4, 16
    return 1, 16


def _probe_llvm() -> Tuple[int, int]:
    """(lanes, registers) of this machine from LLVM's host CPU features: what ``-march=native`` would define
    when no C compiler is installed (the in-process engine needs none)."""
    try:
        import llvmlite.binding as llvm
        feats = set(k for k, on in llvm.get_host_cpu_features().items() if on)
    except Exception:  # noqa: BLE001 (no usable LLVM: scalar tiles)
        return 1, 16
    if "avx512f" in feats:
        return 16, 32
    if "avx" in feats:
        return 8, 16
    if "neon" in feats or "asimd" in feats:
        return 4, 32
    if "sse2" in feats:
        return 4, 16
    return 1, 16


def target_facts(tgt) -> TargetFacts:
    t = tgt.data.get("tune")
    if not t:
        raise SdkError(f"target '{tgt.name}' has no [tune] table: its kernels are not tunable")
    lanes, regs = t.get("vector_lanes", "native"), t.get("vector_registers", "native")
    if "native" in (lanes, regs):
        flags = tuple(f for f in tgt.cflags if f.startswith(("-m", "-march", "-mcpu")))
        pl, pr = _probe_native(tgt.cc, flags)
        lanes = pl if lanes == "native" else lanes
        regs = pr if regs == "native" else regs
    return TargetFacts(tgt.name, int(lanes), int(regs), float(t.get("spatial_rows_gain", 1.1)),
                       bool(t.get("pointwise_ij", False)))


def _divisors(n: int) -> List[int]:
    """Divisors of n, ascending; O(sqrt(n)) so a dim bound of 2**31-1 costs milliseconds. Beyond 2**32 only
    the pairs (d, n/d) with d <= 2**16 are found (enough for tile candidates; no hang on huge products)."""
    small = [d for d in range(1, min(math.isqrt(n), 1 << 16) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def _ceil(a, b):
    return -(-a // b)


class GemmSpace:
    """Candidates of every decision for one workload on one target."""

    def __init__(self, wl: Workload, facts: TargetFacts):
        self.wl, self.facts = wl, facts
        _, M, N, K = wl.gemm_shape()
        self.M, self.N, self.K = max(M, 1), max(N, 1), max(K, 1)
        L, R = facts.lanes, facts.registers
        self.nv = [v for v in (1, 2, 3, 4) if v * L <= max(L, _ceil(self.N, L) * L) and 2 * v + 2 <= R]
        # accumulators + one row of B + the broadcast A value must fit the register file
        self.mr_for = {v: [r for r in range(1, 17) if r * v + v + 1 <= R and r <= max(self.M, 1)] or [1]
                       for v in self.nv}
        kd = _divisors(self.K)
        self.kc = sorted({d for d in kd if d >= min(self.K, 8)} | {self.K})[-12:]
        self.pack_b = [False, True] if wl.b_contiguous else [True]
        self.pack_a = [False, True]
        self.order = ["ij", "ji"]
        self.unroll = [1, 2, 4, 8]

    def tiles(self, extent, unit):
        """Cache blocks of ``extent`` in units of ``unit`` (the register tile), in elements: the perfect ones
        (dividing the tile count) and powers of two of the unit below it. A block need not divide the extent (the
        loops clip the last one); with perfect blocks only, a prime tile count left one tile or all of them:
        SqueezeNet's stem (12321 pixels in 48-column tiles: 257) took 48-column blocks, a packing pass and two
        barriers per 48 columns, and ran slower on two threads than on one."""
        n = _ceil(extent, unit)
        perfect = [unit * d for d in _divisors(n)][-10:]
        pow2 = [unit * (1 << k) for k in range(n.bit_length()) if (1 << k) < n][-6:]
        return sorted(set(perfect) | set(pow2))

    def candidates(self, s: Dict) -> Dict[str, list]:
        """Each decision's candidates given the others (the tile blocks depend on mr/nv)."""
        nr = s["nv"] * self.facts.lanes
        return {"nv": self.nv, "mr": self.mr_for[s["nv"]], "kc": self.kc,
                "mc": self.tiles(self.M, s["mr"]), "nc": self.tiles(self.N, nr),
                "pack_a": self.pack_a, "pack_b": self.pack_b, "order": self.order, "unroll": self.unroll}

    def sample(self, rng: np.random.Generator) -> Dict:
        s = {}
        s["nv"] = int(rng.choice(self.nv))
        s["mr"] = int(rng.choice(self.mr_for[s["nv"]]))
        c = self.candidates(s)
        for k in ("kc", "mc", "nc"):
            s[k] = int(rng.choice(c[k]))
        for k in ("pack_a", "pack_b", "order", "unroll"):
            v = c[k][int(rng.integers(len(c[k])))]
            s[k] = v.item() if hasattr(v, "item") else v
        return self.complete(s)

    def mutate(self, s: Dict, rng: np.random.Generator) -> Dict:
        """Re-sample one decision (and repair the ones that depend on it)."""
        t = dict(s)
        k = DECISIONS[int(rng.integers(len(DECISIONS)))]
        c = self.candidates(t)[k]
        if len(c) > 1:
            t[k] = c[int(rng.integers(len(c)))]
            t[k] = t[k].item() if hasattr(t[k], "item") else t[k]
        return self.repair(t, rng)

    def repair(self, s: Dict, rng) -> Dict:
        c = self.candidates(s)
        if s["mr"] not in c["mr"]:
            s["mr"] = max(c["mr"])
            c = self.candidates(s)
        for k in ("mc", "nc"):
            if s[k] not in c[k]:
                s[k] = min(c[k], key=lambda v: abs(v - s[k]))
        return self.complete(s)

    def complete(self, s: Dict) -> Dict:
        s = {k: s[k] for k in DECISIONS}
        s["lanes"] = self.facts.lanes
        return s

    def valid(self, s: Dict) -> bool:
        if any(k not in s for k in DECISIONS) or s.get("lanes") != self.facts.lanes or s["nv"] not in self.nv:
            return False
        c = self.candidates(s)
        return all(s[k] in c[k] for k in DECISIONS)

    def default(self, spatial_rows: bool = True) -> Dict:
        """The untuned heuristic: the widest register tile that fits, kc <= 256, packing when B is large; a
        pointwise convolution whose plane wastes lanes computes spatial rows instead (``_spatial_rows``), and so does
        a strided one whose output rows hold whole tiles (``_strided_rows``); another strided one packs from tap
        planes (``_with_planes``). ``spatial_rows=False``: neither (both are C only)."""
        t = (self._spatial_rows() or self._strided_rows() or self._wide_rows()) if spatial_rows else None
        if t is not None:
            return t
        nv = max(v for v in self.nv if v <= 2) if self.nv else 1
        mr = self._rows(max(self.mr_for[nv]))
        # Three vectors wide at the same height (a 32-register file: 8x3 accumulators) issue ~9 % more FMAs per
        # load than 8x2: measured 6-12 % faster on 3x3 convolutions and transformer GEMMs with AVX-512 (bench/
        # RESULTS_zoo.md). Taken unless it pads N more than it gains: a packed B's last, partial panel runs the
        # narrowest tile that covers it (N = 49: 48 + 16 columns either way), an unpacked one the full tile.
        L = self.facts.lanes
        big = self.K * self.N > 64 * 1024
        # a ragged edge (N or M not a whole number of register tiles) runs a vector tile on a zero-padded
        # packed panel; unpacked it would take the scalar edge path (pointwise 7x7 planes: N = 49). A contiguous
        # B used by fewer than two register-tile rows (M = 1: classifier heads) is read in place: packing would
        # copy the whole weight matrix on every call for one pass over it.
        reuse = self.M >= 2 * mr

        # A pointwise convolution whose image feeds at most two register-tile rows (SqueezeNet's 16-channel squeeze
        # layers on 55x55) reads it in place: its packed copy is a whole pass over the image for one or two reads
        # of it. Only where the plane is at least 32 tiles wide: an unpacked ragged edge runs the scalar edge tile.
        # [16 x 64] x [64 x 3025] 57.6 -> 48.0 us, [16 x 128] x [128 x 3025] 128.8 -> 120.9 us (one thread, AVX-512;
        # with 4+ row tiles or 13x13 / 27x27 planes unpacked was 1.2-2.6x slower: bench/RESULTS_zoo.md)
        few_rows = (self.wl.kind == "conv2d" and self.wl.pointwise and self.M <= 2 * mr)
        # So does one whose image feeds at most 6 row tiles (M <= 48 at 8 rows) at K >= 64, now that a ragged column
        # edge runs the full tile moved left (kernels._mm) instead of the scalar edge. One thread, AVX-512. Isolated
        # (gcc measurer, load 9-14): [32 x 256] x [256 x 729] 79.5 -> 65.4 us, [48 x 384] x [384 x 169] 38.9 -> 34.3,
        # [32 x 128] x [128 x 729] 36.5 -> 31.6; in SqueezeNet (steps_ab, two runs at load 15-17, against the
        # unchanged steps' drift) those squeezes 0.88-0.98. Not taken: M = 64 (isolated 0.87-1.07, in the model
        # 0.98-1.03), K <= 48 (ShuffleNetV2's [58 x 24] x [24 x 3136], RegNetY's [48 x 32] x [32 x 12544]: 1.1-1.25x
        # slower) and the expand layers (M >= 128: 1.04-1.15x slower)
        few_tiles = (self.wl.kind == "conv2d" and self.wl.pointwise and _ceil(self.M, mr) <= 6 and self.K >= 64)

        def packs_b(v):
            if self.wl.b_contiguous and few_rows and _ceil(self.N, v * L) >= 32:
                return False
            if self.wl.b_contiguous and few_tiles and self.N >= v * L:
                return False
            return not self.wl.b_contiguous or (reuse and (big or self.N % (v * L) != 0))

        def util(v):  # a single row of tiles (M <= mr: group convs of 8 channels) measured faster on 8x2 at N = 49
            cols = _ceil(self.N, L) * L if packs_b(v) and reuse else _ceil(self.N, v * L) * v * L
            return self.N / cols

        if nv == 2 and 3 in self.nv and min(max(self.mr_for[3]), 8) >= mr:
            nv = 3 if 1.09 * util(3) > util(2) else 2
        # Batched products (attention's per-head q k^T and p v: N = the sequence or the head size, 64) take 6 x 4
        # vectors: as many accumulators as 8 x 3, in 64-column panels, so a 64-wide head needs no 16-column narrow
        # panel (whose 8 x 1 tile loads as much as it multiplies). ViT-S's [197 x 197] x [197 x 64] per head (6 heads),
        # one thread, CPU clock, AVX-512, two runs on a loaded machine: 480 -> 328 us, then 316 -> 265-295 us;
        # [197 x 64] x [64 x 197]: 274 -> 225, then 233 -> 232 us (no gain there; bench/RESULTS_zoo.md)
        if self.wl.kind == "gemm" and self.wl["batch"] > 1 and nv == 3 and 4 in self.nv and 6 in self.mr_for[4] \
                and self.M >= 12 and self.N > 48:
            nv, mr = 4, self._rows(6)
        kc = max([d for d in self.kc if d <= 256] or [min(self.kc)])
        # A whose rows are contiguous (a Linear layer's activations) is read in place also where M is not a whole
        # number of register tiles: its last rows take a shorter tile (``a_tail``, kernels._mm) instead of a packed,
        # zero-padded copy of A (the copy cost ViT-S's MLP-out GEMM [197 x 1536] x [1536 x 384] 8 % of its time,
        # the padded rows 1.5 % more; bench/RESULTS_zoo.md)
        ragged, in_place = self.M % mr != 0, self.wl.kind == "gemm" and self.wl["a_cs"] == 1
        # Tile order: a pointwise convolution's Y (and residual) rows are whole planes, so a block's tiles taken
        # column panel by column panel ("ji") store (and read) mc / mr row tiles x mr plane rows of scattered
        # pieces, more streams than the L2 prefetcher follows; row tile by row tile ("ij") each tile row sweeps mr
        # plane rows left to right (the block's B panels are re-read from L2 instead of L1). ResNet-50's 56x56
        # 64 -> 256 layers with a residual, one thread, Intel Xeon: 951 / 919 / 791 -> 748 / 738 / 720 us in the
        # model (the profile's pointwise_ij; bench/RESULTS_zoo.md)
        order = "ij" if self.facts.pointwise_ij and self.wl.kind == "conv2d" and self.wl.pointwise else "ji"
        if few_rows and not packs_b(nv):  # the row tiles of a B panel one after the other: its second read from L1
            order = "ji"  # (the two layers above: 50.8 -> 47.9 us, 110.1 -> 106.5 us against "ij")
        s = {"nv": nv, "mr": mr, "kc": kc, "mc": 0, "nc": 0, "pack_a": ragged and not in_place,
             "pack_b": packs_b(nv), "order": order, "unroll": 4}
        c = self.candidates(s)
        s["mc"] = min(c["mc"], key=lambda v: abs(v - 96))
        s["nc"] = min(c["nc"], key=lambda v: abs(v - 1024)) if s["pack_b"] else max(c["nc"])
        s = self.complete(s)
        if ragged and in_place:
            s["a_tail"] = self.M % mr
        return self._with_planes(s) if spatial_rows else s

    def _with_planes(self, s: Dict) -> Dict:
        """A strided convolution of one group (ResNet's 3x3 stride-2 and 1x1 stride-2 layers) packs B from tap
        planes (``kernels._fill_planes``): the image copied once into contiguous runs per tap, B's panels copied
        whole from them, instead of gathering every stride-2 element of the im2col matrix (a third of the layer's
        time, bench/RESULTS_zoo.md)."""
        from .kernels import planes_floats
        wl = self.wl
        if wl.kind != "conv2d" or self.facts.lanes == 1 or not s["pack_b"]:
            return s
        p = wl.p
        if p["groups"] != 1 or p["SH"] != p["SW"] or p["SH"] < 2 or (p["DH"], p["DW"]) != (1, 1):
            return s
        return dict(s, planes=planes_floats(p), stride=p["SH"])

    def _strided_rows(self, tall=None):
        """Spatial rows (``_spatial_rows`` at any gain) for a strided convolution of one group with a kernel wider
        than 1x1 whose tiles of ``mr`` pixels lie on one output row (the "pad" form: A read through a column offset
        table from a zero-padded copy of the image, 1x, or from the image itself where the convolution does not pad),
        instead of tap planes (1.5x the image for 3x3 stride 2) and B panels packed from them. ResNet-18's 128 -> 256
        3x3 stride-2 layer on 28x28, one thread, AVX-512: 0.94 of the tap-plane GEMM alone, 0.95 in the model; its
        64 -> 128 layer on 56x56 0.98-1.00. 1x1 stride-2 layers keep the tap planes (their 1/4 of the image is a
        small copy, and the transposed store cost more: 92 -> 116 us at K = 64; bench/RESULTS_zoo.md)."""
        wl = self.wl
        if wl.kind != "conv2d" or self.facts.lanes == 1 or wl.pointwise:
            return None
        p = wl.p
        if p["groups"] != 1 or p["SH"] != p["SW"] or p["SH"] < 2 or (p["DH"], p["DW"]) != (1, 1) or \
                p["KH"] * p["KW"] == 1:
            return None
        s = self._spatial_rows(gain=0.0, whole_rows=True, tall=tall)
        return s if s is not None and s.get("pad") else None

    def _wide_rows(self, tall=None):
        """Spatial rows for a stride-1 convolution of one group with a kernel wider than 1x1 (5x5, 1x7 / 7x1, 3x3
        that Winograd does not take) whose output rows hold whole tiles and where they fill at least as many lanes as
        vectors along the plane: A read through the column offset table from a zero-padded copy of the image (1x the
        image) instead of B's panels packed from the implicit im2col (KH x KW times the image, for every call, read by
        only M / mr row tiles). Inception-v3's layers alone (one thread, AVX-512, bench/steps_ab.py, 8 rounds, load
        19): 5x5 48 -> 64 on 35x35 1772 -> 1140 us, 3x3 448 -> 384 on 8x8 1608 -> 1221, 1x3 / 3x1 384 -> 384 on 8x8
        466 -> 352 / 447 -> 352. Planes whose rows hold no whole tile (17x17) keep the GEMM: their im2col copy and
        the transposed store lost 1.1-1.2x (bench/RESULTS_zoo.md, wide51)."""
        wl = self.wl
        if wl.kind != "conv2d" or self.facts.lanes == 1 or wl.pointwise:
            return None
        p = wl.p
        if p["groups"] != 1 or (p["SH"], p["SW"], p["DH"], p["DW"]) != (1, 1, 1, 1) or p["KH"] * p["KW"] == 1:
            return None
        s = self._spatial_rows(gain=1.0, whole_rows=True, tall=tall)
        return s if s is not None and s.get("pad") else None

    def _rows(self, most: int) -> int:
        """Register-tile rows: up to 8 (and ``most``), the count whose tiles pad M least (M = 49 rows: 7 tiles of 7,
        not 7 of 8 with the last one padded), the taller one within 2 %."""
        cands = range(min(most, 8), min(most, 4, self.M) - 1, -1)
        # A tile of 6 or more rows that divides M exactly needs no packed copy of A (pack_a is M % mr != 0), which
        # the taller, padded tile pays on every call: channels-last pointwise GEMMs on 14x14 planes (M = 196)
        # ran 25 us with 7 rows against 35 us with 8 rows and A packed (240 -> 40 channels, AVX-512).
        exact = [r for r in cands if r >= 6 and self.M % r == 0]
        if exact:
            return exact[0]
        util = {r: self.M / (_ceil(self.M, r) * r) for r in cands}
        top = max(util.values())
        return next(r for r in cands if util[r] >= top - 0.02)

    def rows(self):
        """Spatial rows for a pointwise convolution wherever they fill at least as many lanes as vectors along the
        plane (the rule, ``_spatial_rows``, wants the profile's ``spatial_rows_gain``, 10 % more): the kernel-choice
        candidate ``{"kernel": "rows"}`` (``kernel_choice.py``), measured in the bundle per CPU. Deep 1x1 layers
        on 14x14-56x56 planes ran 3-9 % faster so on an AMD Zen 4 and up to 3x slower on an Intel Xeon
        (bench/RESULTS_zoo.md, wide18 / wide19). None where the default already has them or they do not apply."""
        if not self.wl.pointwise or self._spatial_rows() is not None:
            return None
        return self._spatial_rows(gain=1.0)

    def trans_alternative(self):
        """The spatial-rows schedule with the register tile the rule did not take for this convolution (a tile of
        more than 8 pixels where it took one of at most 8, and the other way round), or None: ``sdk tune``'s
        kernel-choice candidate ``{"kernel": "spatial", "tile": [mr, nv]}`` (``kernel_choice.py``), measured in the
        bundle (layer4's 3x3 on 7x7: 14 x 2 by the rule, 7 x 2 the candidate; bench/RESULTS_zoo.md)."""
        d = self.default()
        if not d.get("trans") or self.wl.pointwise:
            return None
        tall = d["mr"] <= 8
        alt = self._spatial_rows(tall=tall) or self._strided_rows(tall=tall) or self._wide_rows(tall=tall)
        return alt if alt is not None and (alt["mr"], alt["nv"]) != (d["mr"], d["nv"]) else None

    def _spatial_rows(self, gain=None, whole_rows=False, tall=None):
        """The "trans" schedule of a pointwise convolution (``kernels.conv_t_source``): the plane as the GEMM's
        rows, output channels as vector columns. Taken when it fills at least 10 % more lanes than vectors along the
        plane (7x7 = 49 pixels: 49 of 64 lanes at 16 floats per vector; ``gain``, default the profile's
        ``spatial_rows_gain``), K is worth the transposed store (>= 32) and one K x nr weight panel stays within L2's
        reach (K is not blocked)."""
        wl, L, R = self.wl, self.facts.lanes, self.facts.registers
        gain = self.facts.spatial_rows_gain if gain is None else gain
        if wl.kind != "conv2d" or L == 1 or not (wl.pointwise or wl.p["groups"] == 1):
            return None
        _, cout, P, K = wl.gemm_shape()
        # a wider kernel copies its im2col [K, P] into the scratch first; K is not blocked, so its weight panel
        # (K x nr) is kept within a share of L2 that a 3x3 layer's depth (K = 9 C) still leaves room for
        panel = 384 * 1024 if wl.pointwise else 1024 * 1024
        if min(P, cout, K) <= 0:
            return None
        now = P / (_ceil(P, L) * L)
        best, small = None, False
        for nv in (2, 3, 4):
            # A strided layer's tile may also be taller than 8 pixels where it holds whole pieces of output rows or
            # whole rows (7x7: 14 pixels, two rows, then a last tile of one): each k step's nv weight vectors (the
            # panel streamed from L2) then feed twice the FMAs. ResNet-18's 3x3 / 2 layers, one thread, AVX-512,
            # 14 x 2 against the rule's 4 x 4 / 7 x 2 (bench/convt_tiles.py, alone): 64 -> 128 on 28x28 0.85-0.89,
            # 128 -> 256 on 14x14 0.88-0.92, 256 -> 512 on 7x7 0.93-0.94; in the model 0.87-0.90, 0.88-0.91,
            # 0.95-1.0. At stride 1 too: layer4's 512 -> 512 layers on 7x7 ran 0.90-0.96 alone and 0.93-0.97 in
            # the model, the unchanged steps 0.97-0.98 in the same runs (rn50, two runs at load 9-10; rn48's
            # 1.0-1.1 were runs at load 13-17), ResNet-18 whole 0.97; bench/RESULTS_zoo.md
            if tall is None:
                tall = not wl.pointwise
            for mr in range(4, 17 if tall and not wl.pointwise else 9):
                ow = 0 if wl.pointwise else wl.p["OW"]
                rows = not wl.pointwise and (ow % mr == 0 or mr % ow == 0)
                if mr * nv + nv + 1 > R or K * nv * L * 4 > panel or ((whole_rows or mr > 8) and not rows):
                    continue
                last = P % mr
                cost = P - last + (last if ow and ow % mr and last == ow else (mr if last else 0))
                u = P / cost * cout / (_ceil(cout, nv * L) * nv * L)
                key = (round(u, 3), mr * nv)
                if best is None or key > best[0]:
                    best = (key, mr, nv)
                if mr <= 8:
                    small = True
        # the taller tiles change the tile, not whether the layer takes spatial rows (no layer measured that
        # takes them only because of a tile taller than 8: 5x5 / 2 on 10x11, rows of 11 pixels, keeps tap planes)
        if best is None or not small or K < 32 or best[0][0] < gain * now:
            return None
        _, mr, nv = best
        return self.trans_schedule(mr, nv)

    def trans_tiles(self):
        """Register tiles (mr pixels, nv vectors of output channels) a spatial-rows kernel can take on this target:
        the accumulators, the weight vectors and the broadcast value within the register file."""
        R = self.facts.registers
        return [(mr, nv) for nv in (2, 3, 4) for mr in range(4, 17) if mr * nv + nv + 1 <= R]

    def trans_schedule(self, mr: int, nv: int):
        """The spatial-rows schedule with an ``mr`` x ``nv``-vector register tile (``_spatial_rows`` picks the
        tile); a convolution wider than 1x1 whose output rows hold whole tiles reads a padded copy of the image
        (``pad``), another its im2col copy. None where the tile does not apply."""
        wl, L = self.wl, self.facts.lanes
        if wl.kind != "conv2d" or L == 1 or not (wl.pointwise or wl.p["groups"] == 1) or \
                mr * nv + nv + 1 > self.facts.registers:
            return None
        _, cout, P, K = wl.gemm_shape()
        nr = nv * L
        s = {"mr": mr, "nv": nv, "kc": K, "mc": _ceil(P, mr) * mr, "nc": _ceil(cout, nr) * nr,
             "pack_a": False, "pack_b": True, "order": "ji", "unroll": 4, "lanes": L, "trans": True}
        if not wl.pointwise:
            # tiles of whole output-row pieces read a zero-padded copy of the image through a column offset table
            # (no im2col copy); the scratch also holds the im2col [K, P] that other dims than the bounds' use
            p = wl.p
            s["pad"] = p["OW"] % mr == 0 or mr % p["OW"] == 0
            hp, wp = (p["OH"] - 1) * p["SH"] + (p["KH"] - 1) * p["DH"] + 1, (p["OW"] - 1) * p["SW"] + (p["KW"] - 1) * p["DW"] + 1
            if s["pad"] and p["OW"] % mr:  # a tile of several whole output rows: their distance in A (the image or its padded copy)
                s["span"] = (p["OW"], p["SH"] * (p["W"] if p["PH"] == 0 and p["PW"] == 0 else wp))
            # at stride 1 the im2col is KH x KW times the image: other dims than the bounds' copy it in bands of
            # output rows within the padded copy's room (at least one row), so the scratch does not grow with it
            full = K * P if p["SH"] > 1 or p["SW"] > 1 else K * p["OW"]
            s["col"] = max(full, p["C"] * hp * wp) + K if s["pad"] else K * P
        return s


def space_of(wl: Workload, facts: TargetFacts) -> GemmSpace:
    return GemmSpace(wl, facts)
