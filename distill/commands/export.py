"""``distill export``: a checkpoint as a slim file (weights and configuration, no optimiser), or as
ONNX for ONNX Runtime."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from distill.commands.common import OVERWRITE_HELP, checkpoint_argument, fail, refuse_existing, writable_or_creatable
from distill.student.errors import CheckpointError


class ExportFormat(str, Enum):
    checkpoint = "checkpoint"
    onnx = "onnx"


def export_command(
    checkpoint: str = typer.Option(..., help="Checkpoint of a run, e.g. runs/NAME/last.pt, or pretrained / pretrained:NAME (a released student)."),
    out: Path = typer.Option(..., help="File to write (never the checkpoint itself)."),
    slim: bool = typer.Option(True, help="Weights and configuration only (no optimiser state): what detection needs."),
    fp16: bool = typer.Option(False, "--fp16", help="Store the weights as float16 (half the size; they load back as float32)."),
    format: ExportFormat = typer.Option(ExportFormat.checkpoint, help="checkpoint: a slim PyTorch checkpoint; onnx: an ONNX model "
                                        "(grey B x 1 x H x W in [0, 1], H and W multiples of 8, dynamic; B x H x W probability out, and B x 256 x H/8 x W/8 "
                                        "descriptors for a student with a descriptor head) "
                                        "for --runtime onnx (needs the \\[onnx] extra)."),
    int8: bool = typer.Option(False, "--int8", help="With --format onnx: also write OUT with .int8.onnx, its convolutions "
                              "quantised to int8 (every one; ranges calibrated on the embedded photos), for --runtime onnx-int8."),
    filter_threshold: Optional[float] = typer.Option(None, min=0.0, max=0.999, help="Store the LightGlue confidence threshold "
                                                     "the student's matches take by default (distill match, distill.match, eval "
                                                     "matching; otherwise LightGlue's 0.1): choose it on validation photos with "
                                                     "scripts/experiments/filter_thresholds.py. Checkpoint format only."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Write a checkpoint in a form to share: slim (weights and configuration, optionally float16), or ONNX."""
    if not slim:
        fail("only --slim export is available", code=2)
    if int8 and format != ExportFormat.onnx:
        fail("--int8 needs --format onnx", code=2)
    if filter_threshold is not None and format == ExportFormat.onnx:
        fail("--filter-threshold is stored in a checkpoint: export the checkpoint with it, then run that checkpoint "
             "with --runtime onnx", code=2)
    if out.exists() and out.is_dir():
        fail(f"--out {out} is a folder; give a file name", code=2)
    from distill.api import checkpoint_path

    try:
        checkpoint = checkpoint_path(checkpoint_argument(checkpoint))
    except CheckpointError as error:
        fail(str(error))
    outputs = [out] + ([out.with_suffix(".int8.onnx")] if int8 else [])
    if any(path.exists() and path.samefile(checkpoint) for path in outputs):
        fail(f"--out {out} is the checkpoint being exported: write the export to another file", code=2)
    writable_or_creatable(out.parent, "--out")
    refuse_existing(outputs, overwrite)
    if format == ExportFormat.onnx:
        from distill.student.onnx_model import OnnxUnavailableError, export_onnx
        from distill.student.quantize import quantize_int8

        try:
            export_onnx(checkpoint, out)
            typer.echo(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, ONNX)")
            if int8:
                quantized = quantize_int8(out, out.with_suffix(".int8.onnx"))
                typer.echo(f"wrote {quantized} ({quantized.stat().st_size / 2**20:.1f} MiB, ONNX int8)")
        except (CheckpointError, OnnxUnavailableError) as error:
            fail(str(error))
        return
    from distill.student.checkpoint import write_slim

    try:
        size = write_slim(checkpoint, out, fp16, filter_threshold)
    except CheckpointError as error:
        fail(str(error))
    stored = "" if filter_threshold is None else f", LightGlue threshold {filter_threshold:g}"
    typer.echo(f"wrote {out} ({size / 2**20:.1f} MiB{', float16' if fp16 else ''}{stored})")
