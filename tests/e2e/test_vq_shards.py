"""Sharded indexes (sdk.vq.shards) and `sdk vq encode|build-index|search` on them, without Ray."""
import argparse
import json

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError, SdkError
from sdk.vq.cli import add_subcommands
from sdk.vq.shards import ShardedIndex, shard_ranges, write_sharded
from vq_data import gaussian_mixture

X = gaussian_mixture(5000, d=8)
Q = gaussian_mixture(40, d=8, seed=5)


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="sdk")
    add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def quantizer():
    return vq.train(X, method="irvq", stages=3, bits=5, beam=2, progress=False, iters=4, refine_rounds=1)


def test_shard_ranges_tile_the_rows():
    assert shard_ranges(5000, 2048) == [(0, 2048), (2048, 4096), (4096, 5000)]
    assert shard_ranges(5000, 3000) == [(0, 4096), (4096, 5000)]  # rounded up to the encoder block
    assert shard_ranges(0, 10) == [(0, 0)]
    with pytest.raises(SdkError):
        shard_ranges(10, 0)


@pytest.mark.parametrize("tree", [None, "atree", "etree"])
def test_sharded_search_equals_one_index(quantizer, tmp_path, tree):
    codes = quantizer.encode(X)
    one = vq.Index(quantizer, tree=tree)
    one.add_codes(codes)
    write_sharded(quantizer, codes, tmp_path, 2048, tree=tree)
    sh = ShardedIndex(tmp_path)
    assert len(sh.shards) == 3 and sh.ntotal == len(X)
    for kw in ({}, {"exhaustive": True}):  # exhaustive, and trees without limits: identical
        d1, i1 = one.search(Q, 10, **kw)
        d2, i2 = sh.search(Q, 10, **kw)
        np.testing.assert_array_equal(i2, i1)
        np.testing.assert_array_equal(d2, d1)
    if tree:  # with limits each shard searches its own tree: a superset of one tree's budget
        d, i = sh.search(Q, 10, nprobe=4, budget=200)
        assert (i >= 0).all() and (np.diff(d, axis=1) >= 0).all()
        exact = one.search(Q, 10)[1]
        assert np.mean([len(set(a) & set(b)) for a, b in zip(i, exact)]) >= 5


def test_manifest_checks(quantizer, tmp_path):
    write_sharded(quantizer, quantizer.encode(X), tmp_path, 2048)
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["start"] for s in man["shards"]] == [0, 2048, 4096] and man["ntotal"] == 5000
    blob = bytearray((tmp_path / "shard-00001.svq").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "shard-00001.svq").write_bytes(bytes(blob))
    with pytest.raises(FormatError, match="checksum"):
        ShardedIndex(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(FormatError, match="manifest"):
        ShardedIndex(tmp_path / "manifest.json")


def test_cli_encode_build_index_search(quantizer, tmp_path, capsys):
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "q.npy", Q)
    assert run_cli(["vq", "train", str(tmp_path / "x.npy"), "-o", str(tmp_path / "i.svq"), "--stages", "3",
                    "--bits", "5", "--beam", "2", "--encode-beam", "2", "--iters", "4", "--refine-rounds", "1",
                    "--quiet"]) == 0
    single = vq.load(tmp_path / "i.svq")
    assert run_cli(["vq", "encode", str(tmp_path / "i.svq"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "c.npy"), "--beam", "2"]) == 0
    codes = np.load(tmp_path / "c.npy")
    np.testing.assert_array_equal(codes, single.codes)
    assert run_cli(["vq", "build-index", str(tmp_path / "i.svq"), str(tmp_path / "c.npy"), "-o", str(tmp_path / "sh"),
                    "--shard-size", "2048", "--tree", "atree"]) == 0
    assert run_cli(["vq", "search", str(tmp_path / "sh"), str(tmp_path / "q.npy"), "-k", "5", "-o",
                    str(tmp_path / "r.npz")]) == 0
    res = np.load(tmp_path / "r.npz")
    ref_d, ref_i = single.search(Q, 5)
    np.testing.assert_array_equal(res["ids"], ref_i)
    np.testing.assert_array_equal(res["distances"], ref_d)
    np.save(tmp_path / "bad.npy", np.full((4, 3), 99, np.int64))
    with pytest.raises(FormatError, match="codes"):
        run_cli(["vq", "build-index", str(tmp_path / "i.svq"), str(tmp_path / "bad.npy"), "-o", str(tmp_path / "b")])
