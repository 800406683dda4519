"""A dependency-free text progress bar on stderr."""
import sys
import time


class ProgressBar:
    """`with ProgressBar(total, "irvq") as bar: bar.step("stage 1")` draws `[####....] 1/8 label`."""

    def __init__(self, total, label="", enabled=True, width=30, stream=None):
        self.total, self.label, self.enabled, self.width = max(total, 1), label, enabled, width
        self.stream = stream or sys.stderr
        self.done = 0
        self.t0 = time.perf_counter()

    def step(self, note=""):
        self.done += 1
        if not self.enabled:
            return
        filled = int(self.width * min(self.done, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.t0
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:6.1f}s {note:<24}")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
