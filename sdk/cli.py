"""The ``sdk`` command line. Every error is one line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import SdkError


def _dims(items):
    dims = {}
    for it in items or []:
        name, sep, val = it.partition("=")
        if not sep or not val.isdigit() or int(val) < 1:
            raise SdkError(f"--dim expects NAME=MAX with MAX a positive integer, got '{it}'")
        dims[name] = int(val)
    return dims


def cmd_build(a):
    from .api import compile
    cal = None
    if a.calibration:
        import numpy as np
        try:
            data = np.load(a.calibration)
        except Exception as e:  # noqa: BLE001
            raise SdkError(f"{a.calibration}: cannot read calibration data ({e})") from None
        cal = {k: data[k] for k in data.files}
    b = compile(a.model, target=a.target, dims=_dims(a.dim), name=a.name, budget=_budget(a.budget),
                quantize=a.quantize, calibration=cal, precision=a.precision,
                progress=_progress() if a.verbose or sys.stderr.isatty() else None, tuning_db=a.db)
    out = b.save(a.output)
    p = b.plan
    print(f"wrote {out}: {len(b.program.steps)} steps, arena {p.arena_bytes} B at the bounds "
          f"(lower bound {p.lower_bound_bytes} B, naive {p.naive_bytes} B)")
    if (out / "build_report.json").exists():  # MCU bundles: firmware built and checked against the budget
        from .bundle.mcu import format_report
        print("firmware: " + format_report(json.loads((out / "build_report.json").read_text())))


def cmd_tune(a):
    from .tune.tuner import summary, tune
    if a.trials < 1:
        raise SdkError("--trials must be at least 1")
    s = tune(a.model, target=a.target, dims=_dims(a.dim), trials=a.trials, db=a.db, seed=a.seed,
             time_budget_s=a.time_budget, progress=not a.quiet, plot=a.plot)
    print(summary(s))
    print(f"{s.trials} trials in {s.history[-1][1]:.1f} s; records appended to {a.db}"
          + (f"; plot: {a.plot}" if a.plot else ""))
    print(f"build with: sdk build {a.model} --db {a.db} -o OUT")


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
    from .runners import get_runner
    from .targets import load_target
    out = Path(a.bundle)
    meta_path = out / "bundle.json"
    if not meta_path.exists():
        raise SdkError(f"{out}: not a bundle folder (no bundle.json); create one with 'sdk build'")
    meta = json.loads(meta_path.read_text())
    kind = load_target(a.target or meta["target"]).runner
    runner = get_runner(kind, port=a.port, baud=a.baud) if a.port else get_runner(kind)
    try:
        data = np.load(a.inputs)
    except Exception as e:  # noqa: BLE001
        raise SdkError(f"{a.inputs}: cannot read inputs ({e})") from None
    inputs = {k: data[k] for k in data.files}
    outs, info = runner.run(out, inputs, repeat=a.repeat)
    if a.outputs:
        np.savez(a.outputs, **outs)
    for k, v in outs.items():
        print(f"{k}: {v.dtype}{list(v.shape)}")
    if "median_ms" in info:
        print(f"latency {float(info['median_ms']):.3f} ms (median of {a.repeat})")
    if "cycles" in info:
        print(f"cycles {info['cycles']} (min of {a.repeat}, timer {info['timer']} at {info['clock_hz']} Hz)")


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
    if a.memory or a.lowered:
        from .api import compile
        b = compile(str(path), dims=_dims(a.dim))
        print()
        print(b.program)
        if a.memory:
            from .memory.draw import draw_plan
            print(f"wrote {draw_plan(b.plan.to_json(), a.memory, path.stem)}")


def cmd_serve(a):
    from .runners.wasm import make_server
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


def build_parser():
    p = argparse.ArgumentParser(prog="sdk", description="Compile ONNX models to self-contained C bundles.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="compile MODEL.onnx into a bundle folder")
    b.add_argument("model")
    b.add_argument("-o", "--output", required=True)
    b.add_argument("--target", default="host")
    b.add_argument("--dim", action="append", metavar="NAME=MAX", help="upper bound of a symbolic dim")
    b.add_argument("--name", default="model", help="C prefix of the generated API")
    b.add_argument("-v", "--verbose", action="store_true", help="print each compile stage (default on a terminal)")
    b.add_argument("--quantize", choices=["int8"], help="post-training quantization (needs --calibration)")
    b.add_argument("--calibration", metavar="NPZ", help="calibration inputs, keyed by the ONNX input names")
    b.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="CUDA targets: GEMMs on fp16/bf16 tensor cores, softmax/norms/reductions in fp32")
    b.add_argument("--budget", action="append", metavar="ram=BYTES|flash=BYTES",
                   help="MCU targets: override the profile's memory budget")
    b.add_argument("--db", metavar="FILE", help="tuning database from `sdk tune` (schedules of GEMMs/convolutions)")
    b.set_defaults(fn=cmd_build)
    t = sub.add_parser("tune", help="auto-tune the GEMM/convolution kernels of MODEL.onnx into a database")
    t.add_argument("model")
    t.add_argument("--target", default="host")
    t.add_argument("--dim", action="append", metavar="NAME=MAX", help="upper bound of a symbolic dim (tuned there)")
    t.add_argument("--trials", type=int, default=200, help="measurements in all (default 200)")
    t.add_argument("--db", required=True, metavar="FILE", help="JSON-lines database to append to")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this long")
    t.add_argument("--plot", metavar="PNG", help="draw best latency vs trials")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(fn=cmd_tune)
    r = sub.add_parser("run", help="build (if needed) and run a bundle on its target")
    r.add_argument("bundle")
    r.add_argument("--inputs", required=True, help=".npz keyed by the ONNX input names")
    r.add_argument("--outputs", help=".npz to write, keyed by the ONNX output names")
    r.add_argument("--target")
    r.add_argument("--repeat", type=int, default=1)
    r.add_argument("--port", help="MCU targets: serial port of a flashed board (default: run on qemu)")
    r.add_argument("--baud", type=int, help="MCU targets: baud rate of --port")
    r.set_defaults(fn=cmd_run)
    sv = sub.add_parser("serve", help="serve a bundle folder (e.g. the wasm demo page) on 127.0.0.1")
    sv.add_argument("bundle")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--host", default="127.0.0.1")
    sv.set_defaults(fn=cmd_serve)
    i = sub.add_parser("inspect", help="print the IR of a model or bundle; draw its memory plan")
    i.add_argument("path", help="MODEL.onnx or a bundle folder")
    i.add_argument("--dim", action="append", metavar="NAME=MAX")
    i.add_argument("--memory", metavar="PNG", help="draw the memory plan to this file")
    i.add_argument("--lowered", action="store_true", help="also print the lowered program")
    i.set_defaults(fn=cmd_inspect)
    try:
        from .vq.cli import add_subcommands
        add_subcommands(sub)
    except ImportError:
        pass
    return p


def _one_line_warning(message, category, filename, lineno, line=None):
    return f"sdk: warning: {message}\n"


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
        print(f"sdk: error: {e}".splitlines()[0] if "\n" not in str(e)[:200] else f"sdk: error: {str(e).splitlines()[0]}",
              file=sys.stderr)
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
