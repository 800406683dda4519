"""The ``sdk`` command line. Every error is one line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import SdkError


def _dims(items):
    from .api import DIM_MAX, check_dims
    dims = {}
    for it in items or []:
        name, sep, val = it.partition("=")
        if not sep or not name or not val.isdigit() or not 1 <= int(val) <= DIM_MAX:
            raise SdkError(f"--dim expects NAME=MAX with MAX an integer in 1..{DIM_MAX}, got '{it}'")
        dims[name] = int(val)
    return check_dims(dims)


def _load_npz(path, what):
    """{name: array} from an .npz file; one clear line for a missing file, an .npy or anything else."""
    import numpy as np
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise SdkError(f"{path}: no such file ({what})") from None
    except Exception as e:  # noqa: BLE001 - numpy raises many types for non-array files
        raise SdkError(f"{path}: cannot read {what} ({type(e).__name__}: {e}); expected an .npz "
                       "keyed by the ONNX input names") from None
    if not hasattr(data, "files"):
        raise SdkError(f"{path}: a single array (.npy); {what} must be an .npz keyed by the ONNX input names, "
                       "e.g. np.savez('in.npz', x=array)")
    try:
        return {k: data[k] for k in data.files}
    except Exception as e:  # noqa: BLE001 - a corrupt member of the zip
        raise SdkError(f"{path}: cannot read {what} ({type(e).__name__}: {e})") from None


def cmd_build(a):
    from .api import compile
    from .backends import backend_of
    from .backends.folder import prepare_output
    cal = _load_npz(a.calibration, "calibration data") if a.calibration else None
    if a.calibration and not a.quantize and a.backbone != "int8":
        raise SdkError("--calibration is only used with --quantize int8 or --train --backbone int8")
    if a.backbone != "fp32" and not a.train:
        raise SdkError("--backbone is a --train option (use --quantize int8 for an int8 inference build)")
    out = Path(a.output)
    if out.exists() and not out.is_dir():  # before a long compile
        prepare_output(out, a.force)
    if a.train:
        return _build_train(a, cal)
    b = compile(a.model, target=a.target, dims=_dims(a.dim), name=a.name, budget=_budget(a.budget),
                quantize=a.quantize, calibration=cal, precision=a.precision,
                progress=_progress() if a.verbose or sys.stderr.isatty() else None, tuning_db=a.db,
                max_arena=a.max_arena, generate=a.generate, sparse=a.sparse, codegen=a.codegen, vocab=a.vocab,
                encoder=a.encoder, weights=a.weights, empty_dims=tuple(a.empty_dim or ()))
    out = b.save(a.output, force=a.force)
    p = b.plan
    print(f"wrote {out}: {len(b.program.steps)} steps, arena {p.arena_bytes} B at the bounds "
          f"(lower bound {p.lower_bound_bytes} B, naive {p.naive_bytes} B)")
    if a.weights == "fp16":
        total = sum(int(arr.nbytes) for _, arr in b.program.consts)
        half = sum(int(arr.nbytes) for c, arr in b.program.consts if c.name.endswith("_gemv16"))
        n = sum(getattr(s, "fn", None) == "sdk_gemv_f16w_f32" for s in b.program.steps)
        print(f"weights {total} B, of which {half} B float16 ({n} matrix-vector products read float16 weights)")
    report = backend_of(b.target).report
    line = report(out) if report is not None else None  # MCU bundles: firmware size against the budget
    if line:
        print(line)


def _build_train(a, calibration=None):
    """``sdk build --train``: the bundle's ``<name>_run`` is one training step; ``<name>_train.h`` is its API."""
    from .train import compile_train
    if a.quantize or a.generate or a.vocab or a.codegen != "c" or a.weights:
        raise SdkError("--train builds a C (or CUDA) training step: drop --quantize/--generate/--vocab/--codegen/"
                       "--weights")
    tb = compile_train(a.model, target=a.target, dims=_dims(a.dim), name=a.name, trainable=a.trainable,
                       loss=a.loss, optimizer=a.optimizer, momentum=a.momentum, weight_decay=a.weight_decay,
                       max_arena=a.max_arena, budget=_budget(a.budget), remat=a.remat, train_memory=a.train_memory,
                       conv_grad=a.conv_grad, stash=a.stash, precision=a.precision, backbone=a.backbone,
                       calibration=_calibration_batches(calibration, a.model) if calibration else None)
    out = tb.save(a.output, force=a.force)
    m = tb.memory()
    print(f"wrote {out}: training step of {len(tb.params)} parameters ({m['trainable_bytes']} B: "
          f"{', '.join(tb.params[:6])}{' ...' if len(tb.params) > 6 else ''}), {a.optimizer}, loss {a.loss}")
    print(f"arena {m['arena_bytes']} B at the bounds, training state {m['state_bytes']} B (RAM), frozen weights "
          f"{m['frozen_weight_bytes']} B; API: {a.name}_train.h")
    print(f"recomputed in the backward: {m['remat']} (arena {m['arena_without_remat']} B without); "
          f"stashed activations in {m['stash']}; frozen backbone {m['backbone']}")
    from .backends import backend_of
    report = backend_of(tb.bundle.target).report
    line = report(out) if report is not None else None  # MCU bundles: firmware size against the budget
    if line:
        print(line)


