"""``distill eval``: repeatability, localisation error and speed of detectors on HPatches or on
synthetic warps of the embedded photos."""
from __future__ import annotations

import platform
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from distill.choices import AVAILABLE, CLASSICAL, EVAL_SEED, METHODS, RESIZE, STUDENT_METHODS
from distill.commands.common import (CHECKPOINT_HELP, CONFIG_HELP, OVERWRITE_HELP, SET_HELP, SHOW_CONFIG_HELP, RUNTIME_HELP, Runtime, command_config, echo_results, fail, image_inputs,
                                     load_or_fail, parse_size, resolve_device, usable_out_folder, hpatches_sequences,
                                     synthetic_sequences)
from labels.images import EMBEDDED, HELD_OUT
from labels.synthetic_shapes import ShapesConfig
from teachers.config import DetectionConfig

if TYPE_CHECKING:  # the evaluation itself (torch) loads when a command runs, not for --help
    from distill.detection.detector import ScoreMapDetector
    from distill.eval.protocol import DetectorResult, Protocol

SPEED_HELP = "Also time each detector on a 480x640 image (median of 15, detectors in turns so that machine drift weighs on all alike)."

app = typer.Typer(help="Evaluate detectors: repeatability, localisation error and speed.", no_args_is_help=True)

DEFAULT_DETECTORS = ["superpoint", *CLASSICAL]
RESULTS = "results.json"  # every evaluation writes it: an --out that holds one is not overwritten without --overwrite


class ProtocolName(str, Enum):
    standard = "standard"
    large = "large"
    ait = "ait"


class Kind(str, Enum):
    i = "i"
    v = "v"


class Illumination(str, Enum):
    mixed = "mixed"
    exposure = "exposure"
    blur = "blur"


ILLUMINATION_HELP = ("The i_* sequences' changes: mixed (gain, gamma, blur and noise growing along the sequence), exposure "
                     "(a series of darker shots, down to 3 stops, kept in 8 bits with sensor noise, as in HPatches' i_leuven) "
                     "or blur (a defocus series, Gaussian sigma 0.6 to 3 px at 480x640 with sensor noise, as in HPatches' i_bikes). "
                     "The v_* sequences are the same for all three.")


def _build(detectors: list[str] | None, old_detectors: list[str] | None, checkpoints: list[str] | None, device: str,
           ha_homographies: int, runtime: Runtime = Runtime.torch) -> list[ScoreMapDetector]:
    """The named detectors (``--detector``, and the hidden ``--detectors`` of old; ``DEFAULT_DETECTORS`` when
    neither is given), then a student per checkpoint, built as ``distill.Detector`` builds them; a bad name,
    weight file or checkpoint ends the command."""
    built = load_or_fail((detectors or []) + (old_detectors or []) or DEFAULT_DETECTORS, checkpoints or [], device,
                         runtime.value, ha_homographies)
    return [detector.detector for detector in built]


def _seeds(detectors: list[ScoreMapDetector], checkpoints: list[str] | None) -> list[list[str]]:
    """The names of the students that are seeds of one recipe, a list per recipe
    (:func:`distill.student.seeds.seed_groups`); the students are the last of ``detectors``, one per checkpoint, in order."""
    if not checkpoints:
        return []
    from distill.api import checkpoint_path
    from distill.student.seeds import seed_groups

    students = detectors[len(detectors) - len(checkpoints):]
    return [[students[i].name for i in group] for group in seed_groups([checkpoint_path(c) for c in checkpoints])]


def _run(sequences, title: str, built: list[ScoreMapDetector], protocol: Protocol, device: str, out: Path, speed: bool,
         quiet: bool, seeds: list[list[str]] = ()) -> list[DetectorResult]:
    import torch

    from distill.eval.protocol import evaluate
    from distill.eval.report import write_outputs
    from distill.eval.speed import detection_ms
    from labels.images import resize_image

    results = evaluate(built, sequences, protocol, progress=not quiet)
    if speed:
        probe = resize_image(sequences[0].images[0], (480, 640))
        for result, ms in zip(results, detection_ms(built, probe, protocol.top_k, protocol.nms_radius)):
            result.ms_per_image = ms
        reference = next((r.ms_per_image for r in results if r.detector == "superpoint"), None)
        for result in results:
            result.speed_ratio = result.ms_per_image / reference if reference else None
    meta = {"device": device, "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
            "sequences": [s.name for s in sequences]}
    paths = write_outputs(out, results, built, sequences, protocol, title, meta, seeds)
    typer.echo(paths[1].read_text())  # results.md
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
    return results


