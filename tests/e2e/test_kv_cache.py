"""The key/value cache appended in place while generating (sdk/transform/kv_cache.py, sdk_kv_append_f32 in
runtime_c/src/sdk_gemv.c, the loop's choice of buffers in sdk/generate/codegen.py).

- The kernel against numpy's ``concat(past[parent], new)`` on random caches laid out with room (blocks ``cap`` rows
  apart): random shapes (head sizes that are not a multiple of the vector width, an empty past, a full one),
  identity, repeated, permuted and negative parents; into another buffer (any parents) and in place (where the
  loop's rule allows: no block read after it is rewritten); the rows after the new one are never written. Copies:
  equal exactly.
- The pass on the tiny GPT step (both exporters' graphs have the pattern): every cache is appended in place, and the
  C loop's tokens equal onnxruntime's loop (greedy, sampling, 3 beams, a max_len under the compiled one) under
  ASan/UBSan in exactly the computed workspace. Steps it does not fit (several tokens per run, Hugging Face's GPT-2
  graph) keep the copying Concat, all caches or none."""
import os
import subprocess

import numpy as np
import onnx
import pytest

import sdk
from conftest import SANITIZE
from sdk.backends.host.runner import HostRunner
from sdk.cli import main
from sdk.errors import SdkError
from sdk.generate import GenerateParams
from sdk.generate.reference import reference_generate

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RT = os.path.join(ROOT, "runtime_c")
MODELS = os.path.join(ROOT, "tests", "models")
TINY = os.path.join(MODELS, "generate", "tiny_gpt_step.{}.onnx")
END = 63

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "sdk_gemv.h"

/* stdin: cases; each: B H P D cap inplace, B parents, B*H*cap*D past floats (the present starts as a copy when
   inplace, else as -7), B*H*D new floats. stdout: the present's B*H*cap*D floats. */
int main(void) {
  int cases;
  if (scanf("%d", &cases) != 1) return 2;
  for (int c = 0; c < cases; ++c) {
    long B, H, P, D, cap, inplace;
    if (scanf("%ld %ld %ld %ld %ld %ld", &B, &H, &P, &D, &cap, &inplace) != 6) return 2;
    int64_t *parent = malloc(sizeof(int64_t) * (size_t)B);
    float *past = malloc(sizeof(float) * (size_t)(B * H * cap * D));
    float *present = malloc(sizeof(float) * (size_t)(B * H * cap * D));
    float *xn = malloc(sizeof(float) * (size_t)(B * H * D));
    for (long b = 0; b < B; ++b) if (scanf("%ld", (long *)&parent[b]) != 1) return 2;
    for (long i = 0; i < B * H * cap * D; ++i) if (scanf("%f", &past[i]) != 1) return 2;
    for (long i = 0; i < B * H * D; ++i) if (scanf("%f", &xn[i]) != 1) return 2;
    for (long i = 0; i < B * H * cap * D; ++i) present[i] = inplace ? past[i] : -7.0f;
    sdk_kv_append_f32(B, H, P, D, cap, inplace ? present : past, parent, xn, H * D, D, present);
    for (long i = 0; i < B * H * cap * D; ++i) printf("%.9g\n", present[i]);
    free(parent); free(past); free(present); free(xn);
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    d = tmp_path_factory.mktemp("kv")
    (d / "h.c").write_text(HARNESS)
    exe = d / "h"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE, "-I", os.path.join(RT, "include"),
                    str(d / "h.c"), os.path.join(RT, "src", "sdk_gemv.c"), "-lm", "-o", str(exe)], check=True)
    return lambda text: subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout


def _parents(rng, B):
    kind = int(rng.integers(0, 4))
    if kind == 0:
        p = np.arange(B)
    elif kind == 1:  # every beam continues one (the first decoding step of a beam search)
        p = np.full(B, int(rng.integers(0, B)))
    else:
        p = rng.permutation(B) if kind == 2 else rng.integers(0, B, B)
    return p.astype(np.int64)


def _in_place_ok(p):
    """generate/codegen.py's rule: no block read after it is rewritten (blocks are written last row first)."""
    return all(p[b] == b or p[p[b]] == p[b] or p[b] < b for b in range(len(p)))


