"""How much of a matching AUC@3px is the RANSAC draw: the matching benchmark with ``ransac_draws`` (every pair's
homography estimated from its matches in ``--draws`` orders; draw 0 is LightGlue's own order, ``distill eval matching``'s
one-draw figure), then AUC@3px draw by draw: each method's mean and spread over the draws, and each student's difference
from SuperPoint + LightGlue draw by draw (the same orders for both).

    python scripts/experiments/ransac_draws.py --checkpoint pretrained --checkpoint runs/kblur-s0/last.pt --draws 25
    python scripts/experiments/ransac_draws.py --checkpoint pretrained --validation STORE --draws 10

With ``--validation``: the synthetic sequences of a label store's validation photos, as ``distill eval matching
--validation`` builds them (seed 0).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from distill.api import load_detectors
from distill.eval.matching import MatchingProtocol, build_methods, evaluate_matching, pose_auc
from distill.eval.sequences import load_hpatches
from distill.eval.synthetic_warps import warped_sequences
from distill.student.data import validation_photos

REFERENCE = "superpoint+lightglue"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", required=True, help="a student with a descriptor head (repeatable)")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--validation", type=Path, help="a label store: synthetic sequences of its validation photos instead")
    parser.add_argument("--draws", type=int, default=25)
    args = parser.parse_args()
    protocol = MatchingProtocol(ransac_draws=args.draws)
    sequences = warped_sequences(validation_photos(args.validation)) if args.validation else load_hpatches(args.root)
    source = args.validation or args.root
    students = [detector.detector for detector in load_detectors(args.checkpoint, "cpu")]
    methods = build_methods(["student+lightglue", REFERENCE], protocol=protocol, students=students)
    results = evaluate_matching(methods, sequences, protocol)
    auc = {r.method: np.array([pose_auc([p.errors()[d] for p in r.pairs], 3) for d in range(args.draws)]) for r in results}
    pairs = len(results[0].pairs)
    print(f"AUC@3px on {source} ({pairs} pairs), LightGlue's matches in {args.draws} orders for RANSAC\n")
    print("| method | draw 0 (one-draw protocol) | mean ± std over draws | min–max | minus SuperPoint + LightGlue, "
          "mean ± std | draws at or above it |\n|---|---|---|---|---|---|")
    for name, values in auc.items():
        difference = values - auc[REFERENCE]
        versus = ("| " if name == REFERENCE else
                  f"{difference.mean():+.3f} ± {difference.std(ddof=1):.3f} | {int((difference >= 0).sum())} of {len(values)}")
        print(f"| {name} | {values[0]:.3f} | {values.mean():.3f} ± {values.std(ddof=1):.3f} | "
              f"{values.min():.3f}–{values.max():.3f} | {versus} |")


if __name__ == "__main__":
    main()
