"""Balancing the head's input for int8 keeps the student's function."""
import pytest
import torch
from torch import nn

from distill.student.config import StudentConfig
from distill.student.balance import balance_descriptor_input, balance_for_int8, balance_head_input
from distill.student.model import Student


def student(**changes) -> Student:
    """A small random student in eval mode whose batch norms have non-trivial statistics."""
    torch.manual_seed(0)
    settings = dict(backbone_weights="none", fpn_channels=8, input_scale=0.5, detail_channels=16, head_channels=16)
    model = Student(StudentConfig(**{**settings, **changes})).eval()
    with torch.no_grad():
        for norm in model.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.2, 0.2)
                norm.running_mean.uniform_(-0.1, 0.1), norm.running_var.uniform_(0.5, 2.0)
    return model


def test_balancing_gives_the_head_input_one_range_and_keeps_the_output(photo):
    model = student(descriptor_dim=256)  # its descriptor head reads the same input as the keypoint head
    image = photo[None, :, :96, :128]
    with torch.no_grad():
        before = model.probability_map(image, descriptors=True)
        part = model.config.fpn_channels
        fused = model.encode(image)["fused"]
        assert fused[:, :part].abs().max() > 3 * fused[:, part:].abs().max()  # the random pyramid is wider
        scale = balance_head_input(model, [model.encode(image)])
        after = model.probability_map(image, descriptors=True)
        fused = model.encode(image)["fused"]
    assert 0 < scale < 1
    ratio = fused[:, :part].abs().flatten().quantile(0.9999) / fused[:, part:].abs().flatten().quantile(0.9999)
    assert ratio == pytest.approx(1, abs=0.15)  # quantiles of every 7th value, on the same image
    for old, new in zip(before, after):
        assert torch.allclose(old, new, atol=1e-5)


def test_a_descriptor_pyramid_of_its_own_is_balanced_against_the_detail_features(photo):
    model = student(descriptor_dim=256, descriptor_channels=8, descriptor_hidden=16)
    image = photo[None, :, :96, :128]

    def ranges() -> tuple[torch.Tensor, torch.Tensor]:
        read = model.descriptor_input(model.encode(image))
        channels = model.config.descriptor_channels
        return tuple(part.abs().flatten()[::7].quantile(0.9999) for part in (read[:, :channels], read[:, channels:]))  # as measured

    with torch.no_grad():
        model.descriptor_fpn.layer_blocks[0][0].weight.mul_(20)  # a pyramid far wider than the detail features
        model.descriptor_fpn.layer_blocks[0][0].bias.mul_(20)
        before = model.probability_map(image, descriptors=True)
        pyramid, detail = ranges()
        assert pyramid > 5 * detail
        scale = balance_descriptor_input(model, [model.encode(image)])
        after = model.probability_map(image, descriptors=True)
        pyramid, detail = ranges()
    assert 0 < scale < 1
    assert pyramid / detail == pytest.approx(1, abs=0.15)
    for old, new in zip(before, after):
        assert torch.allclose(old, new, atol=1e-5)


def test_a_head_that_reads_the_pyramid_alone_is_not_balanced(photo):
    model = student(detail_channels=0)
    with torch.no_grad():
        assert balance_head_input(model, [model.encode(photo[None, :, :96, :128])]) == 1.0


def test_one_pass_per_image_balances_both_heads_as_each_balance_alone(photo):
    """The export's balance encodes each calibration image once for both heads: the descriptor head's input does
    not read the keypoint head's pyramid, so the second balance gives what it gives on a fresh pass."""
    images = [photo[None, :, :96, :128].numpy()]
    one, separate = (student(descriptor_dim=256, descriptor_channels=8, descriptor_hidden=16) for _ in range(2))
    for model in (one, separate):
        with torch.no_grad():
            model.descriptor_fpn.layer_blocks[0][0].weight.mul_(20)
    scales = balance_for_int8(one, images)
    with torch.no_grad():
        expected = (balance_head_input(separate, [separate.encode(torch.from_numpy(images[0]))]),
                    balance_descriptor_input(separate, [separate.encode(torch.from_numpy(images[0]))]))
    assert scales == pytest.approx(expected, rel=1e-6) and 0 < scales[0] < 1 and 0 < scales[1] < 1
    for a, b in zip(one.state_dict().values(), separate.state_dict().values()):
        assert torch.equal(a, b)
