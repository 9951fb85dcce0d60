"""Does validation pick the checkpoints that HPatches would? For a run trained with
``--set keep_checkpoints=true``: each kept checkpoint's validation repeatability (``metrics.jsonl``)
against its repeatability on HPatches (standard protocol), and their Spearman rank correlation.

    python scripts/experiments/validation_agreement.py runs/NAME [--root ../shared/data/hpatches-real]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import spearmanr

from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.student.detector import checkpoint_detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    validation = {r["step"]: r["repeatability"] for r in rows if r["kind"] == "val"}
    kept = sorted((args.run / "checkpoints").glob("step-*.pt"))
    if len(kept) < 3:
        raise SystemExit(f"{args.run}: {len(kept)} kept checkpoints; train with --set keep_checkpoints=true")
    sequences = load_hpatches(args.root)
    results = evaluate([checkpoint_detector(path) for path in kept], sequences, Protocol(), progress=False)
    steps = [int(path.stem.split("-")[1]) for path in kept]
    hpatches = [r.repeatability() for r in results]
    print(f"{args.run}: validation on {rows[-1].get('on', 'store')} vs HPatches at {args.root} (standard protocol)\n")
    print("| step | validation rep. | HPatches rep. |\n|---|---|---|")
    for step, value in zip(steps, hpatches):
        print(f"| {step} | {validation[step]:.3f} | {value:.3f} |")
    rho, p = spearmanr([validation[s] for s in steps], hpatches)
    best_val, best_hp = max(steps, key=lambda s: validation[s]), steps[max(range(len(steps)), key=lambda i: hpatches[i])]
    print(f"\nSpearman rank correlation {rho:.2f} (p = {p:.2g}) over {len(steps)} checkpoints; "
          f"validation picks step {best_val}, HPatches would pick step {best_hp}")


if __name__ == "__main__":
    main()
