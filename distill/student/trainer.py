"""The training loop: AdamW with a cosine schedule, gradient clipping, mixed precision on CUDA,
validation by repeatability, checkpoints ``last.pt`` / ``best.pt``, metrics as JSONL and a PNG,
resumable, stopping cleanly on a non-finite loss."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from kornia.geometry.transform import warp_perspective
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler
from tqdm import tqdm

from distill.eval.protocol import Protocol, evaluate
from distill.eval.repeatability import pair_repeatability
from distill.eval.sequences import Sequence, load_hpatches
from distill.student import losses as L
from distill.student.data import AUGMENT_HOMOGRAPHY, LabelDataset
from distill.student.detector import student_detector
from distill.student.model import Student, build_student
from labels.store import StoreReader
from teachers.homographies import sample_homography


class NonFiniteLossError(RuntimeError):
    pass


def pixel_logits(core: Student, logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel keypoint logits ``B x H x W`` of either head (for the cell head, ``logit`` of its
    depth-to-space probability), so the per-pixel losses apply to both heads alike."""
    return logits if core.head_type == "map" else torch.logit(core.probability(logits), eps=1e-6)


def compute_losses(model: torch.nn.Module, batch: dict, config: dict, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Weighted loss terms of one batch; ``total`` is their sum. Focal, attentive and Huber act on the
    per-pixel map of either head; KL is spatial for the map head and per 8x8 cell for the cell head."""
    w = config["losses"]
    core = getattr(model, "module", model)  # attributes of the student under DistributedDataParallel
    image, heat, var, valid = batch["image"], batch["heatmap"], batch["variance"], batch["valid"]
    logits = model(image)
    pixels = pixel_logits(core, logits)
    terms: dict[str, torch.Tensor] = {}
    mask = L.keypoint_mask(heat, config["detection"]["threshold"], config["detection"]["nms_radius"])
    if w["focal"]["weight"]:
        target = L.gaussian_targets(mask, w["focal"]["sigma"]) if w["focal"]["smoothing"] else mask
        terms["focal"] = w["focal"]["weight"] * L.focal_loss(pixels, target, valid, w["focal"]["alpha"], w["focal"]["gamma"])
    if w["kl"]["weight"] and core.head_type == "map":
        terms["kl"] = w["kl"]["weight"] * L.kl_spatial_loss(pixels, heat, valid, w["kl"]["temperature"])
    if w["kl"]["weight"] and core.head_type == "cell":
        valid_cells = (torch.nn.functional.avg_pool2d(valid[:, None], 8)[:, 0] > 0.99).float()
        terms["kl"] = w["kl"]["weight"] * L.kl_cell_loss(logits, L.teacher_cells(heat), valid_cells, w["kl"]["temperature"],
                                                         w["kl"]["focal_gamma"])
    if w["attentive"]["weight"]:
        terms["attentive"] = w["attentive"]["weight"] * L.attentive_loss(pixels, heat, var, valid, w["attentive"]["eps"], w["attentive"]["robust"])
    if w["huber"]["weight"]:
        terms["huber"] = w["huber"]["weight"] * L.huber_loss(pixels, L.gaussian_targets(mask, w["huber"]["sigma"]), valid, w["huber"]["delta"])
    if w["consistency"]["weight"]:
        h, wd = image.shape[-2:]
        hom = torch.from_numpy(np.stack([sample_homography(rng, h, wd, AUGMENT_HOMOGRAPHY) for _ in range(len(image))])).float().to(image.device)
        p_a = core.probability(logits)
        warped = warp_perspective(image, hom, (h, wd), align_corners=True)
        p_b = core.probability(model(warped))[:, None]
        back = warp_perspective(p_b, torch.linalg.inv(hom), (h, wd), align_corners=True)[:, 0]
        seen = warp_perspective(torch.ones_like(p_b), torch.linalg.inv(hom), (h, wd), mode="nearest", align_corners=True)[:, 0]
        terms["consistency"] = w["consistency"]["weight"] * L.consistency_loss(p_a, back, valid * seen, w["consistency"]["delta"])
    if "image_b" in batch:
        terms.update(pair_losses(model, pixels, batch, config["pair"]))
    if not terms:
        raise ValueError("every loss has weight 0")
    terms["total"] = sum(terms.values())
    return terms


def pair_losses(model: torch.nn.Module, logits_a: torch.Tensor, batch: dict, weights: dict) -> dict[str, torch.Tensor]:
    """Pair mode: Huber of each image's map to the blobs at its consistent LightGlue matches, and the
    consistency of image ``a``'s map with ``b``'s map warped back by the known homography.
    ``logits_a``: per-pixel logits of image ``a`` (:func:`pixel_logits`)."""
    core = getattr(model, "module", model)
    logits_b = pixel_logits(core, model(batch["image_b"]))
    terms = {}
    if weights["huber"]:
        terms["pair_huber"] = weights["huber"] * 0.5 * (L.huber_loss(logits_a, batch["target_a"], batch["valid"])
                                                        + L.huber_loss(logits_b, batch["target_b"], batch["valid_b"]))
    if weights["consistency"]:
        h, w = logits_a.shape[-2:]
        inverse = torch.linalg.inv(batch["homography"])
        p_b = torch.sigmoid(logits_b)[:, None]
        back = warp_perspective(p_b, inverse, (h, w), align_corners=True)[:, 0]
        seen = warp_perspective(batch["valid_b"][:, None], inverse, (h, w), mode="nearest", align_corners=True)[:, 0]
        terms["pair_consistency"] = weights["consistency"] * L.consistency_loss(torch.sigmoid(logits_a), back, batch["valid"] * seen)
    return terms


@torch.inference_mode()
def validation_repeatability(model: Student, dataset: LabelDataset, config: dict, device: str,
                             hpatches: list[Sequence] | None = None) -> float:
    """Mean repeatability of the student (standard protocol: 300 points, epsilon 3 px), needing no
    teacher: on ``hpatches`` sequences when given (``--val-hpatches``), else between each held-out
    crop of the store and a seeded warp of it."""
    model.eval()
    try:
        if hpatches is not None:
            protocol = Protocol(nms_radius=config["detection"]["nms_radius"])
            return evaluate([student_detector(model, "validation", device)], hpatches, protocol, progress=False)[0].repeatability()
        return held_out_repeatability(model, dataset, config, device)
    finally:
        model.train()


def held_out_repeatability(model: Student, dataset: LabelDataset, config: dict, device: str) -> float:
    """Mean repeatability between each held-out crop and a seeded warp of it."""
    scores = []
    rng = np.random.default_rng(1234)
    for i in range(len(dataset)):
        image = dataset[i]["image"][None].to(device)
        h, w = image.shape[-2:]
        hom = torch.from_numpy(sample_homography(rng, h, w, AUGMENT_HOMOGRAPHY)).float()
        warped = warp_perspective(image, hom[None].to(device), (h, w), align_corners=True)
        det = config["detection"]
        k1, k2 = (model.detect(x, 0.0, det["nms_radius"], None)[0] for x in (image, warped))
        scores.append(pair_repeatability(k1.xy.cpu().numpy(), k2.xy.cpu().numpy(), hom.double().numpy(), (h, w), (h, w)).repeatability)
    return float(np.mean(scores))


RESUME_MAY_CHANGE = ("steps", "device", "workers", "val_every", "amp")


def check_resumable(saved: dict, requested: dict, checkpoint: Path) -> None:
    """Refuse to resume ``checkpoint`` under a configuration other than the one it was trained with
    (but for ``RESUME_MAY_CHANGE``: more steps extend the cosine schedule): a leftover run folder of
    another recipe would otherwise pass for the requested one."""
    changed = [f"{key}: {saved.get(key, '<absent>')!r} -> {value!r}" for key, value in requested.items()
               if key not in RESUME_MAY_CHANGE and saved.get(key, "<absent>") != value]
    if changed:
        raise ValueError(f"{checkpoint} was trained with another configuration ({'; '.join(changed)}); "
                         "pick another --name, or drop --resume to start this run afresh")


def save_checkpoint(path: Path, model: Student, optimiser, scheduler, step: int, best: float, config: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                "step": step, "best": best, "config": config}, tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint


def plot_metrics(metrics_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    for key in sorted({k for r in train for k in r} - {"kind", "step", "lr"}):
        a.plot([r["step"] for r in train], [r[key] for r in train], label=key)
    a.set_xlabel("step"); a.set_yscale("log"); a.legend(fontsize=7); a.set_title("training losses")
    b.plot([r["step"] for r in val], [r["repeatability"] for r in val], marker="o")
    b.set_xlabel("step"); b.set_title("validation repeatability" + (" (HPatches)" if val and val[-1].get("on") == "hpatches" else ""))
    fig.savefig(out, dpi=100)
    plt.close(fig)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); a plain
    run is rank 0 of 1. Rank 0 alone validates and writes logs and checkpoints."""

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


def train(config: dict, run_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """Train a student from the label stores in ``config``; returns a summary dict. Under ``torchrun``
    each process trains on its share of every epoch (DistributedDataParallel)."""
    dist_info, device = setup_distributed(config["device"])
    torch.manual_seed(config["seed"])
    stores = [Path(s) for s in config["stores"]]
    last, best_path, metrics_path = run_dir / "last.pt", run_dir / "best.pt", run_dir / "metrics.jsonl"
    state = torch.load(last, map_location=device, weights_only=False) if resume and last.is_file() else None
    if state is not None:
        check_resumable(state["config"], config, last)
    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        provenance = {str(s): StoreReader(s).attrs["store_hash"] for s in stores}
        (run_dir / "config.yaml").write_text(yaml.safe_dump({**config, "label_stores": provenance, "world_size": dist_info.world}, sort_keys=False))
        if not resume and metrics_path.exists():
            metrics_path.unlink()
    pair_sigma = config["pair"]["sigma"] if config["pair"]["enabled"] else None
    train_set = LabelDataset(stores, "train", config["val_fraction"], tuple(config["crop"]), config["augment"], config["seed"], pair_sigma,
                             config["warp"])
    val_set = LabelDataset(stores, "val", config["val_fraction"], tuple(config["crop"]), False, config["seed"])
    val_hpatches = load_hpatches(Path(config["val_hpatches"])) if config.get("val_hpatches") and dist_info.main else None
    core = build_student(config).to(device).train()
    optimiser = torch.optim.AdamW(core.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, config["steps"]) / config["steps"])))
    step, best = 0, -1.0
    if state is not None:
        core.load_state_dict(state["model"]); optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"]); step, best = state["step"], state["best"]
    model = DistributedDataParallel(core) if dist_info.world > 1 else core
    use_amp = config["amp"] and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    generator = torch.Generator().manual_seed(config["seed"])
    share = len(train_set) // dist_info.world
    if config["store_weights"]:  # each process draws its share of an epoch with its own generator (seeded by rank below)
        sampler = WeightedRandomSampler(train_set.sampling_weights(config["store_weights"]), share, generator=generator)
    elif dist_info.world > 1:
        sampler = DistributedSampler(train_set, dist_info.world, dist_info.rank, shuffle=True, seed=config["seed"], drop_last=True)
    else:
        sampler = None
    loader_rng = np.random.default_rng([config["seed"], step, dist_info.rank])
    bar = tqdm(total=config["steps"], initial=step, desc="training", unit="step", disable=not (progress and dist_info.main), dynamic_ncols=True)
    epoch = step // max(1, share // config["batch_size"])
    start = time.perf_counter()
    metrics = open(metrics_path, "a") if dist_info.main else None
    try:
        while step < config["steps"]:
            train_set.set_epoch(epoch)
            generator.manual_seed(config["seed"] + epoch + 1_000_003 * dist_info.rank)
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            loader = DataLoader(train_set, batch_size=config["batch_size"], shuffle=sampler is None, sampler=sampler,
                                drop_last=share >= config["batch_size"], num_workers=config["workers"], generator=generator)
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
                        f"The last good checkpoint is {last if last.exists() else 'not written yet'}; lower lr or check the stores.")
                optimiser.zero_grad(set_to_none=True)
                scaler.scale(terms["total"]).backward()
                scaler.unscale_(optimiser)
                torch.nn.utils.clip_grad_norm_(core.parameters(), config["grad_clip"])
                scaler.step(optimiser); scaler.update(); scheduler.step()
                step += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
                if metrics is not None:
                    metrics.write(json.dumps({"kind": "train", "step": step, "lr": scheduler.get_last_lr()[0], **values}) + "\n")
                if dist_info.main and (step % config["val_every"] == 0 or step == config["steps"]):
                    rep = validation_repeatability(core, val_set, config, device, val_hpatches)
                    metrics.write(json.dumps({"kind": "val", "step": step, "repeatability": rep,
                                              "on": "hpatches" if val_hpatches else "store"}) + "\n")
                    metrics.flush()
                    if rep > best:
                        best = rep
                        save_checkpoint(best_path, core, optimiser, scheduler, step, best, config)
                    save_checkpoint(last, core, optimiser, scheduler, step, best, config)
                    bar.write(f"step {step}: validation repeatability {rep:.3f} (best {best:.3f})")
                if step >= config["steps"]:
                    break
            epoch += 1
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
        if dist_info.world > 1:
            torch.distributed.destroy_process_group()
    if dist_info.main:
        plot_metrics(metrics_path, run_dir / "metrics.png")
    return {"run": str(run_dir), "steps": step, "best_validation_repeatability": best,
            "minutes": (time.perf_counter() - start) / 60, "processes": dist_info.world}
