from dataclasses import replace

import pytest
import torch

from distill.student.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from distill.student.config import StudentConfig, TrainConfig
from distill.student.initialise import initialise_from
from distill.student.model import Student
from distill.student.narrow import narrow
from labels.configuration import ConfigError

WIDE = StudentConfig(backbone_weights="none", fpn_channels=16, detail_channels=32, head_channels=32)


def student_with_dead_channels() -> Student:
    """A wide student (eval mode, random batch-norm statistics) whose odd channels are dead (gamma 0,
    beta -1: ReLU gives 0) in the detail blocks that narrowing halves and in the head's hidden layer."""
    torch.manual_seed(0)
    model = Student(WIDE).eval()
    blocks = [layer for layer in model.detail if isinstance(layer, torch.nn.Sequential)][1:] + [model.head[0]]
    with torch.no_grad():
        for block in blocks:
            norm = block[1]
            norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.2, 0.2)
            norm.running_mean.uniform_(-0.1, 0.1), norm.running_var.uniform_(0.5, 2.0)
            norm.weight[1::2], norm.bias[1::2] = 0.0, -1.0
    return model


def test_narrowing_keeps_the_channels_the_next_layer_reads():
    """With half of the channels dead, the narrowed network must keep exactly the live ones: its score
    map is the wide network's."""
    wide = student_with_dead_channels()
    small_config = replace(WIDE, detail_channels=16, head_channels=16)
    small = Student(small_config).eval()
    small.load_state_dict(narrow(wide, small_config))
    assert small.head[0][0].weight.shape == (16, 16 + 16, 3, 3)
    assert (small.head[0][1].weight != 0).all()
    image = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(small.probability_map(image), wide.probability_map(image), atol=1e-6, rtol=1e-5)


def test_init_narrows_a_checkpoint_and_refuses_to_widen(tmp_path):
    checkpoint = tmp_path / "wide.pt"
    save_checkpoint(checkpoint, student_with_dead_channels(), None, None, 0, -1.0, TrainConfig(student=WIDE))
    small = Student(replace(WIDE, detail_channels=16, head_channels=8, input_scale=0.375))
    assert initialise_from(small, str(checkpoint)).loaded == ["backbone", "fpn", "detail", "head"]
    with pytest.raises(CheckpointError, match="can only narrow"):
        initialise_from(Student(replace(WIDE, head_channels=64)), str(checkpoint))
    with pytest.raises(CheckpointError, match="fpn_channels differ"):
        initialise_from(Student(replace(WIDE, fpn_channels=8)), str(checkpoint))


def test_init_swaps_to_a_backbone_of_the_same_tensors_and_starts_another_fresh(tmp_path):
    """``efficientnet_lite0`` is ``tf_efficientnet_lite0`` with static padding: every part loads. A backbone of
    other tensors starts fresh, and so does the pyramid that reads its channels."""
    checkpoint = tmp_path / "tf.pt"
    save_checkpoint(checkpoint, Student(WIDE), None, None, 0, -1.0, TrainConfig(student=WIDE))
    static = Student(replace(WIDE, backbone="efficientnet_lite0"))
    assert initialise_from(static, str(checkpoint)).loaded == ["backbone", "fpn", "detail", "head"]
    saved = read_checkpoint(checkpoint).model
    assert all(torch.equal(v, saved[k]) for k, v in static.state_dict().items())
    other = Student(replace(WIDE, backbone="mobilenetv3_small_050"))
    assert initialise_from(other, str(checkpoint)).loaded == ["detail", "head"]
    coarser = Student(replace(WIDE, detail_start=4, head_channels=16))  # the head narrows; the detail branch starts fresh
    assert initialise_from(coarser, str(checkpoint)).loaded == ["backbone", "fpn", "head"]
    with pytest.raises(CheckpointError, match="cannot also be narrowed"):
        initialise_from(Student(replace(WIDE, detail_start=4, detail_channels=16)), str(checkpoint))


def test_a_one_by_one_head_starts_from_the_centre_taps_of_a_three_by_three_one(tmp_path):
    """``head_kernel=1`` from a 3x3 checkpoint, narrowed at the same time: the head loads the centre taps
    of the channels narrowing keeps; everything else loads as it is."""
    checkpoint = tmp_path / "three.pt"
    wide = student_with_dead_channels()
    save_checkpoint(checkpoint, wide, None, None, 0, -1.0, TrainConfig(student=WIDE))
    config = replace(WIDE, head_channels=16, head_kernel=1, downscale="area", input_scale=0.25)
    one = Student(config)
    assert initialise_from(one, str(checkpoint)).loaded == ["backbone", "fpn", "detail", "head"]
    narrowed = narrow(wide, replace(WIDE, head_channels=16))["head.0.0.weight"]
    assert one.head[0][0].weight.shape == (16, 16 + 32, 1, 1)
    assert torch.equal(one.head[0][0].weight, narrowed[:, :, 1:2, 1:2])


def test_fewer_backbone_levels_cut_the_deepest_stage_and_load_the_rest_from_a_checkpoint(tmp_path):
    """``backbone_levels=3``: the pyramid reads strides 4 to 16, the stride-32 stage is not in the network
    (fewer parameters, not only an unused output), and the kept levels load from a four-level checkpoint;
    more levels than the checkpoint's are refused."""
    checkpoint = tmp_path / "four.pt"
    torch.manual_seed(0)
    save_checkpoint(checkpoint, Student(WIDE), None, None, 0, -1.0, TrainConfig(student=WIDE))
    three = Student(replace(WIDE, backbone_levels=3))
    assert three.backbone.feature_info.reduction() == [4, 8, 16]
    assert [f.shape[-2] for f in three.backbone(torch.rand(1, 3, 64, 96))] == [16, 8, 4]
    assert sum(p.numel() for p in three.backbone.parameters()) < 0.4 * sum(p.numel() for p in Student(WIDE).backbone.parameters())
    assert initialise_from(three, str(checkpoint)).loaded == ["backbone", "fpn", "detail", "head"]
    saved = read_checkpoint(checkpoint).model
    assert all(torch.equal(v, saved[k]) for k, v in three.state_dict().items())
    shallow = tmp_path / "three.pt"
    save_checkpoint(shallow, three, None, None, 0, -1.0, TrainConfig(student=replace(WIDE, backbone_levels=3)))
    with pytest.raises(CheckpointError, match="backbone_levels differ"):
        initialise_from(Student(WIDE), str(shallow))


def test_init_fresh_parts_keep_their_fresh_weights(tmp_path):
    """``init_fresh``: a part the checkpoint holds starts fresh (another seed of it); the rest load."""
    checkpoint = tmp_path / "trained.pt"
    save_checkpoint(checkpoint, student_with_dead_channels(), None, None, 0, -1.0, TrainConfig(student=WIDE))
    torch.manual_seed(1)
    model = Student(WIDE)
    fresh_head = {k: v.clone() for k, v in model.head.state_dict().items()}
    assert initialise_from(model, str(checkpoint), fresh=("head",)) == (["backbone", "fpn", "detail"], ["head"])
    assert all(torch.equal(v, fresh_head[k]) for k, v in model.head.state_dict().items())
    saved = read_checkpoint(checkpoint).model
    assert all(torch.equal(v, saved[f"detail.{k}"]) for k, v in model.detail.state_dict().items())
    with pytest.raises(ConfigError, match="init_fresh: unknown part"):
        initialise_from(model, str(checkpoint), fresh=("heads",))
