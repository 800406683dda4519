"""One runtime kernel of two source trees, alternating in one run (bench/dw7_ab.py, bench/softmax_ab.py,
bench/pool_ab.py, bench/wino_ab.py): a C harness (``harness``: the script's set-up and call inside one timing loop)
built against each tree's runtime_c/src (sdk_kernels.c or the script's sources) with the host profile's flags (no
OpenMP), run round by round A then B; each run prints its fastest call in us and writes its outputs to
DIR/y_<tree>.bin (its last argument)."""
import argparse
import os
import subprocess
import tempfile
from pathlib import Path

# the timing loop every script shares: SETUP declares ``trials`` and the outputs ``y`` (``COUNT`` floats) from argv,
# BEFORE runs ahead of each timed call (untimed), CALL is the kernel call
HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#define _ISOC11_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
@INCLUDES@
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
static float uniform(void) { return rand() / (float)RAND_MAX - 0.5f; } /* in [-0.5, 0.5] */
int main(int argc, char **argv) {
  srand(1);
@SETUP@
  double best = 1e9;
  for (int t = 0; t < trials; ++t) {
@BEFORE@
    const double t0 = now();
@CALL@
    const double dt = now() - t0;
    if (dt < best) best = dt;
  }
  FILE *f = fopen(argv[argc - 1], "wb");
  if (!f || fwrite(y, 4, @COUNT@, f) != @COUNT@) return 1;
  fclose(f);
  printf("%.2f\n", best * 1e6);
  return 0;
}
"""


def harness(setup: str, call: str, count: str, before: str = "", header: str = "sdk_kernels.h") -> str:
    """The C program timing ``call`` (the fastest of ``trials`` calls, the thread's CPU clock) after ``setup``;
    ``uniform()`` draws inputs in [-0.5, 0.5] (seeded), ``before`` runs untimed ahead of each call; ``header``: the
    runtime header that declares the kernel."""
    text = HARNESS
    for k, v in (("@INCLUDES@", f'#include "{header}"'), ("@SETUP@", setup), ("@BEFORE@", before), ("@CALL@", call),
                 ("@COUNT@", count)):
        text = text.replace(k, v.strip("\n"))
    return text


def parser(doc: str, rounds: int, trials: int, shapes: str, shapes_help: str) -> argparse.ArgumentParser:
    """The options every script takes: the trees (--a, --b), --rounds, --trials, --shapes."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--trials", type=int, default=trials)
    ap.add_argument("--shapes", default=shapes, help=shapes_help)
    return ap


def table(a, source: str, header: str, row, extra: str = "", sources=("sdk_kernels.c",)):
    """Build ``source`` (with the runtime's ``sources``) against both trees, print the load, the set-up and the table
    ``header``, then ``row(shape, exe, d)`` (a printed row) for each of ``a.shapes``, and the load at the end."""
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        exe = {k: build(tree, d, k, source, sources) for k, tree in (("a", a.a), ("b", a.b))}
        print(f"load {os.getloadavg()[0]:.1f}; A = {a.a}, B = {a.b}; {a.rounds} alternating rounds, min of "
              f"{a.trials} calls each{extra}\n\n{header}")
        for shape in a.shapes.split(","):
            print(row(shape, exe, d))
        print(f"\nload {os.getloadavg()[0]:.1f}")


def build(tree: str, d: Path, tag: str, harness: str, sources=("sdk_kernels.c",)) -> Path:
    """The harness linked with ``sources`` of ``tree``'s runtime_c/src, host profile flags without OpenMP."""
    from sdk.targets import load_target
    flags = [f for f in load_target("host").cflags if f != "-fopenmp"]
    (d / "h.c").write_text(harness)
    exe = d / f"h_{tag}"
    subprocess.run(["gcc", *flags, f"-I{tree}/runtime_c/include", str(d / "h.c"),
                    *(f"{tree}/runtime_c/src/{s}" for s in sources), "-o", str(exe), "-lm"], check=True)
    return exe


def alternate(exe: dict, args: list, d: Path, rounds: int) -> dict:
    """The fastest call (us) of each tree over ``rounds`` alternating runs of ``exe[k] *args d/y_<k>.bin``."""
    best = {k: 1e9 for k in exe}
    for _ in range(rounds):
        for k in exe:
            out = subprocess.run([str(exe[k]), *map(str, args), str(d / f"y_{k}.bin")], check=True,
                                 capture_output=True, text=True).stdout
            best[k] = min(best[k], float(out))
    return best
