"""Winograd F(m x m, 3 x 3): the fast algorithm for 3x3, stride-1, dilation-1, one-group convolutions.

``select`` rewrites such an ``sdk_conv2d_f32`` call, when the target's rule (``choose``: the profile's ``[winograd]``
table) prefers it to the im2col GEMM, into a call of the runtime kernel ``sdk_winograd_f32``
(``runtime_c/src/sdk_winograd.c``): the weight is transformed and packed at build time (``pack_weight``:
U = G g G^T per input/output channel pair, stored per tile position in panels of 16 output channels), the kernel
transforms input tiles, runs the (m + 2)^2 position products with its register-tiled micro-kernel and applies the
output transform with the epilogue (bias, residual, activation: the following ``sdk_epilogue_f32`` step is folded
into its arguments). Output tiles of 4 x 4 (36 products, 2.25 multiplies per output instead of 9) or 2 x 2 (16
products, 4 multiplies) trade fewer multiplies against a larger transformed weight (4x / 1.8x the original) and
rounding error (bench/RESULTS_zoo.md has both measured).

The algorithm is a schedule decision: ``algorithm = "winograd"`` with its tile size ``tile`` and tile block ``tb``
(tiles whose transformed input and products stay in cache together), else the im2col GEMM. Unless a tuning
record says Winograd, the default rule decides from the layer's channels and plane (``choose``).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .. import kernels
from ..tir.expr import Buffer, LibCall
from ..transform.epilogue import ACT_CODE
from .consts import float_const, store_derived

PANEL = 16     # SDK_WINO_NR: output channels per packed panel
CHANNELS = 16  # SDK_WINO_CB: input channels padded to a multiple of this
BLOCK = 12     # SDK_WINO_TB: tile blocks are a multiple of this many tiles

# the transform matrices (Lavin & Gray 2016): G (a x 3) for the weight; B^T and A^T are in sdk_winograd.c
G = {2: np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
     4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                  [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])}


def _up(x: int, u: int) -> int:
    return -(-x // u) * u


def pack_weight(Wt: np.ndarray, m: int) -> np.ndarray:
    """Wt [M, C, 3, 3] -> the layout ``sdk_winograd_f32`` reads: for each position p of the a x a transformed tile
    (a = m + 2), ceil(M / 16) panels of [Cp][16] floats, U[p][c][k] = (G Wt[k, c] G^T)_p (zero past C and M).
    Computed in float64, stored float32; returns a 1-D array."""
    M, C = Wt.shape[:2]
    g = G[m]
    a = m + 2
    U = np.einsum("ai,kcij,bj->abck", g, Wt.astype(np.float64), g).reshape(a * a, C, M)
    Cp, Mp = _up(C, CHANNELS), _up(M, PANEL)
    out = np.zeros((a * a, Cp, Mp), np.float64)
    out[:, :C, :M] = U
    out = out.reshape(a * a, Cp, Mp // PANEL, PANEL).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(out, np.float32).reshape(-1)


def weight_bytes(m: int, C: int, M: int) -> int:
    """Bytes of the transformed, packed weight of an M x C x 3 x 3 convolution (``pack_weight``)."""
    return 4 * (m + 2) ** 2 * _up(C, CHANNELS) * _up(M, PANEL)


def padded_floats(m: int, C: int, OH: int, OW: int) -> int:
    """Floats of one image of C channels in the padded layout of a layer with OH x OW outputs in m x m tiles
    (sdk_winograd.h): the tiles' rows and columns plus a border of one, channels rounded up to 16."""
    return (_up(OH, m) + 2) * (_up(OW, m) + 2) * _up(C, CHANNELS)


def scratch_floats(m: int, C: int, M: int, OH: int, OW: int, tb: int, x_padded: bool = False) -> int:
    """Floats of ``sdk_winograd_f32``'s scratch (sdk_winograd.h): a tile block's transformed input and products,
    and the image channels-last with its zero border (not where the input is in that layout already)."""
    a, Cp = m + 2, _up(C, CHANNELS)
    return a * a * _up(tb, BLOCK) * (Cp + _up(M, PANEL)) + (0 if x_padded else padded_floats(m, C, OH, OW)) + 16


