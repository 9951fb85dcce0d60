"""Which checkpoints are seeds of one recipe: training configurations equal but for the seed."""
from __future__ import annotations

import json
from pathlib import Path

from distill.student.checkpoint import read_checkpoint
from labels.configuration import plain

# keys that leave a run's last weights unchanged: bookkeeping and how often validation runs
NOT_RECIPE = ("seed", "name", "keep_checkpoints", "val_every", "workers")


def seed_groups(checkpoints: list[Path]) -> list[list[int]]:
    """Indices of the checkpoints (``.pt``; other files are in no group) whose training configurations differ only by
    ``seed`` (and keys that leave the last weights unchanged: ``NOT_RECIPE``), for groups of two or more."""
    groups: dict[str, list[int]] = {}
    for index, path in enumerate(checkpoints):
        if Path(path).suffix != ".pt":
            continue
        config = plain(read_checkpoint(path).config)
        key = json.dumps({k: v for k, v in config.items() if k not in NOT_RECIPE}, sort_keys=True) + Path(path).name
        groups.setdefault(key, []).append(index)
    return [members for members in groups.values() if len(members) > 1]
