"""Draw a memory plan: time (step) on x, arena offset on y, one box per tensor."""
from __future__ import annotations

import json
from pathlib import Path


def draw_plan(plan_json: dict, path, title="memory plan"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(10, 5))
    cmap = plt.get_cmap("tab20")
    for k, t in enumerate(plan_json["tensors"]):
        x0, x1 = t["first_use"] - 0.4, t["last_use"] + 0.4
        ax.add_patch(Rectangle((x0, t["offset"]), x1 - x0, t["size"], facecolor=cmap(k % 20),
                               edgecolor="black", linewidth=0.5, alpha=0.85))
        if t["size"] > 0.04 * max(plan_json["arena_bytes"], 1):
            ax.text((x0 + x1) / 2, t["offset"] + t["size"] / 2, t["name"][:18], ha="center", va="center", fontsize=6)
    arena, lower = plan_json["arena_bytes"], plan_json["lower_bound_bytes"]
    ax.axhline(arena, color="red", linestyle="--", linewidth=1, label=f"arena {arena} B")
    ax.axhline(lower, color="green", linestyle=":", linewidth=1, label=f"lower bound {lower} B")
    ax.set_xlim(-1, max(plan_json.get("steps", 1), 1))
    ax.set_ylim(0, max(arena, 1) * 1.08)
    ax.set_xlabel("step")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(f"{title}: naive {plan_json['naive_bytes']} B, bounds {plan_json.get('bounds', {})}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def draw_bundle_plan(bundle_dir, path):
    data = json.loads((Path(bundle_dir) / "plan.json").read_text())
    return draw_plan(data, path, title=Path(bundle_dir).name)
