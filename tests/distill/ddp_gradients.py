"""Gradients of one training batch, under ``torchrun`` or in a single process, for the two-forward
objectives (consistency loss, LightGlue pair mode). Every process gets the same batch, so that the
gradients that DistributedDataParallel averages must equal a single process's.

    python -m torch.distributed.run --nproc-per-node 2 tests/distill/ddp_gradients.py STORE OUT
    python tests/distill/ddp_gradients.py STORE OUT
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import default_collate

from distill.student.config import TrainConfig
from distill.student.data import LabelDataset
from distill.student.distributed import setup_distributed
from distill.student.model import Student
from distill.student.objective import compute_losses
from labels.configuration import load_config


def gradients(store: Path, mode: str, world: int) -> dict[str, torch.Tensor]:
    config = load_config(TrainConfig, overrides=["crop=[64, 96]", "student.backbone_weights=none", "student.fpn_channels=16",
                                                 "student.detail_channels=16"])
    if mode == "consistency":
        config.losses.consistency.weight = 1.0
    else:
        config = replace(config, pair=replace(config.pair, enabled=True))
    data = LabelDataset([store], "train", 0.0, tuple(config.crop), augment=False, seed=0,
                        pair_sigma=config.pair.sigma if config.pair.enabled else None)
    batch = default_collate([data[i] for i in range(2)])
    torch.manual_seed(0)
    core = Student(config.student).train()
    model = DistributedDataParallel(core) if world > 1 else core
    terms = compute_losses(model, batch, config, np.random.default_rng(0))
    terms["total"].backward()
    return {name: p.grad.detach().clone() for name, p in core.named_parameters() if p.grad is not None}


def main() -> None:
    store, out = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    dist_info, _ = setup_distributed("cpu")
    result = {mode: gradients(store, mode, dist_info.world) for mode in ("consistency", "pair")}
    if dist_info.main:
        torch.save(result, out)
    if dist_info.world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
