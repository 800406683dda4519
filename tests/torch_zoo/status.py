"""Print the zoo's status as a markdown table: model x exporter -> exported? compiles? matches onnxruntime? first
error line; with --known, the KNOWN_FAILURES dict for tests/e2e/test_torch_zoo.py instead.

    PYTHONPATH=$PWD python tests/torch_zoo/status.py [--known] [substring ...]
"""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS), str(TESTS / "e2e")]  # conftest.py, test_torch_zoo.py
import sdk  # noqa: E402
import test_torch_zoo as zoo  # noqa: E402


def first_line(exc):
    lines = [ln.strip() for ln in f"{type(exc).__name__}: {exc}".splitlines() if ln.strip()]
    return lines[0][:240]


def status(name, exporter, rec):
    """(exported, compiles, matches, first error line) of one file."""
    key = f"{name}.{exporter}"
    if exporter not in rec["files"]:
        return "no", "-", "-", zoo.MANIFEST["export_failed"].get(key, "not exported")
    model = zoo.load(Path(rec["files"][exporter]["path"]).name)
    try:
        bundle = sdk.compile(model, dims=rec["bounds"], name="zoo")
    except Exception as e:  # noqa: BLE001 -- the error is the result
        return "yes", "no", "-", first_line(e)
    try:
        zoo.check_matches_onnxruntime(bundle, model, rec, runner=zoo.FAST_BUILD, variant=exporter)
    except AssertionError as e:
        return "yes", "yes", "no", "mismatch: " + " ".join(str(e).split())[:200]
    except Exception as e:  # noqa: BLE001
        return "yes", "yes", "no", first_line(e)
    return "yes", "yes", "yes", ""


def main(args):
    known = "--known" in args
    only = [a for a in args if not a.startswith("--")]
    rows = []
    for name, rec in zoo.MANIFEST["models"].items():
        # the two exporters, or the int8 variants of a file quantize.py made
        for exporter in (rec["files"] if "quantized_from" in rec else ("dynamo", "ts")):
            if only and not any(o in f"{name}.{exporter}" for o in only):
                continue
            row = (name, exporter) + status(name, exporter, rec)
            rows.append(row)
            if not known:
                print("| " + " | ".join(row) + " |", flush=True)
    if known:
        print("KNOWN_FAILURES = {")
        for name, exporter, exported, _, matches, err in rows:
            if exported == "yes" and matches != "yes":
                print(f"    {name + '.' + exporter + '.onnx'!r}: {err!r},")
        print("}")


if __name__ == "__main__":
    main(sys.argv[1:])
