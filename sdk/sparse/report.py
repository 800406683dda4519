"""The per-weight table ``sdk inspect`` prints: density, the format chosen, bytes, and the cost model's estimate
of each format it considered (``sdk/transform/sparsify.py sparse_reports``)."""
from __future__ import annotations

from typing import List


def sparse_table(reports: List[dict], clock_hz: float) -> str:
    if not reports:
        return "sparse weights: none eligible (MatMul/Gemm/1x1 Conv with a constant float32 weight)"
    rows = [("weight", "op", "S[O,K]", "P", "density", "format", "bytes", "dense bytes", "estimated us")]
    for r in reports:
        est = ", ".join(f"{k} {v / clock_hz * 1e6:.1f}" for k, v in r["cycles"].items())
        rows.append((r["weight"], r["op"], "x".join(str(d) for d in r["shape"]), str(r["P"]), f"{r['density']:.3f}",
                     r["format"] + (" (tuned)" if r.get("tuned") else ""), str(r["bytes"]), str(r["dense_bytes"]), est))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    total = sum(r["bytes"] for r in reports)
    dense = sum(r["dense_bytes"] for r in reports)
    lines.append(f"eligible weights: {total} B stored, {dense} B dense ({total / dense:.2f}x)")
    return "\n".join(lines)
