"""One checkpoint whose weights are the mean of several fine-tunes of the same start ("model soup", Wortsman et
al. 2022): every floating-point tensor averaged, integer buffers (batch-norm step counts) taken from the first.
The runs must share the configuration (beyond seed and name) and every tensor's shape; the first run's
configuration and step are kept, as a slim checkpoint (no optimiser state).

    python scripts/experiments/weight_average.py runs/met1-s0/last.pt runs/met1-s1/last.pt --out data/soup/met1-s01.pt

prints which parts of the network the runs differ in (the parts the mean changes)."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from distill.student.checkpoint import Checkpoint, CheckpointError, read_checkpoint, write_checkpoint


def average(paths: list[Path]) -> tuple[Checkpoint, list[str]]:
    """The averaged checkpoint and the top-level modules whose weights differed between the runs."""
    checkpoints = [read_checkpoint(path) for path in paths]
    first = checkpoints[0]
    for path, checkpoint in zip(paths[1:], checkpoints[1:]):
        if replace(checkpoint.config, seed=first.config.seed, name=first.config.name) != first.config:
            raise SystemExit(f"{path}: another configuration than {paths[0]} (beyond its seed and name)")
        if checkpoint.model.keys() != first.model.keys():
            raise SystemExit(f"{path}: another set of tensors than {paths[0]}")
    model, differing = {}, set()
    for key, tensor in first.model.items():
        tensors = [checkpoint.model[key] for checkpoint in checkpoints]
        if any(t.shape != tensor.shape for t in tensors):
            raise SystemExit(f"{key}: shapes differ between the runs")
        if any(not torch.equal(t, tensor) for t in tensors[1:]):
            differing.add(key.split(".")[0])
        model[key] = torch.stack([t.float() for t in tensors]).mean(0).to(tensor.dtype) if tensor.is_floating_point() else tensor
    return Checkpoint(first.config, model, first.step, first.best), sorted(differing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="two or more checkpoints of one configuration")
    parser.add_argument("--out", type=Path, required=True, help="the averaged checkpoint")
    args = parser.parse_args()
    if len(args.checkpoints) < 2:
        raise SystemExit("give at least two checkpoints")
    try:
        soup, differing = average(args.checkpoints)
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    write_checkpoint(args.out, soup.model, soup.step, soup.best, soup.config)
    print(f"{args.out}: the mean of {len(args.checkpoints)} runs; they differ in {', '.join(differing) or 'nothing'}")


if __name__ == "__main__":
    main()
