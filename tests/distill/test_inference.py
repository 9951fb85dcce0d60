"""Inference in PyTorch with batch norms folded and channels-last memory gives the loaded network's outputs."""
import copy

import numpy as np
import torch
from torch import nn

from distill.detection.detector import detect
from distill.pretrained import released_checkpoint
from distill.student.checkpoint import load_student
from distill.student.detector import checkpoint_detector, student_detector
from distill.student.inference import fold_batch_norms, for_inference, inference_student
from teachers.superpoint import SuperPoint


def test_the_released_student_folds_every_batch_norm_and_keeps_its_points_and_descriptors(photo):
    path = released_checkpoint("default")
    loaded, config = load_student(path)
    fast, _ = inference_student(path)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())  # the backbone's, the detail branch's, the heads'
    assert any(isinstance(m, nn.BatchNorm2d) for m in loaded.modules())  # the loaded model is left as it was
    assert fast.backbone.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    image = photo[None]
    with torch.inference_mode():
        (p, d), (q, e) = loaded.probability_map(image, descriptors=True), fast.probability_map(image, descriptors=True)
    assert (p - q).abs().max() < 1e-4 and (d - e).abs().max() < 1e-4
    grey = (photo[0].numpy() * 255).astype(np.uint8)
    before, _ = detect(student_detector(loaded, "loaded", config.detection), grey, top_k=200)
    after, _ = detect(checkpoint_detector(path), grey, top_k=200)
    assert len({tuple(p) for p in before} & {tuple(p) for p in after}) >= 0.99 * len(before)


def test_a_batch_norm_registered_after_a_convolution_it_does_not_read_is_not_folded():
    class Crossed(nn.Module):  # the norm reads the input, not the convolution registered before it
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x):
            return self.conv(self.norm(x))

    torch.manual_seed(0)
    model = Crossed().eval()
    model.norm.running_mean.uniform_(-1, 1), model.norm.running_var.uniform_(0.5, 2)
    x = torch.rand(1, 4, 16, 16)
    assert fold_batch_norms(copy.deepcopy(model)) == 1  # the rule alone would fold it, wrongly
    kept = for_inference(model, lambda m: (m(x),), "cpu")
    assert isinstance(kept.norm, nn.BatchNorm2d) and torch.allclose(kept(x), Crossed.forward(model, x))


def test_superpoint_runs_in_channels_last_memory_on_the_cpu_with_the_same_maps(teacher, photo):
    assert teacher.conv1a.weight.is_contiguous(memory_format=torch.channels_last)
    contiguous = copy.deepcopy(teacher).to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        a, b = teacher(photo[None]), contiguous(photo[None])
    assert (a.probability - b.probability).abs().max() < 1e-5 and (a.descriptors - b.descriptors).abs().max() < 1e-5


def test_the_layout_experiment_times_every_network_before_and_now():
    from tests.conftest import run_script

    result = run_script("inference_layout", "--size", "64x96", "--images", "1", "--rounds", "1", "-n", "2", "--top-k", "50",
                        "--label-size", "48x64")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and not line.startswith("| network")]
    assert [row.split(" | ")[0] for row in rows] == ["| default release", "| fast release", "| SuperPoint",
                                                      "| SuperPoint, homographic adaptation (N=2, 48x64)"]
    assert all(float(row.split(" | ")[-1].strip(" |")) >= 0.9 for row in rows[:3])  # the same points, up to ties
