"""``distill report``: the technical report from saved results."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from distill.commands.common import OVERWRITE_HELP, fail, usable_out_folder


def report_command(
    evaluation: Path = typer.Option(Path("out/demo-eval"), "--eval", exists=True, file_okay=False, help="Folder of a `distill eval hpatches` (or `eval warped`) run: its results.json."),
    run: Path = typer.Option(Path("runs/demo"), exists=True, file_okay=False, help="Training run folder: config.yaml, provenance.yaml, metrics.jsonl."),
    matching: Optional[Path] = typer.Option(None, exists=True, file_okay=False, help="Folder of a `distill eval matching` run, to add its table."),
    ablation: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Table written by `scripts/bench_student.py --json FILE` "
                                            "(e.g. after scripts/ablation.sh), to add the ablation section."),
    out: Path = typer.Option(Path("report"), help="Folder for report.md, report.pdf and their figures."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Write report/report.md and report/report.pdf from saved results only (no number typed by hand)."""
    usable_out_folder(out, ["report.md", "report.pdf"], overwrite)
    from distill.technical_report import ReportError, write_report

    try:
        paths = write_report(evaluation, run, out, matching, ablation)
    except ReportError as error:
        fail(str(error))
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