def _protocol(name: ProtocolName | None, config: Optional[Path], override: Optional[List[str]], explicit: dict, show: bool):
    """The evaluation protocol: the named preset (``standard``, ``large``, ``ait``; ``Protocol`` in
    distill/eval/protocol.py), then ``--config``, ``--set`` and the command's own options, typed and checked
    as train's and labels' configurations are (a problem is a usage error); ``--show-config`` prints it."""
    from distill.eval.protocol import Protocol

    named = (name or ProtocolName.standard).value
    preset = Protocol.named(named)
    values = {"size": None if preset.size is None else list(preset.size), "top_k": preset.top_k, "resize": preset.resize}
    return command_config(Protocol, config, override, explicit, show, (f"--protocol {named}", values))


PROTOCOL_HELP = ("standard (240x320, 300 points), large (480x640, 1000 points) or ait (the assignment's evaluator: "
                 f"full resolution, 300 points, 3 px; every detector at the working resolution, a long side of {RESIZE} px, "
                 "as the API detects: --set resize=null for full resolution).")
SUBPIXEL_HELP = "Refine every detector's points to the vertex of a parabola fit to its 3x3 neighbourhood."


DETECTORS_HELP = f"Detector to evaluate (repeatable): {', '.join(AVAILABLE)}. Default: {', '.join(DEFAULT_DETECTORS)}."


