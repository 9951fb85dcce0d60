"""This process's place in a ``torchrun`` job, and joining its process group."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Distributed:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` of a ``torchrun`` job; a plain run is rank 0 of 1.
    Rank 0 alone validates and writes logs and checkpoints."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "Distributed":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> tuple[Distributed, str]:
    """Join the process group of a ``torchrun`` job (NCCL on CUDA, gloo on the CPU); returns the
    rank information and this process's device (``cuda:LOCAL_RANK`` on CUDA)."""
    dist_info = Distributed.from_environment()
    if dist_info.world == 1:
        return dist_info, device
    if device.startswith("cuda"):
        device = f"cuda:{dist_info.local_rank}"
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist_info, device
