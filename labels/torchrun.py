"""Labelling under ``torchrun``: process ``r`` of ``n`` labels the images ``--shard r+1/n`` would give it into its own
shard store (the usual lock, commits and resume), and when every process is done, process 0 merges the shards into
the store a single process would have written (same name, same labels image by image)::

    torchrun --nnodes 1 --nproc-per-node 4 -m distill.labels --images DIR --out data/labels

The processes meet only at the end: joining the process group is the wait for the slowest shard. A process that
dies ends the job (torchrun stops the others); running the same command again resumes every shard where it stopped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

# how long a finished process waits for the slowest shard (a stopped job ends sooner: torchrun stops every process)
JOIN_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Job:
    """This process's place in a ``torchrun`` job (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); a plain run is rank 0
    of 1. Process 0 alone merges the label shards, and in training validates and writes logs and checkpoints."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "Job":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """The slice of ``--shard i/n`` (1-based) this process labels."""
        return self.rank + 1, self.world


def torchrun_job() -> Job | None:
    """This process's place when started by ``torchrun`` with more than one process, else None."""
    job = Job.from_environment()
    return job if job.world > 1 else None


def join_and_merge(job: Job, store: Path, failed: list[tuple[str, str]], out: Path) -> tuple[Path | None, int, list]:
    """Wait for every process, then merge their shard stores on process 0 (gloo, on any device).

    Returns ``(merged index or None on other ranks, images in it, every process's failed images)``."""
    import torch.distributed as dist

    from labels.merge import merge_stores

    dist.init_process_group("gloo", timeout=JOIN_TIMEOUT)
    try:
        gathered: list = [None] * job.world
        dist.all_gather_object(gathered, {"store": str(store), "failed": failed})
        all_failed = [item for part in gathered for item in part["failed"]]
        index, total = (None, 0)
        if job.main:
            index, total = merge_stores([Path(part["store"]) for part in gathered], out)
        dist.barrier()
        return index, total, all_failed
    finally:
        dist.destroy_process_group()