def _calibration_batches(cal: dict, model: str):
    """Calibration arrays of several batches for a model of a fixed batch size: split along axis 0 into batches of
    the model's (static) first dim, when the arrays hold a whole multiple of it; else the arrays as one batch."""
    import onnx
    first = {}
    for vi in onnx.load(model, load_external_data=False).graph.input:
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            first[vi.name] = dims[0].dim_value
    sizes = {k: first.get(k) for k in cal}
    n = next(iter(sizes.values()), None)
    if n and all(sizes[k] == n and len(v) > n and len(v) % n == 0 for k, v in cal.items()):
        k = len(next(iter(cal.values()))) // n
        if all(len(v) == k * n for v in cal.values()):
            return [{name: v[i * n:(i + 1) * n] for name, v in cal.items()} for i in range(k)]
    return cal


def cmd_tune(a):
    from .tune.tuner import summary, tune
    if a.trials < 1:
        raise SdkError("--trials must be at least 1")
    if a.dry_run:
        from .tune.tuner import decisions, decisions_summary
        tasks, choices = decisions(a.model, target=a.target, dims=_dims(a.dim))
        print(decisions_summary(tasks, choices if not a.no_kernel_choice else [], a.target))
        return
    if not a.db:
        raise SdkError("sdk tune needs --db FILE (the database it appends to), or --dry-run")
    measurer = None
    if a.measure == "c":  # the host's gcc batches (the JIT measurer is the host's default; gcc confirms its winners)
        from .backends.host.measure import Measurer
        from .targets import load_target
        measurer = Measurer(load_target(a.target), seed=a.seed)
    s = tune(a.model, target=a.target, dims=_dims(a.dim), trials=a.trials, db=a.db, seed=a.seed,
             time_budget_s=a.time_budget, progress=not a.quiet, plot=a.plot, sparse=not a.no_sparse,
             measurer=measurer, kernel_choice=not a.no_kernel_choice,
             whole_model_knobs=(None if a.whole_model_knobs is None
                                else [k for k in a.whole_model_knobs.split(",") if k]))
    if s.choices:
        from .targets import load_target
        from .tune.kernel_choice import margin_of
        from .tune.tuner import choice_summary
        print(choice_summary(s.choices, a.target, margin_of(load_target(a.target))))
    print(summary(s))
    if getattr(s, "checks", None):
        from .targets import load_target
        from .tune.kernel_choice import margin_of
        from .tune.tuner import check_summary
        print(check_summary(s.checks, margin_of(load_target(a.target))))
    if getattr(s, "wholes", None):
        from .tune.tuner import whole_summary
        print(whole_summary(s.wholes))
    if s.sparse:
        from .sparse.cost import COSTS
        from .tune.sparse_formats import sparse_summary
        print(sparse_summary(s.sparse, COSTS.clock_hz))
    print(f"{s.trials} trials in {s.history[-1][1] if s.history else 0.0:.1f} s; records appended to {a.db}"
          + (f"; plot: {a.plot}" if a.plot else ""))
    dims = "".join(f" --dim {d}" for d in a.dim or [])
    tgt = f" --target {a.target}" if a.target != "host" else ""
    print(f"build with: sdk build {a.model}{dims}{tgt} --db {a.db} -o OUT")


