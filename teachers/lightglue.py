"""LightGlue (Lindenberger et al. 2023, kornia's implementation) with the SuperPoint LightGlue
weights, and the labelled match of an image with a warped copy of itself."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import torch
from kornia.feature import LightGlue

from teachers import weights
from teachers.config import LIGHTGLUE_DEPTH_CONFIDENCE, LIGHTGLUE_FILTER_THRESHOLD, LIGHTGLUE_WIDTH_CONFIDENCE, PairConfig
from teachers.homographies import sample_homography, warp_maps, warp_points
from teachers.keypoints import extract_keypoints
from teachers.superpoint import SuperPoint, sample_descriptors

EXPECTED_EXTRAS = re.compile(r"^log_assignment\.\d+\.r$")  # in the file, not used by kornia's module


def load_lightglue(weights_path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                   filter_threshold: float = LIGHTGLUE_FILTER_THRESHOLD, depth_confidence: float = LIGHTGLUE_DEPTH_CONFIDENCE,
                   width_confidence: float = LIGHTGLUE_WIDTH_CONFIDENCE) -> LightGlue:
    """kornia's LightGlue for 256-d SuperPoint descriptors, with the checksum-verified weights whose
    ``self_attn.N`` / ``cross_attn.N`` keys are renamed to ``transformers.N.self_attn`` / ``.cross_attn``.
    ``depth_confidence`` / ``width_confidence``: its early stopping and point pruning (its defaults; -1: off)."""
    path = weights.locate(weights.LIGHTGLUE, weights_path)
    model = LightGlue(features=None, input_dim=256, descriptor_dim=256, add_scale_ori=False, add_laf=False,
                      filter_threshold=filter_threshold, depth_confidence=depth_confidence, width_confidence=width_confidence)
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {re.sub(r"^(self_attn|cross_attn)\.(\d+)\.", r"transformers.\2.\1.", k): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(renamed, strict=False)
    wrong = [k for k in missing if k != "confidence_thresholds"] + [k for k in unexpected if not EXPECTED_EXTRAS.match(k)]
    if wrong:
        raise weights.WeightsError(f"{path} does not fit kornia's LightGlue: {wrong[:5]}")
    return model.eval().requires_grad_(False).to(device)


def pair_matcher(config: PairConfig, device: str | torch.device = "cpu") -> LightGlue:
    """The LightGlue that labels pairs under ``config``: its confidence threshold, early stopping and point pruning."""
    return load_lightglue(device=device, filter_threshold=config.filter_threshold, depth_confidence=config.depth_confidence,
                          width_confidence=config.width_confidence)


@dataclass
class PairMatches:
    homography: np.ndarray  # 3 x 3 float64, image -> warped copy
    keypoints0: np.ndarray  # N0 x 2 float32, SuperPoint points of the image
    keypoints1: np.ndarray  # N1 x 2 float32, of the warped copy
    matches: np.ndarray  # K x 2 int32, (index in keypoints0, index in keypoints1)
    confidence: np.ndarray  # K float32
    consistent: np.ndarray  # K bool, within consistency_px of the homography
    matchable: np.ndarray  # N0 bool, keypoint of the image matched consistently


@torch.inference_mode()
def match_warped_pair(teacher: SuperPoint, matcher: LightGlue, image: torch.Tensor, config: PairConfig, seed: int) -> PairMatches:
    """Warp a ``1 x H x W`` image by a random homography drawn from ``seed``, detect and describe
    SuperPoint points on both, match them with LightGlue, and label each match and keypoint."""
    device = next(teacher.parameters()).device
    _, h, w = image.shape
    homography = sample_homography(np.random.default_rng(seed), h, w, config.homography)
    hom = torch.from_numpy(homography).float().to(device)
    pair = torch.cat([image[None].to(device), warp_maps(image[None].to(device), hom[None], (h, w))])
    out = teacher(pair)
    points = extract_keypoints(out.probability, config.detection_threshold, 4, config.top_k, border=4)
    padded = (8 * out.descriptors.shape[-2], 8 * out.descriptors.shape[-1])  # the descriptors cover the image padded to 8
    features = [{"keypoints": p.xy[None], "descriptors": sample_descriptors(out.descriptors[i], p.xy, padded)[None],
                 "image_size": torch.tensor([[w, h]], device=device)} for i, p in enumerate(points)]
    result = matcher({"image0": features[0], "image1": features[1]})
    matches, scores = result["matches"][0], result["scores"][0]
    projected = warp_points(points[0].xy[matches[:, 0]], hom)
    consistent = torch.linalg.norm(projected - points[1].xy[matches[:, 1]], dim=1) <= config.consistency_px
    matchable = torch.zeros(len(points[0]), dtype=torch.bool, device=device)
    matchable[matches[consistent, 0]] = True
    return PairMatches(homography=homography, keypoints0=points[0].xy.cpu().numpy(), keypoints1=points[1].xy.cpu().numpy(),
                       matches=matches.cpu().numpy().astype(np.int32), confidence=scores.float().cpu().numpy(),
                       consistent=consistent.cpu().numpy(), matchable=matchable.cpu().numpy())
