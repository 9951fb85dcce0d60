"""``distill match``: match two images with a student that has descriptors (or with SuperPoint) and
draw the matches, inliers of the estimated homography green and the others red."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from distill.commands.common import OVERWRITE_HELP, fail, parse_size, refuse_existing, resolve_device, writable_or_creatable
from distill.student.checkpoint import CheckpointError
from labels.images import ImageError, read_grey, resize_image
from teachers.weights import WeightsError


PICTURES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")  # what matplotlib writes by the file's suffix


class Matcher(str, Enum):
    lightglue = "lightglue"
    mnn = "mnn"


def match_command(
    image1: Path = typer.Argument(..., exists=True, dir_okay=False, help="First image."),
    image2: Path = typer.Argument(..., exists=True, dir_okay=False, help="Second image."),
    checkpoint: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Student checkpoint with a descriptor head (student.descriptor_dim=256); "
                                              "without it, SuperPoint (the teacher)."),
    matcher: Matcher = typer.Option(Matcher.lightglue, help="lightglue: kornia's LightGlue with the stock SuperPoint weights; "
                                    "mnn: mutual nearest neighbours of the descriptors."),
    max_keypoints: int = typer.Option(1024, min=1, help="Keypoints per image (the best after NMS)."),
    size: Optional[str] = typer.Option(None, help="Resize both images to HxW first (default: as they are)."),
    ransac_px: float = typer.Option(3.0, min=0.0, help="USAC_MAGSAC inlier threshold of the homography (px)."),
    out: Path = typer.Option(Path("match.png"), help=f"Picture of the matches: a file ending in {', '.join(PICTURES)}."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Match two images (keypoints, descriptors, LightGlue or mutual nearest neighbours), fit a homography
    and draw the matches: inliers green, outliers red. Prints the keypoints, matches and inliers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distill.eval.detectors import build_detectors
    from distill.eval.matching import MatchingProtocol, homography_inliers, lightglue_matcher, mutual_nearest, network_extractor
    from distill.eval.matching_report import draw_matches
    from distill.student.detector import checkpoint_detector

    if out.is_dir():
        fail(f"--out {out} is a folder: give the picture's file name, e.g. {out / 'match.png'}", code=2)
    if out.suffix.lower() not in PICTURES:
        fail(f"--out {out}: a picture is written as {', '.join(PICTURES)}, not {out.suffix or 'a file without a suffix'}", code=2)
    writable_or_creatable(out.parent, "--out")
    refuse_existing([out], overwrite)
    device = resolve_device(device)
    try:
        greys = [read_grey(path) for path in (image1, image2)]
        if size:
            greys = [resize_image(grey, parse_size(size)) for grey in greys]
        detector = checkpoint_detector(checkpoint, device) if checkpoint else build_detectors(["superpoint"], device)[0]
        protocol = MatchingProtocol(max_keypoints=max_keypoints, ransac_px=ransac_px)
        extract = network_extractor(detector, protocol)
        match = lightglue_matcher(device) if matcher == Matcher.lightglue else mutual_nearest
    except (ImageError, CheckpointError, WeightsError) as error:
        fail(str(error))
    except ValueError as error:  # a student without descriptors
        fail(f"{checkpoint}: {error}", code=2)
    a, b = (extract(grey) for grey in greys)
    pairs = match(a, b, greys[0].shape[:2])
    p0, p1 = a.keypoints[pairs[:, 0]], b.keypoints[pairs[:, 1]]
    estimate, inliers = homography_inliers(p0, p1, protocol)
    fig, ax = plt.subplots(figsize=(10, 10 * max(g.shape[0] for g in greys) / sum(g.shape[1] for g in greys) + 0.6),
                           constrained_layout=True)
    draw_matches(ax, greys[0], greys[1], p0, p1, inliers)
    ax.set_title(f"{detector.name} + {matcher.value}: {int(inliers.sum())} inliers of {len(pairs)} matches "
                 f"(homography, {ransac_px:g} px)", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    typer.echo(f"keypoints  {len(a.keypoints)} / {len(b.keypoints)}\nmatches    {len(pairs)}\n"
               f"inliers    {int(inliers.sum())}{'' if estimate is not None else ' (no homography found)'}\nwrote      {out}")
