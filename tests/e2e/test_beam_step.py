"""The beam-search step of the runtime (``sdk_beam_step``, runtime_c/src/sdk_generate.c) against its Python mirror
(``sdk.generate.sampler.beam_step``) on random cases, and its double exp (``sdk_exp_f64``, sdk_math.h) against
numpy's.

The C step takes shortcuts the mirror does not (a vectorised exp summed in eight lanes, the largest logit in
eight lanes, logits no larger than one already turned away skipped without their norm); the cases are built to
hit them: vocabularies that are not a multiple of 8, many tied logits, -inf and NaN logits, finished and
not-started beams, length penalties of 0, 0.5, 1 and 2, stop tokens. Parents, tokens, lengths and flags must be
identical, scores equal to 1e-12 relative."""
import math
import os
import subprocess

import numpy as np
import pytest

from sdk.generate import GenerateParams
from sdk.generate.sampler import Beam, beam_step

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RT = os.path.join(ROOT, "runtime_c")
HARNESS = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "sdk_generate.h"
#include "sdk_math.h"

/* stdin: "exp" N x... -> one exp per line; or "beam" cases: n vocab length_penalty nstop stops... then n beams
   (score len done) then n * vocab logits ("nan", "-inf" allowed) */
int main(void) {
  char what[8];
  if (scanf("%7s", what) != 1) return 2;
  if (what[0] == 'e') {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    for (long i = 0; i < n; ++i) {
      double x;
      if (scanf("%lf", &x) != 1) return 2;
      printf("%.17g\n", sdk_exp_f64(x));
    }
    return 0;
  }
  int cases;
  if (scanf("%d", &cases) != 1) return 2;
  for (int c = 0; c < cases; ++c) {
    int n, vocab, nstop;
    float lp;
    int64_t stops[8], tok[SDK_MAX_BEAMS];
    sdk_beam beams[SDK_MAX_BEAMS];
    int32_t parent[SDK_MAX_BEAMS];
    if (scanf("%d %d %f %d", &n, &vocab, &lp, &nstop) != 4) return 2;
    for (int k = 0; k < nstop; ++k) if (scanf("%ld", (long *)&stops[k]) != 1) return 2;
    for (int j = 0; j < n; ++j) {
      char s[64];
      if (scanf("%63s %d %d", s, &beams[j].len, &beams[j].done) != 3) return 2;
      beams[j].score = strtod(s, NULL);
    }
    float *x = malloc(sizeof(float) * (size_t)(n * vocab));
    for (int i = 0; i < n * vocab; ++i) {
      char s[64];
      if (scanf("%63s", s) != 1) return 2;
      x[i] = strtof(s, NULL);
    }
    sdk_generate_params p = sdk_generate_defaults();
    p.length_penalty = lp;
    p.stop_tokens = stops;
    p.num_stop_tokens = nstop;
    sdk_beam_step(x, vocab, n, &p, beams, parent, tok);
    for (int j = 0; j < n; ++j)
      printf("%d %ld %.17g %d %d\n", parent[j], (long)tok[j], beams[j].score, beams[j].len, beams[j].done);
    free(x);
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    d = tmp_path_factory.mktemp("beam")
    (d / "h.c").write_text(HARNESS)
    exe = d / "h"
    subprocess.run(["gcc", "-O3", "-march=native", "-ffp-contract=fast", "-std=c99", "-Wall", "-Wextra", "-Werror",
                    "-I", os.path.join(RT, "include"), str(d / "h.c"), os.path.join(RT, "src", "sdk_generate.c"),
                    "-lm", "-o", str(exe)], check=True)
    return lambda text: subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout


def _fmt(v):
    return "nan" if v != v else ("-inf" if v == -math.inf else ("inf" if v == math.inf else repr(float(v))))


def _case(rng):
    n = int(rng.choice([1, 2, 4, 5, 8]))
    vocab = int(rng.choice([n, 7, 8, 37, 100, 2000]))
    vocab = max(vocab, n)
    lp = float(rng.choice([0.0, 0.5, 1.0, 2.0]))
    stops = sorted(set(rng.integers(0, vocab, int(rng.integers(0, 3))).tolist()))
    kind = rng.integers(0, 3)
    if kind == 0:
        x = rng.standard_normal((n, vocab)) * 5
    elif kind == 1:  # many ties: a few distinct values
        x = rng.integers(-3, 3, (n, vocab)).astype(np.float64)
    else:  # a few large logits among many small ones, some -inf
        x = rng.standard_normal((n, vocab)) - 20
        x[rng.random((n, vocab)) < 0.05] += 25
        x[rng.random((n, vocab)) < 0.05] = -np.inf
    if rng.random() < 0.2:
        x[0, rng.integers(0, vocab)] = np.nan
    x = x.astype(np.float32)
    beams = []
    for j in range(n):
        r = rng.random()
        if j > 0 and r < 0.15:
            beams.append(Beam(-math.inf, 0, False))  # not started
        elif r < 0.35:
            beams.append(Beam(float(-rng.random() * 10), int(rng.integers(1, 9)), True))
        else:
            beams.append(Beam(float(-rng.random() * 10), int(rng.integers(0, 9)), False))
    return n, vocab, lp, stops, beams, x


def test_beam_step_matches_the_python_mirror(harness):
    rng = np.random.default_rng(0)
    cases = [_case(rng) for _ in range(120)]
    lines = [str(len(cases))]
    for n, vocab, lp, stops, beams, x in cases:
        lines.append(f"{n} {vocab} {lp!r} {len(stops)} " + " ".join(map(str, stops)))
        lines += [f"{_fmt(b.score)} {b.length} {int(b.done)}" for b in beams]
        lines.append(" ".join(map(_fmt, x.ravel())))
    out = harness("beam " + "\n".join(lines) + "\n").split("\n")
    k = 0
    for n, vocab, lp, stops, beams, x in cases:
        want, parents, tokens = beam_step(x, beams, GenerateParams(length_penalty=lp, stop_tokens=stops, num_beams=n))
        for j in range(n):
            par, tok, score, length, done = out[k].split()
            k += 1
            assert (int(par), int(tok), int(length), bool(int(done))) == \
                (parents[j], tokens[j], want[j].length, bool(want[j].done)), (n, vocab, lp, j)
            s, w = float(score), want[j].score
            assert s == w or (s != s and w != w) or abs(s - w) <= 1e-12 * abs(w), (s, w)


def test_exp_f64_within_two_ulp_of_numpy(harness):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-745, 710, 4000), rng.uniform(-1, 1, 1000), rng.uniform(-40, 0, 1000),
                        [0.0, -0.0, 1.0, -1.0, 709.78, 709.7827, -708.0, -707.9, 1e-300, -1e-300]])
    got = np.array(harness(f"exp {len(x)} " + " ".join(map(repr, x.tolist())) + "\n").split(), np.float64)
    want = np.exp(x)
    normal = want > 1e-300  # below: sdk_exp_f64 flushes to 0 (it feeds a sum that includes exp(0) = 1)
    ulp = np.abs(got[normal] - want[normal]) / np.spacing(want[normal])
    assert ulp.max() <= 2, (ulp.max(), x[normal][ulp.argmax()])
    assert np.all(got[~normal] < 1e-300) and np.all(got[~normal] >= 0)
    special = harness("exp 4 nan inf -inf 800\n").split()
    assert special[0] == "nan" and special[1] == "inf" and float(special[2]) == 0 and special[3] == "inf"