def _progress():
    """Print each compile stage with the time since the start, on stderr (terminals, or -v)."""
    import time
    t0 = time.monotonic()

    def say(stage):
        print(f"[{time.monotonic() - t0:6.1f} s] {stage}", file=sys.stderr, flush=True)
    return say


def _budget(items):
    budget = {}
    for it in items or []:
        key, sep, val = it.partition("=")
        if key not in ("ram", "flash") or not sep or not val.isdigit():
            raise SdkError(f"--budget expects ram=BYTES or flash=BYTES, got '{it}'")
        budget[f"{key}_bytes"] = int(val)
    return budget


def cmd_run(a):
    import numpy as np
    from .backends import backend_of
    from .targets import load_target
    out = Path(a.bundle)
    meta_path = out / "bundle.json"
    if not meta_path.exists():
        raise SdkError(f"{out}: not a bundle folder (no bundle.json); create one with 'sdk build'")
    meta = json.loads(meta_path.read_text())
    make_runner = backend_of(load_target(a.target or meta["target"])).runner
    runner = make_runner(port=a.port, baud=a.baud) if a.port else make_runner()
    if a.text:  # a text-to-text bundle (sdk build --generate --vocab --encoder): greedy, text out
        from .generate import GenerateParams
        from .generate.text import run_text
        txt = meta.get("generate", {}).get("text")
        if txt is None or a.inputs:
            raise SdkError("--text runs a bundle built with --generate --vocab --encoder, and takes no --inputs"
                           if txt is None else "give --text or --inputs, not both")
        texts, info = run_text(runner, out, a.text, txt["max_len"], GenerateParams(max_new_tokens=txt["max_len"] - 1))
        for t in texts:
            print(t)
        return
    if not a.inputs:
        raise SdkError("--inputs IN.npz is required (or --text TEXT for a bundle built with --encoder and --vocab)")
    if meta.get("generate", {}).get("cache_capacity"):  # the step is for its loop (sdk/transform/kv_cache.py)
        raise SdkError(f"{out}: the step appends its key/value cache in place (built with --generate): run it with "
                       "`sdk generate`, or build it without --generate to run the step by itself")
    inputs = _load_npz(a.inputs, "inputs")
    if "input_types" in meta:  # name the input and the expected dtype/shape before the C code says less
        from .feeds import check_feeds
        check_feeds(meta["inputs"], [(t["dtype"], t["shape"]) for t in meta["input_types"]], inputs,
                    meta.get("bounds", {}))
    outs, info = runner.run(out, inputs, repeat=a.repeat)
    if a.outputs:
        np.savez(a.outputs, **outs)
    for k, v in outs.items():
        print(f"{k}: {v.dtype}{list(v.shape)}")
    if "median_ms" in info:
        print(f"latency {float(info['median_ms']):.3f} ms (median of {a.repeat})")
    if "cycles" in info:
        print(f"cycles {info['cycles']} (min of {a.repeat}, timer {info['timer']} at {info['clock_hz']} Hz)")


