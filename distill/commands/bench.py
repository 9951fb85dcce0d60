"""``distill bench``: the product's benchmarks, each writing results.json and results.md to --out (the
figures of docs/benchmarks.md and of the report come from them)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from distill.choices import CLASSICAL
from distill.commands.common import (OVERWRITE_HELP, checkpoint_argument, echo_results, fail, hpatches_sequences, parse_size,
                                     resolve_device, synthetic_sequences, usable_out_folder)

app = typer.Typer(help="Benchmarks: students against the teacher, speed in every runtime, labelling cost, the CLI's own start.", no_args_is_help=True)

ROOT_HELP = "HPatches sequences folder (default: $HPATCHES_ROOT, then data/hpatches)."


@app.command()
def students(
    checkpoint: List[str] = typer.Option(..., help="Student checkpoint, or pretrained / pretrained:NAME (repeatable); runs that "
                                         "differ only by seed also get a mean ± std row."),
    root: Optional[Path] = typer.Option(None, help=ROOT_HELP),
    held_out: bool = typer.Option(False, "--held-out", help="Instead of HPatches, SYNTHETIC warps of the held-out photos that "
                                  "`distill eval warped` uses by default (seed 0), for a machine without HPatches."),
    subpixel: bool = typer.Option(False, "--subpixel", help="Also evaluate every detector with sub-pixel refinement."),
    out: Path = typer.Option(Path("out/bench-students"), help="Folder for results.json (`distill report --ablation`) and results.md."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Students against SuperPoint on HPatches (standard protocol), or with --held-out on synthetic warps.

    Repeatability, localisation error, time per 480x640 image end to end and each student's recipe; the seeds of one
    recipe as mean ± std."""
    if held_out and root:
        fail("--root and --held-out: choose one set of sequences", code=2)
    checkpoints = [checkpoint_argument(c) for c in checkpoint]
    usable_out_folder(out, ["results.json"], overwrite)
    if held_out:
        from labels.images import held_out_images

        sequences = synthetic_sequences(held_out_images(), seed=0)
        source = f"SYNTHETIC warps of {len(sequences) // 2} held-out photos (seed 0; not HPatches, {len(sequences)} sequences)"
    else:
        sequences = hpatches_sequences(root)
        source = f"HPatches ({len(sequences)} sequences)"
    import torch

    from distill.bench.results import write_results
    from distill.bench.students import bench_students, markdown

    table = bench_students(checkpoints, sequences, subpixel)
    title = (f"{source}, standard protocol (240x320, 300 points, eps 3 px); time per 480x640 "
             f"image end to end through distill.Detector, {torch.get_num_threads()} CPU threads")
    echo_results(write_results(out, {**table, "title": title}, markdown(table, title)))


