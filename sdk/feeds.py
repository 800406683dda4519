"""Checks of the arrays a user feeds a model (``Bundle.run``, ``sdk run``, calibration data): each
failure is one ShapeError/BoundError naming the input and what the model expects."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

from .errors import BoundError, ShapeError

DimSpec = Union[int, str]  # a static extent, or a symbolic expression as text ("batch", "seq*2")


def shape_text(shape: Sequence[DimSpec]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


_NAMES: Dict[np.dtype, str] = {}  # dtype -> name (numpy's .name costs microseconds per call)


class _Expect:
    def __init__(self, dtype, shape):
        self.dtype, self.shape = dtype, shape

    def __format__(self, spec):
        return f"the model expects {self.dtype}{shape_text(self.shape)}"


def check_feeds(names: List[str], types: List[Tuple[str, Sequence[DimSpec]]], feeds: Dict[str, np.ndarray],
                bounds: Dict[str, int], what: str = "input", finite: bool = False, empty=None):
    """``types[k] = (dtype, shape)`` of input ``names[k]``; ``bounds`` the compiled upper bounds of the
    symbols (empty: not checked; calibration data may hold more rows than the bound). ``finite``: NaN/Inf are rejected too (calibration data).
    ``empty``: the symbols that may be 0 (when given, a 0 of any other symbolic dim is refused here)."""
    for name, (dtype, shape) in zip(names, types):
        if name not in feeds:
            raise ShapeError(f"missing {what} '{name}': the data has no input '{name}' "
                             f"(the model's inputs: {', '.join(names)}; given: {', '.join(sorted(feeds)) or 'none'})")
        a = np.asarray(feeds[name])
        expect = _Expect(dtype, shape)  # formatted only for a message
        dt = _NAMES.get(a.dtype) or _NAMES.setdefault(a.dtype, "bool" if a.dtype == np.bool_ else a.dtype.name)
        if dt != dtype and not (what == "calibration input" and a.dtype.kind == "f" and dtype.startswith("float")):
            raise ShapeError(f"{what} '{name}': dtype {dt}{list(a.shape)}, {expect} (convert it, e.g. .astype(np.{dtype}))")
        if a.ndim != len(shape):
            raise ShapeError(f"{what} '{name}': shape {list(a.shape)} has rank {a.ndim}, {expect}")
        for k, d in enumerate(shape):
            if isinstance(d, int) and a.shape[k] != d:
                raise ShapeError(f"{what} '{name}': shape {list(a.shape)}, dim {k} is {a.shape[k]}, {expect}")
            if isinstance(d, str) and empty is not None and d in bounds and a.shape[k] == 0 and d not in empty:
                raise BoundError(f"{what} '{name}': shape {list(a.shape)}, dim {k} ({d}) is 0, but {d} was compiled "
                                 f"as at least 1 (if it may be 0, e.g. an empty cache: compile with "
                                 f"empty_dims=['{d}']; sdk build --empty-dim {d})")
            if isinstance(d, str) and bounds and d in bounds and a.shape[k] > bounds[d]:
                raise BoundError(f"{what} '{name}': shape {list(a.shape)}, dim {k} ({d}) is {a.shape[k]}, above "
                                 f"its compiled bound {d} <= {bounds[d]} (rebuild with --dim {d}={a.shape[k]})")
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = int(np.size(a) - np.isfinite(a).sum())
            raise ShapeError(f"{what} '{name}': {bad} NaN/Inf value(s); calibration data must be finite")
    extra = sorted(set(feeds) - set(names))
    if extra:
        raise ShapeError(f"unknown {what} '{extra[0]}' (the model's inputs: {', '.join(names)})")


def check_dim_conditions(conditions, func, feeds: Dict[str, np.ndarray]):
    """Refuse inputs too small for the model: ``conditions`` from ``Function.dim_conditions()`` ((dim, tensor
    name) that must not be negative), evaluated at the fed dims (the C ``bind_dims`` returns
    SDK_ERR_DIM_OUT_OF_BOUNDS for the same inputs)."""
    from .ir import sym
    env = {}
    for v, name in zip(func.inputs, func.input_names):
        for axis, d in enumerate(v.shape):
            s = sym.bare_var(d)
            if s is not None:
                env[s] = int(np.shape(feeds[name])[axis])
    checks = set(getattr(func, "dim_checks", ()))
    for d, tensor in conditions:
        if sym.free_vars(d) <= set(env) and sym.evaluate(d, env) < 0:
            given = ", ".join(f"{k}={env[k]}" for k in sorted(sym.free_vars(d)))
            if (d, tensor) in checks:  # two dims a shape rule matched without a proof differ at these dims
                raise ShapeError(f"inputs the model does not accept: at {given}, {sym.to_str(d)} = "
                                 f"{sym.evaluate(d, env)} < 0, where two dims that must be equal differ ({tensor})")
            raise ShapeError(f"inputs too small for the model: at {given}, tensor '{tensor}' would have a dim "
                             f"{sym.to_str(d)} = {sym.evaluate(d, env)} (the input must be larger)")
