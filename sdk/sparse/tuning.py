"""The sparse format as a tuning decision: ``sdk tune`` measures the candidate formats of each sparse weight
(``sdk/tune/sparse_formats.py``) and records the fastest in the tuning database; a build with that database
(``sdk.compile(tuning_db=...)``, ``sdk build --db``) uses the recorded format instead of the cost model's pick
(``sdk/transform/sparsify.py``, ``auto`` mode).

A record is keyed by the weight (its values: the format depends on where the zeros are), the product's shape
(``P`` columns, the layout, a convolution's geometry) and the target, like a kernel schedule's:

    {"hash": ..., "target": "host", "site": "model:W1", "space": "sparse-1",
     "schedule": {"sparse_format": "ell8"}, "cost": 4.1e-05, "unit": "s", ...}
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Optional

import numpy as np

from .formats import Encoded, encode

SPACE = "sparse-1"
NAME = re.compile(r"^(dense|csr|bsr(\d+)x1|ell(\d+)|hyb(\d+)x1|nm(\d):(\d))$")


def weight_key(S: np.ndarray, P: int, layout: str, attrs: Optional[dict], target: str) -> str:
    """The structural hash of one sparse product: its weight's bytes, columns, layout and geometry, the target."""
    h = hashlib.sha256()
    h.update(json.dumps(["sparse", target, layout, int(P), list(S.shape), attrs or {}], sort_keys=True,
                        default=str).encode())
    h.update(np.ascontiguousarray(S).tobytes())
    return h.hexdigest()[:24]


def encode_named(S: np.ndarray, name: str) -> Optional[Encoded]:
    """S in the format a report / record names ("csr", "bsr8x1", "ell4", "hyb4x1", "nm2:4"); None for "dense".
    ValueError for a name that is not a format or a pattern the weight does not have (an N:M it is not)."""
    m = NAME.match(name)
    if m is None:
        raise ValueError(f"not a sparse format name: {name!r}")
    if name == "dense":
        return None
    if name == "csr":
        return encode(S, "csr")
    if m.group(2):
        return encode(S, "bsr", int(m.group(2)))
    if m.group(3):
        return encode(S, "ell", int(m.group(3)))
    if m.group(4):
        return encode(S, "hyb", int(m.group(4)))
    return encode(S, "nm", nm=(int(m.group(5)), int(m.group(6))))


def tuned_format(db, key: str, target: str) -> Optional[str]:
    """The fastest recorded format name for ``key`` on ``target``, or None (no record: the cost model decides)."""
    if db is None:
        return None
    rec = db.best(key, target, valid=lambda r: r.get("space") == SPACE and NAME.match(
        str(r["schedule"].get("sparse_format", ""))) is not None, label=f"sparse weight {key}")
    return None if rec is None else rec["schedule"]["sparse_format"]
