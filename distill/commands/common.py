"""Small helpers shared by the command modules."""
from __future__ import annotations

import torch
import typer


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is checked to exist."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise typer.BadParameter(f"device {device!r} asked for, but CUDA is not available here")
    return device


def parse_size(text: str) -> tuple[int, int]:
    """``"240x320"`` -> ``(240, 320)`` (rows x columns)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"size must be HxW (rows x columns, e.g. 240x320), got {text!r}") from None
    if h < 16 or w < 16:
        raise typer.BadParameter(f"size {text} is too small (at least 16x16)")
    return h, w


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
