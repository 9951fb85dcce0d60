import json
from pathlib import Path

import cv2
import numpy as np
import torch
from kornia.geometry.linalg import transform_points

from distill.pretrained import released_checkpoint
from distill.student.checkpoint import load_student
from distill.student.warped_views import true_assignment, warped_views
from distill.training.trainer import train
from tests.conftest import embedded
from tests.distill.test_student import tiny_config


def photo_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """A real photo (the astronaut, 192x256) twice: ``2 x 1 x H x W`` in [0, 1], and ``2 x H x W`` valid pixels."""
    grey = cv2.resize(cv2.imread(str(embedded("astronaut")), cv2.IMREAD_GRAYSCALE), (256, 192))
    return torch.from_numpy(grey.astype(np.float32) / 255)[None, None].repeat(2, 1, 1, 1), torch.ones(2, 192, 256)


def descriptor_steps(loss_of, steps: int = 4) -> list[float]:
    """``steps`` Adam steps of the released student's descriptor branch on ``loss_of(student, image, probability,
    descriptors, valid, rng)`` for :func:`photo_batch` (the same warps at each step); asserts at each step that the
    descriptor branch gets gradients and the detector's head none (the points carry no gradient). The losses."""
    student, _ = load_student(released_checkpoint("default"))
    student = student.float().requires_grad_(True)
    image, valid = photo_batch()
    trained = [p for n, p in student.named_parameters() if n.startswith("descriptor_")]
    optimiser = torch.optim.Adam(trained, lr=1e-3)
    losses = []
    for _ in range(steps):
        logits, described = student(image, descriptors=True)
        loss = loss_of(student, image, student.probability(logits), described, valid, np.random.default_rng(0))
        optimiser.zero_grad()
        loss.backward()
        assert all(p.grad is None for n, p in student.named_parameters() if n.startswith("head."))
        assert all(p.grad is not None and p.grad.any() for p in trained)
        optimiser.step()
        losses.append(loss.item())
    return losses


def one_step_row(store: Path, run: Path, term: str, **settings) -> dict:
    """The first logged row of a one-step run of a tiny student with 256-dimensional descriptors on ``store``, with
    ``losses.TERM``'s ``settings``."""
    cfg = tiny_config(store, steps=1, val_every=1)
    cfg.student.descriptor_dim = 256
    for key, value in settings.items():
        setattr(getattr(cfg.losses, term), key, value)
    train(cfg, run, progress=False)
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[0])


def test_the_true_assignment_follows_the_homography():
    """Points of image 1: the warps of points 0..3 of image 0 in another order (point 1's 2 px off), one 4 px
    from point 4's warp (neither a match nor unmatched), and one far from every warp."""
    hom = torch.tensor([[[0.9, -0.2, 12.0], [0.25, 1.1, -5.0], [1e-4, 2e-4, 1.0]]])
    xy0 = torch.tensor([[[20.0, 30.0], [60.0, 25.0], [40.0, 70.0], [90.0, 50.0], [70.0, 90.0], [10.0, 100.0]]])
    warped = transform_points(hom, xy0)[0]
    xy1 = torch.stack([warped[2], warped[0], warped[3], warped[1] + torch.tensor([2.0, 0.0]),
                       warped[4] + torch.tensor([0.0, 4.0]), torch.tensor([300.0, 300.0])])[None]
    matches, unmatched0, unmatched1 = true_assignment(xy0, xy1, hom, 3.0, 5.0)
    expected = torch.zeros(1, 6, 6, dtype=torch.bool)
    for i, j in [(0, 1), (1, 3), (2, 0), (3, 2)]:
        expected[0, i, j] = True
    assert torch.equal(matches, expected)
    assert unmatched0[0].tolist() == [False, False, False, False, False, True]
    assert unmatched1[0].tolist() == [False, False, False, False, False, True]


def test_the_views_of_the_released_student_match_under_their_homography():
    """The released student's points on a real photo and on its random warp: the warp's points are where the
    homography takes the crop's, so most of them are true matches."""
    student, _ = load_student(released_checkpoint("default"))
    image, valid = photo_batch()
    with torch.no_grad():
        logits, described = student(image, descriptors=True)
        views = warped_views(student, image, student.probability(logits), described, valid, np.random.default_rng(0), 100)
    assert views.xy0.shape == (2, 100, 2) and views.desc0.shape == (2, 100, 256) and not views.empty
    assert torch.allclose(views.desc1.norm(dim=-1), torch.ones(2, views.xy1.shape[1]), atol=1e-4)
    matches, _, _ = true_assignment(views.xy0, views.xy1, views.homography, 3.0, 5.0)
    assert matches.sum(dim=(1, 2)).min() > 40
