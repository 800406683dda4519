"""`sdk vq train|search|export`: add_subcommands() hooks these into the main argparse CLI.

Each sub-command sets `func(args) -> exit code`; errors are raised as SdkError for the main CLI
to print as one line. `python -m sdk.vq.cli ...` runs the same commands stand-alone.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import FormatError, SdkError


def _load_npy(path):
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise SdkError(f"{path}: no such file") from None
    except (ValueError, OSError) as e:
        raise FormatError(f"{path}: not a readable .npy array ({e})") from None
    if arr.ndim != 2:
        raise FormatError(f"{path}: expected a 2-D array (n, dim), got shape {arr.shape}")
    return arr


def cmd_train(args):
    from . import Index, train
    x = _load_npy(args.data)
    if args.train_size and args.train_size < len(x):
        sample = np.random.default_rng(args.seed).choice(len(x), args.train_size, replace=False)
        xt = x[np.sort(sample)]
    else:
        xt = x
    q = train(xt, method=args.method, stages=args.stages, bits=args.bits, beam=args.beam,
              seed=args.seed, progress=not args.quiet, iters=args.iters, refine=args.refine,
              paths=False if args.paper else "auto", refine_rounds=0 if args.paper else args.refine_rounds,
              validation=args.validation, time_budget=args.time_budget)
    idx = Index(q, tree=None if args.tree == "none" else args.tree, forest=args.forest)
    idx.add(x)
    idx.save(args.output)
    if not args.quiet:
        print(f"{args.output}: {idx.ntotal} vectors, dim {q.dim}, {q.stages}x{q.bits}-bit codes, "
              f"method {q.method}, tree {args.tree}, relative mse {q.relative_mse(x, idx.codes):.5f}")
    return 0


def cmd_search(args):
    from . import load
    idx = load(args.index)
    q = _load_npy(args.queries)
    dist, ids = idx.search(q, args.k, nprobe=args.nprobe, budget=args.budget, exhaustive=args.exhaustive)
    if args.output:
        np.savez(args.output, distances=dist, ids=ids)
    else:
        for row in ids:
            print(" ".join(map(str, row.tolist())))
    return 0


def cmd_export(args):
    from . import load
    out = load(args.index).export(args.output, name=Path(args.index).stem or "vq_index")
    print(f"wrote {out}; build with: make -C {out}")
    return 0


def add_subcommands(subparsers):
    """Add `vq` with sub-commands train, search, export to an argparse subparsers object."""
    vq = subparsers.add_parser("vq", help="vector quantization: train an index, search it, export to C")
    sub = vq.add_subparsers(dest="vq_command", metavar="{train,search,export}")
    sub.required = True

    t = sub.add_parser("train", help="train a quantizer on DATA.npy, encode it, write an index file")
    t.add_argument("data", metavar="DATA.npy")
    t.add_argument("-o", "--output", required=True, metavar="INDEX")
    t.add_argument("--method", choices=["rvq", "irvq", "da"], default="irvq")
    t.add_argument("--stages", type=int, default=8)
    t.add_argument("--bits", type=int, default=8)
    t.add_argument("--beam", type=int, default=8)
    t.add_argument("--tree", choices=["none", "atree", "etree"], default="none")
    t.add_argument("--forest", type=int, default=1, help="number of trees (E-Forest)")
    t.add_argument("--iters", type=int, default=20, help="k-means iterations")
    t.add_argument("--refine", action="store_true",
                   help="joint least-squares codebook update after each stage (irvq/da)")
    t.add_argument("--refine-rounds", type=int, default=12, metavar="N",
                   help="rounds of joint least-squares codebook update + re-encoding after training (irvq/da)")
    t.add_argument("--paper", action="store_true",
                   help="the IRVQ paper's training alone: best-path residuals, no refinement rounds")
    t.add_argument("--validation", type=float, default=0.1, metavar="F",
                   help="fraction of the training vectors held out to choose training options (0: none)")
    t.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="stop refinement rounds / annealing sweeps after S seconds of training")
    t.add_argument("--train-size", type=int, default=0, help="train on a random subset of this size")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("search", help="k nearest neighbours of QUERIES.npy in INDEX")
    s.add_argument("index", metavar="INDEX")
    s.add_argument("queries", metavar="QUERIES.npy")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--nprobe", type=int, default=None, help="tree nodes kept per level")
    s.add_argument("--budget", type=int, default=None, help="items visited per tree")
    s.add_argument("--exhaustive", action="store_true", help="ignore the tree, scan all codes")
    s.add_argument("-o", "--output", metavar="OUT.npz", help="write distances and ids (else print ids)")
    s.set_defaults(func=cmd_search)

    e = sub.add_parser("export", help="write a C bundle (make -C OUT builds a search demo)")
    e.add_argument("index", metavar="INDEX")
    e.add_argument("-o", "--output", required=True, metavar="OUT")
    e.set_defaults(func=cmd_export)
    return vq


def main(argv=None):
    """Stand-alone entry: python -m sdk.vq.cli vq train ..."""
    parser = argparse.ArgumentParser(prog="sdk")
    add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_usage(sys.stderr)
        return 2
    try:
        return args.func(args)
    except SdkError as e:
        print(f"sdk: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
