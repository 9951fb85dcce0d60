"""ONNX models made from a checkpoint, bound to the exact checkpoint and recipe that made them.

What ONNX Runtime runs for ``--runtime onnx`` / ``onnx-int8`` is one of:

- for a released student (a checkpoint whose sha256 is a release's), the model shipped in the package,
  checked against its own pinned sha256 (:func:`distill.pretrained.released_onnx`);
- for any other checkpoint, a model in the user's cache, ``$XDG_CACHE_HOME/distill/onnx`` (default
  ``~/.cache/distill/onnx``), named by the checkpoint's sha256 and a hash of the recipes that make it:
  ``<sha256[:16]>-<recipe hash>.onnx`` and ``.int8.onnx``. A model there is run only when it parses and its
  metadata names that same checkpoint sha256 and recipe; anything else (missing, truncated, of another
  checkpoint or recipe) is made again. Nothing beside a checkpoint is ever read implicitly: a file in a run
  folder is not trusted on its name, date or tag (a ``.onnx`` passed explicitly is the user's own choice).

Models are written under a temporary name and renamed into place, so an interrupted export leaves
nothing half-written.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from teachers.weights import sha256_of

SOURCE_KEY = "distill.source_sha256"  # metadata: the sha256 of the checkpoint the model was made from


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distill" / "onnx"


def recipes() -> dict[str, str]:
    """The metadata a model made today carries: ``{key: recipe}`` of the exporter and the quantiser."""
    from distill.student import onnx_model, quantize

    return {"distill.export": onnx_model.RECIPE, "distill.int8": quantize.RECIPE}


def cached_paths(checkpoint_sha256: str) -> tuple[Path, Path]:
    """``(float model, int8 model)`` in the cache for a checkpoint of this sha256 under today's recipes."""
    tag = hashlib.sha256("\n".join(recipes().values()).encode()).hexdigest()[:8]
    stem = cache_folder() / f"{checkpoint_sha256[:16]}-{tag}"
    return stem.with_suffix(".onnx"), stem.with_suffix(".int8.onnx")


def metadata(path: Path) -> dict[str, str] | None:
    """The metadata of the ONNX model at ``path``; None when it is missing or does not parse as ONNX."""
    import onnx

    if not path.is_file():
        return None
    try:
        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # protobuf's DecodeError and onnx's own errors for a truncated or foreign file
        return None


def is_bound(path: Path, checkpoint_sha256: str, int8: bool) -> bool:
    """Whether the model at ``path`` parses and was made from that checkpoint by today's recipes (an int8
    model by the quantiser's too; a float model carries no int8 recipe)."""
    found = metadata(path)
    if found is None or found.get(SOURCE_KEY) != checkpoint_sha256:
        return False
    today = recipes()
    return found.get("distill.export") == today["distill.export"] and found.get("distill.int8") == (today["distill.int8"] if int8 else None)


def cached_model(checksum: str, export: Callable[[Path], object], int8: bool) -> Path:
    """The cached ONNX model (float, or int8) bound to the source of sha256 ``checksum``: ``export(path)`` writes
    the float model when it is missing or not bound (:func:`is_bound`), and the int8 model is quantised from it
    likewise."""
    from distill.student import quantize

    float_model, int8_model = cached_paths(checksum)
    if not is_bound(float_model, checksum, int8=False):
        export(float_model)
    if not int8:
        return float_model
    if not is_bound(int8_model, checksum, int8=True):
        quantize.quantize_int8(float_model, int8_model)
    return int8_model


def onnx_model_for(checkpoint: Path, int8: bool) -> Path:
    """The ONNX model (float, or int8) that runs ``checkpoint``: a release's shipped file, or the cached
    model bound to it, made (and cached) when missing or not bound (:func:`cached_model`)."""
    from distill.pretrained import released_onnx
    from distill.student import onnx_model

    checksum = sha256_of(checkpoint)
    shipped = released_onnx(checksum, int8)
    if shipped is not None:
        return shipped
    return cached_model(checksum, lambda path: onnx_model.export_onnx(checkpoint, path), int8)
