"""``distill export``: a checkpoint as a slim file (weights and configuration, no optimiser)."""
from __future__ import annotations

from pathlib import Path

import typer

from distill.commands.common import fail
from distill.student.checkpoint import CheckpointError, write_slim


def export_command(
    checkpoint: Path = typer.Option(..., help="Checkpoint of a run, e.g. runs/NAME/last.pt."),
    out: Path = typer.Option(..., help="File to write."),
    slim: bool = typer.Option(True, help="Weights and configuration only (no optimiser state): what detection needs."),
    fp16: bool = typer.Option(False, "--fp16", help="Store the weights as float16 (half the size; they load back as float32)."),
) -> None:
    """Write a checkpoint in a form to share: slim (weights and configuration), optionally float16."""
    if not slim:
        fail("only --slim export is available", code=2)
    if out.exists() and out.is_dir():
        fail(f"--out {out} is a folder; give a file name", code=2)
    try:
        size = write_slim(checkpoint, out, fp16)
    except CheckpointError as error:
        fail(str(error))
    typer.echo(f"wrote {out} ({size / 2**20:.1f} MiB{', float16' if fp16 else ''})")
