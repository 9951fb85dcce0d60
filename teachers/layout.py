"""The memory layout networks run in: channels-last on the CPU, where oneDNN's convolutions compute in it and
would otherwise reorder every contiguous tensor (about a quarter of a student's time and a third of SuperPoint's
at 480x640 on 2 cores: ``docs/experiments.md``, "Folded batch norms and channels-last memory in PyTorch")."""
from __future__ import annotations

import torch
from torch import nn


def channels_last(model: nn.Module, device: str | torch.device) -> nn.Module:
    """``model`` in channels-last memory on the CPU (unchanged elsewhere)."""
    return model.to(memory_format=torch.channels_last) if torch.device(device).type == "cpu" else model
