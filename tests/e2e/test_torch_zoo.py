"""The PyTorch model zoo (tests/torch_zoo/, made by tests/torch_zoo/export.py from torchvision, Hugging Face
transformers and torch.nn models, both exporters): every committed file compiles for the host ONCE with the
manifest's bounds, and at two different dim sets below them its outputs match onnxruntime on random,
non-degenerate inputs. Files that do not compile or match yet are listed in KNOWN_FAILURES (strict xfail: a fix
makes the test fail until its entry is removed)."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import sdk
from conftest import FAST_CFLAGS, assert_outputs_close, ort_run
from sdk.backends.host.runner import HostRunner

ZOO_DIR = Path(__file__).resolve().parents[1] / "torch_zoo"
MANIFEST = json.loads((ZOO_DIR / "manifest.json").read_text())
RTOL, ATOL = 1e-3, 1e-4
# 36.6 MB at 2026-12-06 10:00: 61 base files, 85 Hugging Face files (43 families), 23 vision architectures x 2
# exporters, 13 int8 files; 46.9 MB with zoo19's 71 files (zoo_more.py: 42 entries); 36.8 MB after zoo20
# re-exported the 53 largest files narrower (same op types and dynamic dims; README, "Smaller files"); 41.3 MB
# with zoo20's 18 new families (zoo_fam.py, 36 files); 43.14 MB with xf46's 9 families (zoo_xf.py, 16 files, 1.80 MB);
# 45.47 MB with xf47's 19 (zoo_users.py, 24 files, 2.33 MB); 45.89 MB with xf48's shipped forms (zoo_shipped.py: opset 9 /
# 11 TorchScript files, odd names; llama_int8.qdq_s8sym; 6 files, 0.42 MB)
MAX_BYTES = 45.9 * 1000 * 1000
# The generated C holds the weights as literals (~1 MB of C per model): gcc -O3 takes ~30-60 s a model on this
# machine, -O0 a few seconds. These tests check results, not speed, so they build unoptimised (still -Werror).
FAST_BUILD = HostRunner(cflags=FAST_CFLAGS)

# file -> first line of the error it fails with today (pytest.mark.xfail(strict=True))
KNOWN_FAILURES = {}


def zoo_cases(known=KNOWN_FAILURES):
    """pytest params (model name, exporter or int8 variant, file) for every committed zoo file, known failures
    marked strict xfail."""
    cases = []
    for name, rec in MANIFEST["models"].items():
        for exporter, f in rec["files"].items():
            file = Path(f["path"]).name
            marks = [pytest.mark.xfail(strict=True, reason=known[file])] if file in known else []
            cases.append(pytest.param(name, exporter, file, marks=marks, id=file[:-len(".onnx")]))
    return cases


def feeds_for(model, rec, dims, seed, run=0):
    """Inputs for the dim set ``rec["dim_sets"][run]`` (``dims``): floats ~ N(0, 1) (or N(mean, 1) where the spec
    gives a ``mean_per_dim_set``), token ids in their vocabulary, 0/1 masks whose rows start with a run of ones of
    random length (every row attends to something); shapes from the file's declared inputs."""
    rng = np.random.default_rng(seed)
    specs = {s["name"]: s for s in rec["inputs"]}
    feeds = {}
    inits = {i.name for i in model.graph.initializer}  # an input with an initializer is a weight with a default
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        spec = specs[vi.name]
        shape = []
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param:
                assert d.dim_param in dims, f"input {vi.name}: dim '{d.dim_param}' not in the manifest's dim set {dims}"
                shape.append(dims[d.dim_param])
            else:
                shape.append(d.dim_value)
        if spec["dtype"] in ("float32", "float16"):
            mean = spec.get("mean_per_dim_set", [0.0] * len(rec["dim_sets"]))[run]
            feeds[vi.name] = (mean + rng.standard_normal(shape)).astype(spec["dtype"])
        elif spec.get("kind") == "mask":
            lengths = rng.integers(1, shape[-1] + 1, size=shape[:-1])
            feeds[vi.name] = (np.arange(shape[-1]) < lengths[..., None]).astype(spec["dtype"])
        else:
            lo, hi = spec["range"]
            feeds[vi.name] = rng.integers(lo, hi, size=shape).astype(spec["dtype"])
    return feeds


