"""The labelling run: images -> teacher with homographic adaptation -> label store.

Reuses every image already in the store (keyed by content hash), so a repeated or interrupted run
does only the missing work, and never loads the teacher when there is none.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import yaml
from tqdm import tqdm

from labels.config import LabelConfig, config_hash, label_defining, store_name, teacher_kind
from labels.images import ImageError, content_key, decode_grey, read_bytes, resize_image
from labels.store import ImageLabels, StoreWriter
from teachers import weights
from teachers.adaptation import homographic_adaptation
from teachers.lightglue import match_warped_pair, pair_matcher
from teachers.superpoint import SuperPoint


@dataclass
class RunSummary:
    store: Path
    total: int = 0
    labelled: int = 0
    reused: int = 0
    repaired: int = 0  # of the labelled: images whose stored labels were damaged, missing or not finite
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.labelled / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"store      {self.store}",
            f"images     {self.total} given: {self.labelled} labelled, {self.reused} already in the store, "
            f"{self.duplicates} duplicate content, {len(self.failed)} failed",
        ]
        if self.repaired:
            out.append(f"repaired   {self.repaired} of the labelled images were in the store but their labels were damaged, "
                       f"missing or not finite (relabelled)")
        out += [
            f"time       {self.seconds:.1f} s ({rate:.2f} images/s labelled)",
        ]
        out += [f"failed     {path}: {reason}" for path, reason in self.failed]
        return out


def image_seed(seed: int, key: str, stream: int = 0) -> int:
    """Per-image seed from the run seed and the image's content key: labels do not depend on the
    order of images or on sharding. ``stream`` separates independent draws (0: HA, 1: LightGlue pair)."""
    return int(np.random.SeedSequence([seed, int(key, 16), stream]).generate_state(1)[0])


def label_images(
    paths: Sequence[Path],
    config: LabelConfig,
    out_dir: Path,
    shard: tuple[int, int] | None = None,
    device: str = "cpu",
    weights_path: str | None = None,
    progress: bool = True,
    load_teacher: Callable[..., SuperPoint] = SuperPoint.pretrained,
    teacher_sha256: str | None = None,
) -> RunSummary:
    """Label ``paths`` into the store that ``config`` names under ``out_dir``; see module docstring.
    A teacher other than SuperPoint (``student:PATH``) comes from the caller: ``load_teacher(weights_path,
    device=...)`` returns a module whose output has ``probability`` (``B x H x W``), and
    ``teacher_sha256`` is its weights' checksum (part of the store's name)."""
    if config.teacher == "superpoint":
        weights_sha = weights.sha256_of(weights.locate(weights.SUPERPOINT, weights_path))
    elif teacher_sha256 is None or load_teacher is SuperPoint.pretrained:
        raise ValueError(f"teacher {config.teacher}: pass load_teacher and teacher_sha256 (distill labels does)")
    else:
        weights_sha = teacher_sha256
    use_lightglue = config.lightglue.enabled
    if use_lightglue:  # the matcher's weights change the labels too
        weights_sha += "+lightglue:" + weights.sha256_of(weights.locate(weights.LIGHTGLUE))
    adaptation = config.adaptation
    size = tuple(config.size)
    index = Path(out_dir) / f"{store_name(config, weights_sha, shard)}.h5"
    attrs = {
        "config_yaml": yaml.safe_dump(label_defining(config, weights_sha), sort_keys=True),
        "store_hash": config_hash(label_defining(config, weights_sha)),
        "teacher": teacher_kind(config),
        "label_size": np.asarray(size),
    }
    summary = RunSummary(store=index, total=len(paths))
    start = time.perf_counter()
    teacher = matcher = None
    with StoreWriter(index, attrs, commit_seconds=config.runtime.commit_seconds) as store:
        bar = tqdm(paths, desc=f"labelling {index.name}", unit="img", disable=not progress, dynamic_ncols=True)
        for damage in store.damage:
            bar.write(f"damaged  {damage.line()}: relabelling what it held")
        seen: set[str] = set()
        for path in bar:
            try:
                data = read_bytes(path)
                key = content_key(data)
                if key in seen:
                    summary.duplicates += 1
                    continue
                seen.add(key)
                if key in store:
                    summary.reused += 1
                    continue
                grey = decode_grey(path, data)
            except ImageError as error:
                summary.failed.append((str(path), str(error).split(": ", 1)[-1]))
                bar.write(f"skipped {error}")
                continue
            if teacher is None:
                teacher = load_teacher(weights_path, device=device)
                matcher = pair_matcher(config.lightglue, device) if use_lightglue else None
            resized = resize_image(grey, size)
            image = torch.from_numpy(resized.astype(np.float32) / 255.0)[None]
            result = homographic_adaptation(teacher, image, adaptation, image_seed(config.seed, key), config.runtime.batch_size,
                                            config.adapt_descriptors)
            pair = match_warped_pair(teacher, matcher, image, config.lightglue, image_seed(config.seed, key, 1)) if matcher else None
            count_dtype = np.uint8 if adaptation.num_homographies <= 255 else np.uint16
            store.add(key, ImageLabels(
                heatmap=result.heatmap.cpu().numpy(),
                variance=result.variance.cpu().numpy(),
                count=result.count.cpu().numpy().astype(count_dtype),
                keypoints=result.keypoints.xy.cpu().numpy(),
                scores=result.keypoints.scores.cpu().numpy(),
                source_path=str(path),
                image=resized,
                original_size=grey.shape[:2],
                descriptors=result.descriptors.cpu().numpy() if config.descriptors else None,
                pair=pair,
            ))
            summary.labelled += 1
            summary.repaired += key in store.missing
            bar.set_postfix(labelled=summary.labelled, reused=summary.reused, failed=len(summary.failed))
    summary.seconds = time.perf_counter() - start
    return summary