def cmd_generate(a):
    from .backends import backend_of
    from .generate import GenerateParams
    from .generate.runner import run_generate
    from .targets import load_target
    out = Path(a.bundle)
    if not (out / "bundle.json").exists():
        raise SdkError(f"{out}: not a bundle folder (no bundle.json); create one with 'sdk build --generate'")
    meta = json.loads((out / "bundle.json").read_text())
    if a.text:
        return _generate_text(a, out, meta)
    if not a.prompt:
        raise SdkError("give --prompt IDS (token ids) or --text TEXT (a bundle built with --encoder and --vocab)")
    try:
        prompt = [[int(t) for t in row.split(",")] for row in a.prompt]
    except ValueError:
        raise SdkError(f"--prompt expects comma-separated token ids, got {a.prompt}") from None
    if len({len(r) for r in prompt}) != 1:
        raise SdkError("every --prompt must have the same length (one batch)")
    if a.beams > 1 and len(prompt) != 1:
        raise SdkError("--beams takes one --prompt")
    p = GenerateParams(max_new_tokens=16 if a.max_new is None else a.max_new, do_sample=a.sample,
                       temperature=a.temperature, top_k=a.top_k,
                       top_p=a.top_p, seed=a.seed, stop_tokens=tuple(a.stop or ()), num_beams=a.beams,
                       length_penalty=a.length_penalty)
    p.check()
    runner = backend_of(load_target(meta["target"])).runner()
    import numpy as np
    names = meta["generate"].get("context", []) if "generate" in meta else []
    ctx = _load_npz(a.context, "context inputs") if a.context else {}
    if sorted(ctx) != sorted(names):
        raise SdkError(f"--context: the step's context inputs are {names or 'none'}; the .npz has {sorted(ctx) or 'none'}")
    rows, info = run_generate(runner, out, np.array(prompt, np.int64), a.max_len, p,
                              context=[ctx[n] for n in names])
    for r in rows:
        print(" ".join(map(str, r)))
    if "cycles" in info:  # a device (Cortex-M): cycles of its timer
        print(f"{info['new_tokens']} new tokens in {info['cycles']} cycles (first after {info['first_token_cycles']}, "
              f"clock {info['clock_hz']} Hz), workspace {info['workspace_bytes']} B")
        return
    print(f"{info.get('new_tokens')} new tokens in {float(info.get('total_ms', 0)):.3f} ms "
          f"(first after {float(info.get('first_token_ms', 0)):.3f} ms), workspace {info.get('workspace_bytes')} B")


def _generate_text(a, out, meta):
    """sdk generate --text: the bundle's <name>_ask (one <name>_generate_text call per text)."""
    from .backends import backend_of
    from .generate import GenerateParams
    from .generate.text import run_text
    from .targets import load_target
    if a.prompt or a.stop or a.context:
        raise SdkError("--text goes with neither --prompt, --stop nor --context (the text path starts at [CLS], stops at "
                       "[SEP] and runs the encoder itself)")
    p = GenerateParams(max_new_tokens=a.max_new if a.max_new is not None else a.max_len - 1, do_sample=a.sample,
                       temperature=a.temperature, top_k=a.top_k, top_p=a.top_p, seed=a.seed, num_beams=a.beams,
                       length_penalty=a.length_penalty)
    p.check()
    texts, info = run_text(backend_of(load_target(meta["target"])).runner(), out, a.text, a.max_len, p)
    for t in texts:
        print(t)
    print(f"{len(texts)} text(s) in {float(info.get('total_ms', 0)):.3f} ms, workspace {info.get('workspace_bytes')} B")


def cmd_inspect(a):
    path = Path(a.path)
    if path.is_dir():
        if a.memory:
            from .memory.draw import draw_bundle_plan
            print(f"wrote {draw_bundle_plan(path, a.memory)}")
        ir = sorted(path.glob("*.ir.txt"))
        if not ir:
            raise SdkError(f"{path}: not a bundle folder")
        print(ir[0].read_text())
        return
    from .frontend.onnx import import_onnx
    f = import_onnx(str(path), _dims(a.dim))
    print(f)
    _print_sparse(f, a)
    if a.memory or a.lowered:
        from .api import compile
        b = compile(str(path), target=a.target, dims=_dims(a.dim), sparse=a.sparse)
        print()
        print(b.program)
        if a.memory:
            from .memory.draw import draw_plan
            print(f"wrote {draw_plan(b.plan.to_json(), a.memory, path.stem)}")


