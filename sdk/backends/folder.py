"""The bundle folder: prepared here, filled by the target's backend (``sdk.backends``).

Every bundle folder carries ``bundle.json`` with ``"sdk_bundle": 1``: the manifest that lets a later
build replace the folder completely (no stale weights), while a folder that is not a bundle is never
overwritten without ``force``."""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

from ..errors import SdkError
from . import backend_of

MANIFEST = "bundle.json"
_WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.ENOENT,
                 errno.EEXIST, errno.EISDIR)


def is_bundle(folder: Path) -> bool:
    """True for a folder written by ``sdk build`` (its manifest names the bundle and its target)."""
    try:
        meta = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and (meta.get("sdk_bundle") == 1 or {"name", "target", "inputs", "outputs"} <= set(meta))


def prepare_output(out: Path, force: bool = False):
    """Make ``out`` ready for a bundle: create it, or empty an earlier bundle; refuse anything else
    (a file, a non-empty folder that is not a bundle) unless ``force``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SdkError(f"-o {out}: is a file, not a folder; give a new or empty folder")
    if out.is_dir():
        entries = sorted(out.iterdir())
        if entries and is_bundle(out):
            for e in entries:  # replace completely: nothing of the previous model stays behind
                shutil.rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()
        elif entries and not force:
            raise SdkError(f"-o {out}: folder is not empty and not an sdk bundle (it holds '{entries[0].name}'"
                           f"{f' and {len(entries) - 1} more' if len(entries) > 1 else ''}); choose a new folder, "
                           "or pass --force to write into it anyway")
    out.mkdir(parents=True, exist_ok=True)
    # marked before any file is written: a build that fails half-way leaves a folder the next build may replace
    (out / MANIFEST).write_text(json.dumps({"sdk_bundle": 1}))


def write(out, bundle, force: bool = False) -> Path:
    """Prepare ``out`` (``prepare_output``) and let the target's backend write the bundle into it."""
    backend = backend_of(bundle.target)
    out = Path(out)
    try:
        prepare_output(out, force)
        path = backend.write_bundle(out, bundle)
        if getattr(bundle, "tokenizer", None) is not None:  # the same files for every target (C and JS)
            from ..text.bundle import write_tokenizer
            write_tokenizer(Path(path), bundle.tokenizer, bundle.name)
        _stamp_manifest(Path(path), bundle)
    except OSError as e:
        if e.errno not in _WRITE_ERRNOS or not str(e.filename or out).startswith(str(out)):
            raise
        raise SdkError(f"cannot write the bundle to {out}: {e.strerror or e} ({e.filename or out})") from None
    return path


def _stamp_manifest(out: Path, bundle):
    """Mark the folder as an sdk bundle and record the inputs' dtypes and shapes (``sdk run`` checks them)."""
    from ..ir import sym
    meta = json.loads((out / MANIFEST).read_text())
    meta["sdk_bundle"] = 1
    meta["input_types"] = [{"dtype": v.dtype, "shape": [int(d) if sym.is_static(d) else sym.to_str(d) for d in v.shape]}
                           for v in bundle.func.inputs]
    tok = getattr(bundle, "tokenizer", None)
    if tok is not None:
        meta["tokenizer"] = {"kind": "wordpiece", "vocab": f"{bundle.name}_vocab.txt", "size": len(tok.vocab),
                             "lowercase": tok.lowercase, "cls": tok.cls_id, "sep": tok.sep_id, "unk": tok.unk_id}
    (out / MANIFEST).write_text(json.dumps(meta, indent=1))
