"""Sharded indexes: a directory of ordinary index files (one per contiguous id range) plus a
manifest, and a search over all shards that merges their results.

    OUT/manifest.json     {"format": "sdk-vq-shards", "version": 1, "dim", "stages", "ksub",
                           "method", "tree", "forest", "ntotal",
                           "shards": [{"file", "start", "count", "crc32"}, ...]}
    OUT/shard-00000.svq   an index file (docs/vq.md) of ids start .. start+count-1, stored as 0..count-1

Each shard is searched with the same lookup tables, its ids are shifted by its start, and the k
smallest (distance, id) pairs over all shards are kept, in float64 and ties by id as in
Index.search: exhaustive search (or tree search without limits) returns exactly what one index
over the same codes returns. With nprobe/budget each shard's tree gets that budget, so a sharded
tree search visits up to shards x budget items.
"""
import json
import zlib
from pathlib import Path

import numpy as np

from ..errors import FormatError, SdkError
from .index import Index, check_search_args, load, top_k_groups

MANIFEST = "manifest.json"
FORMAT = "sdk-vq-shards"
VERSION = 1


def shard_ranges(n, shard_size, align=2048):
    """Contiguous [start, stop) id ranges of at most shard_size (rounded up to a multiple of
    `align`, the encoder's block: shards then encode the same blocks as one pass over all rows)."""
    if shard_size < 1:
        raise SdkError(f"shard size must be >= 1, got {shard_size}")
    size = -(-shard_size // align) * align
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


def shard_name(i):
    return f"shard-{i:05d}.svq"


def write_shard(quantizer, codes, path, tree=None, forest=1):
    """Build the index of one shard's codes and write it; returns its manifest entry fields."""
    idx = Index(quantizer, tree=tree, forest=forest)
    idx.add_codes(codes)
    blob = idx.to_bytes()
    Path(path).write_bytes(blob)
    return {"file": Path(path).name, "count": int(len(codes)), "crc32": zlib.crc32(blob)}


def write_manifest(out, quantizer, entries, starts, tree=None, forest=1):
    """manifest.json of a directory of shard files (entries from write_shard, in id order)."""
    shards = [dict(e, start=int(s)) for e, s in zip(entries, starts)]
    for a, b in zip(shards, shards[1:]):
        if a["start"] + a["count"] != b["start"]:
            raise SdkError("shards must tile the id range in order")
    man = {"format": FORMAT, "version": VERSION, "dim": quantizer.dim, "stages": quantizer.stages,
           "ksub": quantizer.ksub, "method": quantizer.method, "tree": tree or "none",
           "forest": forest if tree else 0, "ntotal": sum(e["count"] for e in shards), "shards": shards}
    path = Path(out) / MANIFEST
    path.write_text(json.dumps(man, indent=1) + "\n")
    return path


def write_sharded(quantizer, codes, out, shard_size, tree=None, forest=1):
    """Split codes into shards, write their index files and the manifest (one process)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ranges = shard_ranges(len(codes), shard_size)
    entries = [write_shard(quantizer, codes[a:b], out / shard_name(i), tree, forest)
               for i, (a, b) in enumerate(ranges)]
    return write_manifest(out, quantizer, entries, [a for a, _ in ranges], tree, forest)


def is_sharded(path):
    path = Path(path)
    return path.name == MANIFEST or (path.is_dir() and (path / MANIFEST).exists())


class ShardedIndex:
    """The shards of a manifest, searched together (shards are loaded and checked on open)."""

    def __init__(self, path):
        path = Path(path)
        self.path = path / MANIFEST if path.is_dir() else path
        try:
            man = json.loads(self.path.read_text())
        except OSError as e:
            raise FormatError(f"{self.path}: cannot read ({e.strerror})") from None
        except ValueError as e:
            raise FormatError(f"{self.path}: not a JSON manifest ({e})") from None
        if not isinstance(man, dict) or man.get("format") != FORMAT or man.get("version") != VERSION:
            raise FormatError(f"{self.path}: not a version-{VERSION} {FORMAT} manifest")
        self.manifest, self.shards, start = man, [], 0
        for e in man["shards"]:
            blob_path = self.path.parent / e["file"]
            if zlib.crc32(_read(blob_path)) != e["crc32"]:
                raise FormatError(f"{blob_path}: checksum differs from the manifest")
            idx = load(blob_path)
            if e["start"] != start or idx.ntotal != e["count"]:
                raise FormatError(f"{blob_path}: id range does not follow the previous shard")
            if self.shards and not np.array_equal(idx.quantizer.codebooks, self.shards[0][1].quantizer.codebooks):
                raise FormatError(f"{blob_path}: codebooks differ from the first shard's")
            self.shards.append((start, idx))
            start += idx.ntotal
        if not self.shards or start != man["ntotal"]:
            raise FormatError(f"{self.path}: shards hold {start} items, manifest says {man.get('ntotal')}")

    quantizer = property(lambda self: self.shards[0][1].quantizer)
    ntotal = property(lambda self: self.manifest["ntotal"])

    def search(self, q, k=10, nprobe=None, budget=None, exhaustive=False, margin=None):
        """As Index.search over all shards (nprobe/budget/margin apply per shard)."""
        first = self.shards[0][1]
        q, k, nprobe, budget = check_search_args(q, first.quantizer.dim, k, nprobe, budget)
        if margin is not None and not margin > 0:
            raise SdkError(f"margin must be > 0 (None: off), got {margin}")
        margin = None if margin is None else float(np.float32(margin))
        out_d = np.empty((len(q), k), np.float32)
        out_i = np.empty((len(q), k), np.int64)
        step = first.query_step(self.ntotal, exhaustive)  # the blocks of one index of ntotal items
        for s in range(0, len(q), step):
            lut, qn = first.lookup_tables(q[s:s + step])
            parts = [(qi, d, ids + start) for start, idx in self.shards
                     for qi, d, ids in [idx.candidates(lut, qn, k, nprobe, budget, exhaustive, margin)]]
            cand = (np.concatenate([p[i] for p in parts]) for i in range(3))
            out_d[s:s + step], out_i[s:s + step] = top_k_groups(*cand, len(lut), k)
        return out_d, out_i


def _read(path):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror})") from None


def quantizer_of(path):
    """The quantizer of an index file or of a sharded index (manifest or its directory)."""
    return ShardedIndex(path).quantizer if is_sharded(path) else load(path).quantizer

