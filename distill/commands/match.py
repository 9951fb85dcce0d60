"""``distill match``: match two images with a student that has descriptors (or with SuperPoint) and
draw the matches, inliers of the estimated homography green and the others red."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from distill.choices import FILTER_THRESHOLD, MATCH_RESIZE, MATCHERS, MULTISCALE
from distill.commands.common import CHECKPOINT_HELP, OVERWRITE_HELP, fail, load_or_fail, parse_size, refuse_existing, writable_or_creatable
from distill.pretrained import RELEASES
from labels.images import ImageError, read_grey, resize_image
from teachers.weights import WeightsError


PICTURES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")  # what matplotlib writes by the file's suffix


MatcherName = Enum("MatcherName", {name: name for name in MATCHERS}, type=str)
Release = Enum("Release", {name: name for name in RELEASES}, type=str)


def match_command(
    image1: Path = typer.Argument(..., exists=True, dir_okay=False, help="First image."),
    image2: Path = typer.Argument(..., exists=True, dir_okay=False, help="Second image."),
    checkpoint: Optional[str] = typer.Option(None, help=f"{CHECKPOINT_HELP} It needs a descriptor head (student.descriptor_dim=256). "
                                             "Without it or --pretrained, SuperPoint (the teacher)."),
    pretrained: bool = typer.Option(False, "--pretrained", help="The released student of --release (instead of --checkpoint)."),
    release: Release = typer.Option("default", help="Which released student --pretrained loads: default (the most accurate) or fast (the fastest; both describe their points)."),
    matcher: MatcherName = typer.Option("lightglue", help="lightglue: kornia's LightGlue with the stock SuperPoint weights; "
                                        "mnn: mutual nearest neighbours of the descriptors."),
    top_k: int = typer.Option(1024, "--top-k", "--max-keypoints", min=1, help="Keypoints per image (the best after NMS; --max-keypoints is the old name)."),
    size: Optional[str] = typer.Option(None, help="Resize both images to HxW first (default: as they are)."),
    resize: int = typer.Option(MATCH_RESIZE, min=0, help="Working resolution: an image whose long side exceeds this many pixels "
                               "is detected and described at that long side (LightGlue's default), its keypoints mapped back "
                               "to its own pixels; 0: at full resolution."),
    ransac_px: float = typer.Option(3.0, min=0.0, help="USAC_MAGSAC inlier threshold of the homography (px)."),
    filter_threshold: Optional[float] = typer.Option(None, min=0.0, max=0.999, help="LightGlue: keep the mutual matches above this "
                                                     "confidence. Default: the released student's own, chosen on validation photos "
                                                     "(default 0.7, fast 0.5), or the one a checkpoint stores (distill export "
                                                     f"--filter-threshold), else LightGlue's own {FILTER_THRESHOLD:g}."),
    adaptive: bool = typer.Option(False, "--adaptive", help="LightGlue: its early stopping and point pruning (its own defaults; "
                                  "faster, and on the CPU it prunes points that a GPU keeps). Default: all layers on all points, "
                                  "as distill eval matching measures."),
    multiscale: bool = typer.Option(False, "--multiscale", help="Keypoints from the score maps of each image at "
                                    f"{', '.join(f'{f:g}' for f in MULTISCALE)} of its size averaged before NMS (the "
                                    "descriptors stay the image's own): keypoints that hold across a change of view, "
                                    "for about twice the extraction time."),
    out: Path = typer.Option(Path("match.png"), help=f"Picture of the matches: a file ending in {', '.join(PICTURES)}; beside it "
                             "OUT.npz (keypoints0/1, matches, scores, homography, inliers) and OUT.json (counts, homography)."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Match two images, fit a homography and draw the matches: inliers green, outliers red.

    Keypoints and descriptors, matched by LightGlue or mutual nearest neighbours. Prints the keypoints, matches and
    inliers, and saves them with the picture (distill.match in Python gives the same)."""
    if out.is_dir():
        fail(f"--out {out} is a folder: give the picture's file name, e.g. {out / 'match.png'}", code=2)
    if out.suffix.lower() not in PICTURES:
        fail(f"--out {out}: a picture is written as {', '.join(PICTURES)}, not {out.suffix or 'a file without a suffix'}", code=2)
    if checkpoint is not None and pretrained:
        fail("give --checkpoint or --pretrained, not both", code=2)
    from distill.detection.detector import check_resize  # torch: not loaded for --help

    try:
        check_resize(resize or None)
    except ValueError as error:
        fail(f"--resize {resize}: {error} (0: full resolution)", code=2)
    writable_or_creatable(out.parent, "--out")
    refuse_existing([out, out.with_suffix(".npz"), out.with_suffix(".json")], overwrite)
    spec = checkpoint or (f"pretrained:{release.value}" if pretrained else None)
    detector = load_or_fail(["superpoint"] if spec is None else [], [spec] if spec else [], device)[0]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distill.eval.matching_report import draw_matches
    from distill.matcher import Matcher

    try:
        greys = [read_grey(path) for path in (image1, image2)]
        if size:
            greys = [resize_image(grey, parse_size(size)) for grey in greys]
        pair = Matcher(detector, matcher.value, top_k, ransac_px, device, MULTISCALE if multiscale else (1.0,), resize or None,
                       filter_threshold, adaptive)
    except (ImageError, WeightsError) as error:
        fail(str(error))
    except ValueError as error:  # a student without descriptors
        fail(f"{spec}: {error}", code=2)
    result = pair(*greys)
    fig, ax = plt.subplots(figsize=(10, 10 * max(g.shape[0] for g in greys) / sum(g.shape[1] for g in greys) + 0.6),
                           constrained_layout=True)
    draw_matches(ax, greys[0], greys[1], result.points0, result.points1, result.inliers)
    ax.set_title(f"{pair.name}: {int(result.inliers.sum())} inliers of {len(result.matches)} matches "
                 f"(homography, {ransac_px:g} px)", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    saved = result.save(out)
    confidence = "" if pair.filter_threshold is None else f"threshold  {pair.filter_threshold:g} (LightGlue's confidence)\n"
    typer.echo(f"keypoints  {len(result.keypoints0)} / {len(result.keypoints1)}\n{confidence}matches    {len(result.matches)}\n"
               f"inliers    {int(result.inliers.sum())}{'' if result.homography is not None else ' (no homography found)'}\n"
               f"wrote      {out}, {saved[0]}, {saved[1]}")
