"""The training loop: AdamW with a cosine schedule, gradient clipping, mixed precision on CUDA, an
optional moving average of the weights (``ema``; torch's ``AveragedModel``, batch-norm statistics
averaged too), validation by repeatability every ``val_every`` steps, checkpoints ``last.pt`` / ``best.pt``, metrics
as JSONL and a PNG, resumable, stopping cleanly on a non-finite loss. The objective, validation,
checkpoints and the torchrun set-up live in their own modules."""
from __future__ import annotations

import json
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler
from tqdm import tqdm

from distill.eval.sequences import load_hpatches
from distill.student.checkpoint import CheckpointError, check_resumable, read_checkpoint, save_checkpoint
from distill.student.config import TrainConfig
from distill.student.data import LabelDataset
from distill.student.distributed import setup_distributed
from distill.student.initialise import frozen_parts, hold_frozen, init_checkpoint, initialise_from
from distill.student.metrics_plot import plot_metrics
from distill.student.model import Student
from distill.student.objective import compute_losses
from distill.training.validation import validation_repeatability
from labels.configuration import to_yaml
from labels.store_set import provenance as store_provenance
from teachers.layout import channels_last
from teachers.weights import sha256_of


class NonFiniteLossError(RuntimeError):
    pass


class TrainingInterrupted(RuntimeError):
    """Ctrl-C (SIGINT) during training; the message says what was kept and how to continue."""


def cosine(step: int, steps: int) -> float:
    """Learning-rate factor at ``step`` of ``steps``: ``(1 + cos(pi step / steps)) / 2``, 0 from ``steps`` on."""
    return 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))


