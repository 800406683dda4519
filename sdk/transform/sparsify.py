"""Graph pass: constant weights that are mostly zeros are stored and multiplied sparse.

A MatMul or Gemm with a constant 2-D float32 weight, or a 1-D/2-D Conv of group 1 with a constant one (1x1 with
stride 1 and no padding reads X in place; others through im2col panels), becomes a ``SparseMatMul``
(``sdk/ops/sparse.py``) whose weight is stored in CSR, BSR, sliced ELL, a hybrid of BSR blocks and a CSR remainder, or N:M (``sdk/sparse/formats.py``) when the cost model
(``sdk/sparse/cost.py``) estimates it faster than the dense kernel, with fewer bytes. A bias (MatMul followed by an
Add of a per-output constant, Gemm's C, Conv's B) and a MatMul's ``alpha`` go into the sparse call; activations and
residual Adds after it are fused as epilogues. In quantized models, ``sdk.QFC`` and 1x1 ``sdk.QConv`` with a
mostly-zero int8 weight become ``sdk.QSparse`` (CSR int8, bit-exact with the dense int8 kernels).

Modes (``sdk.compile(sparse=...)``, ``--sparse``; a profile's ``[lower] sparse`` sets the default):
``off``; ``auto`` (weights of at least ``min_elements`` values and density <= ``max_density``, format by cost);
``csr`` / ``bsr`` / ``ell`` / ``hyb`` / ``nm`` (every eligible weight in that format, whatever its density: for tests and
experiments; ``nm`` takes the tightest N:4 pattern the weight has). ``auto`` considers N:M where a weight is 1:4 or
2:4 sparse (``sdk.prune(nm=(2, 4))``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import SdkError
from ..ir import sym
from ..ir.graph import Binding, Function, TensorType, Value
from ..sparse import cost
from ..sparse.formats import encode, nm_fits
from ..sparse.tuning import encode_named, tuned_format, weight_key

MODES = ("off", "auto", "csr", "bsr", "ell", "hyb", "nm")


@dataclass(frozen=True)
class SparseOptions:
    mode: str = "auto"
    lanes: int = 4             # floats per vector register of the target
    registers: int = 16        # vector registers
    block: int = 4             # BSR block rows (cost.bsr_block_rows of lanes and registers)
    max_density: float = 0.5   # auto: denser weights stay dense without asking the cost model
    min_elements: int = 1024   # auto: smaller weights stay dense
    min_elements_int8: int = 256  # auto, int8 weights (the Cortex-M kernels have little per-call overhead)
    clock_hz: float = cost.COSTS.clock_hz
    target: str = ""           # the profile's name: keys tuning records (sdk/sparse/tuning.py)
    db: object = field(default=None, compare=False)  # a TuningDatabase whose sparse records auto mode follows


def sparse_options(tgt, mode: Optional[str] = None, db=None) -> SparseOptions:
    """The options for target profile ``tgt`` (None: a generic 4-lane SIMD CPU): ``mode`` or the profile's
    ``[lower] sparse`` (default ``auto``); block rows from its vector lanes and registers; ``db``: a tuning
    database whose sparse-format records ``auto`` follows where it has one for a weight."""
    from ..tune.space import _probe_native
    lanes, regs, clock = 4, 16, cost.COSTS.clock_hz
    if tgt is not None:
        mode = mode or tgt.data.get("lower", {}).get("sparse", "auto")
        t = tgt.data.get("tune", {})
        lanes, regs = t.get("vector_lanes", "native"), t.get("vector_registers", "native")
        if "native" in (lanes, regs):
            pl, pr = _probe_native(tgt.cc, tuple(f for f in tgt.cflags if f.startswith(("-m", "-march", "-mcpu"))))
            lanes, regs = (pl if lanes == "native" else lanes), (pr if regs == "native" else regs)
        clock = float(tgt.data.get("cpu", {}).get("clock_hz", clock))
    mode = mode or "auto"
    if mode not in MODES:
        raise SdkError(f"sparse mode '{mode}': expected one of {', '.join(MODES)}")
    return SparseOptions(mode, int(lanes), int(regs), cost.bsr_block_rows(int(lanes), int(regs)), clock_hz=clock,
                         target=tgt.name if tgt is not None else "", db=db)


def choose(S: np.ndarray, P: int, strided: bool, opts: SparseOptions, key: Optional[str] = None):
    """(encoded weight or None for dense, report dict) for weight S[O, K] multiplied by P columns. ``key``
    (``sdk/sparse/tuning.py weight_key``): in ``auto`` mode, a format the tuning database ``opts.db`` recorded
    for it wins over the cost model."""
    O, K = S.shape
    nnz = int(np.count_nonzero(S))
    density = nnz / S.size
    dense_bytes = S.size * 4
    report = {"density": density, "dense_bytes": dense_bytes, "format": "dense", "bytes": dense_bytes,
              "cycles": {"dense": cost.dense_cycles(O, K, P, opts.lanes)}}
    if opts.mode == "off":
        return None, report
    if opts.mode == "auto" and (density > opts.max_density or S.size < opts.min_elements):
        return None, report
    nm = next(((n, 4) for n in (1, 2, 3, 4) if nm_fits(S, n, 4)), None)  # the tightest N:4 pattern it has
    formats = [("csr", 1, None), ("bsr", opts.block, None), ("ell", opts.block, None), ("hyb", opts.block, None)]
    if nm is not None and (nm[0] <= 2 or opts.mode == "nm"):  # auto: 1:4 and 2:4 (a 3:4 weight is 75% dense)
        formats.append(("nm", 1, nm))
    if opts.mode != "auto":
        formats = [f for f in formats if f[0] == opts.mode]
    best = None
    for fmt, block, fmt_nm in formats:
        e = encode(S, fmt, block, fmt_nm)
        indices, rest = cost.stored_indices(e)
        if opts.mode == "auto" and fmt == "hyb" and not (indices and rest):
            continue  # all blocks or no block: the hybrid is BSR or CSR
        c = cost.sparse_cycles(fmt, e.block, O, K, P, indices, opts.lanes, strided, rest=rest)
        report["cycles"][e.name] = c
        if best is None or c < best[1]:
            best = (e, c)
    e, c = best
    tuned = tuned_format(opts.db, key, opts.target) if opts.mode == "auto" and key else None
    if tuned is not None:
        try:
            e = encode_named(S, tuned)
        except ValueError:  # a record for a pattern this weight does not have: the cost model decides
            tuned = None
        else:
            report["tuned"] = tuned
            if e is None:
                return None, report
            report.update(format=e.name, bytes=e.nbytes)
            return e, report
    if opts.mode == "auto" and (c >= report["cycles"]["dense"] or e.nbytes >= dense_bytes):
        return None, report
    report.update(format=e.name, bytes=e.nbytes)
    return e, report


def choose_int8(S: np.ndarray, P: int, opts: SparseOptions):
    """``choose`` for an int8 weight of a quantized model (``sdk.QFC``, 1x1 ``sdk.QConv``): CSR or dense."""
    O, K = S.shape
    density = int(np.count_nonzero(S)) / S.size
    report = {"density": density, "dense_bytes": S.size, "format": "dense", "bytes": S.size,
              "cycles": {"dense": cost.dense_cycles_s8(O, K, P)}}
    if opts.mode == "off" or (opts.mode == "auto" and (density > opts.max_density or S.size < opts.min_elements_int8)):
        return None, report
    e = encode(S, "csr")
    c = report["cycles"]["csr"] = cost.sparse_cycles_s8(O, K, P, e.nnz)
    if opts.mode == "auto" and (c >= report["cycles"]["dense"] or e.nbytes >= S.size):
        return None, report
    report.update(format="csr", bytes=e.nbytes)
    return e, report


def _const_value(name: str, arr: np.ndarray) -> Value:
    return Value(name, TensorType(tuple(int(d) for d in arr.shape), arr.dtype.name), const=arr)


def _attr(b: Binding, key, default):
    v = b.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _conv_1x1(b: Binding) -> bool:
    x, w = b.inputs[0], b.inputs[1]
    k = len(w.shape) - 2
    return (w.const is not None and w.const.dtype == np.float32 and k in (1, 2) and x.rank == w.rank
            and all(int(d) == 1 for d in w.shape[2:]) and _attr(b, "group", 1) == 1
            and all(s == 1 for s in _attr(b, "strides", [1] * k))
            and all(d == 1 for d in _attr(b, "dilations", [1] * k))
            and not any(_attr(b, "pads", [0] * 2 * k)) and _attr(b, "auto_pad", "NOTSET") in ("NOTSET", "VALID"))


def _conv_any(b: Binding) -> bool:
    """A Conv the im2col kernels take: 1-D or 2-D, group 1, static kernel, float32 constant weight."""
    x, w = b.inputs[0], b.inputs[1]
    return (w.const is not None and w.const.dtype == np.float32 and len(w.shape) in (3, 4) and x.rank == w.rank
            and _attr(b, "group", 1) == 1 and all(sym.is_static(d) for d in b.outputs[0].shape[2:]))


def _bias_vector(v: Optional[Value], N: int, scale: float = 1.0) -> Optional[np.ndarray]:
    """A constant that broadcasts over the last axis of [.., N] as a float32 [N] vector, else None."""
    if v is None or v.const is None or v.const.dtype != np.float32 or v.const.ndim == 0:
        return None
    c = v.const
    if c.shape[-1] not in (1, N) or any(d != 1 for d in c.shape[:-1]):
        return None
    return np.ascontiguousarray(np.broadcast_to(c.reshape(-1), (N,)) * np.float32(scale), np.float32)


class _Rewriter:
    def __init__(self, f: Function, opts: SparseOptions):
        self.f, self.opts = f, opts
        self.consumers = f.consumers()
        self.outputs = {id(v) for v in f.outputs}
        self.drop, self.replace = set(), {}
        self.reports = []  # one per eligible weight, dense ones too (sparse_reports)

    def _p(self, dims):
        """The columns P of the product at the bounds (a symbol without one, which planning reports later,
        counts as 64)."""
        P = 1
        for d in dims:
            P = sym.mul(P, d)
        if sym.is_static(P):
            return int(P)
        return sym.upper_bound(P, {**{s: 64 for s in sym.free_vars(P)}, **self.f.bounds})

    def _bias_add(self, b: Binding, N: int):
        """(the Add after b that adds a per-output constant, that vector) if b's output has no other reader."""
        y = b.outputs[0]
        users = self.consumers.get(id(y), [])
        if id(y) in self.outputs or len(users) != 1 or users[0].op != "Add" or id(users[0]) in self.drop:
            return None, None
        add = users[0]
        other = add.inputs[1] if add.inputs[0] is y else add.inputs[0]
        vec = _bias_vector(other, N)
        same = len(add.outputs[0].shape) == len(y.shape) and all(
            sym.sub(a, c) == 0 for a, c in zip(add.outputs[0].shape, y.shape))
        return (add, vec) if vec is not None and same and other is not y else (None, None)

    def visit(self, b: Binding):
        op, ins = b.op, b.inputs
        if op == "MatMul" and len(ins) == 2 and ins[1] is not None and ins[1].const is not None:
            x, w = ins
            if w.rank != 2 or x.rank < 2 or w.const.dtype != np.float32 or x.dtype != "float32":
                return
            K, N = w.shape
            S = w.const.T * np.float32(b.attrs.get("alpha", 1.0))
            add, bias = self._bias_add(b, N)
            self._rewrite(b, x, S, bias, "rows", self._p(x.shape[:-1]), out=add.outputs[0] if add else None,
                          extra_drop=add)
        elif op == "Gemm" and len(ins) >= 2 and ins[1] is not None and ins[1].const is not None:
            x, w = ins[0], ins[1]
            c = ins[2] if len(ins) > 2 else None
            if (_attr(b, "transA", 0) or w.rank != 2 or x.rank != 2 or w.const.dtype != np.float32
                    or x.dtype != "float32"):
                return
            S = (w.const if _attr(b, "transB", 0) else w.const.T) * np.float32(_attr(b, "alpha", 1.0))
            beta = float(_attr(b, "beta", 1.0))
            bias = None
            if c is not None and beta != 0.0:
                bias = _bias_vector(c, S.shape[0], beta)
                if bias is None:
                    return  # a C that is not per output (or not constant): keep the GEMM
            self._rewrite(b, x, S, bias, "rows", int(x.shape[0]) if sym.is_static(x.shape[0]) else self._p(x.shape[:1]))
        elif op in ("sdk.QFC", "sdk.QConv") and ins[1].const is not None and ins[1].const.dtype == np.int8:
            x, w = ins[0], ins[1]
            a = b.attrs
            if op == "sdk.QConv" and (w.rank != 4 or any(int(d) != 1 for d in w.shape[2:]) or a.get("group", 1) != 1
                                      or any(s != 1 for s in a.get("strides", [1, 1])) or any(a.get("pads", [0, 0]))):
                return  # k x k, strided, padded or grouped int8 convolutions stay dense
            layout = "rows" if op == "sdk.QFC" else "channels"
            P = self._p(x.shape[:-1] if layout == "rows" else [x.shape[0]] + list(x.shape[2:]))
            self._rewrite_int8(b, w.const.reshape(w.shape[0], -1), layout, P)
        elif op == "Conv" and len(ins) >= 2 and ins[1] is not None and ins[0].dtype == "float32" and _conv_any(b):
            x, w = ins[0], ins[1]
            bias = ins[2] if len(ins) > 2 else None
            if bias is not None and (bias.const is None or bias.const.dtype != np.float32):
                return
            S = w.const.reshape(w.shape[0], -1)
            bias = None if bias is None else bias.const.reshape(-1)
            if _conv_1x1(b):  # X read in place
                self._rewrite(b, x, S, bias, "channels", self._p([x.shape[0]] + list(x.shape[2:])), strided=False)
            else:
                conv = {k: v for k, v in b.attrs.items() if k in ("strides", "pads", "dilations", "auto_pad")}
                self._rewrite(b, x, S, bias, "conv", self._p([x.shape[0]] + list(b.outputs[0].shape[2:])),
                              strided=True, attrs=dict(conv, kernel=[int(d) for d in w.shape[2:]]))

    def _rewrite(self, b, x, S, bias, layout, P, out=None, extra_drop=None, strided=None, attrs=None):
        S = np.ascontiguousarray(S, np.float32)
        key = weight_key(S, P, layout, attrs, self.opts.target)
        e, report = choose(S, P, layout == "rows" if strided is None else strided, self.opts, key)
        w = b.inputs[1]
        report.update(weight=w.onnx_name or w.name, node=b.name, op=b.op, shape=S.shape, P=P, key=key)
        self.reports.append(report)
        if e is None:
            return
        stem = f"{w.name}_{e.format}"
        ins = [x] + [_const_value(f"{stem}_{k}", a) for k, a in e.arrays.items()]
        if bias is not None:
            ins.append(_const_value(f"{stem}_bias", np.ascontiguousarray(bias, np.float32)))
        attrs = {**(attrs or {}), "format": e.format, "block": e.block, "nm": list(e.nm or ()), "O": S.shape[0],
                 "K": S.shape[1], "arrays": list(e.arrays), "bias": bias is not None,
                 "layout": layout, "density": round(report["density"], 4)}
        self.replace[id(b)] = Binding("SparseMatMul", ins, [out or b.outputs[0]], attrs, b.name, guard=list(b.guard))
        if extra_drop is not None:
            self.drop.add(id(extra_drop))


    def _rewrite_int8(self, b, S, layout, P):
        e, report = choose_int8(S, P, self.opts)
        w = b.inputs[1]
        report.update(weight=w.onnx_name or w.name, node=b.name, op=b.op, shape=S.shape, P=P)
        self.reports.append(report)
        if e is None:
            return
        ins = [b.inputs[0]] + [_const_value(f"{w.name}_csr_{k}", a) for k, a in e.arrays.items()] + b.inputs[2:]
        attrs = {k: b.attrs[k] for k in ("x_zp", "y_zp", "act_min", "act_max")}
        attrs.update(O=S.shape[0], K=S.shape[1], layout=layout, density=round(report["density"], 4))
        self.replace[id(b)] = Binding("sdk.QSparse", ins, list(b.outputs), attrs, b.name, guard=list(b.guard))


def _run(f: Function, opts: SparseOptions) -> _Rewriter:
    r = _Rewriter(f, opts)
    for b in f.bindings:
        if id(b) not in r.drop:
            r.visit(b)
    return r


def sparsify(f: Function, opts: SparseOptions = SparseOptions()) -> Function:
    """``f`` with its sparse constant weights in sparse formats (see the module docstring); ``f`` is not edited."""
    if opts.mode == "off":
        return f
    r = _run(f, opts)
    if not r.replace:
        return f
    return f.with_bindings([r.replace.get(id(b), b) for b in f.bindings if id(b) not in r.drop])


def sparse_reports(f: Function, opts: SparseOptions):
    """What ``sparsify`` decides for each eligible weight of ``f`` (before the pass): dicts with ``weight``,
    ``node``, ``op``, ``shape`` (S[O, K]), ``P``, ``density``, ``format`` ("dense", "csr", "bsr4x1"), ``bytes``,
    ``dense_bytes`` and the estimated ``cycles`` of each format considered."""
    return _run(f, opts).reports
