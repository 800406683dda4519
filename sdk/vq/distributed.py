"""Scale-out on Ray (`sdk vq train|encode|build-index --ray ADDRESS|auto`).

Training runs in one Ray task on a random sample of the rows (the same rows and seed as the
single-machine `--train-size` path); encoding and index building split the rows into contiguous
shards (multiples of the encoder's 2048-row block), one Ray task each. Tasks read the data with
np.load(mmap_mode="r") and write their shard files themselves, so the data and output paths
must be visible to every node (a shared file system; on one machine, any path). Each shard's
codes are the rows' codes of a single-machine encode with the same quantizer (same blocks, same
arithmetic), and the manifest lists the shards in id order (sdk.vq.shards).
"""
from pathlib import Path

import numpy as np

from ..errors import SdkError
from .quantizer import train
from .shards import shard_name, shard_ranges, write_manifest, write_shard


def connect(address):
    """ray, initialised against `address` ("auto": the cluster this machine belongs to)."""
    try:
        import ray
    except ImportError:
        raise SdkError("--ray needs the ray package: pip install 'ray>=2.9'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise SdkError(f"cannot connect to the Ray cluster at {address}: {e}") from None
    return ray


def sample_rows(x, size, seed):
    """A random `size` rows of x in their original order (all of x when size is 0 or >= n)."""
    if not size or size >= len(x):
        return np.ascontiguousarray(x)
    return np.ascontiguousarray(x[np.sort(np.random.default_rng(seed).choice(len(x), size, replace=False))])


def _rows(path):
    x = np.load(path, mmap_mode="r", allow_pickle=False)
    if x.ndim != 2:
        raise SdkError(f"{path}: expected a 2-D array (n, dim), got shape {x.shape}")
    return x


def _train_task(data_path, train_size, seed, kw):
    return train(sample_rows(_rows(data_path), train_size, seed), seed=seed, progress=False, **kw)


def _encode_task(quantizer, data_path, start, stop):
    return quantizer.encode(np.asarray(_rows(data_path)[start:stop]))


def _shard_task(quantizer, path, start, stop, out, tree, forest, encode):
    """Encode rows [start, stop) of a data file (or take them from a codes file) and write the
    shard's index file; returns its manifest entry."""
    rows = np.asarray(_rows(path)[start:stop])
    codes = quantizer.encode(rows) if encode else rows
    return write_shard(quantizer, codes, out, tree, forest)


def ray_train(address, data_path, train_size, seed, **train_kw):
    """A Quantizer trained by one Ray task on `train_size` sampled rows of the .npy file."""
    ray = connect(address)
    task = ray.remote(num_cpus=1)(_train_task)
    return ray.get(task.remote(str(Path(data_path).resolve()), train_size, seed, train_kw))


def ray_encode(address, quantizer, data_path, shard_size):
    """Codes (n, stages) of the rows of a .npy file, one Ray task per shard of rows."""
    ray = connect(address)
    path = str(Path(data_path).resolve())
    n = len(_rows(path))
    task = ray.remote(num_cpus=1)(_encode_task)
    qref = ray.put(quantizer)
    futures = {task.remote(qref, path, a, b): (a, b) for a, b in shard_ranges(n, shard_size)}
    codes = np.empty((n, quantizer.stages), quantizer.code_dtype)
    pending = list(futures)
    while pending:  # collect in completion order
        done, pending = ray.wait(pending, num_returns=1)
        a, b = futures[done[0]]
        codes[a:b] = ray.get(done[0])
    return codes


def ray_build(address, quantizer, path, out, shard_size, tree=None, forest=1, encode=True):
    """Sharded index under `out` from a data file (encode=True) or a codes file, one Ray task per
    shard (each writes its shard file); then the manifest. Returns the manifest's path."""
    ray = connect(address)
    path = str(Path(path).resolve())
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ranges = shard_ranges(len(_rows(path)), shard_size)
    task = ray.remote(num_cpus=1)(_shard_task)
    qref = ray.put(quantizer)
    futures = [task.remote(qref, path, a, b, str(out / shard_name(i)), tree, forest, encode)
               for i, (a, b) in enumerate(ranges)]
    entries = ray.get(futures)
    return write_manifest(out, quantizer, entries, [a for a, _ in ranges], tree, forest)
