"""The AUC@3px difference between two methods of two `distill eval matching` runs on the same sequences, with its
95% interval from a paired bootstrap over sequences, as each run's own table gives it against SuperPoint + LightGlue.
For a setting that a run applies to every method, such as `--set nms_radius=3` against the default.

    python scripts/experiments/compare_matching_runs.py out/nms/s1-r3:student+lightglue out/nms/s1-r4:student+lightglue

prints the first minus the second over all pairs, `i_*` and `v_*`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from distill.eval.matching import MethodResult, PairMatch
from distill.eval.matching_report import auc_3px, per_sequence_errors
from distill.eval.paired_bootstrap import differences_by_kind, interval_cell


def method_result(spec: str) -> MethodResult:
    """``RUN_DIR:METHOD`` read back from the run's results.json."""
    run, method = spec.split(":", 1)  # method names may hold a colon (student:NAME+lightglue)
    methods = json.loads((Path(run) / "results.json").read_text())["methods"]
    found = [m for m in methods if m["method"] == method]
    if not found:
        raise SystemExit(f"{run}/results.json has no method {method!r} (it has {', '.join(m['method'] for m in methods)})")
    return MethodResult(method, [PairMatch(**pair) for pair in found[0]["pairs"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", help="RUN_DIR:METHOD")
    parser.add_argument("second", help="RUN_DIR:METHOD, on the same sequences and pairs")
    args = parser.parse_args()
    first, second = method_result(args.first), method_result(args.second)
    if [(p.sequence, p.pair) for p in first.pairs] != [(p.sequence, p.pair) for p in second.pairs]:
        raise SystemExit("the two runs are not on the same sequences and pairs")
    for kind, difference in differences_by_kind([per_sequence_errors(first)], per_sequence_errors(second), auc_3px).items():
        if difference is not None:
            print(f"{kind}: {interval_cell(difference)}, above in {difference.above:.0%} of draws")


if __name__ == "__main__":
    main()
