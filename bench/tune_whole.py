"""sdk tune's whole-model stage alone, on a database an earlier sdk tune wrote (sdk/tune/whole_model.py): each
model's complete candidate builds (untuned, tuned, near) run alternately as whole runs on one thread (process CPU
clock, A/A control), the pick printed and, with --append, its records appended to the database (then
``sdk build --db`` / ``bench/zoo_latency.py --tuning-db`` build what it picked).

    python bench/tune_whole.py --db /tmp/tune_zoo.jsonl bench/data/zoo_full/squeezenet1_1.onnx ... [--append]
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sdk.backends.host.model_runs import measure_builds
from sdk.tune.database import TuningDatabase
from sdk.tune.tuner import whole_summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--db", required=True)
    ap.add_argument("--budget", type=float, default=0.0, help="seconds a model (0: --rounds rounds)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--append", action="store_true", help="append the records to --db")
    a = ap.parse_args()
    db = TuningDatabase(a.db)
    out = []
    for path in a.models:
        name = os.path.basename(path).rsplit(".", 1)[0]
        t0 = time.time()
        recs, info = measure_builds(path, db, budget_s=a.budget, min_rounds=a.rounds,
                                    max_rounds=a.rounds if a.budget <= 0 else 24, repeat=a.repeat,
                                    progress=lambda line, n=name: print(f"{n}: {line}", file=sys.stderr, flush=True))
        out.append((name, recs, info))
        print(whole_summary([out[-1]]), f"[load {os.getloadavg()[0]:.1f}, {time.time() - t0:.0f} s]", flush=True)
        if a.append:
            db.add_many(recs)


if __name__ == "__main__":
    main()
