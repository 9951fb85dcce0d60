"""A benchmark's files: ``results.json`` (the table, read by ``distill report``) and ``results.md`` beside it."""
from __future__ import annotations

import json
from pathlib import Path


def write_results(out: Path, table: dict, markdown: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(table, indent=2) + "\n")
    (out / "results.md").write_text(markdown)
    return [out / "results.json", out / "results.md"]
