"""The labelling configuration (its defaults live here and nowhere else) and the hash of everything
that changes the labels, which names the store."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional, Tuple

from labels.configuration import plain
from teachers.config import AdaptationConfig, PairConfig

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LightGlueConfig(PairConfig):
    """``--lightglue``: match each image with a seeded warp of itself (changes the hash only when enabled)."""

    enabled: bool = False


@dataclass(frozen=True)
class RuntimeConfig:
    """How a run goes; never changes the labels."""

    batch_size: Optional[int] = None  # warps per teacher forward; None: 1 on CPU, 16 on CUDA
    commit_seconds: float = 10.0  # finished images are committed to disk at least this often

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"runtime.batch_size must be at least 1 (or null), got {self.batch_size}")


@dataclass(frozen=True)
class LabelConfig:
    """A labelling run (``distill labels``). Every field but ``runtime`` changes the labels."""

    teacher: str = "superpoint"  # or student:PATH, a trained student's checkpoint (a second labelling round), or student:pretrained[:NAME]
    size: Tuple[int, int] = (240, 320)  # labelling size H x W (rows, columns); images are resized to it
    seed: int = 0  # per-image homographies are drawn from (seed, image hash)
    descriptors: bool = False  # also store the teacher's D x H/8 x W/8 descriptors of the unwarped image (SuperPoint: D = 256)
    # with descriptors: each cell's descriptor averaged over the adaptation's views of its centre (L2-normalised)
    # instead of the unwarped image's (changes the hash only when on)
    adapt_descriptors: bool = False
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)
    lightglue: LightGlueConfig = field(default_factory=LightGlueConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        if self.teacher != "superpoint" and not (self.teacher.startswith("student:") and len(self.teacher) > len("student:")):
            raise ValueError(f"teacher: unknown teacher {self.teacher!r}; available: superpoint, student:PATH (a student checkpoint), "
                             "student:pretrained[:NAME] (a released student)")
        if self.teacher != "superpoint" and self.lightglue.enabled:
            raise ValueError("lightglue needs the superpoint teacher (the stock LightGlue weights match SuperPoint's descriptors)")
        if self.adapt_descriptors and not self.descriptors:
            raise ValueError("adapt_descriptors averages the stored descriptors over the views: it needs descriptors (--descriptors)")
        if min(self.size) < 16:
            raise ValueError(f"size: {self.size[0]}x{self.size[1]} is too small (at least 16x16)")


def teacher_kind(config: LabelConfig) -> str:
    """``superpoint`` or ``student``."""
    return config.teacher.split(":", 1)[0]


def label_defining(config: LabelConfig, weights_sha256: str) -> dict:
    """The part of a labelling configuration that changes the labels, with the weights' checksum
    and the schema version: two runs with equal ``label_defining`` produce identical stores."""
    defining = {k: v for k, v in plain(config).items() if k != "runtime"}
    defining["teacher"] = teacher_kind(config)  # a student teacher is named by its checkpoint's checksum, not its path
    if not config.lightglue.enabled:
        defining.pop("lightglue")  # stores made without LightGlue keep the name they always had
    if not config.adapt_descriptors:
        defining.pop("adapt_descriptors")  # and those with the unwarped image's descriptors too
    defining["weights_sha256"] = weights_sha256
    defining["schema_version"] = SCHEMA_VERSION
    return defining


def config_hash(defining: dict) -> str:
    """Ten hex digits of the sha256 of the canonical JSON of ``defining``."""
    canonical = json.dumps(defining, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def store_name(config: LabelConfig, weights_sha256: str, shard: tuple[int, int] | None = None) -> str:
    """``superpoint-<hash>`` (``-shard<i>of<n>`` for one slice of a sharded run)."""
    name = f"{teacher_kind(config)}-{config_hash(label_defining(config, weights_sha256))}"
    return f"{name}-shard{shard[0]}of{shard[1]}" if shard else name