def load(file):
    return onnx.load(str(ZOO_DIR / "models" / file))


def output_scales(model):
    """{graph output: its quantisation step} for outputs made by a DequantizeLinear with a constant scale."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    made_by = {o: n for n in model.graph.node for o in n.output}
    scales = {}
    for vi in model.graph.output:
        n = made_by.get(vi.name)
        if n is not None and n.op_type == "DequantizeLinear" and n.input[1] in inits:
            scales[vi.name] = float(np.max(inits[n.input[1]]))
    return scales


def tolerances(model, rec, variant, ref):
    """{output: (rtol, atol)}: the zoo's RTOL/ATOL, or for an int8 or float16 file its manifest ``tolerance``:
    ``lsb`` steps of the output's quantisation scale where a DequantizeLinear makes it, else ``rel`` times the
    reference's largest magnitude."""
    tol = rec.get("tolerance", {}).get(variant)
    if tol is None:
        return {out: (RTOL, ATOL) for out in ref}
    scales = output_scales(model)
    return {out: (0.0, tol["lsb"] * scales[out] if out in scales else tol["rel"] * float(np.abs(r).max()))
            for out, r in ref.items()}


def check_matches_onnxruntime(bundle, model, rec, seed=0, runner=None, variant=None):
    """Run ``bundle`` at each of the manifest's dim sets and compare every output with onnxruntime."""
    for k, dims in enumerate(rec["dim_sets"]):
        feeds = feeds_for(model, rec, dims, seed + k, run=k)
        ref = ort_run(model, feeds)
        for out, r in ref.items():  # the oracle's outputs are not degenerate (constant outputs would prove nothing)
            assert r.size < 2 or not np.issubdtype(r.dtype, np.floating) or np.std(r) > 1e-4, out
        got = bundle.run(feeds, runner=runner)
        for out, (rtol, atol) in tolerances(model, rec, variant, ref).items():
            assert_outputs_close(got, {out: ref[out]}, rtol, atol)


def test_zoo_manifest_and_size():
    files = sorted(p.name for p in (ZOO_DIR / "models").glob("*.onnx"))
    listed = sorted(Path(f["path"]).name for rec in MANIFEST["models"].values() for f in rec["files"].values())
    assert files == listed
    archs = [name for name, rec in MANIFEST["models"].items() if rec["files"]]
    assert len(archs) >= 20, archs
    assert sum((ZOO_DIR / "models" / f).stat().st_size for f in files) <= MAX_BYTES
    for name, rec in MANIFEST["models"].items():
        assert len(rec["dim_sets"]) == 2 and rec["dim_sets"][0] != rec["dim_sets"][1], name
        for dims in rec["dim_sets"]:
            assert all(1 <= v <= rec["bounds"][d] for d, v in dims.items()), (name, dims)
    assert set(KNOWN_FAILURES) <= set(files), set(KNOWN_FAILURES) - set(files)


def test_zoo_files_run_in_onnxruntime():
    """The committed files themselves are sound: onnxruntime runs each at both dim sets, outputs not constant."""
    for name, rec in MANIFEST["models"].items():
        for f in rec["files"].values():
            model = load(Path(f["path"]).name)
            for k, dims in enumerate(rec["dim_sets"]):
                for out, r in ort_run(model, feeds_for(model, rec, dims, k, run=k)).items():
                    assert r.size > 0, (f["path"], dims, out)
                    assert r.size < 2 or not np.issubdtype(r.dtype, np.floating) or np.std(r) > 1e-4, (f["path"], out)


@pytest.mark.slow
@pytest.mark.parametrize("name,variant,file", zoo_cases())
def test_torch_zoo_matches_onnxruntime(name, variant, file):
    rec = MANIFEST["models"][name]
    model = load(file)
    bundle = sdk.compile(model, dims=rec["bounds"], name="zoo")
    check_matches_onnxruntime(bundle, model, rec, runner=FAST_BUILD, variant=variant)
