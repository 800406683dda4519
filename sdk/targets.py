"""Target profiles: plain data in ``targets/*.toml``."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from .errors import SdkError
from .resources import TARGETS_DIR



@dataclass
class Target:
    name: str
    runner: str
    cc: str
    cflags: list
    ldlibs: list
    data: dict = field(default_factory=dict)


def available():
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> Target:
    path = TARGETS_DIR / f"{name}.toml"
    if not path.exists():
        raise SdkError(f"unknown target '{name}' (available: {', '.join(available())})")
    data = tomllib.loads(path.read_text())
    tc = data.get("toolchain", {})
    return Target(data.get("name", name), data.get("runner", "host"), tc.get("cc", "gcc"),
                  list(tc.get("cflags", [])), list(tc.get("ldlibs", [])), data)
