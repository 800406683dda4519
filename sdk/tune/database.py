"""Tuning database: JSON lines, one measured schedule per line, keyed by workload hash + target.

    {"hash": ..., "target": "host", "workload": "<key>", "site": "model:step", "space": 2,
     "schedule": {...}, "cost": 1.2e-4, "unit": "s", "trial": 17, "kernel": ..., "confirm": 1}

``hash`` keys the workload with the epilogue the build fuses into its kernel; ``kernel`` (optional) is the hash of
the product without it. ``confirm`` (optional) marks the search's last measurements: its winner and the default
measured again, which decide over the other records of the workload (``sdk.tune.apply.pick_record``). Records of
another schedule-space version (``space``: 1 before the epilogue was measured) are ignored with a warning.

``cost`` is what the target's measurer reports (``unit`` "s": seconds on the host; "insn": guest
instructions per call under qemu for ARM64), lower is better.

Appending is the only write; the best (fastest valid) record of a key wins. A record whose schedule
does not fit the kernel any more (another schedule-space version, or decisions outside the kernel's
candidates) is ignored with a warning, not an error.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import SdkError


class TuningDatabase:
    def __init__(self, path=None):
        self.path = Path(path) if path else None
        self.records: List[Dict] = []
        if self.path and self.path.exists():
            for n, line in enumerate(self.path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    if isinstance(r, dict) and "cost" not in r and "seconds" in r:  # records before "cost"/"unit"
                        r["cost"], r["unit"] = r.pop("seconds"), "s"
                    if not isinstance(r, dict) or not {"hash", "target", "schedule", "cost"} <= set(r):
                        raise ValueError("missing keys")
                except ValueError as e:
                    raise SdkError(f"{self.path}:{n}: not a tuning record ({e})") from None
                self.records.append(r)

    def add(self, rec: Dict):
        self.records.append(rec)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")

    def add_many(self, recs: Iterable[Dict]):
        for r in recs:
            self.add(r)

    def best(self, wl_hash: str, target: str, valid=None, label: str = "") -> Optional[Dict]:
        """The fastest record for the key whose schedule ``valid`` accepts; stale ones warn."""
        recs = sorted((r for r in self.records if r["hash"] == wl_hash and r["target"] == target
                       and "choice" not in r and r["cost"] is not None and r["cost"] != float("inf")),
                      key=lambda r: r["cost"])
        for r in recs:
            if valid is None or valid(r):
                return r
            warnings.warn(f"tuning database {self.path}: record for {label or wl_hash} does not match the kernel "
                          f"any more (space version {r.get('space')}); ignored", stacklevel=2)
            break
        return None

    def sites(self, target: str) -> Dict[str, set]:
        """site -> hashes recorded for it (to tell a changed kernel from an untuned one): the workload's, and the
        product's without its fused epilogue ("kernel")."""
        out: Dict[str, set] = {}
        for r in self.records:
            if r["target"] == target and r.get("site"):
                out.setdefault(r["site"], set()).update(h for h in (r["hash"], r.get("kernel")) if h)
        return out