def train(config: TrainConfig, run_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """Train a student from the label stores in ``config``; returns a summary dict. Under ``torchrun``
    each process trains on its share of every epoch (DistributedDataParallel)."""
    dist_info, device = setup_distributed(config.device)
    torch.manual_seed(config.seed)
    stores = [Path(s) for s in config.stores]
    last, best_path, metrics_path = run_dir / "last.pt", run_dir / "best.pt", run_dir / "metrics.jsonl"
    state = read_checkpoint(last, device) if resume and last.is_file() else None
    if state is not None:
        if state.optimiser is None:
            raise CheckpointError(f"{last} is a slim checkpoint (weights and configuration, no optimiser state, as "
                                  f"`distill export` writes): it cannot be resumed; start a run from it with --init {last}")
        check_resumable(state.config, config, last)
    # everything that can fail on bad input is built before the run folder is written
    pair_sigma = config.pair.sigma if config.pair.enabled else None
    describe = config.trains_descriptors  # else the descriptor branch stays as loaded
    train_set = LabelDataset(stores, "train", config.val_fraction, tuple(config.crop), config.augment, config.seed, pair_sigma, config.warp,
                             descriptors=describe, target_threshold=config.losses.focal.threshold,
                             photometric=config.photometric, scale_range=tuple(config.scale_range),
                             descriptor_store=Path(config.descriptor_store) if config.descriptor_store else None,
                             pair_store=Path(config.pair.store) if config.pair.store else None)
    val_set = LabelDataset(stores, "val", config.val_fraction, tuple(config.crop), False, config.seed)
    val_hpatches = load_hpatches(Path(config.val_hpatches)) if config.val_hpatches and dist_info.main else None
    core = Student(config.student)
    # the checkpoint's parts this run does not take (init_fresh, another shape, or a part the run lacks, e.g. a
    # descriptor branch with student.descriptor_dim=0) are said in the summary, so that none is dropped unnoticed
    loaded, not_loaded = (initialise_from(core, config.init, tuple(config.init_fresh)) if config.init and state is None
                          else (None, None))
    core = channels_last(core.to(device), device).train()  # oneDNN's layout on the CPU: about a fifth less time per step
    frozen = frozen_parts(core, list(config.train_only))
    optimiser = torch.optim.AdamW([p for p in core.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, partial(cosine, steps=config.steps))
    # ema: validation and checkpoints see the average (detection reads it); training continues on core
    average = AveragedModel(core, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True) if config.ema else None
    step, best = 0, -1.0
    if state is not None:
        core.load_state_dict(state.model if state.training_model is None else state.training_model)
        if average is not None:
            average.module.load_state_dict(state.model)
            average.n_averaged.fill_(max(1, state.step))
        optimiser.load_state_dict(state.optimiser)
        scheduler.load_state_dict(state.scheduler); step, best = state.step, state.best
        for group, base in zip(optimiser.param_groups, scheduler.base_lrs):  # continue the (possibly longer) schedule
            group["lr"] = base * cosine(step, config.steps)
    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(to_yaml(config))  # `distill train --config runs/<name>/config.yaml` repeats the run
        provenance = {"label_stores": store_provenance(train_set.readers), "world_size": dist_info.world}
        if train_set.described is not None:
            provenance["descriptor_store"] = store_provenance([train_set.described])
        if train_set.paired is not None:
            provenance["pair_store"] = store_provenance([train_set.paired])
        earlier = run_dir / "provenance.yaml"
        earlier = (yaml.safe_load(earlier.read_text()) or {}) if state is not None and earlier.is_file() else {}
        if "init" in earlier:  # a resumed run started where its first part recorded (and `pretrained` may have moved since)
            provenance["init"] = earlier["init"]
        elif config.init:  # `pretrained` names whichever student the package ships: the checksum says which
            source = Path(init_checkpoint(config.init))
            provenance["init"] = {"checkpoint": str(source), "sha256": sha256_of(source)}
            if loaded is not None:  # the parts that start from it; the others start fresh
                provenance["init"]["loaded"] = loaded
                provenance["init"]["not_loaded"] = not_loaded
        (run_dir / "provenance.yaml").write_text(yaml.safe_dump(provenance, sort_keys=False))
        if not resume:  # a fresh start (--overwrite) never mixes with an earlier run's files
            for path in (last, best_path, metrics_path):
                path.unlink(missing_ok=True)
    model = DistributedDataParallel(core) if dist_info.world > 1 else core
    use_amp = config.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    generator = torch.Generator().manual_seed(config.seed)
    share = len(train_set) // dist_info.world
    if config.store_weights:  # each process draws its share of an epoch with its own generator (seeded by rank below)
        sampler = WeightedRandomSampler(train_set.sampling_weights(list(config.store_weights)), share, generator=generator)
    elif dist_info.world > 1:
        sampler = DistributedSampler(train_set, dist_info.world, dist_info.rank, shuffle=True, seed=config.seed, drop_last=True)
    else:
        sampler = None
    loader_rng = np.random.default_rng([config.seed, step, dist_info.rank])
    bar = tqdm(total=config.steps, initial=step, desc="training", unit="step", disable=not (progress and dist_info.main), dynamic_ncols=True)
    epoch = step // max(1, share // config.batch_size)
    start = time.perf_counter()
    metrics = open(metrics_path, "a") if dist_info.main else None
    try:
        while step < config.steps:
            train_set.set_epoch(epoch)
            generator.manual_seed(config.seed + epoch + 1_000_003 * dist_info.rank)
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                                drop_last=share >= config.batch_size, num_workers=config.workers, generator=generator)
            for batch in loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                with torch.autocast("cuda", enabled=use_amp):
                    terms = compute_losses(model, batch, config, loader_rng)
                values = torch.stack([v.detach().float() for v in terms.values()])
                if dist_info.world > 1:  # every rank sees the same mean values, so all stop together
                    torch.distributed.all_reduce(values)
                    values /= dist_info.world
                values = dict(zip(terms, values.tolist()))
                if not math.isfinite(values["total"]):
                    raise NonFiniteLossError(
                        f"non-finite loss at step {step} ({values}); stopped. "
                        f"The last good checkpoint is {last if last.exists() else 'not written yet'}; lower lr, or check "
                        f"the stores with `distill labels verify STORE` (it names labels that are not finite).")
                optimiser.zero_grad(set_to_none=True)
                scaler.scale(terms["total"]).backward()
                scaler.unscale_(optimiser)
                torch.nn.utils.clip_grad_norm_(core.parameters(), config.grad_clip)
                scaler.step(optimiser); scaler.update(); scheduler.step()
                if average is not None:
                    average.update_parameters(core)
                step += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
                if metrics is not None:
                    metrics.write(json.dumps({"kind": "train", "step": step, "lr": scheduler.get_last_lr()[0], **values}) + "\n")
                if dist_info.main and (step % config.val_every == 0 or step == config.steps):
                    detector = core if average is None else average.module
                    trained = None if average is None else core
                    rep = validation_repeatability(detector, val_set, config.detection, device, val_hpatches)
                    hold_frozen(frozen)
                    metrics.write(json.dumps({"kind": "val", "step": step, "repeatability": rep,
                                              "on": "hpatches" if val_hpatches else "store"}) + "\n")
                    metrics.flush()
                    if rep > best:
                        best = rep
                        save_checkpoint(best_path, detector, optimiser, scheduler, step, best, config, trained)
                    save_checkpoint(last, detector, optimiser, scheduler, step, best, config, trained)
                    if config.keep_checkpoints:
                        save_checkpoint(run_dir / "checkpoints" / f"step-{step:06d}.pt", detector, None, None, step, rep, config)
                    bar.write(f"step {step}: validation repeatability {rep:.3f} (best {best:.3f})")
                if step >= config.steps:
                    break
            epoch += 1
    except KeyboardInterrupt:
        kept = read_checkpoint(last).step if last.is_file() else None
        raise TrainingInterrupted(
            f"interrupted at step {step}: " + (f"{last} keeps step {kept} (the last validation); `--resume` continues "
                                               f"from there" if kept is not None else
                                               f"no checkpoint was written yet (the first comes at step {config.val_every}); "
                                               f"start again with --overwrite")) from None
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
        if dist_info.world > 1:
            torch.distributed.destroy_process_group()
    if dist_info.main:
        plot_metrics(metrics_path, run_dir / "metrics.png")
    summary = {"run": str(run_dir), "steps": step, "best_validation_repeatability": best,
               "minutes": (time.perf_counter() - start) / 60, "processes": dist_info.world}
    if loaded is not None:
        summary["init_loaded"] = ", ".join(loaded) or "none"
        summary["init_not_loaded"] = ", ".join(not_loaded) or "none"
    return summary
