"""Joining the process group of a ``torchrun`` training job."""
from __future__ import annotations

import torch

from labels.torchrun import Job


def setup_distributed(device: str) -> tuple[Job, str]:
    """Join the process group of a ``torchrun`` job (NCCL on CUDA, gloo on the CPU); returns the
    rank information and this process's device (``cuda:LOCAL_RANK`` on CUDA)."""
    dist_info = Job.from_environment()
    if dist_info.world == 1:
        return dist_info, device
    if device.startswith("cuda"):
        device = f"cuda:{dist_info.local_rank}"
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist_info, device
