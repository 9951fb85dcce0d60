"""Outputs of a matching benchmark run: results.json, results.md, AUC against time, and the matches
of every method on one pair (inliers of the ground-truth homography green, others red)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from distill.choices import FILTER_THRESHOLD  # noqa: E402
from distill.detection.detector import fused_scales_note  # noqa: E402
from distill.eval.matching import AUC_THRESHOLDS, MatchingProtocol, MethodResult, mean_auc  # noqa: E402
from distill.eval.paired_bootstrap import Difference, as_dicts, difference_table, differences_by_kind, interval_cells, kinds_as_dict  # noqa: E402
from distill.eval.protocol import rescale_homography  # noqa: E402
from distill.eval.report import quality_cost_chart  # noqa: E402
from distill.eval.sequences import Sequence  # noqa: E402
from labels.images import resize_image  # noqa: E402
from teachers.homographies import warp_points  # noqa: E402


def markdown(results: list[MethodResult], protocol: MatchingProtocol, title: str,
             differences: dict[str, dict[str, Difference | None]], seed_summary: list[dict]) -> str:
    """The run's tables; ``differences`` from :func:`differences_from_teacher`, ``seed_summary`` from :func:`seed_rows`."""
    h, w = protocol.size
    fused = fused_scales_note(protocol.scales)
    lines = [f"## {title}", "",
             f"{h}x{w} grey{working_note(protocol.resize, (h, w))}, up to {protocol.max_keypoints} keypoints (NMS radius {protocol.nms_radius} for the networks"
             f"{', refined to subpixel' if protocol.subpixel else ''}"
             f"{'; ' + fused if fused else ''}), "
             f"{threshold_note(results)}{depth_note(protocol, results)}"
             f"homography by USAC_MAGSAC at {protocol.ransac_px:g} px (OpenCV's own fixed seed"
             f"{f'; every pair {protocol.ransac_draws} times, the matches in {protocol.ransac_draws} orders' if protocol.ransac_draws > 1 else ''}); "
             f"AUC of the mean corner error{' (the mean over the draws)' if protocol.ransac_draws > 1 else ''}; "
             "MMA: share of matches within the threshold of the ground truth.", "",
             "| method | AUC@1px | AUC@3px | AUC@5px | AUC@3px i / v | MMA@3px | matches | extract ms / image | match ms / pair |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        d = r.as_dict()
        lines.append(f"| {r.method} | {d['auc']['1px']:.3f} | {d['auc']['3px']:.3f} | {d['auc']['5px']:.3f} | "
                     f"{kind_auc(d['auc_i'])} / {kind_auc(d['auc_v'])} | {d['mma']['3px']:.3f} | {d['matches']:.1f} | "
                     f"{d['extract_ms_per_image']:.1f} | {d['match_ms_per_pair']:.1f} |")
    sequences = len({p.sequence for p in results[0].pairs}) if results else 0
    table = difference_table(differences, REFERENCE, "AUC@3px", sequences)
    return "\n".join(lines + ["", *per_sequence(results)] + ([""] + table if table else []) + seeds_table(seed_summary)) + "\n"


def depth_note(protocol: MatchingProtocol, results: list[MethodResult]) -> str:
    """How LightGlue ran, when a method used it: all its layers on all points (the protocol's default), or with its
    early stopping / point pruning at the protocol's confidences."""
    if not any(r.filter_threshold is not None for r in results):
        return ""
    depth, width = protocol.lightglue_depth_confidence, protocol.lightglue_width_confidence
    if depth == -1 and width == -1:
        return "LightGlue at full depth (every layer, every point), "
    return (f"LightGlue adaptive (early stopping {'off' if depth == -1 else f'at {depth:g}'}, point pruning "
            f"{'off' if width == -1 else f'at {width:g} (always on the CPU)'}), ")


def threshold_note(results: list[MethodResult]) -> str:
    """How confident LightGlue's kept matches are: nothing at LightGlue's default for every method, one threshold for
    all, or each method's own (a released student's, or one its checkpoint stores)."""
    thresholds = {r.method: r.filter_threshold for r in results if r.filter_threshold is not None}
    if set(thresholds.values()) <= {FILTER_THRESHOLD}:
        return ""
    if len(set(thresholds.values())) == 1:
        return f"LightGlue matches above {next(iter(thresholds.values())):g} confidence, "
    each = ", ".join(f"{method} {threshold:g}" for method, threshold in thresholds.items())
    return f"LightGlue matches above each network's own confidence threshold ({each}; a release's or a checkpoint's own, else LightGlue's default), "


def seed_rows(results: list[MethodResult], seeds: list[list[str]]) -> list[dict]:
    """For each group of ``seeds`` (student names) and each matcher they ran with: the AUCs' mean and standard deviation
    over the seeds, and the seeds' mean AUC@3px minus SuperPoint + LightGlue's with its interval over sequences (all,
    ``i``, ``v``; None without SuperPoint + LightGlue in the run)."""
    by_method = {r.method: r for r in results}
    reference = by_method.get(REFERENCE)
    rows = []
    for names in seeds:
        matchers = [r.method[len(names[0]) + 1:] for r in results if r.method.startswith(names[0] + "+")]
        for matcher in matchers:
            members = [by_method.get(f"{name}+{matcher}") for name in names]
            if None in members:
                continue
            aucs = {f"{t}px": [m.auc(t) for m in members] for t in AUC_THRESHOLDS}
            rows.append({"methods": [m.method for m in members],
                         "auc": {t: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))} for t, v in aucs.items()},
                         "auc_i": mean_or_none([m.auc(3, "i") for m in members]),
                         "auc_v": mean_or_none([m.auc(3, "v") for m in members]),
                         "difference": None if reference is None else kinds_as_dict(differences_by_kind(
                             [per_sequence_errors(m) for m in members], per_sequence_errors(reference), auc_3px))})
    return rows