def test_kv_append_matches_concat_of_the_gathered_past(harness):
    rng = np.random.default_rng(0)
    cases, text = [], []
    for c in range(90):
        B, H, D = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.choice([1, 5, 16, 19, 64]))
        cap = int(rng.integers(1, 9))
        P = int(rng.choice([0, cap - 1, int(rng.integers(0, cap))]))
        parent = _parents(rng, B)
        inplace = _in_place_ok(parent) and c % 3 != 0
        if not inplace and rng.random() < 0.3:
            parent = parent - B * (rng.random(B) < 0.5)  # negative indices count from B, as ONNX Gather's
        past = rng.standard_normal((B, H, cap, D)).astype(np.float32)
        new = rng.standard_normal((B, H, 1, D)).astype(np.float32)
        cases.append((B, H, P, D, cap, inplace, parent, past, new))
        text += [f"{B} {H} {P} {D} {cap} {int(inplace)}", " ".join(map(str, parent)),
                 " ".join(map(repr, past.ravel().tolist())), " ".join(map(repr, new.ravel().tolist()))]
    out = np.array(harness(f"{len(cases)}\n" + "\n".join(text) + "\n").split(), np.float32)
    at = 0
    for B, H, P, D, cap, inplace, parent, past, new in cases:
        got = out[at:at + B * H * cap * D].reshape(B, H, cap, D)
        at += B * H * cap * D
        want = np.concatenate([past[parent][:, :, :P], new], axis=2)  # Gather(past, parent) then Concat
        np.testing.assert_array_equal(got[:, :, :P + 1], want, err_msg=f"B={B} H={H} P={P} D={D} parent={parent}")
        rest = past[:, :, P + 1:] if inplace else np.full_like(past[:, :, P + 1:], -7.0)
        np.testing.assert_array_equal(got[:, :, P + 1:], rest)  # room after the new row: untouched
    assert at == len(out)
    moved_in_place = [c for c in cases if c[5] and any(c[6] != np.arange(c[0]))]
    assert len(moved_in_place) >= 10  # the in-place copies of moved blocks were exercised


def test_tiny_gpt_step_appends_in_place_and_matches_onnxruntime(tmp_path, capsys):
    path = TINY.format("ts")
    b = sdk.compile(path, dims={"batch": 3, "max_len": 24}, generate=True, name="kv")
    assert b.generation.capacity == 24
    appends = [x for x in b.func.bindings if x.op == "KVCacheAppend"]
    assert len(appends) == len(b.generation.cache) == 4
    assert not [x for x in b.func.bindings if x.op in ("Concat", "Gather") and any(
        v is not None and v.name in {w.name for w in b.func.inputs if w.dtype == "float32"} for v in x.inputs)]
    assert sum(x.op == "MatMul" and x.attrs.get("b_cap") == 24 for x in b.func.bindings) == 4  # q K^T, probs V
    with pytest.raises(SdkError, match="in place"):  # its <name>_run reads and writes the caches with room
        b.run({"ids": np.zeros((1, 1), np.int64)})
    np.savez(tmp_path / "in.npz", ids=np.zeros((1, 1), np.int64))
    assert main(["run", str(b.save(tmp_path / "kv")), "--inputs", str(tmp_path / "in.npz")]) != 0  # sdk run: the same
    assert "in place" in capsys.readouterr().err
    asan = HostRunner(cflags=" ".join(SANITIZE))
    model = onnx.load(path)
    for prompt, max_len, params in (
            ([[5, 8, 11], [1, 2, 3], [40, 45, 50]], 24, dict(max_new_tokens=30)),
            ([[5, 8, 11], [1, 2, 3], [40, 45, 50]], 24, dict(do_sample=True, top_k=5, top_p=0.9, temperature=1.5,
                                                             seed=42)),
            ([[5, 9]], 24, dict(num_beams=3, stop_tokens=(END,))),
            ([[7, 8, 9]], 16, dict(num_beams=3)),  # a max_len under the compiled one: blocks stay 24 rows apart
            ([[2]], 13, dict(num_beams=2, length_penalty=0.5))):
        got = b.generate(np.array(prompt), max_len=max_len, runner=asan, **params)
        ref = reference_generate(model, np.array(prompt), max_len, GenerateParams(**params))
        assert got == ref, (prompt, max_len, params)


@pytest.mark.parametrize("model", ["generate/tiny_gpt_step.seq.ts.onnx", "text/gpt2_step.ts.onnx"])
def test_steps_without_the_pattern_keep_the_copying_concat(model):
    b = sdk.compile(os.path.join(MODELS, model), dims={"batch": 2, "max_len": 12}, generate=True, name="nokv")
    assert b.generation.capacity is None and not [x for x in b.func.bindings if x.op == "KVCacheAppend"]