@app.command()
def speed(
    checkpoint: List[str] = typer.Option(..., help="Student checkpoint, or pretrained / pretrained:NAME (repeatable)."),
    root: Optional[Path] = typer.Option(None, help="HPatches folder: add every row's accuracy (repeatability under the standard "
                                        "protocol; with --descriptors, matching AUC@3px with the stock LightGlue, the mean over 25 RANSAC draws per pair), so that int8 "
                                        "competes for the headline only where it holds within 0.01."),
    descriptors: bool = typer.Option(False, "--descriptors", help="Time keypoints and their descriptors, as a matcher takes them "
                                     "(SuperPoint's and students' with a descriptor head), instead of keypoints alone."),
    detector: Optional[List[str]] = typer.Option(None, "--detector", "-d", help=f"A classical detector to time in the same turns, "
                                                 f"for reference (repeatable; keypoints only): {', '.join(CLASSICAL)}."),
    top_k: Optional[int] = typer.Option(None, min=1, help="Keypoints kept per image \\[default: 300; 1024, the matching "
                                        "protocol's, with --descriptors]."),
    rounds: int = typer.Option(15, min=1, help="Timed rounds (detectors in turns, one image each per round)."),
    repeat: int = typer.Option(1, min=1, help="Time everything this many times; each headline ratio is given with every value."),
    out: Path = typer.Option(Path("out/bench-speed"), help="Folder for results.json and results.md."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """SuperPoint and students in PyTorch, ONNX Runtime and ONNX Runtime int8, in one run.

    End to end through distill.Detector on a 480x640 image (and each network's score map alone); the headline is
    each student's fastest runtime against SuperPoint's fastest."""
    checkpoints = [checkpoint_argument(c) for c in checkpoint]
    unknown = [name for name in detector or [] if name not in CLASSICAL]
    if unknown:
        fail(f"--detector {', '.join(unknown)}: not a classical detector; choose from {', '.join(CLASSICAL)}", code=2)
    if descriptors and detector:
        fail("--detector times keypoints only: leave it out of a timing with --descriptors", code=2)
    usable_out_folder(out, ["results.json"], overwrite)
    sequences = hpatches_sequences(root) if root else None
    from distill.bench.results import write_results
    from distill.bench.speed import bench_speed, markdown
    from labels.images import embedded_images, read_grey, resize_image

    from distill.bench.speed import NoDescriptorsError
    from distill.eval.matching import MatchingProtocol

    top_k = top_k or (MatchingProtocol.max_keypoints if descriptors else 300)
    try:
        table = bench_speed(checkpoints, resize_image(read_grey(embedded_images()[0]), (480, 640)), top_k, rounds, repeat,
                            sequences, detector or [], descriptors)
    except NoDescriptorsError as error:
        fail(str(error), code=2)
    echo_results(write_results(out, table, markdown(table)))


@app.command()
def parts(
    checkpoint: List[str] = typer.Option(..., help="Student checkpoint, or pretrained / pretrained:NAME (repeatable)."),
    descriptors: bool = typer.Option(True, "--descriptors/--keypoints-only", help="Time keypoints and their descriptors, "
                                     "as a matcher takes them, or keypoints alone (the descriptor branch never runs)."),
    top_k: Optional[int] = typer.Option(None, min=1, help="Keypoints kept per image \\[default: 1024, the matching "
                                        "protocol's; 300 with --keypoints-only]."),
    size: str = typer.Option("480x640", help="Image size HxW (an embedded photo resized to it)."),
    rounds: int = typer.Option(15, min=1, help="Timed rounds (SuperPoint and the students in turns, one call each per round)."),
    out: Path = typer.Option(Path("out/bench-parts"), help="Folder for results.json and results.md."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Where a student's time goes, part by part, against SuperPoint's end to end, in PyTorch.

    Backbone, pyramid, detail branch, keypoint head and the descriptor branch (its deeper backbone stages where it has
    them, its pyramid and head), each timed inside end-to-end calls
    through distill.Detector, and the rest (resizing, NMS, top-k, sampling); each as a share of the student's time and
    of SuperPoint's, timed in the same turns."""
    checkpoints = [checkpoint_argument(c) for c in checkpoint]
    shape = parse_size(size)
    usable_out_folder(out, ["results.json"], overwrite)
    from distill.bench.parts import bench_parts, markdown
    from distill.bench.results import write_results
    from labels.images import embedded_images, read_grey, resize_image

    try:
        table = bench_parts(checkpoints, resize_image(read_grey(embedded_images()[0]), shape), top_k or (1024 if descriptors else 300),
                            rounds, descriptors)
    except ValueError as error:
        fail(str(error), code=2)
    echo_results(write_results(out, table, markdown(table)))


@app.command()
def labels(
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto."),
    images: int = typer.Option(3, min=1, help="Embedded photos to label."),
    size: str = typer.Option("240x320", help="Labelling size HxW."),
    homographies: Optional[List[int]] = typer.Option(None, "--homographies", "-n", min=1,
                                                     help="N to time (repeatable) \\[default: 1, 10, 100]."),
    batch_size: Optional[List[int]] = typer.Option(None, "--batch-size", min=1, help="Warps per teacher forward to time at each N "
                                                   "(repeatable; runtime.batch_size of distill labels) \\[default: 1, 8]."),
    out: Path = typer.Option(Path("out/bench-labels"), help="Folder for results.json and results.md."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Labelling time per image against its floor: N single teacher passes, measured in the same run.

    At N = 1, 10 and 100 homographies, one warp per teacher forward and in batches, and what --lightglue adds."""
    shape = parse_size(size)
    usable_out_folder(out, ["results.json"], overwrite)
    from distill.bench.labelling import bench_labelling, markdown
    from distill.bench.results import write_results

    table = bench_labelling(resolve_device(device), images, shape, tuple(homographies or (1, 10, 100)), tuple(batch_size or (1, 8)))
    echo_results(write_results(out, table, markdown(table)))


@app.command()
def stores(
    images: int = typer.Option(1000, min=1, help="Stand-in images (240x320 labels) split across the shard stores."),
    shards: Optional[List[int]] = typer.Option(None, "--shards", min=1, help="Shard counts to merge (repeatable) \\[default: 2, 4, 8]."),
    index_size: Optional[List[int]] = typer.Option(None, "--index-size", min=1, help="Images in an index to rebuild (repeatable) "
                                                   "\\[default: 1000, 10000, 100000]."),
    out: Path = typer.Option(Path("out/bench-stores"), help="Folder for results.json and results.md."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """What the label store's single-writer design costs at scale.

    Merging 2, 4 and 8 shard stores, and rebuilding an index of 1k, 10k and 100k images (each labelling commit and
    each merge does it)."""
    usable_out_folder(out, ["results.json"], overwrite)
    from distill.bench.results import write_results
    from distill.bench.stores import bench_stores, markdown

    table = bench_stores(images, tuple(shards or (2, 4, 8)), tuple(index_size or (1_000, 10_000, 100_000)))
    echo_results(write_results(out, table, markdown(table)))


@app.command()
def cli(
    runs: int = typer.Option(3, min=1, help="Runs of each command (the median is reported)."),
    out: Path = typer.Option(Path("out/bench-cli"), help="Folder for results.json and results.md."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Wall time of the command line's start, each in a new process as a user runs it.

    `distill --help`, two commands' --help and `distill detect --pretrained` on one 480x640 image."""
    usable_out_folder(out, ["results.json"], overwrite)
    from distill.bench.cli import bench_cli, markdown
    from distill.bench.results import write_results

    table = bench_cli(runs)
    echo_results(write_results(out, table, markdown(table)))
