"""Build many CUDA bundles with each distinct object compiled once: a content-addressed object store shared by the
bundles of a run (and by runs: build it where nvcc is, carry it to the GPU machine).

A bundle's Makefile compiles every source (``SRCS``) to an object with ``$(NVCC) $(NVCCFLAGS) -I. -c``; the GPU
runtime (``runtime_c/cuda``: minutes of ptxas) is the same in every bundle of a checkout, so building bundles
one Makefile each paid for it once per bundle (issue 22: 210-360 s of every model run on the device). Here an
object's key is the sha256 of the nvcc version, the flags, the source and every header of the bundle directory (the
Makefile's ``%.o: %.cu *.h``, narrowed to the ones the source includes, directly or not: the model's header differs
per bundle, the runtime never includes it); each key missing from the store is compiled once (in parallel), every bundle gets its
objects copied from the store, and ``make`` then only assembles the weights (``.S``: its key would not cover the
``.incbin`` data, so it is never stored) and links.

    build_all([(bundle_dir, nvcc_flags or None), ...], store_dir, jobs=16, log=print) -> {bundle_dir: (ok, text)}
    compile_missing(...)  # the first half only: fill the store (e.g. here, before a device run)"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


@functools.lru_cache(maxsize=None)
def nvcc_version(nvcc: str = "nvcc") -> str:
    try:
        return subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "no nvcc"


def makefile_vars(d: Path) -> dict:
    out = {}
    for ln in (Path(d) / "Makefile").read_text().splitlines():
        if "=" in ln and not ln.startswith(("\t", "#")) and ":" not in ln.split("=", 1)[0]:
            k, v = ln.split("=", 1)
            out[k.strip().rstrip("?").strip()] = v.strip()
    return out


def includes(d: Path, src: str) -> list:
    """``src`` and the files of ``d`` it includes with ``#include "..."``, directly or not (sorted; others are
    the toolkit's, covered by the nvcc version)."""
    seen, todo = set(), [src]
    while todo:
        f = todo.pop()
        if f in seen or not (d / f).is_file():
            continue
        seen.add(f)
        for ln in (d / f).read_text(errors="replace").splitlines():
            t = ln.strip()
            if t.startswith("#") and t[1:].lstrip().startswith("include") and '"' in t:
                todo.append(t.split('"')[1])
    return sorted(seen)


def objects(d: Path, flags: str | None = None):
    """[(source, object name, key)] of the bundle's compiled sources (not the .S) and the flags used."""
    d = Path(d)
    v = makefile_vars(d)
    flags = flags if flags is not None else v["NVCCFLAGS"]
    nvcc = os.environ.get("NVCC", v.get("NVCC", "nvcc"))
    out = []
    for src in v["SRCS"].split():
        if src.endswith(".S"):
            continue
        h = hashlib.sha256("\0".join([nvcc_version(nvcc.split()[-1]), flags, src]).encode())
        for name in includes(d, src):
            h.update(b"\0" + name.encode() + b"\0" + (d / name).read_bytes())
        k = h.hexdigest()[:32]
        out.append((src, Path(src).stem + ".o", k))
    return out, flags


def _nvcc(d: Path, flags: str, src: str, obj: str):
    nvcc = os.environ.get("NVCC", makefile_vars(d).get("NVCC", "nvcc"))
    return subprocess.run(f"{nvcc} {flags} -I. -c -o {obj} {src}", shell=True, cwd=d, capture_output=True, text=True)


def compile_missing(bundles, store: Path, jobs: int = os.cpu_count() or 4, log=print) -> dict:
    """Compile each object key of ``bundles`` ([(dir, flags or None)]) that ``store`` lacks, once; returns
    {key: error text} of the ones that failed."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    todo = {}
    for d, flags in bundles:
        objs, fl = objects(d, flags)
        for src, obj, k in objs:
            if not (store / f"{k}.o").exists():
                todo.setdefault(k, (Path(d), fl, src, obj))
    failed = {}

    def one(item):
        k, (d, fl, src, obj) = item
        r = _nvcc(d, fl, src, obj)
        if r.returncode == 0:
            tmp = store / f"{k}.{os.getpid()}.tmp"
            shutil.copyfile(d / obj, tmp)
            os.replace(tmp, store / f"{k}.o")
        else:
            failed[k] = f"{d.name}/{src}: {(r.stderr or r.stdout)[-2000:]}"
        return k, src, d.name, r.returncode

    if todo:
        log(f"nvcc_objects: {len(todo)} objects to compile: " + ", ".join(sorted({v[2] for v in todo.values()})))
    with ThreadPoolExecutor(max(1, min(jobs, len(todo) or 1))) as ex:
        for k, src, name, rc in ex.map(one, todo.items()):
            log(f"nvcc_objects: {name}/{src} {'ok' if rc == 0 else 'FAILED'}")
    return failed


def build_all(bundles, store: Path, jobs: int = os.cpu_count() or 4, log=print) -> dict:
    """Every bundle's demo program (``make``), each object compiled at most once: {dir: (ok, text)}."""
    failed = compile_missing(bundles, store, jobs, log)

    def link(item):
        d, flags = Path(item[0]), item[1]
        objs, fl = objects(d, flags)
        for src, obj, k in objs:
            if k in failed:
                return d, (False, failed[k])
            shutil.copyfile(Path(store) / f"{k}.o", d / obj)  # a fresh mtime: newer than every source
        r = subprocess.run(["make", "-s", f"NVCCFLAGS={fl}"], cwd=d, capture_output=True, text=True)
        return d, (r.returncode == 0, (r.stdout + r.stderr)[-2000:])

    with ThreadPoolExecutor(max(1, min(jobs, len(bundles) or 1))) as ex:
        return dict(ex.map(link, bundles))
