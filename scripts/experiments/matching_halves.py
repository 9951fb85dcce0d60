"""Where does a student's matching lose to SuperPoint's: in its keypoints or in its descriptors?
LightGlue (stock SuperPoint weights) on the matching benchmark's pairs, with the four combinations of
keypoints and descriptors from SuperPoint and from the student (descriptors sampled at the other
network's keypoints), in one run: homography AUC at 1/3/5 px and matches per pair, then AUC@3px per sequence.

    python scripts/experiments/matching_halves.py --checkpoint distill/weights/student-r4a30mb-desc-fp16.pt [--root ../shared/data/hpatches-real] [--draws 25]
    python scripts/experiments/matching_halves.py --checkpoint CHECKPOINT --validation STORE [--illumination blur --only i]

With ``--validation``: the synthetic sequences of a label store's validation photos, as ``distill eval matching
--validation`` builds them (seed 0).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from distill.detection.by_name import build_detectors
from distill.eval.matching import MatchingProtocol, evaluate_matching, lightglue_matcher, network_extractor
from distill.eval.matching_report import auc_3px, per_sequence_errors
from distill.eval.sequences import load_hpatches
from distill.eval.synthetic_warps import ILLUMINATION, warped_sequences
from distill.student.data import validation_photos
from distill.student.detector import checkpoint_detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a student with a descriptor head")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--validation", type=Path, help="a label store: synthetic sequences of its validation photos instead")
    parser.add_argument("--illumination", choices=ILLUMINATION, default="mixed", help="the synthetic i_ sequences' changes")
    parser.add_argument("--only", choices=("i", "v"), help="only i (illumination) or v (viewpoint) sequences")
    parser.add_argument("--draws", type=int, default=1, help="RANSAC draws per pair, AUC their mean (MatchingProtocol.ransac_draws)")
    args = parser.parse_args()
    if args.validation:
        sequences, source = warped_sequences(validation_photos(args.validation), illumination=args.illumination), args.validation
    else:
        sequences, source = load_hpatches(args.root), args.root
    sequences = [s for s in sequences if not args.only or s.kind == args.only]
    protocol = MatchingProtocol(ransac_draws=args.draws)
    networks = {"superpoint": build_detectors(["superpoint"])[0], "student": checkpoint_detector(args.checkpoint)}
    lightglue = lightglue_matcher(protocol=protocol)
    methods = {(points, described): (network_extractor(networks[points], protocol, networks[described]), lightglue)
               for points in networks for described in networks}
    results = evaluate_matching(methods, sequences, protocol)
    print(f"LightGlue (SuperPoint weights) on {source} ({len(sequences)} sequences), {protocol.size[0]}x{protocol.size[1]}, "
          f"{protocol.max_keypoints} keypoints, NMS {protocol.nms_radius}"
          + (f", AUC the mean over {protocol.ransac_draws} RANSAC draws" if protocol.ransac_draws > 1 else "") + "\n")
    print("| keypoints | descriptors | AUC@1px | AUC@3px | AUC@5px | AUC@3px i / v | matches per pair |\n|---|---|---|---|---|---|---|")
    for (points, described), result in zip(methods, results):
        matches = sum(p.matches for p in result.pairs) / len(result.pairs)
        kinds = " / ".join("—" if (auc := result.auc(3, kind)) is None else f"{auc:.3f}" for kind in ("i", "v"))
        print(f"| {points} | {described} | " + " | ".join(f"{result.auc(t):.3f}" for t in (1, 3, 5)) + f" | {kinds} | {matches:.0f} |")
    if args.validation:  # dozens of synthetic sequences: the kinds above say enough
        return
    names = list(dict.fromkeys(p.sequence for p in results[0].pairs))
    print("\nAUC@3px per sequence\n\n| keypoints | descriptors | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
    for (points, described), result in zip(methods, results):
        print(f"| {points} | {described} | " + " | ".join(f"{auc_3px(errors):.3f}" for _, errors in per_sequence_errors(result)) + " |")


if __name__ == "__main__":
    main()
