"""Auto-tuning of GEMM and convolution kernels: schedule spaces, evolutionary search with a learned
cost model, and a tuning database that ``sdk build --db`` applies. See docs/tuning.md."""
from .database import TuningDatabase

__all__ = ["TuningDatabase"]
