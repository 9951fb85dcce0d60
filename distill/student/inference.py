"""A loaded network made fast for inference in PyTorch, with the same function up to float rounding.

- **Batch norms folded** into the convolution before them: ``w' = w * g / sqrt(v + eps)``,
  ``b' = (b - m) * g / sqrt(v + eps) + beta`` (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`); timm's
  ``BatchNormAct2d`` keeps its activation. ONNX Runtime does the same to an exported graph.
- **Channels-last memory** on the CPU (:func:`teachers.layout.channels_last`), as SuperPoint runs.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from distill.student.checkpoint import load_student
from distill.student.config import TrainConfig
from distill.student.model import Student
from teachers.layout import channels_last


def fold_batch_norms(model: nn.Module) -> int:
    """Fold, in place, each eval-mode ``BatchNorm2d`` into the ``Conv2d`` registered just before it in the same
    parent, when it normalises that convolution's channels (timm's blocks, ``conv-bn-relu`` sequences); the
    registration order is a rule, not a guarantee, so :func:`for_inference` checks the result. Returns the number folded."""
    from timm.layers import BatchNormAct2d

    folded = 0
    for parent in list(model.modules()):
        children = list(parent.named_children())
        for (_, conv), (name, norm) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.num_features == conv.out_channels:
                fused = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, norm)
                conv.weight, conv.bias = fused.weight, fused.bias
                setattr(parent, name, nn.Sequential(norm.drop, norm.act) if isinstance(norm, BatchNormAct2d) else nn.Identity())
                folded += 1
    return folded


@torch.no_grad()  # not inference_mode: the folded weights must stay usable wherever the model runs
def for_inference(model: nn.Module, outputs: Callable[[nn.Module], tuple[torch.Tensor, ...]], device: str | torch.device) -> nn.Module:
    """A copy of ``model`` (eval mode) with its batch norms folded, in channels-last memory on the CPU, when
    ``outputs(copy)`` equals ``outputs(model)`` within 1e-4; else ``model`` itself, in channels-last memory (a batch
    norm was registered after a convolution it does not read). Its parameters no longer require gradients."""
    folded = copy.deepcopy(model)
    if fold_batch_norms(folded) and all(torch.allclose(a, b, atol=1e-4, rtol=1e-4) for a, b in zip(outputs(folded), outputs(model))):
        model = folded
    return channels_last(model.requires_grad_(False), device)


def inference_student(path: Path, device: str = "cpu") -> tuple[Student, TrainConfig]:
    """The student of a checkpoint (:func:`distill.student.checkpoint.load_student`) made fast for inference
    (:func:`for_inference`, checked on a random ``1 x 1 x 128 x 160`` image, descriptors included), and its configuration."""
    model, config = load_student(path, device)
    probe = torch.rand(1, 1, 128, 160, generator=torch.Generator().manual_seed(0)).to(device)

    def outputs(student: Student) -> tuple[torch.Tensor, ...]:
        out = student.probability_map(probe, descriptors=student.descriptor_head is not None)
        return out if isinstance(out, tuple) else (out,)

    return for_inference(model, outputs, device), config
