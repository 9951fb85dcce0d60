"""How sure a difference between two methods on the same pairs is: a paired bootstrap over sequences.

The pairs of one sequence share a scene and a reference image, so the sequence is the unit that is resampled:
``resamples`` times, as many sequences as there are are drawn with replacement, and the statistic of each method is
computed over all the pairs of the drawn sequences. The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2``
quantiles of ``statistic(method) - statistic(reference)``; ``above`` is the share of resamples in which the method
is strictly above the reference. With few sequences (6 in ``hpatches-real``) the interval is coarse, and it is
conditional on the trained weights: the spread over training seeds comes on top of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    value: float  # statistic(method) - statistic(reference) over every pair
    low: float
    high: float
    above: float  # share of resamples in which the method's statistic is above the reference's

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "above": self.above}


def paired_difference(method: Sequence[Sequence[float]], reference: Sequence[Sequence[float]],
                      statistic: Callable[[np.ndarray], float], resamples: int = RESAMPLES, level: float = LEVEL,
                      seed: int = 0) -> Difference:
    """The difference of ``statistic`` between ``method`` and ``reference``, each a list (one entry per sequence) of
    per-pair values in the same order for both, with its bootstrap interval over sequences."""
    return seeds_difference([method], reference, statistic, resamples, level, seed)


def seeds_difference(methods: Sequence[Sequence[Sequence[float]]], reference: Sequence[Sequence[float]],
                     statistic: Callable[[np.ndarray], float], resamples: int = RESAMPLES, level: float = LEVEL,
                     seed: int = 0) -> Difference:
    """:func:`paired_difference` of the mean over ``methods`` (the seeds of one recipe, each as ``method`` there):
    ``mean_s statistic(method_s) - statistic(reference)``, each draw scoring every seed on the same sequences."""
    if not reference:
        raise ValueError("paired_difference needs at least one sequence")
    if any(len(m) != len(reference) or any(len(a) != len(b) for a, b in zip(m, reference)) for m in methods):
        raise ValueError("paired_difference needs the same sequences and pairs for both methods")
    seeds = [[np.asarray(s, np.float64) for s in m] for m in methods]
    b = [np.asarray(s, np.float64) for s in reference]

    def difference(drawn) -> float:
        return float(np.mean([statistic(np.concatenate([a[i] for i in drawn])) for a in seeds])
                     - statistic(np.concatenate([b[i] for i in drawn])))

    diffs = np.array([difference(d) for d in np.random.default_rng(seed).integers(0, len(b), size=(resamples, len(b)))])
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return Difference(difference(range(len(b))), float(low), float(high), float(np.mean(diffs > 0)))


def differences_by_kind(methods: Sequence[Sequence[tuple[str, Sequence[float]]]], reference: Sequence[tuple[str, Sequence[float]]],
                        statistic: Callable[[np.ndarray], float]) -> dict[str, Difference | None]:
    """:func:`seeds_difference` over all sequences (``all``) and over each kind's (``i``, ``v``; None for a kind the run
    has none of), from one ``(kind, per-pair values)`` per sequence, in the same order for the reference and for each
    of ``methods`` (one method, or the seeds of one recipe)."""
    differences = {}
    for kind in ("all", "i", "v"):
        chosen = [i for i, (k, _) in enumerate(reference) if kind in ("all", k)]
        differences[kind] = (seeds_difference([[m[i][1] for i in chosen] for m in methods], [reference[i][1] for i in chosen],
                                              statistic) if chosen else None)
    return differences


def difference_table(differences: dict[str, dict[str, Difference | None]], reference: str, quantity: str,
                     sequences: int) -> list[str]:
    """Markdown lines: each method's difference from ``reference`` in ``quantity`` (all pairs, ``i``, ``v``) with its
    interval, and the share of draws above ``reference`` over all pairs."""
    if not differences:
        return []
    lines = [f"{quantity} minus {reference}'s on the same pairs, with a {LEVEL:.0%} paired bootstrap interval "
             f"({RESAMPLES} resamples of the {sequences} sequences, or of one kind's; the spread over training seeds is not "
             "in it):", "", f"| method | all | i | v | draws above {reference} (all) |", "|---|---|---|---|---|"]
    for name, kinds in differences.items():
        lines.append(f"| {name} | " + " | ".join(interval_cell(kinds[k]) for k in ("all", "i", "v")) + f" | {kinds['all'].above:.2f} |")
    return lines


def as_dicts(differences: dict[str, dict[str, Difference | None]]) -> dict:
    """The differences as results.json holds them: ``{method: {kind: {value, low, high, above} or None}}``."""
    return {name: kinds_as_dict(kinds) for name, kinds in differences.items()}


def kinds_as_dict(kinds: dict[str, Difference | None]) -> dict:
    """One method's differences by kind as results.json holds them: ``{kind: {value, low, high, above} or None}``."""
    return {kind: d.as_dict() if d else None for kind, d in kinds.items()}


def interval_cell(d: Difference | None) -> str:
    """``+0.031 [-0.011, +0.071]``; ``—`` for a kind without sequences."""
    return "—" if d is None else f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"


def interval_cells(kinds: dict | None) -> list[str]:
    """The cells of all pairs, ``i`` and ``v`` from differences as results.json holds them (:func:`kinds_as_dict`);
    ``–`` each without a reference in the run (``None``)."""
    if kinds is None:
        return ["–"] * 3
    return [interval_cell(Difference(**kinds[k]) if kinds[k] else None) for k in ("all", "i", "v")]
