"""One runtime kernel of two source trees, alternating in one run (bench/dw7_ab.py, bench/softmax_ab.py): a C harness
built against each tree's runtime_c/src/sdk_kernels.c with the host profile's flags (no OpenMP), run round by round
A then B; each run prints its fastest call in us and writes its outputs to DIR/y_<tree>.bin."""
import subprocess
from pathlib import Path


def build(tree: str, d: Path, tag: str, harness: str) -> Path:
    from sdk.targets import load_target
    flags = [f for f in load_target("host").cflags if f != "-fopenmp"]
    (d / "h.c").write_text(harness)
    exe = d / f"h_{tag}"
    subprocess.run(["gcc", *flags, f"-I{tree}/runtime_c/include", str(d / "h.c"), f"{tree}/runtime_c/src/sdk_kernels.c",
                    "-o", str(exe), "-lm"], check=True)
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
