"""Each detector at the detection scale that suits it best, for each kind of sequence: the table the
assignment's evaluator asks for (every detector under ``--protocol ait`` at its best ``--size``), from
one evaluation per scale (``distill eval hpatches --detect-scale S1 --detect-scale S2 ...``)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from distill.eval.protocol import DetectorResult

KINDS = ("i", "v", "all")


def best_scales(runs: dict[float, list[DetectorResult]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{detector: {kind: {"repeatability": r, "scale": s}}}`` for kinds i, v and all: the highest
    repeatability over the scales of ``runs`` (``{scale: results}``, the same detectors in each) and the
    scale that gives it, the first given on ties; kinds without sequences are left out."""
    best: dict[str, dict[str, dict[str, float]]] = {}
    for scale, results in runs.items():
        for result in results:
            entry = best.setdefault(result.detector, {})
            for kind in KINDS:
                value = result.repeatability(None if kind == "all" else kind)
                if not math.isnan(value) and (kind not in entry or value > entry[kind]["repeatability"]):
                    entry[kind] = {"repeatability": value, "scale": scale}
    return best


def best_scale_markdown(best: dict[str, dict[str, dict[str, float]]], scales: list[float], title: str, protocol: str) -> str:
    """The table: one row per detector, each kind's best repeatability with its scale in brackets;
    ``protocol``: the scoring, as :meth:`Protocol.describe` words it."""
    def cell(entry: dict[str, float] | None) -> str:
        return "–" if entry is None else f"{entry['repeatability']:.3f} ({entry['scale']:g})"

    lines = [f"## {title}: each detector at its best detection scale", "",
             f"Protocol: {protocol}.", "",
             f"Detection scales tried: {', '.join(f'{s:g}' for s in scales)} (each kind's best, the first given on ties).", "",
             "| detector | rep. i (scale) | rep. v (scale) | rep. all (scale) |", "|---|---|---|---|"]
    for detector, entry in best.items():
        lines.append(f"| {detector} | " + " | ".join(cell(entry.get(kind)) for kind in KINDS) + " |")
    return "\n".join(lines) + "\n"


def write_best_scales(out: Path, runs: dict[float, list[DetectorResult]], title: str, protocol: str) -> list[Path]:
    """``best-scale.json`` and ``best-scale.md`` in ``out``."""
    best = best_scales(runs)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "best-scale.json", out / "best-scale.md"]
    paths[0].write_text(json.dumps({"title": title, "protocol": protocol, "scales": list(runs), "detectors": best}, indent=2))
    paths[1].write_text(best_scale_markdown(best, list(runs), title, protocol))
    return paths