def mean_or_none(values: list[float | None]) -> float | None:
    return None if None in values else float(np.mean(values))


def seeds_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["", f"Seeds of one recipe (training configurations equal but for the seed): mean ± std over the seeds, and the "
             f"seeds' mean AUC@3px minus {REFERENCE}'s with its 95% interval over sequences (each draw scores every seed):", "",
             "| seeds | AUC@1px | AUC@3px | AUC@5px | AUC@3px i / v | minus, all | i | v |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [f"{row['auc'][f'{t}px']['mean']:.3f} ± {row['auc'][f'{t}px']['std']:.3f}" for t in AUC_THRESHOLDS]
        kinds = " / ".join("—" if row[k] is None else f"{row[k]:.3f}" for k in ("auc_i", "auc_v"))
        lines.append(f"| {', '.join(row['methods'])} | " + " | ".join(cells + [kinds] + interval_cells(row["difference"])) + " |")
    return lines


REFERENCE = "superpoint+lightglue"


def differences_from_teacher(results: list[MethodResult]) -> dict[str, dict[str, Difference | None]]:
    """Each other method's AUC@3px minus SuperPoint + LightGlue's over the same pairs (all, ``i``, ``v``), with its
    bootstrap interval over sequences (:mod:`distill.eval.paired_bootstrap`); empty when SuperPoint + LightGlue is not
    in the run."""
    reference = next((r for r in results if r.method == REFERENCE), None)
    if reference is None:
        return {}
    return {r.method: differences_by_kind([per_sequence_errors(r)], per_sequence_errors(reference), auc_3px)
            for r in results if r is not reference}


def per_sequence_errors(result: MethodResult) -> list[tuple[str, list[float]]]:
    """One ``(kind, corner errors of its pairs)`` per sequence, in the run's order: a pair's errors are those of its
    RANSAC draws (``pairs x draws``; :func:`auc_3px` averages over the draws)."""
    groups: dict[str, tuple[str, list[list[float]]]] = {}
    for p in result.pairs:
        groups.setdefault(p.sequence, (p.kind, []))[1].append(p.errors())
    return list(groups.values())


def auc_3px(errors) -> float:
    """AUC@3px of a set of corner errors, ``pairs`` or ``pairs x draws`` (the statistic the differences compare)."""
    return mean_auc(errors, 3)


def working_note(resize: int | None, size: tuple[int, int]) -> str:
    """How a report names the networks' working resolution when it shrinks the protocol's images; empty when it does not."""
    return "" if resize is None or max(size) <= resize else f" (the networks at a long side of {resize} px, keypoints mapped back)"


def kind_auc(aucs: dict) -> str:
    """AUC@3px of one kind of sequence, ``—`` when the run had none (``--only``)."""
    return "—" if aucs["3px"] is None else f"{aucs['3px']:.3f}"


def per_sequence(results: list[MethodResult]) -> list[str]:
    """AUC@3px of each sequence's pairs, a column per method: a gain on one kind of change bought with a loss
    on another shows."""
    sequences = list(dict.fromkeys(p.sequence for p in results[0].pairs)) if results else []
    lines = ["AUC@3px per sequence:", "", f"| sequence | {' | '.join(r.method for r in results)} |",
             f"|---|{'---|' * len(results)}"]
    aucs = [[auc_3px(errors) for _, errors in per_sequence_errors(r)] for r in results]
    for index, name in enumerate(sequences):
        lines.append(f"| {name} | {' | '.join(f'{a[index]:.3f}' for a in aucs)} |")
    return lines


def auc_time_chart(results: list[MethodResult], path: Path, title: str) -> None:
    points = [(r.method, 2 * d["extract_ms_per_image"] + d["match_ms_per_pair"], d["auc"]["3px"]) for r in results for d in [r.as_dict()]]
    quality_cost_chart(points, path, title, xlabel="ms per pair: extraction of both images + matching (log scale)",
                       ylabel="homography AUC@3px")


def matches_figure(methods: dict, sequence: Sequence, protocol: MatchingProtocol, path: Path, pair: int = 3) -> None:
    """Each method's matches between images 1 and ``pair + 1`` of ``sequence``."""
    images = [resize_image(sequence.images[0], protocol.size), resize_image(sequence.images[pair], protocol.size)]
    truth = rescale_homography(sequence.homographies[pair - 1], sequence.images[0].shape[:2], sequence.images[pair].shape[:2],
                               protocol.size)
    fig, axes = plt.subplots(len(methods), 1, figsize=(9, 3.4 * len(methods)), squeeze=False, constrained_layout=True)
    for ax, (name, (extract, match)) in zip(axes[:, 0], methods.items()):
        a, b = extract(images[0]), extract(images[1])
        pairs, _ = match(a, b, protocol.size)
        p0, p1 = a.keypoints[pairs[:, 0]], b.keypoints[pairs[:, 1]]
        good = np.linalg.norm(warp_points(p0, truth) - p1, axis=1) <= protocol.ransac_px if len(pairs) else np.zeros(0, bool)
        draw_matches(ax, images[0], images[1], p0, p1, good)
        ax.set_title(f"{name}: {int(good.sum())} of {len(pairs)} matches within {protocol.ransac_px:g} px of the ground truth", fontsize=8)
    fig.suptitle(f"{sequence.name}: image 1 and {pair + 1}", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_matches(ax, image0: np.ndarray, image1: np.ndarray, points0: np.ndarray, points1: np.ndarray, good: np.ndarray) -> None:
    """Two grey images side by side (top-aligned) with a line per match: ``good`` ones green, others red."""
    height = max(image0.shape[0], image1.shape[0])
    canvas = np.zeros((height, image0.shape[1] + image1.shape[1]), np.uint8)
    canvas[:image0.shape[0], :image0.shape[1]] = image0
    canvas[:image1.shape[0], image0.shape[1]:] = image1
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255)
    for (x0, y0), (x1, y1), ok in zip(points0, points1, good):
        ax.plot([x0, x1 + image0.shape[1]], [y0, y1], color="lime" if ok else "red", linewidth=0.4, alpha=0.8)
    ax.axis("off")


def write_matching_outputs(out: Path, results: list[MethodResult], methods: dict, sequences: list[Sequence],
                           protocol: MatchingProtocol, title: str, meta: dict, seeds: list[list[str]] = ()) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "auc_time.png", out / "matches.png"]
    differences, seed_summary = differences_from_teacher(results), seed_rows(results, seeds)
    payload = {"title": title, "protocol": {**protocol.__dict__, "size": list(protocol.size)}, "auc_thresholds": list(AUC_THRESHOLDS),
               **meta, "methods": [r.as_dict() for r in results],
               "difference_from_superpoint_lightglue": as_dicts(differences), "seed_groups": seed_summary}
    paths[0].write_text(json.dumps(payload, indent=2, default=float))
    paths[1].write_text(markdown(results, protocol, title, differences, seed_summary))
    auc_time_chart(results, paths[2], title)
    viewpoint = [s for s in sequences if s.kind == "v"] or sequences
    matches_figure(methods, viewpoint[0], protocol, paths[3], pair=min(3, len(viewpoint[0].homographies)))
    return paths