@app.command()
def hpatches(
    root: Optional[Path] = typer.Option(None, help="HPatches sequences folder (default: $HPATCHES_ROOT, then data/hpatches)."),
    detectors: Optional[List[str]] = typer.Option(None, "--detector", "-d", help=DETECTORS_HELP),
    old_detectors: Optional[List[str]] = typer.Option(None, "--detectors", hidden=True),
    checkpoint: Optional[List[str]] = typer.Option(None, help=f"{CHECKPOINT_HELP} Evaluated too (repeatable)."),
    runtime: Runtime = typer.Option(Runtime.torch, help=RUNTIME_HELP),
    protocol: ProtocolName = typer.Option(ProtocolName.standard, help=PROTOCOL_HELP),
    size: Optional[str] = typer.Option(None, help="Override the protocol's image size HxW."),
    subpixel: bool = typer.Option(False, "--subpixel", help=SUBPIXEL_HELP),
    detect_scale: Optional[List[float]] = typer.Option(
        None, min=0.05, max=4.0, help="Detect on every image resized by this factor and map the points back to the "
        "evaluated pixels (default 1; e.g. 0.5 under --protocol ait: networks trained at 240x320 see full-resolution "
        "images out of scale). Repeatable: every detector is then evaluated at each scale (outputs in <out>/scale-S/, "
        "timed once) and <out>/best-scale.md lists each detector's best scale for i, v and all."),
    top_k: Optional[int] = typer.Option(None, min=1, help="Override the number of best points kept per image."),
    epsilon: Optional[float] = typer.Option(None, min=0.0, help="Override the distance (px) under which a point is repeated."),
    nms_radius: Optional[int] = typer.Option(None, min=0, help="Override the NMS radius (px)."),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    override: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    show_config: bool = typer.Option(False, "--show-config", help=SHOW_CONFIG_HELP),
    only: Optional[Kind] = typer.Option(None, help="Only i (illumination) or v (viewpoint) sequences."),
    ha_homographies: int = typer.Option(100, min=1, help="Homographies of the superpoint-ha detector."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    speed: bool = typer.Option(True, help=SPEED_HELP),
    out: Path = typer.Option(Path("out/eval-hpatches"), help="Folder for results.json, results.md and the figures."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Repeatability (i, v, all), localisation error and speed on HPatches, all detectors in one run."""
    scored = _protocol(protocol, config, override, {"size": list(parse_size(size)) if size else None, "top_k": top_k,
                                                    "epsilon": epsilon, "nms_radius": nms_radius, "subpixel": subpixel or None},
                       show_config)
    if detect_scale:  # an explicit --detect-scale replaces the working resolution (scale 1: full resolution)
        scored = replace(scored, resize=None)
    scales = list(dict.fromkeys(detect_scale or [scored.detect_scale]))
    usable_out_folder(out, [RESULTS] if len(scales) == 1 else [f"scale-{scale:g}/{RESULTS}" for scale in scales] + ["best-scale.json"],
                      overwrite)
    sequences = hpatches_sequences(root, only.value if only else None)
    device = resolve_device(device)
    built = _build(detectors, old_detectors, checkpoint, device, ha_homographies, runtime)
    title = f"HPatches ({len(sequences)} sequences)"
    seeds = _seeds(built, checkpoint)
    runs = {scale: _run(sequences, title, built, replace(scored, detect_scale=scale), device,
                        out if len(scales) == 1 else out / f"scale-{scale:g}", speed and index == 0, quiet, seeds)
            for index, scale in enumerate(scales)}
    if len(scales) > 1:
        from distill.eval.best_scale import write_best_scales

        paths = write_best_scales(out, runs, title, scored.describe())
        echo_results(paths)


IMAGES_HELP = "Photos (files or folders, repeatable) to build synthetic sequences from."
VALIDATION_HELP = ("Instead, the photos a training run on this label store holds out for validation (15% of its images, "
                   "by hash): choose a lever there, never on the evaluation sequences.")


def _photos(images: list[Path] | None, photos: int | None, validation: Path | None) -> tuple[list[Path], str] | None:
    """The photos of synthetic sequences and what they are, from ``--images``, ``--photos`` or ``--validation``
    (at most one); None when none is given."""
    if sum(bool(x) for x in (images, photos, validation)) > 1:
        fail("--images, --photos and --validation: choose one source of photos", code=2)
    if images:
        return [path for path, _ in image_inputs(images)], "photos given with --images"
    if photos:
        from labels.images import embedded_images

        return embedded_images()[:photos], "embedded photos (the demo's training photos)"
    if validation:
        from distill.student.data import validation_photos
        from labels.store import StoreError

        try:
            return validation_photos(validation), f"validation photos of {validation.name}"
        except StoreError as error:
            fail(str(error))
    return None


def _held_out() -> tuple[list[Path], str]:
    from labels.images import held_out_images

    return held_out_images(), "held-out photos no shipped or demo student trains on"


WARP_STRENGTH_HELP = ("Scale the v_* warps' scaling, perspective and rotation amplitudes by this factor (2: rotations up to "
                      "30 degrees, twice the scale and perspective changes).")


def strength_note(strength: float, illumination: Illumination = Illumination.mixed) -> str:
    series = {Illumination.exposure: ", i_* an exposure series", Illumination.blur: ", i_* a defocus series"}
    return (f", warp strength {strength:g}" if strength != 1 else "") + series.get(illumination, "")


@app.command()
def warped(
    detectors: Optional[List[str]] = typer.Option(None, "--detector", "-d", help=DETECTORS_HELP),
    old_detectors: Optional[List[str]] = typer.Option(None, "--detectors", hidden=True),
    checkpoint: Optional[List[str]] = typer.Option(None, help=f"{CHECKPOINT_HELP} Evaluated too (repeatable)."),
    runtime: Runtime = typer.Option(Runtime.torch, help=RUNTIME_HELP),
    images: Optional[List[Path]] = typer.Option(None, "--images", help=f"{IMAGES_HELP} Default: the held-out photos that ship "
                                                f"with scikit-image ({', '.join(Path(inner).name for _, inner in HELD_OUT)}), "
                                                "which no released or demo student trains on."),
    photos: Optional[int] = typer.Option(None, min=1, max=len(EMBEDDED), help="Instead, the first N embedded photos: the demo's "
                                         "training photos, which flatter a student trained on them."),
    validation: Optional[Path] = typer.Option(None, "--validation", help=VALIDATION_HELP),
    seed: int = typer.Option(0, help="Seed of the homographies and photometric changes."),
    warp_strength: float = typer.Option(1.0, min=0.1, max=3.0, help=WARP_STRENGTH_HELP),
    illumination: Illumination = typer.Option(Illumination.mixed, help=ILLUMINATION_HELP),
    protocol: ProtocolName = typer.Option(ProtocolName.standard, help=PROTOCOL_HELP),
    subpixel: bool = typer.Option(False, "--subpixel", help=SUBPIXEL_HELP),
    config: Optional[Path] = typer.Option(None, help=CONFIG_HELP),
    override: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    show_config: bool = typer.Option(False, "--show-config", help=SHOW_CONFIG_HELP),
    ha_homographies: int = typer.Option(100, min=1, help="Homographies of the superpoint-ha detector."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    speed: bool = typer.Option(True, help=SPEED_HELP),
    out: Path = typer.Option(Path("out/eval-warped"), help="Folder for results.json, results.md and the figures."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """The same protocol on SYNTHETIC sequences of photos, for a machine without HPatches.

    Two sequences per photo: seeded random homographies (v_*) and photometric changes (i_*)."""
    scored = _protocol(protocol, config, override, {"subpixel": subpixel or None}, show_config)
    paths, source = _photos(images, photos, validation) or _held_out()
    usable_out_folder(out, [RESULTS], overwrite)
    sequences = synthetic_sequences(paths, seed, warp_strength, illumination.value)
    device = resolve_device(device)
    built = _build(detectors, old_detectors, checkpoint, device, ha_homographies, runtime)
    note = strength_note(warp_strength, illumination)
    _run(sequences, f"SYNTHETIC warps of {len(paths)} {source} (seed {seed}{note}; not HPatches)", built,
         scored, device, out, speed, quiet, _seeds(built, checkpoint))


@app.command()
def synthetic(
    detectors: Optional[List[str]] = typer.Option(None, "--detector", "-d", help=DETECTORS_HELP),
    old_detectors: Optional[List[str]] = typer.Option(None, "--detectors", hidden=True),
    checkpoint: Optional[List[str]] = typer.Option(None, help=f"{CHECKPOINT_HELP} Evaluated too (repeatable)."),
    count: int = typer.Option(240, "--count", min=1, help="Images in the fixed set (30 of each primitive)."),
    old_count: Optional[int] = typer.Option(None, "--images", min=1, hidden=True),
    size: str = typer.Option("120x160", help="Image size HxW."),
    seed: int = typer.Option(EVAL_SEED, help="Seed of the set (the default is never used for training)."),
    epsilon: float = typer.Option(3.0, min=0.0, help="A detection is correct within this distance (px) of an unclaimed corner."),
    nms_radius: int = typer.Option(DetectionConfig.nms_radius, min=0, help="NMS radius (px)."),
    top_k: int = typer.Option(100, min=1, help="Best points kept per image."),
    ha_homographies: int = typer.Option(100, min=1, help="Homographies of the superpoint-ha detector."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    out: Path = typer.Option(Path("out/eval-synthetic"), help="Folder for results.json, results.md and precision_recall.png."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Detection mAP and localisation error on synthetic shapes with exact corners."""
    usable_out_folder(out, [RESULTS], overwrite)
    shape = parse_size(size)
    built = _build(detectors, old_detectors, checkpoint, resolve_device(device), ha_homographies)
    count = old_count or count
    from distill.eval.synthetic import evaluate_synthetic, write_synthetic_outputs

    results = evaluate_synthetic(built, count, ShapesConfig(size=shape), seed, epsilon, nms_radius, top_k, progress=not quiet)
    meta = {"title": f"SYNTHETIC shapes ({count} images)", "images": count, "size": list(shape), "seed": seed,
            "epsilon": epsilon, "nms_radius": nms_radius, "top_k": top_k}
    paths = write_synthetic_outputs(out, results, meta)
    echo_results(paths)


@app.command()
def matching(
    root: Optional[Path] = typer.Option(None, help="HPatches sequences folder (default: $HPATCHES_ROOT, then data/hpatches)."),
    methods: Optional[List[str]] = typer.Option(None, "--method", "-m", help=f"extractor+matcher to evaluate (repeatable): "
                                                f"{', '.join(METHODS + STUDENT_METHODS)} (student: with --checkpoint). Default: all."),
    checkpoint: Optional[List[str]] = typer.Option(None, help="A student (a checkpoint, or pretrained / pretrained:NAME; repeatable) with a descriptor head (student.descriptor_dim=256), "
                                              "matched with the stock SuperPoint LightGlue weights and by mutual nearest neighbours."),
    runtime: Runtime = typer.Option(Runtime.torch, help=RUNTIME_HELP),
    superpoint_runtime: Runtime = typer.Option(Runtime.torch, help="Run SuperPoint (the superpoint+ methods) with PyTorch, or "
                                               "with ONNX Runtime, float or int8 (its export, cached in ~/.cache/distill/onnx; "
                                               "needs the \\[onnx] extra), as `distill bench speed` times it."),
    size: Optional[str] = typer.Option(None, help="Image size HxW every image is resized to \\[default: 480x640]."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "--max-keypoints", min=1,
                                        help="Keypoints per image (the best after NMS; --max-keypoints is the old name) \\[default: 1024]."),
    config: Optional[Path] = typer.Option(None, help="YAML file of matching-protocol keys (see --show-config)."),
    override: Optional[List[str]] = typer.Option(None, "--set", help="key=value override of the matching protocol, e.g. ransac_px=2, "
                                                 "ransac_draws=25 for every pair's homography from its matches in 25 orders and AUC the "
                                                 "mean over them (on 30 pairs one RANSAC draw moves AUC@3px by about 0.01), "
                                                 "filter_threshold=0.5 for LightGlue's matches above that confidence for every method (default: each network's "
                                                 "own, a released student's or the one a checkpoint stores, else LightGlue's 0.1), "
                                                 "lightglue_depth_confidence=0.95 and lightglue_width_confidence=0.99 for LightGlue's "
                                                 "early stopping and point pruning (its own settings, for speed; -1, the default: all "
                                                 "layers on all points, the same on a CPU and a GPU), "
                                                 "or \"scales=[1, 0.78, 0.625, 0.5]\" for the networks' keypoints from score maps "
                                                 "averaged over those scales (repeatable)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the matching protocol this run would use, as YAML, and stop."),
    only: Optional[Kind] = typer.Option(None, help="Only i (illumination) or v (viewpoint) sequences."),
    subpixel: bool = typer.Option(False, "--subpixel", help="Refine the networks' keypoints to the vertex of a parabola fit "
                                  "to their 3x3 neighbourhood (SuperPoint's and the students' alike)."),
    images: Optional[List[Path]] = typer.Option(None, "--images", help=f"{IMAGES_HELP} Instead of HPatches: SYNTHETIC sequences, "
                                                "seeded homographies (v_*) and photometric changes (i_*) of each photo."),
    validation: Optional[Path] = typer.Option(None, "--validation", help=VALIDATION_HELP),
    seed: int = typer.Option(0, help="Seed of the synthetic sequences' homographies and photometric changes."),
    warp_strength: float = typer.Option(1.0, min=0.1, max=3.0, help=WARP_STRENGTH_HELP),
    illumination: Illumination = typer.Option(Illumination.mixed, help=ILLUMINATION_HELP),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    out: Path = typer.Option(Path("out/eval-matching"), help="Folder for results.json, results.md, auc_time.png and matches.png."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Matching on HPatches, every method in one run.

    Homography AUC at 1/3/5 px (mean corner error, USAC_MAGSAC at 3 px), mean matching accuracy, matches per pair,
    extraction and matching time."""
    from distill.eval.matching import MatchingProtocol

    protocol = command_config(MatchingProtocol, config, override, {"size": list(parse_size(size)) if size else None,
                                                                   "max_keypoints": top_k, "subpixel": subpixel or None}, show_config)
    photos = _photos(images, None, validation)
    if photos and root:
        fail("--root and --images / --validation: choose HPatches or synthetic sequences", code=2)
    usable_out_folder(out, [RESULTS], overwrite)
    if photos:
        paths, source = photos
        sequences = [s for s in synthetic_sequences(paths, seed, warp_strength, illumination.value) if not only or s.kind == only.value]
        title = (f"SYNTHETIC matching: warps of {len(paths)} {source} (seed {seed}{strength_note(warp_strength, illumination)}; "
                 "not HPatches)")
    else:
        sequences = hpatches_sequences(root, only.value if only else None)
        title = f"HPatches matching ({len(sequences)} sequences)"
    import torch

    from distill.eval.matching import build_methods, evaluate_matching
    from distill.eval.matching_report import write_matching_outputs
    from teachers.weights import WeightsError

    device = resolve_device(device)
    students = [d.detector for d in load_or_fail([], checkpoint or [], device, runtime.value)]
    names = methods or METHODS + (STUDENT_METHODS if students else [])
    superpoint = None
    if superpoint_runtime != Runtime.torch and any(n.startswith("superpoint+") for n in names):
        from distill.student.superpoint_onnx import superpoint_onnx_detector
        from distill.student.onnx_model import OnnxUnavailableError

        try:
            superpoint = superpoint_onnx_detector(superpoint_runtime.value)
        except OnnxUnavailableError as error:
            fail(str(error))
        title += f"; SuperPoint in ONNX Runtime{' int8' if superpoint_runtime == Runtime.onnx_int8 else ''}"
    try:
        built = build_methods(names, device, protocol, students, superpoint)
    except ValueError as error:
        fail(str(error), code=2)
    except WeightsError as error:
        fail(str(error))
    results = evaluate_matching(built, sequences, protocol, progress=not quiet)
    meta = {"device": device, "torch_threads": torch.get_num_threads(), "superpoint_runtime": superpoint_runtime.value,
            "sequences": [s.name for s in sequences]}
    paths = write_matching_outputs(out, results, built, sequences, protocol, title, meta, _seeds(students, checkpoint))
    echo_results(paths)
