"""`sdk vq train|search|export` through a small argparse harness around add_subcommands()."""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdk import vq
from sdk.errors import FormatError, SdkError
from sdk.vq.cli import add_subcommands
from sdk.vq.tune import leave_one_out, recall_at
ROOT = Path(__file__).resolve().parents[2]
from vq_data import gaussian_mixture


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="sdk")
    add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "data.npy", gaussian_mixture(2000, d=8))
    np.save(d / "q.npy", gaussian_mixture(20, d=8, seed=3))
    return d


def test_train_search_export_round_trip(files, capsys):
    d = files
    assert run_cli(["vq", "train", str(d / "data.npy"), "-o", str(d / "i.svq"), "--method", "irvq",
                    "--stages", "3", "--bits", "5", "--beam", "2", "--tree", "atree", "--iters", "5"]) == 0
    out = capsys.readouterr()
    assert "2000 vectors" in out.out and "vq irvq [" in out.err
    idx = vq.load(d / "i.svq")
    assert idx.tree_kind == "atree" and idx.quantizer.stages == 3 and idx.quantizer.ksub == 32

    assert run_cli(["vq", "search", str(d / "i.svq"), str(d / "q.npy"), "-k", "4", "-o", str(d / "r.npz")]) == 0
    res = np.load(d / "r.npz")
    ref_d, ref_i = idx.search(np.load(d / "q.npy"), 4)
    np.testing.assert_array_equal(res["ids"], ref_i)
    np.testing.assert_array_equal(res["distances"], ref_d)

    assert run_cli(["vq", "search", str(d / "i.svq"), str(d / "q.npy"), "-k", "2", "--budget", "50",
                    "--nprobe", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 20
    np.testing.assert_array_equal(np.array([list(map(int, ln.split())) for ln in lines]),
                                  idx.search(np.load(d / "q.npy"), 2, nprobe=2, budget=50)[1])

    assert run_cli(["vq", "export", str(d / "i.svq"), "-o", str(d / "bundle")]) == 0
    assert (d / "bundle" / "Makefile").exists() and (d / "bundle" / "i.svq").read_bytes() == (d / "i.svq").read_bytes()
    r = subprocess.run(["make", "-s", "-C", str(d / "bundle")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cli_errors_are_sdk_errors(files, tmp_path):
    with pytest.raises(SdkError, match="no such file"):
        run_cli(["vq", "train", str(tmp_path / "none.npy"), "-o", str(tmp_path / "x.svq")])
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(FormatError, match="not a readable"):
        run_cli(["vq", "train", str(tmp_path / "junk.npy"), "-o", str(tmp_path / "x.svq")])
    (tmp_path / "bad.svq").write_bytes(b"SDVQ" + b"\0" * 10)
    with pytest.raises(FormatError, match="truncated"):
        run_cli(["vq", "search", str(tmp_path / "bad.svq"), str(files / "q.npy")])


def test_module_entry_prints_one_line_and_fails(tmp_path):
    (tmp_path / "bad.svq").write_bytes(b"garbage" * 20)
    r = subprocess.run([sys.executable, "-m", "sdk.vq.cli", "vq", "export", str(tmp_path / "bad.svq"),
                        "-o", str(tmp_path / "o")], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "bad magic" in r.stderr


def test_train_paper_and_refine_rounds_options(files):
    d = files
    x = np.load(d / "data.npy")
    common = ["--method", "irvq", "--stages", "2", "--bits", "4", "--beam", "2", "--iters", "3", "--quiet"]
    assert run_cli(["vq", "train", str(d / "data.npy"), "-o", str(d / "p.svq"), "--paper", *common]) == 0
    ref = vq.train(x, method="irvq", stages=2, bits=4, beam=2, iters=3, progress=False, paths=False, refine_rounds=0,
                   stage_passes=0, seeding="subspace", shrink=False)
    np.testing.assert_array_equal(vq.load(d / "p.svq").quantizer.codebooks, ref.codebooks)
    assert run_cli(["vq", "train", str(d / "data.npy"), "-o", str(d / "r.svq"), "--refine-rounds", "2", *common]) == 0
    ref = vq.train(x, method="irvq", stages=2, bits=4, beam=2, iters=3, progress=False, refine_rounds=2)
    np.testing.assert_array_equal(vq.load(d / "r.svq").quantizer.codebooks, ref.codebooks)
    assert run_cli(["vq", "train", str(d / "data.npy"), "-o", str(d / "s.svq"), "--stage-passes", "1", *common]) == 0
    ref = vq.train(x, method="irvq", stages=2, bits=4, beam=2, iters=3, progress=False, stage_passes=1)
    np.testing.assert_array_equal(vq.load(d / "s.svq").quantizer.codebooks, ref.codebooks)


def test_tune_writes_the_chosen_tree(files, capsys):
    d = files
    assert run_cli(["vq", "train", str(d / "data.npy"), "-o", str(d / "t.svq"), "--method", "rvq", "--stages", "3",
                    "--bits", "5", "--iters", "4", "--quiet"]) == 0
    capsys.readouterr()
    assert run_cli(["vq", "tune", str(d / "t.svq"), str(d / "data.npy"), "-o", str(d / "tuned.svq"),
                    "--held", "100"]) == 0
    out = capsys.readouterr().out
    idx = vq.load(d / "tuned.svq")
    # the tune picks the fastest tree reaching the target by C timings, which the load can flip (atree or ivf): the
    # file must hold the tree the line names, and the printed limits must reach the printed held-out recall
    m = re.search(r"tuned\.svq: (atree|ivf) depth (\d); on 100 held-out rows recall@10 ([0-9.]+) "
                  r"\(exhaustive ([0-9.]+)\).*search with: (.*)$", out.strip())
    assert m, out
    assert idx.tree_kind == m[1] and idx.trees[0].depth == int(m[2]) and float(m[3]) >= float(m[4])
    limits = dict(zip(*[iter(m[5].split())] * 2))
    assert set(limits) <= {"--nprobe", "--budget", "--margin"} and limits, m[5]
    x = np.load(d / "data.npy")
    rows, truth = leave_one_out(x, 100, seed=1)  # the tune's split (its --held and --seed defaults)
    _, ids = idx.search(x[rows], 11, nprobe=int(limits.get("--nprobe", 0)) or None,
                        budget=int(limits.get("--budget", 0)) or None,
                        margin=float(limits["--margin"]) if "--margin" in limits else None)
    ids = [[i for i in row if i != r][:10] for row, r in zip(ids, rows)]
    assert abs(recall_at(np.array(ids), truth, 10) - float(m[3])) < 1e-9
    np.testing.assert_array_equal(idx.codes, vq.load(d / "t.svq").codes)
    with pytest.raises(SdkError, match="id order"):
        run_cli(["vq", "tune", str(d / "t.svq"), str(d / "q.npy"), "-o", str(d / "x.svq")])
    with pytest.raises(SdkError, match="KIND:DEPTH"):
        run_cli(["vq", "tune", str(d / "t.svq"), str(d / "data.npy"), "-o", str(d / "x.svq"), "--trees", "atree"])
