"""``runs/<name>/metrics.png``: training losses and validation repeatability from ``metrics.jsonl``."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_metrics(metrics_path: Path, out: Path) -> None:
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    for key in sorted({k for r in train for k in r} - {"kind", "step", "lr"}):
        a.plot([r["step"] for r in train], [r[key] for r in train], label=key)
    a.set_xlabel("step"); a.set_yscale("log"); a.legend(fontsize=7); a.set_title("training losses")
    b.plot([r["step"] for r in val], [r["repeatability"] for r in val], marker="o")
    if val:
        kept = max(val, key=lambda r: r["repeatability"])  # best.pt: the first step with the best validation figure
        b.scatter([kept["step"]], [kept["repeatability"]], s=120, facecolors="none", edgecolors="tab:red", zorder=3,
                  label=f"best.pt (step {kept['step']})")
        b.scatter([val[-1]["step"]], [val[-1]["repeatability"]], marker="s", color="tab:green", zorder=3,
                  label=f"last.pt (step {val[-1]['step']})")
        b.legend(fontsize=7)
    b.set_xlabel("step"); b.set_title("validation repeatability" + (" (HPatches)" if val and val[-1].get("on") == "hpatches" else ""))
    fig.savefig(out, dpi=100)
    plt.close(fig)