def _print_sparse(f, a):
    """The sparse-weight decisions (docs/sparse.md): with --sparse, or when a weight would be stored sparse."""
    from .pipeline import GRAPH_PASSES
    from .sparse.report import sparse_table
    from .targets import load_target
    from .transform.sparsify import sparse_options, sparse_reports, sparsify
    from .tune.database import TuningDatabase
    opts = sparse_options(load_target(a.target), a.sparse, TuningDatabase(a.db) if a.db else None)
    for p in GRAPH_PASSES[:GRAPH_PASSES.index(sparsify)]:  # the passes before it (alpha folded into MatMul)
        f = p(f)
    reports = sparse_reports(f, opts)
    if a.sparse or any(r["format"] != "dense" for r in reports):
        print(f"\nsparse weights (--sparse {opts.mode}, target {a.target}, BSR blocks {opts.block}x1):")
        print(sparse_table(reports, opts.clock_hz))


def cmd_serve(a):
    from .backends.wasm.runner import make_server
    folder = Path(a.bundle)
    if not folder.is_dir():
        raise SdkError(f"{folder}: no such folder")
    try:
        httpd = make_server(folder, a.host, a.port, quiet=False)
    except OSError as e:
        raise SdkError(f"cannot serve on {a.host}:{a.port} ({e.strerror})") from None
    print(f"serving {folder} at http://{a.host}:{httpd.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


SPARSE_MODES = ["off", "auto", "csr", "bsr", "ell", "hyb", "nm"]  # sdk/transform/sparsify.py MODES
SPARSE_HELP = ("weights that are mostly zeros: auto (cost model, or sdk tune's choice with --db), csr/bsr/ell/hyb/nm "
               "(every eligible weight), off; "
               "default: the profile's, else auto (docs/sparse.md)")


def _sub(sub, name, help, description, fn):
    p = sub.add_parser(name, help=help, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=fn)
    return p


def build_parser():
    from .targets import available
    targets = ", ".join(available())
    target_help = f"target profile from targets/*.toml: {targets} (default: host)"
    p = argparse.ArgumentParser(prog="sdk", description="Compile ONNX models to self-contained C bundles.")
    p.add_argument("--version", action="version", version=f"sdk {_version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = _sub(sub, "build", "compile MODEL.onnx into a bundle folder",
             "Compile MODEL.onnx into a bundle folder: generated C99 sources, weights, the runtime files, a\n"
             "Makefile/CMakeLists.txt and a demo main.c (firmware, wasm module or CUDA project per target).\n"
             "Every symbolic dim needs an upper bound (--dim NAME=MAX); the arena is planned at the bounds.\n\n"
             "example:\n  sdk build examples/models/mlp.onnx --dim batch=16 -o out/mlp\n\n"
             f"targets: {targets}", cmd_build)
    b.add_argument("model", help="the .onnx file")
    b.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="bundle folder: new, empty or an earlier sdk bundle (replaced completely)")
    b.add_argument("--force", action="store_true", help="write into DIR even if it is a non-empty folder that is not a bundle")
    b.add_argument("--target", default="host", help=target_help)
    b.add_argument("--dim", action="append", metavar="NAME=MAX", help="upper bound of a symbolic dim (1..2147483647)")
    b.add_argument("--empty-dim", action="append", metavar="NAME",
                   help="a symbolic dim that may be 0 at run time (a key/value cache's past length is by itself)")
    b.add_argument("--name", default="model", help="C prefix of the generated API")
    b.add_argument("-v", "--verbose", action="store_true", help="print each compile stage (default on a terminal)")
    b.add_argument("--quantize", choices=["int8"], help="post-training quantization (needs --calibration)")
    b.add_argument("--calibration", metavar="NPZ", help="calibration inputs, keyed by the ONNX input names")
    b.add_argument("--codegen", choices=["c", "llvm"], default="c",
                   help="llvm: the steps as an LLVM object for the profile's [llvm] target, linked with the same "
                        "header and API file (ARM64, Cortex-M, wasm32, host)")
    b.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="CUDA targets: GEMMs on fp16/bf16 tensor cores, softmax/norms/reductions in fp32")
    b.add_argument("--weights", choices=["fp32", "fp16"], default=None,
                   help="fp16: MatMul/Gemm weights rounded to float16, and stored as float16 where a matrix-vector "
                        "kernel reads them (<= 8 rows: decoding steps), half the bytes; float32 sums (CPU targets; "
                        "docs/generation.md). Default: the profile's, fp32")
    b.add_argument("--budget", action="append", metavar="ram=BYTES|flash=BYTES",
                   help="MCU targets: override the profile's memory budget")
    b.add_argument("--max-arena", type=int, metavar="BYTES",
                   help="fail when the arena at the bounds is larger (default: the profile's max_arena_bytes)")
    b.add_argument("--db", metavar="FILE", help="tuning database from `sdk tune` (schedules of GEMMs/convolutions)")
    b.add_argument("--generate", action="store_true",
                   help="MODEL is a decoder step with a key/value cache: add <name>_generate (needs --dim max_len=N)")
    b.add_argument("--sparse", choices=SPARSE_MODES, help=SPARSE_HELP)
    b.add_argument("--train", action="store_true", help="compile the training step instead (docs/training.md): "
                   "<name>_train_step updates the trainable parameters in a RAM state")
    b.add_argument("--trainable", default="last:1", metavar="SPEC",
                   help="--train: all | last:N (layers) | re:PATTERN (initializer names) | NAME[,NAME...] "
                        "(default last:1); the others stay frozen constants")
    b.add_argument("--loss", choices=["cross_entropy", "mse"], default="cross_entropy", help="--train: the loss")
    b.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="--train: the optimiser")
    b.add_argument("--momentum", type=float, default=0.0, help="--train --optimizer sgd: momentum (default 0)")
    b.add_argument("--weight-decay", type=float, default=0.0, help="--train: L2 weight decay (default 0)")
    b.add_argument("--remat", choices=["auto", "off", "cheap", "checkpoint"], default="auto",
                   help="--train: recompute forward values in the backward instead of keeping them: auto (element-wise "
                   "recomputation where it shrinks the arena), off, cheap, checkpoint (also convolution segments)")
    b.add_argument("--train-memory", type=int, default=None, metavar="BYTES",
                   help="--train: arena budget; the least recomputation that fits is chosen")
    b.add_argument("--stash", choices=["fp32", "fp16"], default="fp32",
                   help="--train: storage of the activations kept for the backward (fp16: where it shrinks the arena; "
                   "computation, gradients and parameters stay fp32)")
    b.add_argument("--backbone", choices=["fp32", "int8"], default="fp32",
                   help="--train: int8 quantises the frozen layers in front of the trainable ones (int8 weights in "
                   "flash, int8 activations; needs --calibration), the trainable head stays float32")
    b.add_argument("--conv-grad", choices=["auto", "conv", "transpose"], default="auto",
                   help="--train: a stride-1 convolution's input gradient as a convolution of the flipped weight "
                   "(faster), a ConvTranspose (no packing scratch), or auto (the first unless the other's arena is "
                   ">2%% smaller)")
    b.add_argument("--encoder", metavar="ONNX", help="with --generate and --vocab: the encoder whose states are the "
                   "step's context, built into the same folder with <name>_generate_text (text in, text out in one C "
                   "call; make <name>_ask; sdk generate --text); docs/generation.md")
    b.add_argument("--vocab", metavar="FILE", help="WordPiece vocab (vocab.txt or tokenizer.json): the bundle gets the "
                   "tokenizer in C (<name>_vocab.c, make <name>_tokenize) and JS (wordpiece.mjs); docs/text.md")
    t = _sub(sub, "tune", "auto-tune the GEMM/convolution kernels of MODEL.onnx into a database",
             "Search schedules (register tiles, cache blocks, packing, loop order) of the model's GEMM and\n"
             "convolution kernels at the dims' bounds, measuring on the target, and append every measurement\n"
             "to a JSON-lines database that `sdk build --db` reads.\n\n"
             "example:\n  sdk tune examples/models/mlp.onnx --dim batch=16 --trials 50 --db tune.jsonl\n\n"
             f"targets: {targets} (tunable: those with a [tune] table)", cmd_tune)
    t.add_argument("model", help="the .onnx file")
    t.add_argument("--target", default="host", help=target_help)
    t.add_argument("--dim", action="append", metavar="NAME=MAX", help="upper bound of a symbolic dim (tuned there)")
    t.add_argument("--trials", type=int, default=200, help="measurements in all (default 200)")
    t.add_argument("--db", metavar="FILE", help="JSON-lines database to append to (required unless --dry-run)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this long")
    t.add_argument("--plot", metavar="PNG", help="draw best latency vs trials (needs matplotlib)")
    t.add_argument("--no-sparse", action="store_true",
                   help="do not measure the storage formats of weights that are mostly zeros (docs/sparse.md)")
    t.add_argument("--measure", choices=("jit", "c"), default="jit",
                   help="host: search through the in-process LLVM JIT (default) or in gcc batches (c); either way "
                   "each workload's winners are measured again built by gcc with their fused epilogue, as the "
                   "bundle runs them, against the default schedule, where gcc is installed")
    t.add_argument("--no-kernel-choice", action="store_true",
                   help="do not measure each convolution's candidate kernels (Winograd 4x4 / 2x2, spatial rows, direct, "
                   "im2col GEMM) in builds of the bundle first (the profile's [tune] kernel_choice)")
    t.add_argument("--whole-model-knobs", metavar="K1,K2",
                   help="the whole-model stage walks only these of the profile's [tune] whole_model_knobs, in this "
                   "order (a knob as the profile writes it, memory.align=256, or its section.key, memory.align; "
                   "an empty list: no walk); default: all of them (docs/tuning.md)")
    t.add_argument("--dry-run", action="store_true",
                   help="list what would be tuned (each convolution's candidate kernels, the schedule search's "
                   "workloads) and exit: nothing is built or measured, --db is not written")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r = _sub(sub, "run", "build (if needed) and run a bundle on its target",
             "Build the bundle (if needed) and run it on its target: the host, qemu-system-arm or a board\n"
             "(--port), qemu-aarch64, node (wasm) or a GPU. Inputs come from an .npz keyed by the ONNX input\n"
             "names; each is checked against the model's dtype, shape and compiled bounds first.\n\n"
             "example:\n  sdk run out/mlp --inputs in.npz --outputs out.npz\n\n"
             f"targets: {targets}", cmd_run)
    r.add_argument("bundle", help="a folder written by `sdk build`")
    r.add_argument("--inputs", help=".npz keyed by the ONNX input names")
    r.add_argument("--text", action="append", metavar="TEXT", help="instead of --inputs, for a bundle built with "
                   "--generate --vocab --encoder: the text in, the generated text out (greedy; sdk generate --text "
                   "for beams and sampling)")
    r.add_argument("--outputs", help=".npz to write, keyed by the ONNX output names")
    r.add_argument("--target", help="run on another profile of the same kind (default: the bundle's)")
    r.add_argument("--repeat", type=int, default=1, help="runs; prints the median latency")
    r.add_argument("--port", help="MCU targets: serial port of a flashed board (default: run on qemu)")
    r.add_argument("--baud", type=int, help="MCU targets: baud rate of --port")
    g = _sub(sub, "generate", "generate tokens with a bundle built with --generate",
             "Run the bundle's <name>_generate demo on its target: the prompt's tokens go through the decoder\n"
             "step, then one new token per step (greedy, or sampled with --sample), until a stop token,\n"
             "--max-new tokens or --max-len tokens in all.\n\n"
             "example:\n  sdk build tests/models/generate/tiny_gpt_step.dynamo.onnx --generate --dim max_len=32 -o out/gpt\n"
             "  sdk generate out/gpt --prompt 5,8,11 --max-len 32 --stop 63", cmd_generate)
    g.add_argument("bundle", help="a folder written by `sdk build --generate`")
    g.add_argument("--prompt", action="append", metavar="IDS",
                   help="comma-separated token ids; repeat for a batch of equally long prompts")
    g.add_argument("--text", action="append", metavar="TEXT",
                   help="instead of --prompt, for a bundle built with --encoder and --vocab: the text in, the generated "
                   "text out (one C call each; repeatable)")
    g.add_argument("--max-len", type=int, required=True, help="tokens per row, prompt included (<= the built max_len)")
    g.add_argument("--max-new", type=int, default=None, help="new tokens at most (default 16; --text: max-len - 1)")
    g.add_argument("--sample", action="store_true", help="sample (default: greedy)")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0, help="sample among the k most likely (0: all)")
    g.add_argument("--top-p", type=float, default=1.0, help="then the smallest set with this probability")
    g.add_argument("--seed", type=int, default=1, help="the sampler's RNG seed (non-zero)")
    g.add_argument("--stop", type=int, action="append", metavar="ID", help="stop token (repeatable)")
    g.add_argument("--beams", type=int, default=1, help="beam search with this many beams (one --prompt; "
                   "<= the built batch bound); prints every beam, best first")
    g.add_argument("--context", metavar="NPZ", help="the step's context inputs (an encoder's states), keyed by name, "
                   "one row per prompt (or per beam)")
    g.add_argument("--length-penalty", type=float, default=1.0,
                   help="beam search: hypotheses ranked by log-probability / length**this")
    sv = _sub(sub, "serve", "serve a bundle folder (e.g. the wasm demo page) on 127.0.0.1",
              "Serve a bundle folder over HTTP (the wasm demo page needs http://, not file://).\n\n"
              "example:\n  sdk serve out/mlp_web --port 8000", cmd_serve)
    sv.add_argument("bundle", help="a folder written by `sdk build`")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--host", default="127.0.0.1")
    i = _sub(sub, "inspect", "print the IR of a model or bundle; draw its memory plan",
             "Print the graph IR of MODEL.onnx (symbolic shapes), or of a bundle folder; --lowered adds the\n"
             "loop-level program, --memory draws the memory plan (time x offset) to a PNG, --sparse lists each\n"
             "weight's density, sparse format and bytes.\n\n"
             "example:\n  sdk inspect examples/models/mlp.onnx --dim batch=16 --lowered", cmd_inspect)
    i.add_argument("path", help="MODEL.onnx or a bundle folder")
    i.add_argument("--dim", action="append", metavar="NAME=MAX")
    i.add_argument("--memory", metavar="PNG", help="draw the memory plan to this file")
    i.add_argument("--lowered", action="store_true", help="also print the lowered program")
    i.add_argument("--target", default="host", help=target_help + "; its vector width sets the sparse formats")
    i.add_argument("--db", metavar="FILE", help="a tuning database: the sparse formats `sdk tune` measured fastest")
    i.add_argument("--sparse", choices=SPARSE_MODES,
                   help="print each weight's density, sparse format and bytes for this mode (" + SPARSE_HELP + ")")
    from .text.cli import add_subcommand as add_tokenize
    add_tokenize(sub)
    try:
        from .vq.cli import add_subcommands
        add_subcommands(sub)
    except ImportError:
        pass
    return p


def _error_text(e: SdkError, tail: int = 12) -> str:
    """One line naming what failed; a tool's own output (a compiler's or linker's stderr) follows it,
    indented, last ``tail`` lines only."""
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    head = f"sdk: error: {lines[0] if lines else type(e).__name__}"
    return "\n".join([head] + ["  " + ln for ln in lines[1:][-tail:]])


def _one_line_warning(message, category, filename, lineno, line=None):
    return f"sdk: warning: {message}\n"


def _version():
    from . import __version__
    return __version__


def main(argv=None):
    import warnings
    warnings.formatwarning = _one_line_warning  # e.g. a stale tuning-database record: one line, no source
    args = build_parser().parse_args(argv)
    try:
        fn = getattr(args, "fn", None) or args.func  # sdk vq sub-commands set func and return an exit code
        rc = fn(args)
        if isinstance(rc, int) and rc:
            return rc
    except SdkError as e:
        print(_error_text(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sdk: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI never shows a traceback unless asked
        if os.environ.get("SDK_DEBUG"):
            raise
        print(f"sdk: internal error: {type(e).__name__}: {e} (set SDK_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
