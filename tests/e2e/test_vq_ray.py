"""`sdk vq train|encode|build-index --ray`: a local Ray cluster on the loopback (a head node and
one worker node, separate raylet processes started by Ray's own Cluster utility); every result
is compared with the single-machine path.

Ray rewrites a 127.0.0.1 address to the machine's outward IP unless
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which makes its node address the loopback one; it is read when
ray is imported, so it is set here first."""
import argparse
import os

import numpy as np
import pytest

from sdk import vq
from sdk.vq.cli import add_subcommands
from sdk.vq.shards import ShardedIndex
from vq_data import gaussian_mixture

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="sdk")
    add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1",
                                                       "include_dashboard": False})
    c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    ray.init(address=c.address, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def test_ray_train_encode_build_search_match_one_machine(cluster, tmp_path):
    x, q = gaussian_mixture(9000, d=8), gaussian_mixture(30, d=8, seed=7)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    common = ["--stages", "3", "--bits", "5", "--beam", "2", "--encode-beam", "2", "--iters", "4",
              "--refine-rounds", "2", "--train-size", "6000", "--quiet"]
    assert len(ray.nodes()) == 2 and all(n["Alive"] for n in ray.nodes())
    # single machine: train on the same 6000-row sample, encode all rows, one index file
    assert run_cli(["vq", "train", str(tmp_path / "x.npy"), "-o", str(tmp_path / "one.svq"), *common]) == 0
    one = vq.load(tmp_path / "one.svq")
    # Ray: sample-train in a task, encode + write 3 shards in tasks (4096-row shards)
    assert run_cli(["vq", "train", str(tmp_path / "x.npy"), "-o", str(tmp_path / "sh"), "--ray", cluster.address,
                    "--shard-size", "4096", *common]) == 0
    sh = ShardedIndex(tmp_path / "sh")
    assert len(sh.shards) == 3 and sh.ntotal == 9000
    np.testing.assert_array_equal(sh.quantizer.codebooks, one.quantizer.codebooks)
    np.testing.assert_array_equal(np.concatenate([i.codes for _, i in sh.shards]), one.codes)
    for kw in ({}, {"exhaustive": True}):
        np.testing.assert_array_equal(sh.search(q, 10, **kw)[1], one.search(q, 10, **kw)[1])
        np.testing.assert_array_equal(sh.search(q, 10, **kw)[0], one.search(q, 10, **kw)[0])
    # encode and build-index as separate Ray steps
    assert run_cli(["vq", "encode", str(tmp_path / "one.svq"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "c.npy"),
                    "--beam", "2", "--ray", cluster.address, "--shard-size", "2048"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), one.codes)
    assert run_cli(["vq", "build-index", str(tmp_path / "one.svq"), str(tmp_path / "c.npy"), "-o", str(tmp_path / "b"),
                    "--tree", "atree", "--ray", cluster.address, "--shard-size", "4096"]) == 0
    b = ShardedIndex(tmp_path / "b")
    assert b.manifest["tree"] == "atree" and len(b.shards) == 3
    np.testing.assert_array_equal(b.search(q, 10)[1], one.search(q, 10)[1])
