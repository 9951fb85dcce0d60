from pathlib import Path

import numpy as np
import pytest
import torch

from distill.student.backbone import create_backbone
from distill.student.detector import checkpoint_detector
from distill.student.model import Student
from distill.student.trainer import NonFiniteLossError, train
from labels.config import load_config
from labels.images import list_images
from labels.run import label_images
from labels.store import ImageLabels, StoreWriter


def test_packaged_lite0_weights_load_offline():
    backbone = create_backbone("tf_efficientnet_lite0", "auto")
    random = create_backbone("tf_efficientnet_lite0", "none")
    stem = backbone.state_dict()["conv_stem.weight"]
    assert not torch.equal(stem, random.state_dict()["conv_stem.weight"])
    assert backbone.feature_info.reduction() == [4, 8, 16, 32]


@pytest.mark.parametrize("head,shape", [("map", (2, 64, 96)), ("cell", (2, 65, 8, 12))])
def test_student_heads(head, shape):
    model = Student(head=head, weights="none").eval()
    logits = model(torch.rand(2, 1, 64, 96))
    assert logits.shape == shape
    prob = model.probability(logits)
    assert prob.shape == (2, 64, 96) and 0 <= prob.min() and prob.max() <= 1
    assert len(model.detect(torch.rand(1, 1, 64, 96), threshold=0.0, top_k=10)[0]) == 10


def tiny_config(store: Path, **extra) -> dict:
    cfg = load_config("distill.student", overrides=["crop=[64, 96]", "batch_size=2", "steps=4", "val_every=2",
                                                    "val_fraction=0.3", "backbone_weights=none", "fpn_channels=16"])
    cfg.update(stores=[str(store)], device="cpu", **extra)
    return cfg


@pytest.fixture()
def tiny_store(image_folder, tmp_path) -> Path:
    config = load_config("labels", overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    return label_images(list_images([image_folder]), config, tmp_path / "labels", progress=False).store


def test_training_writes_checkpoints_metrics_and_resumes(tiny_store, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_config(tiny_store)
    cfg["losses"]["kl"]["weight"] = 0.5
    cfg["losses"]["consistency"]["weight"] = 0.5
    summary = train(cfg, run, progress=False)
    assert summary["steps"] == 4
    assert all((run / name).is_file() for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.png", "config.yaml"))
    assert "label_stores" in (run / "config.yaml").read_text()
    resumed = train({**cfg, "steps": 6}, run, resume=True, progress=False)
    assert resumed["steps"] == 6 and torch.load(run / "last.pt", weights_only=False)["step"] == 6
    detector = checkpoint_detector(run / "last.pt")
    scores = detector.score_map(np.zeros((100, 130), np.uint8))
    assert scores.shape == (100, 130)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_store, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_store, steps=2), run, progress=False)
    good = torch.load(run / "last.pt", weights_only=False)["step"]
    broken = tmp_path / "broken.h5"
    with StoreWriter(broken, {"store_hash": "broken", "config_yaml": "{}"}) as writer:
        for i in range(6):
            nan = np.full((96, 128), np.nan, np.float16)
            writer.add(f"{i:016x}", ImageLabels(nan, nan, np.ones((96, 128), np.uint8), np.zeros((0, 2)), np.zeros(0),
                                                "none", (96, 128), image=np.zeros((96, 128), np.uint8)))
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 2.*last.pt"):
        train(tiny_config(broken, steps=4), run, resume=True, progress=False)
    assert torch.load(run / "last.pt", weights_only=False)["step"] == good


def test_pair_mode_trains_on_lightglue_stores(image_folder, tmp_path):
    config = load_config("labels", overrides=["size=[96, 128]", "adaptation.num_homographies=2", "lightglue.enabled=true"])
    store = label_images(list_images([image_folder]), config, tmp_path / "labels", progress=False).store
    cfg = tiny_config(store, steps=2)
    cfg["pair"]["enabled"] = True
    summary = train(cfg, tmp_path / "run", progress=False)
    rows = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert summary["steps"] == 2 and "pair_huber" in rows and "pair_consistency" in rows


@pytest.mark.parametrize("head", ["map", "cell"])
def test_every_loss_applies_to_both_heads(head):
    from distill.student.trainer import compute_losses

    cfg = load_config("distill.student")
    for spec in cfg["losses"].values():
        spec["weight"] = 1.0
    model = Student(head=head, weights="none", fpn_channels=16)
    heat = torch.zeros(2, 64, 96)
    heat[:, 20, 30] = 0.5
    batch = {"image": torch.rand(2, 1, 64, 96), "heatmap": heat, "variance": torch.full((2, 64, 96), 0.01),
             "valid": torch.ones(2, 64, 96)}
    terms = compute_losses(model, batch, cfg, np.random.default_rng(0))
    assert set(terms) == {"focal", "kl", "attentive", "huber", "consistency", "total"}
    assert all(torch.isfinite(v) for v in terms.values())
    terms["total"].backward()
    assert all(p.grad is not None for p in model.head.parameters())