def _ints(*vals) -> bool:
    return all(isinstance(v, (int, np.integer)) for v in vals)


def eligible(step) -> bool:
    """A float32 3x3 convolution the kernel computes: stride 1, dilation 1, one group, a fixed image size (the
    batch may be symbolic)."""
    a = step.arg
    return (step.fn == "sdk_conv2d_f32" and a("groups") == 1 and (a("KH"), a("KW")) == (3, 3)
            and (a("SH"), a("SW"), a("DH"), a("DW")) == (1, 1, 1, 1)
            and _ints(a("C"), a("M"), a("H"), a("W"), a("OH"), a("OW")))


def tile_block(m: int, C: int, M: int, tiles: int, cache_bytes: int) -> int:
    """Tiles per block: the block's transformed input and products ((m+2)^2 x tb x (C + M) floats) within
    ``cache_bytes``, at least one block granule and no more than the image needs."""
    a = m + 2
    per_tile = 4 * a * a * (_up(C, CHANNELS) + _up(M, PANEL))
    tb = max(BLOCK, cache_bytes // per_tile // BLOCK * BLOCK)
    return min(tb, _up(tiles, BLOCK))


def rule_cache_bytes(rule: Dict, m: int, C: int, M: int) -> int:
    """The tile block's cache budget of an M x C layer in m x m tiles under the profile's ``[winograd]`` table:
    ``cache_bytes``, or ``streamed_cache_bytes`` where the transformed weight has at least ``streamed_weight_bytes``
    (it streams from L3 once per block, so a larger block reads it fewer times: ResNet-18's 256-channel layers)."""
    streamed, big = rule.get("streamed_cache_bytes", 0), rule.get("streamed_weight_bytes", 0)
    if streamed and big and weight_bytes(m, C, M) >= big:
        return streamed
    return rule.get("cache_bytes", 1 << 20)


def choose(wl, rule: Dict) -> Optional[Dict]:
    """The default decision for conv workload ``wl`` from the profile's ``[winograd]`` table ``rule``:
    {"algorithm": "winograd", "tile": m, "tb": tiles per block}, or None (im2col). 4 x 4 output tiles, or 2 x 2 where
    the plane is smaller than ``tile4_min_plane`` (a 7x7 plane in 4x4 tiles computes 64 outputs for 49); Winograd
    where the layer has ``min_channels`` in and out (the position products' depth and width), a plane of at
    least ``min_plane`` (0: any) and ``min_tiles`` output tiles (rows of the position products that reuse each transformed weight panel). ``max_weight_bytes``
    (0: none) caps a layer's transformed weight (what the bundle stores: 4x the original in 4x4 tiles, 1.8x in
    2x2), where bundle size matters (phones, browsers): 2x2 tiles when the 4x4 form is over it, else im2col."""
    if not rule or not rule.get("enabled", False):
        return None
    p = wl.p
    C, M, OH, OW = p["C"], p["M"], p["OH"], p["OW"]
    if min(C, M) < rule.get("min_channels", 16) or min(OH, OW) < rule.get("min_plane", 0):
        return None
    m = 4 if min(OH, OW) >= rule.get("tile4_min_plane", 8) else 2
    cap = rule.get("max_weight_bytes", 0)
    if cap and m == 4 and weight_bytes(4, C, M) > cap:
        m = 2  # the 2x2 form's transformed weight is 16 / 36 of the 4x4 one's
    if cap and weight_bytes(m, C, M) > cap:
        return None
    tiles = -(-OH // m) * -(-OW // m)
    if tiles < rule.get("min_tiles", 16):
        return None
    return {"algorithm": "winograd", "tile": m, "tb": tile_block(m, C, M, tiles, rule_cache_bytes(rule, m, C, M))}


def rewrite(prog, step, decision: Dict, epilogue) -> Optional[LibCall]:
    """The ``sdk_winograd_f32`` call that replaces conv ``step`` (``epilogue``: (act, a, b, R) of the
    ``sdk_epilogue_f32`` step after it, or None), or None when its weight is not a float32 constant. Stores the
    transformed weight in ``prog.consts`` (in place of the original when no other step reads it) and adds the
    kernel's scratch to ``prog.temps``."""
    a = step.arg
    const = float_const(prog, a("Wt"))
    if const is None:
        return None
    at, w = const
    C, M, m, tb = a("C"), a("M"), decision["tile"], decision["tb"]
    ub = store_derived(prog, at, pack_weight(w.reshape(M, C, 3, 3), m), f"_wino{m}")
    scratch = Buffer(f"t_wino_{step.outputs[0].name}", (scratch_floats(m, C, M, a("OH"), a("OW"), tb),), "float32")
    prog.temps.append(scratch)
    args = {n: a(n) for n in ("N", "C", "H", "W", "M", "OH", "OW", "PH", "PW")}
    args.update(m=m, tb=tb, X=a("X"), U=ub, bias=a("bias"), Y=a("Y"), scratch=scratch)
    if epilogue is not None:
        act, ea, eb, R = epilogue
        args.update(R=R, act=ACT_CODE.get(act, 0), act_a=ea, act_b=eb)
    call = kernels.call("sdk_winograd_f32", **args)
    call.guard = list(step.guard)
    return call


def _compared(db, h: str, target: str) -> bool:
    """Whether the database measured this kernel for workload ``h``: then its best record, im2col or not, won a
    comparison with it."""
    return any(r["hash"] == h and r["target"] == target and r["schedule"].get("algorithm") == "winograd"
               and r["cost"] is not None and r["cost"] != float("inf") for r in db.records)


def chosen(step, wl, tgt) -> bool:
    """Whether the profile's rule gives this (unscheduled) convolution the Winograd kernel."""
    rule = tgt.data.get("winograd")
    return rule is not None and eligible(step) and choose(wl, rule) is not None


def select(prog, tgt, bounds: Dict[str, int], db=None, points=None) -> int:
    """Rewrite the eligible convolutions of ``prog`` whose schedule is Winograd: a tuning record's
    ``{"algorithm": "winograd", ...}``; the im2col GEMM where the best record is one of it and the database also
    measured this kernel for the layer (a comparison it won); else the profile's rule (``choose``), also where
    records of the im2col GEMM alone exist (the search does not measure this kernel: they were never compared).
    Profiles without a ``[winograd]`` table are left alone (with ``enabled = false``, only records turn it on).
    ``points`` (id(step) -> ``kernel_choice.ChoicePoint``, ``apply.choice_points``): a convolution with a kernel
    choice runs Winograd exactly where its chosen kernel is Winograd. Returns how many were rewritten."""
    from .kernel_choice import winograd_decision
    from ..transform.epilogue import replace_folding_epilogues
    from .workload import workload_of
    rule = tgt.data.get("winograd")
    if rule is None:  # a profile without the table has no Winograd kernel to run (CUDA, MCUs): not even from a record
        return 0

    def winograd_call(i, step, epi):
        if not isinstance(step, LibCall) or step.impl is not None or step.fn != "sdk_conv2d_f32" or not eligible(step):
            return None
        wl = workload_of(step, bounds)
        if wl is None:
            return None
        pt = (points or {}).get(id(step))
        if pt is not None and pt.recorded:  # measured kernel choices: Winograd where chosen
            d = winograd_decision(pt.chosen, wl, rule)
            call = None if d is None else rewrite(prog, step, d, epi)
            if call is not None:
                call.choice = pt
            return call
        h = wl.hash(tgt.name)
        rec = db.best(h, tgt.name) if db is not None else None
        if rec is not None and (rec["schedule"].get("algorithm") == "winograd" or _compared(db, h, tgt.name)):
            d = rec["schedule"] if rec["schedule"].get("algorithm") == "winograd" else None
        else:  # no record, or records of the im2col GEMM alone, never compared with this kernel (the search measures
            d = choose(wl, rule)  # GEMM schedules): the rule (tuned ResNet-18 ran 2x slower when they overrode it)
        if pt is not None:  # what this rule or record decided, as the convolution's kernel choice
            pt.chosen = ({"kernel": "winograd", "tile": d["tile"]} if d is not None else
                         next(c for c in pt.candidates if c["kernel"] != "winograd"))
        call = None if d is None else rewrite(prog, step, d, epi)
        if call is not None and pt is not None:
            call.choice = pt
        return call
    return replace_folding_epilogues(prog, winograd_call)


X_PADDED, Y_PADDED = 1, 2  # sdk_winograd.h: SDK_WINO_X_PADDED, SDK_WINO_Y_PADDED


def _padded_geometry(call, side: str):
    """(batch, Hp, Wp, channels) of the padded layout of the Winograd call's output (``side`` "Y") or input ("X"),
    or None where the input cannot be read in that layout (it needs padding 1 on both sides and a "same" plane)."""
    a = call.arg
    if side == "X" and (a("PH"), a("PW"), a("H"), a("W")) != (1, 1, a("OH"), a("OW")):
        return None
    ch = a("M") if side == "Y" else a("C")
    return (str(a("N")), _up(a("OH"), a("m")) + 2, _up(a("OW"), a("m")) + 2, _up(ch, CHANNELS))


def _arena(prog, bounds: Dict[str, int], align: int) -> int:
    """The arena bytes of the program's memory plan at ``bounds``."""
    from ..memory.plan import plan_memory
    return plan_memory(prog, bounds, align).arena_bytes


def chain_layouts(prog, bounds: Dict[str, int], align: int = 16) -> int:
    """Winograd layers hand each other the padded channels-last layout (sdk_winograd.h) where they can: a layer's
    output that only Winograd layers of the same plane and tile read, as their input, and that is a plain temp (not
    a graph output, a view or a Concat's part), is stored in that layout (``Y_PADDED``: each position's channels as
    one vector, no transpose to planes) and its readers take it as their channels-last image (``X_PADDED``: no copy,
    and no room for it in their scratch). A layer with a residual keeps planes (the residual is read in planes).
    The padded tensor is larger than the planes (its border, channels rounded up to 16, every image of the batch)
    where the readers' scratch saves one image's copy: each tensor keeps the layout only where the memory plan's
    arena (at ``bounds``, slots aligned to ``align``) does not grow. Runs on the final program (after every step
    rewrite); returns how many tensors changed layout."""
    from ..memory.plan import step_io
    calls = [s for s in prog.steps if isinstance(s, LibCall) and s.fn == "sdk_winograd_f32"]
    if len(calls) < 2:
        return 0
    readers, writers = {}, {}
    for s in prog.steps:
        r, w = step_io(s)
        for b in r:
            readers.setdefault(id(b), []).append(s)
        for b in w:
            writers.setdefault(id(b), []).append(s)
    temps = {id(t) for t in prog.temps}
    viewed = set(prog.alias) | {id(b) for b in prog.alias.values()}
    arena = None
    changed = 0
    for p in calls:
        y = p.arg("Y")
        if (id(y) not in temps or id(y) in viewed or p.arg("R") is not None or p.guard or p.arg("layout") & Y_PADDED
                or len(writers.get(id(y), [])) != 1 or len(y.shape) != 4):
            continue
        geom = _padded_geometry(p, "Y")
        rs = list({id(c): c for c in readers.get(id(y), [])}.values())
        if not rs or not all(isinstance(c, LibCall) and c.fn == "sdk_winograd_f32" and not c.guard
                             and c.arg("X") is y and c.arg("R") is not y and _padded_geometry(c, "X") == geom
                             for c in rs):
            continue
        if arena is None:
            arena = _arena(prog, bounds, align)
        undo = [(y, y.shape)] + [(c.arg("scratch"), c.arg("scratch").shape) for c in rs]
        y.shape = (y.shape[0],) + geom[1:]
        for c in rs:
            a = c.arg
            a("scratch").shape = (scratch_floats(a("m"), a("C"), a("M"), a("OH"), a("OW"), a("tb"), True),)
        now = _arena(prog, bounds, align)
        if now > arena:
            for b, shape in undo:
                b.shape = shape
            continue
        arena = now
        p.decl.set(p, layout=p.arg("layout") | Y_PADDED)
        for c in rs:
            c.decl.set(c, layout=c.arg("layout") | X_PADDED)
        changed += 1
    return changed
