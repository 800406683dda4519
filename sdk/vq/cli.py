"""`sdk vq train|encode|build-index|search|export|web`: add_subcommands() hooks these into the main
argparse CLI. train/encode/build-index take `--ray ADDRESS|auto` (sdk.vq.distributed).

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


def _train_kwargs(args):
    return dict(method=args.method, stages=args.stages, bits=args.bits, beam=args.beam, iters=args.iters,
                refine=args.refine, paths=not args.paper, refine_rounds=0 if args.paper else args.refine_rounds,
                stage_passes=0 if args.paper else args.stage_passes, validation=args.validation,
                **({"seeding": "subspace", "shrink": False} if args.paper else {}),
                time_budget=args.time_budget, encode_beam=_encode_beam(args.encode_beam),
                **({"init": args.da_init} if args.method == "da" else {}))


def _encode_beam(text):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise SdkError(f"--encode-beam must be 'auto' or an integer (got {text!r})") from None


def _tree(args):
    return None if args.tree == "none" else args.tree


def cmd_train(args):
    from . import Index, train
    from .distributed import ray_build, ray_train, sample_rows
    if args.ray and args.norm_bits != 32:
        raise SdkError("--norm-bits 8 is not implemented for sharded (--ray) indexes yet")
    if args.ray:  # train on a sample in a Ray task, encode + write shards in Ray tasks
        _load_npy(args.data)
        q = ray_train(args.ray, args.data, args.train_size, args.seed, **_train_kwargs(args))
        man = ray_build(args.ray, q, args.data, args.output, args.shard_size, _tree(args), args.forest)
        if not args.quiet:
            print(f"{man}: sharded index, method {q.method}, {q.stages}x{q.bits}-bit codes, tree {args.tree}")
        return 0
    x = _load_npy(args.data)
    q = train(sample_rows(x, args.train_size, args.seed), seed=args.seed, progress=not args.quiet,
              **_train_kwargs(args))
    idx = Index(q, tree=_tree(args), forest=args.forest, norm_bits=args.norm_bits)
    idx.add(x)
    idx.save(args.output)
    if not args.quiet:
        print(f"{args.output}: {idx.ntotal} vectors, dim {q.dim}, {q.stages}x{q.bits}-bit codes, "
              f"method {q.method}, tree {args.tree}, encoding beam {q.beam} (vq encode --beam {q.beam}), "
              f"relative mse {q.relative_mse(x, idx.codes):.5f}")
    return 0


def cmd_encode(args):
    from .distributed import ray_encode
    from .shards import quantizer_of
    q = quantizer_of(args.index)
    q.beam = 1 if q.method == "rvq" else args.beam  # index files do not store the encoding beam
    x = _load_npy(args.data)
    if x.shape[1] != q.dim:
        raise SdkError(f"{args.data}: dim {x.shape[1]}, the quantizer's is {q.dim}")
    codes = ray_encode(args.ray, q, args.data, args.shard_size) if args.ray else q.encode(x)
    np.save(args.output, codes)
    return 0


def cmd_build_index(args):
    from .distributed import ray_build
    from .shards import quantizer_of, write_sharded
    q = quantizer_of(args.index)
    codes = _load_npy(args.codes)
    if codes.shape[1] != q.stages or not np.issubdtype(codes.dtype, np.integer) or \
            (codes.size and (int(codes.min()) < 0 or int(codes.max()) >= q.ksub)):
        raise FormatError(f"{args.codes}: expected integer codes (n, {q.stages}) in 0..{q.ksub - 1}")
    if args.ray:
        man = ray_build(args.ray, q, args.codes, args.output, args.shard_size, _tree(args), args.forest, encode=False)
    else:
        man = write_sharded(q, codes, args.output, args.shard_size, _tree(args), args.forest)
    print(f"wrote {man}")
    return 0


def cmd_search(args):
    from . import load
    from .shards import ShardedIndex, is_sharded
    idx = ShardedIndex(args.index) if is_sharded(args.index) else load(args.index)
    q = _load_npy(args.queries)
    dist, ids = idx.search(q, args.k, nprobe=args.nprobe, budget=args.budget, exhaustive=args.exhaustive,
                           margin=args.margin)
    if args.output:
        np.savez(args.output, distances=dist, ids=ids)
    else:
        for row in ids:
            print(" ".join(map(str, row.tolist())))
    return 0


def cmd_tune(args):
    from . import load
    from .index import TREE_CHOICES, index_for
    from .tune import TREES, leave_one_out, tune_search
    idx = load(args.index)
    x = _load_npy(args.data)
    if x.shape != (idx.ntotal, idx.quantizer.dim):
        raise SdkError(f"{args.data}: expected the index's {idx.ntotal} vectors of dim {idx.quantizer.dim} in id "
                       f"order, got shape {x.shape}")
    trees = []
    for t in args.trees.split(","):
        kind, _, depth = t.partition(":")
        if kind not in TREE_CHOICES or not depth.isdigit():
            raise SdkError(f"--trees: expected KIND:DEPTH items, KIND one of {', '.join(TREE_CHOICES)} "
                           f"({','.join(f'{k}:{d}' for k, d in TREES)}), got {t!r}")
        trees.append((kind, int(depth)))
    rows, truth = leave_one_out(x, min(args.held, idx.ntotal), seed=args.seed)
    best = tune_search(idx.quantizer, idx.codes, x[rows], truth, self_ids=rows, k=args.k, trees=tuple(trees))
    out = index_for(idx.quantizer, best["tree"], best["depth"], norm_bits=idx.norm_bits, table_bits=idx.table_bits)
    out.add_codes(idx.codes)
    out.save(args.output)
    limits = " ".join(([f"--nprobe {best['nprobe']}"] if best["nprobe"] else [])
                      + ([f"--budget {best['budget']}"] if best["budget"] else [])
                      + ([f"--margin {best['margin']:.9g}"] if best["margin"] else []))
    print(f"{args.output}: {best['tree']} depth {best['depth']}; on {len(rows)} held-out rows recall@{args.k} "
          f"{best['recall']:.3f} (exhaustive {best['exhaustive_recall']:.3f}), {best['qps']:.0f} QPS in C "
          f"(exhaustive {best['exhaustive_qps']:.0f}); search with: {limits or '(no limits)'}")
    return 0


def cmd_export(args):
    from . import load
    out = load(args.index).export(args.output, name=Path(args.index).stem or "vq_index")
    print(f"wrote {out}; build with: make -C {out}")
    return 0


def cmd_web(args):
    import json

    from .web import page_weight, write_search_page
    try:
        passages = json.loads(Path(args.passages).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SdkError(f"{args.passages}: not a readable JSON list of passages ({e})") from None
    passages = [{"text": p, "src": ""} if isinstance(p, str) else p for p in passages]
    out = write_search_page(args.output, args.index, passages, args.model, args.vocab, title=args.title, k=args.k)
    print(f"wrote {out} ({page_weight(out)['total'] / 1e6:.1f} MB); serve it: sdk serve {out}")
    return 0


def _ray_args(p, note):
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the work as Ray tasks on the cluster at ADDRESS ('auto': this machine's "
                        "cluster); data and output paths must be visible to every node" + (f"; {note}" if note else ""))
    p.add_argument("--shard-size", type=int, default=1 << 20, metavar="N",
                   help="rows per shard / Ray task (rounded up to a multiple of 2048; default 1048576)")


def add_subcommands(subparsers):
    """Add `vq` with sub-commands train, search, export to an argparse subparsers object."""
    vq = subparsers.add_parser("vq", help="vector quantization: train an index, search it, export to C")
    sub = vq.add_subparsers(dest="vq_command", metavar="{train,encode,build-index,search,tune,export,web}")
    sub.required = True

    t = sub.add_parser("train", help="train a quantizer on DATA.npy, encode it, write an index file")
    t.add_argument("data", metavar="DATA.npy")
    t.add_argument("-o", "--output", required=True, metavar="INDEX")
    t.add_argument("--method", choices=["rvq", "irvq", "da"], default="irvq")
    t.add_argument("--stages", type=int, default=8)
    t.add_argument("--bits", type=int, default=8)
    t.add_argument("--beam", type=int, default=8, help="training beam")
    t.add_argument("--encode-beam", default="auto", metavar="auto|N",
                   help="encoding beam (auto: beam, 2x or 4x, chosen on the held-out split; printed)")
    t.add_argument("--tree", choices=["none", "atree", "etree", "ivf"], default="none")
    t.add_argument("--forest", type=int, default=1, help="number of trees (E-Forest)")
    t.add_argument("--norm-bits", type=int, choices=[32, 8], default=32,
                   help="bits of each item's stored norm (8: one byte, index format version 2)")
    t.add_argument("--iters", type=int, default=20, help="k-means iterations")
    t.add_argument("--refine", action="store_true",
                   help="joint least-squares codebook update after each stage (irvq/da)")
    t.add_argument("--refine-rounds", type=int, default=0, metavar="N",
                   help="rounds of joint least-squares codebook update + re-encoding after the stages, kept "
                        "while they lower the held-out error (irvq; default 0)")
    t.add_argument("--da-init", choices=["rvq", "irvq"], default="rvq",
                   help="what dictionary annealing starts from (--method da): greedy RVQ stages (fast) or the "
                        "IRVQ stages and passes")
    t.add_argument("--stage-passes", type=int, default=8, metavar="N",
                   help="stage-wise codebook passes (re-estimate each codebook for the codes, re-encode) after "
                        "the rounds, kept while they lower the held-out error (irvq/da)")
    t.add_argument("--paper", action="store_true",
                   help="the IRVQ paper's training alone: best-path residuals, subspace seeding only, no "
                        "refinement rounds, passes or shrinkage")
    t.add_argument("--validation", type=float, default=0.1, metavar="F",
                   help="fraction of the training vectors held out to choose training options (0: none)")
    t.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="stop refinement rounds / annealing sweeps after S seconds of training")
    t.add_argument("--train-size", type=int, default=0, help="train on a random subset of this size")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    _ray_args(t, "with --ray, OUT is a directory of index shards + manifest.json")
    t.set_defaults(func=cmd_train)

    en = sub.add_parser("encode", help="codes of DATA.npy with the quantizer of INDEX (-> CODES.npy)")
    en.add_argument("index", metavar="INDEX", help="an index file or a sharded index (directory or manifest)")
    en.add_argument("data", metavar="DATA.npy")
    en.add_argument("-o", "--output", required=True, metavar="CODES.npy")
    en.add_argument("--beam", type=int, default=8, help="encoding beam (irvq/da; rvq encodes greedily with 1)")
    _ray_args(en, "")
    en.set_defaults(func=cmd_encode)

    b = sub.add_parser("build-index", help="sharded index (directory + manifest.json) of CODES.npy")
    b.add_argument("index", metavar="INDEX", help="an index file or sharded index whose quantizer made the codes")
    b.add_argument("codes", metavar="CODES.npy")
    b.add_argument("-o", "--output", required=True, metavar="OUT")
    b.add_argument("--tree", choices=["none", "atree", "etree", "ivf"], default="none")
    b.add_argument("--forest", type=int, default=1, help="number of trees (E-Forest)")
    _ray_args(b, "")
    b.set_defaults(func=cmd_build_index)

    s = sub.add_parser("search", help="k nearest neighbours of QUERIES.npy in INDEX")
    s.add_argument("index", metavar="INDEX", help="an index file or a sharded index (directory or manifest)")
    s.add_argument("queries", metavar="QUERIES.npy")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--nprobe", type=int, default=None, help="tree nodes kept per level")
    s.add_argument("--budget", type=int, default=None, help="items visited per tree")
    s.add_argument("--margin", type=float, default=None, help="adaptive stop: leaves best first until one scores "
                   "above the k-th best distance so far plus this (squared-distance units; `sdk vq tune` chooses it)")
    s.add_argument("--exhaustive", action="store_true", help="ignore the tree, scan all codes")
    s.add_argument("-o", "--output", metavar="OUT.npz", help="write distances and ids (else print ids)")
    s.set_defaults(func=cmd_search)

    tu = sub.add_parser("tune", help="choose the tree and its --nprobe/--budget/--margin on held-out rows of DATA.npy "
                        "(the index's vectors), write the index with that tree")
    tu.add_argument("index", metavar="INDEX")
    tu.add_argument("data", metavar="DATA.npy", help="the indexed vectors, in id order (leave-one-out queries)")
    tu.add_argument("-o", "--output", required=True, metavar="OUT")
    tu.add_argument("--held", type=int, default=500, help="held-out rows (default 500)")
    tu.add_argument("--trees", default="atree:1,atree:2,ivf:1,ivf-spill:1", metavar="KIND:DEPTH,...",
                    help="trees to choose from (default: one-level and two-level A-Tree, IVF over k-means cells, "
                         "and IVF with every item also in a second cell)")
    tu.add_argument("-k", type=int, default=10, help="the recall@k to keep")
    tu.add_argument("--seed", type=int, default=1)
    tu.set_defaults(func=cmd_tune)

    e = sub.add_parser("export", help="write a C bundle (make -C OUT builds a search demo)")
    e.add_argument("index", metavar="INDEX")
    e.add_argument("-o", "--output", required=True, metavar="OUT")
    e.set_defaults(func=cmd_export)

    w = sub.add_parser("web", help="write a semantic-search page (embedding model + index + tokenizer, in the browser)")
    w.add_argument("index", metavar="INDEX", help="index of the passages' embeddings (item i = passage i)")
    w.add_argument("--passages", required=True, metavar="P.json",
                   help='JSON list: strings, [text, source] pairs or {"text", "src"} objects')
    w.add_argument("--model", required=True, metavar="BUNDLE",
                   help="wasm32-browser bundle of the embedding model (inputs ids, mask [batch, seq]; output emb)")
    w.add_argument("--vocab", required=True, metavar="VOCAB.txt", help="the model's WordPiece vocabulary")
    w.add_argument("-o", "--output", required=True, metavar="OUT")
    w.add_argument("--title", default="Semantic search")
    w.add_argument("-k", type=int, default=10, help="hits shown")
    w.set_defaults(func=cmd_web)
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
