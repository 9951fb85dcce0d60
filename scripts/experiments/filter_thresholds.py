"""Homography AUC@3px against LightGlue's confidence threshold, for SuperPoint and students, from one LightGlue run
per pair: LightGlue keeps a mutual match above its ``filter_threshold`` and its mutual check does not depend on it, so
a higher threshold keeps exactly the matches of the default whose score exceeds it (``distill eval matching --set
filter_threshold=T`` gives each figure alone).

    python scripts/experiments/filter_thresholds.py --validation data/labels-desc/superpoint-e58c6714b7.h5 --checkpoint pretrained
    python scripts/experiments/filter_thresholds.py --root ../shared/data/hpatches-real --checkpoint pretrained
"""
from __future__ import annotations

import argparse
from pathlib import Path

from distill.api import checkpoint_path
from distill.detection.by_name import build_detectors
from distill.eval.matching import (MatchingProtocol, corner_error, homography_inliers, lightglue_matcher, mean_auc,
                                   network_extractor)
from distill.eval.protocol import resized_sequence
from distill.eval.sequences import load_hpatches
from distill.eval.synthetic_warps import ILLUMINATION, warped_sequences
from distill.student.data import validation_photos
from distill.student.detector import checkpoint_detector

THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", default=[], help="a student with descriptors (repeatable)")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--validation", type=Path, help="a label store: synthetic sequences of its validation photos instead")
    parser.add_argument("--illumination", choices=ILLUMINATION, default="mixed", help="the synthetic i_ sequences' changes")
    parser.add_argument("--only", choices=["i", "v"], help="only illumination (i) or viewpoint (v) sequences")
    args = parser.parse_args()
    if args.validation:
        sequences, source = warped_sequences(validation_photos(args.validation), illumination=args.illumination), args.validation
    else:
        sequences, source = load_hpatches(args.root), args.root
    sequences = [s for s in sequences if args.only in (None, s.kind)]
    protocol = MatchingProtocol()
    networks = build_detectors(["superpoint"]) + [checkpoint_detector(checkpoint_path(c)) for c in args.checkpoint]
    lightglue = lightglue_matcher(protocol=protocol)
    errors = {(n.name, t): {"i": [], "v": []} for n in networks for t in THRESHOLDS}
    matches = {(n.name, t): 0 for n in networks for t in THRESHOLDS}
    for sequence in sequences:
        images, truths = resized_sequence(sequence, protocol.size)
        for network in networks:
            extract = network_extractor(network, protocol)
            features = [extract(image) for image in images]
            for k, truth in enumerate(truths, start=1):
                pairs, scores = lightglue(features[0], features[k], protocol.size)
                for t in THRESHOLDS:
                    kept = pairs[scores > t]
                    estimate, _ = homography_inliers(features[0].keypoints[kept[:, 0]], features[k].keypoints[kept[:, 1]], protocol)
                    errors[(network.name, t)][sequence.kind].append(corner_error(estimate, truth, protocol.size))
                    matches[(network.name, t)] += len(kept)
    count = sum(len(s.homographies) for s in sequences)
    print(f"LightGlue (SuperPoint weights) on {source} ({len(sequences)} sequences, {count} pairs), "
          f"{protocol.size[0]}x{protocol.size[1]}, {protocol.max_keypoints} keypoints, one RANSAC draw\n")
    print("| method | filter_threshold | AUC@3px | i / v | matches per pair |\n|---|---|---|---|---|")
    for network in networks:
        for t in THRESHOLDS:
            by_kind = errors[(network.name, t)]
            kinds = " / ".join(f"{mean_auc(by_kind[k], 3):.3f}" if by_kind[k] else "—" for k in ("i", "v"))
            print(f"| {network.name} | {t:g} | {mean_auc(by_kind['i'] + by_kind['v'], 3):.3f} | {kinds} | "
                  f"{matches[(network.name, t)] / count:.0f} |")


if __name__ == "__main__":
    main()
