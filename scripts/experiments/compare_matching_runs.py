"""The AUC difference between two methods of two `distill eval matching` runs on the same sequences, with its
95% interval from a paired bootstrap over sequences (as each run's own table gives against SuperPoint + LightGlue).
For a setting that a run applies to every method, such as `--set nms_radius=3` against the default.

    python scripts/experiments/compare_matching_runs.py out/nms/s1-r3:student+lightglue out/nms/s1-r4:student+lightglue

prints the first minus the second at 3 px (`--px`) over all pairs, `i_*` and `v_*`."""
from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

from distill.eval.matching import pose_auc
from distill.eval.paired_bootstrap import interval_cell, paired_difference


def corner_errors(spec: str, kind: str | None) -> dict[str, list[float]]:
    """``RUN_DIR:METHOD`` -> sequence -> the corner errors of its pairs (of ``kind``), in the run's order."""
    run, method = spec.split(":", 1)  # method names may hold a colon (student:NAME+lightglue)
    methods = json.loads((Path(run) / "results.json").read_text())["methods"]
    found = [m for m in methods if m["method"] == method]
    if not found:
        raise SystemExit(f"{run}/results.json has no method {method!r} (it has {', '.join(m['method'] for m in methods)})")
    errors: dict[str, list[float]] = {}
    for pair in found[0]["pairs"]:
        if kind in (None, pair["kind"]):
            errors.setdefault(pair["sequence"], []).append(pair["corner_error"])
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", help="RUN_DIR:METHOD")
    parser.add_argument("second", help="RUN_DIR:METHOD, on the same sequences and pairs")
    parser.add_argument("--px", type=float, default=3.0, help="AUC threshold in pixels")
    args = parser.parse_args()
    for kind in (None, "i", "v"):
        first, second = corner_errors(args.first, kind), corner_errors(args.second, kind)
        if not first:
            continue
        if sorted(first) != sorted(second):
            raise SystemExit("the two runs are not on the same sequences")
        names = sorted(first)
        difference = paired_difference([first[n] for n in names], [second[n] for n in names],
                                        partial(pose_auc, threshold=args.px))
        print(f"{kind or 'all'} ({len(names)} sequences): {interval_cell(difference)}, above in {difference.above:.0%} of draws")


if __name__ == "__main__":
    main()
