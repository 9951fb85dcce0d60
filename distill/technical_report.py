"""The technical report (``distill report``): ``report.md`` and ``report.pdf`` generated from saved
results only: an evaluation's ``results.json`` (``distill eval hpatches``), a training run's
``config.yaml``, ``provenance.yaml`` and ``metrics.jsonl``, and optionally a matching benchmark's
``results.json``. Every number in the report is read from those files; the prose around them is fixed."""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from distill.eval.paired_bootstrap import interval_cells
from distill.eval.report import quality_cost_chart
from distill.student.checkpoint import upgrade_format_1
from distill.student.config import TrainConfig
from labels.configuration import ConfigError, from_dict, plain


class ReportError(RuntimeError):
    """A results file is missing or not of the expected kind; the message names it."""


@dataclass
class Sources:
    evaluation: dict  # results.json of distill eval hpatches
    run_config: dict  # runs/<name>/config.yaml
    provenance: dict  # runs/<name>/provenance.yaml
    metrics: list[dict]  # runs/<name>/metrics.jsonl
    matching: dict | None  # results.json of distill eval matching
    ablation: dict | None  # results.json of distill bench students (scripts/experiments/ablation.sh)
    run: Path
    evaluation_dir: Path


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise ReportError(f"{path}: missing (run the evaluation that writes it first)")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"{path}: not a results file ({error})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not a results file (a JSON {type(data).__name__}, not an object)")
    return data


def _parsed(path: Path, parse):
    """``parse(text of path)``; text that is not UTF-8, YAML or JSON as parse expects is a ReportError naming the file."""
    try:
        return parse(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        raise ReportError(f"{path}: cannot be read ({str(error).splitlines()[0]})") from None


def read_sources(evaluation: Path, run: Path, matching: Path | None = None, ablation: Path | None = None) -> Sources:
    for name in ("config.yaml", "metrics.jsonl"):
        if not (run / name).is_file():
            raise ReportError(f"{run / name}: missing; --run must be a training run folder (runs/<name>)")
    provenance = run / "provenance.yaml"
    data = _load_json(evaluation / "results.json")
    if "detectors" not in data:
        raise ReportError(f"{evaluation / 'results.json'}: not the results of distill eval hpatches")
    saved = _parsed(run / "config.yaml", yaml.safe_load) or {}
    if not isinstance(saved, dict):
        raise ReportError(f"{run / 'config.yaml'}: not a training configuration")
    older = {k: saved.pop(k) for k in ("label_stores", "world_size") if k in saved}  # runs before provenance.yaml
    if "student" not in saved:
        saved = upgrade_format_1(saved)
    try:
        config = plain(from_dict(TrainConfig, saved, str(run / "config.yaml")))
    except ConfigError as error:
        raise ReportError(str(error)) from None
    metrics = _parsed(run / "metrics.jsonl", lambda text: [json.loads(line) for line in text.splitlines() if line.strip()])
    return Sources(data, config, _parsed(provenance, yaml.safe_load) if provenance.is_file() else older, metrics,
                   _load_json(matching / "results.json") if matching else None, _load_ablation(ablation), run, evaluation)


def _load_ablation(path: Path | None) -> dict | None:
    if path is None:
        return None
    table = _load_json(path)
    if table.get("kind") != "bench_student":
        raise ReportError(f"{path}: not the results.json of distill bench students")
    return table


def ablation_rows(table: dict) -> list[list[str]]:
    """One row per detector of a bench_student table: name, recipe, each column (mean ± std for seed groups)."""
    rows = []
    for entry in table["rows"]:
        spread = entry["spread"] or [None] * len(entry["values"])
        rows.append([entry["detector"], f"{entry['model']}; {entry['losses']}"]
                    + [fmt(v, d) + (f" ± {fmt(s, d)}" if s is not None else "") for v, s, d in zip(entry["values"], spread, table["digits"])])
    return rows


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def detection_rows(evaluation: dict) -> list[list[str]]:
    rows = []
    for d in evaluation["detectors"]:
        r, e = d["repeatability"], d["localisation_error"]
        rows.append([d["detector"], fmt(r["all"]), fmt(r["i"]), fmt(r["v"]), fmt(e["all"], 2), fmt(d.get("ms_per_image"), 1),
                     fmt(d.get("speed_ratio_to_superpoint"), 3)])
    return rows


def matching_rows(matching: dict) -> list[list[str]]:
    return [[m["method"], fmt(m["auc"]["1px"]), fmt(m["auc"]["3px"]), fmt(m["auc"]["5px"]), fmt(m["mma"]["3px"]),
             fmt(m["matches"], 1)] for m in matching["methods"]]


def difference_rows(differences: dict) -> list[list[str]]:
    """Each method's difference from the reference (all pairs, ``i``, ``v``) with its bootstrap interval, and its share
    of draws above it (``difference_from_*`` of results.json)."""
    return [[name] + interval_cells(kinds) + [f"{kinds['all']['above']:.2f}"] for name, kinds in differences.items()]


def difference_lines(differences: dict | None, quantity: str, reference: str) -> list[str]:
    """A table of :func:`difference_rows` with its explanation; nothing for results written before the intervals."""
    if not differences:
        return []
    return ([f"{quantity} minus {reference}'s on the same pairs, with a 95% paired bootstrap interval over the sequences "
             "(distill/eval/paired_bootstrap.py; the spread over training seeds is not in it):", ""]
            + table_md(["method", "all", "i", "v", f"draws above {reference} (all)"], difference_rows(differences)) + [""])


def student_lines(config: dict, provenance: dict) -> list[str]:
    """The student's architecture, losses and training, and the checkpoint it started from (``--init``)."""
    s = config["student"]
    losses = [f"{name} (weight {spec['weight']:g}" + (f", target threshold {spec['threshold']:g}" if spec.get("threshold") else "")
              + (f", under whole-pixel shifts of up to {spec['shift']} px" if spec.get("shift") else "")
              + (f", on log-probabilities above {spec['log_floor']:g}" if spec.get("log_floor") else "") + ")"
              for name, spec in config["losses"].items() if spec["weight"] and (name != "descriptor" or s.get("descriptor_dim"))]
    init = provenance.get("init")
    return [f"Backbone `{s['backbone']}` (weights: {s['backbone_weights']}) at input scale {s['input_scale']:g}"
            + (" (area downscale)" if s.get("downscale") == "area" else "")
            + f", FPN {s['fpn_channels']} channels, {s['head']} head ({s['head_channels']} channels"
            + (", 1×1)" if s.get("head_kernel") == 1 else ")")
            + (f", detail branch {s['detail_channels']} channels from {s['detail_start']}×{s['detail_start']} blocks" if s["detail_channels"] else "")
            + (f", descriptor head {s['descriptor_dim']}-D" if s.get("descriptor_dim") else "") + ".",
            f"Losses: {', '.join(losses)}.",
            f"Training: {config['steps']} steps, batch {config['batch_size']} crops of {config['crop'][0]}×{config['crop'][1]}, "
            f"AdamW lr {config['lr']:g} with a cosine schedule, seed {config['seed']}"
            + (f", started from `{init['checkpoint']}` (sha256 {init['sha256'][:12]}…; loaded: {', '.join(init.get('loaded', []))})"
               if init else ", started from the backbone's ImageNet weights") + "."]


def table_md(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


DETECTION_HEADER = ["detector", "rep. all", "rep. i", "rep. v", "loc. err. (px)", "ms / 480×640", "× SuperPoint"]
MATCHING_HEADER = ["method", "AUC@1px", "AUC@3px", "AUC@5px", "MMA@3px", "matches"]
APPROACH = [
    "A SuperPoint teacher (MagicLeap weights) labels each training image once with homographic adaptation: "
    "N random homographies, the teacher's heatmap of every warp warped back and averaged over the views that "
    "see each pixel, with the variance across views as the teacher's uncertainty. The labels are cached in an "
    "HDF5 store and reused by every training run; training never calls the teacher.",
    "The student is a small pretrained backbone (timm) with a feature pyramid and a keypoint head. Its losses: "
    "focal loss on the teacher's keypoints; attentive loss mean(w·ρ(σ(s)−t)) with w = 1/(2σ²+ε) normalised to "
    "mean 1, so pixels where every homography agrees dominate; optionally KL to the teacher's cell distributions, "
    "Huber regression, consistency and repeatability between a crop and its warp.",
]
LIMITATIONS = [
    "Figures come from one evaluation run and one training run: differences between detectors smaller than the "
    "spread between training seeds (see docs/benchmarks.md) are not findings.",
    "The evaluation set is small (the sequences listed above): a difference whose interval above reaches across 0 "
    "is not resolved by it; timings are medians on a shared machine, so ratios measured in one run are the claim, "
    "not absolute times.",
]


def store_line(path: str, recorded: str | dict) -> str:
    """A store of provenance.yaml: its name, hash and (runs since stores carry details) teacher and images."""
    if isinstance(recorded, str):  # runs that recorded the hash alone
        return f"`{Path(path).name}` (hash {recorded})"
    return f"`{Path(path).name}` (hash {recorded['hash']}, {recorded['teacher']} labels of {recorded['images']} images)"


def build_markdown(sources: Sources) -> str:
    ev, config = sources.evaluation, sources.run_config
    protocol = ev.get("protocol", {})
    size = protocol.get("size")
    train_rows = [r for r in sources.metrics if r["kind"] == "train"]
    val_rows = [r for r in sources.metrics if r["kind"] == "val"]
    best = max(val_rows, key=lambda r: r["repeatability"]) if val_rows else None
    lines = ["# Distilling SuperPoint into a small detector: technical report", "",
             "## Task and approach", ""] + [p + "\n" for p in APPROACH]
    lines += ["## Student", ""] + [f"- {line}" for line in student_lines(config, sources.provenance)] + [""]
    stores = sources.provenance.get("label_stores", {})
    lines += ["## Data", "",
              f"- Training: label store(s) {', '.join(store_line(p, h) for p, h in stores.items()) or ', '.join(config['stores'])}; "
              f"{config['val_fraction']:g} of the images (by hash) held out for validation.",
              f"- Evaluation: {ev['title']}: {', '.join(ev.get('sequences', []))}; "
              f"{'full resolution' if not size else f'{size[0]}×{size[1]}'} grey, {protocol.get('top_k')} best points, "
              f"ε = {protocol.get('epsilon')} px, NMS radius {protocol.get('nms_radius')}.", "",
              "## Results: detection", ""]
    lines += table_md(DETECTION_HEADER, detection_rows(ev)) + [""]
    lines += difference_lines(ev.get("difference_from_superpoint"), "Repeatability", "SuperPoint")
    lines += ["![quality against cost](quality_cost.png)", "", "![repeatability](repeatability.png)", ""]
    if sources.matching:
        lines += ["## Results: matching", ""] + table_md(MATCHING_HEADER, matching_rows(sources.matching)) + [""]
        lines += difference_lines(sources.matching.get("difference_from_superpoint_lightglue"), "AUC@3px", "SuperPoint + LightGlue")
    if sources.ablation:
        lines += ["## Ablation", "", f"Students of the recipes below against the teacher on `{sources.ablation['root']}` "
                  "(distill bench students, one run; rows with ± are the mean and standard deviation over seeds).", ""]
        lines += table_md(["detector", "recipe"] + sources.ablation["columns"], ablation_rows(sources.ablation)) + [""]
    lines += ["## Training run", "",
              f"Run `{sources.run.name}`: {train_rows[-1]['step'] if train_rows else 0} steps; validation repeatability "
              + (f"{fmt(best['repeatability'])} at its best (step {best['step']}), {fmt(val_rows[-1]['repeatability'])} at the last "
                 f"validation (step {val_rows[-1]['step']})." if best else "not recorded."), "",
              "![training](metrics.png)", "", "## Limitations and what was not tried", ""]
    lines += [f"- {line}" for line in LIMITATIONS] + [""]
    return "\n".join(lines)


def build_pdf(markdown: str, folder: Path, out: Path) -> None:
    """The markdown rendered with reportlab (headings, paragraphs, lists, tables, figures)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    styles["Heading2"].keepWithNext = 1  # never a heading alone at the foot of a page
    body = styles["BodyText"]
    body.fontSize, body.leading = 8.5, 11
    story, table = [], []

    def inline(text: str) -> str:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts = text.split("`")
        return "".join(f"<font face='Courier'>{p}</font>" if i % 2 else p for i, p in enumerate(parts))

    def flush_table() -> None:
        if table:
            widths = [4.2 * cm] + [(17.5 - 4.2) * cm / (len(table[0]) - 1)] * (len(table[0]) - 1)
            t = Table([[Paragraph(inline(c), body) for c in row] for row in table], colWidths=widths, repeatRows=1)
            t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                                   ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
            story.extend([t, Spacer(1, 6)])
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            if not line.startswith("|---"):
                table.append([c.strip() for c in line.strip("|").split("|")])
            continue
        flush_table()
        if line.startswith("# "):
            story.append(Paragraph(inline(line[2:]), styles["Title"]))
        elif line.startswith("## "):
            story.append(Paragraph(inline(line[3:]), styles["Heading2"]))
        elif line.startswith("!["):
            image = folder / line[line.index("(") + 1:line.rindex(")")]
            if image.is_file():
                story.append(Image(str(image), width=15 * cm, height=15 * cm * _aspect(image), kind="proportional"))
        elif line.startswith("- "):
            story.append(Paragraph("• " + inline(line[2:]), body))
        elif line.strip():
            story.append(Paragraph(inline(line), body))
    flush_table()
    SimpleDocTemplate(str(out), pagesize=A4, leftMargin=1.8 * cm, rightMargin=1.8 * cm, topMargin=1.5 * cm,
                      bottomMargin=1.5 * cm, title="distill technical report").build(story)


def _aspect(image: Path) -> float:
    import matplotlib.image

    h, w = matplotlib.image.imread(str(image)).shape[:2]
    return h / w


def write_report(evaluation: Path, run: Path, out: Path, matching: Path | None = None, ablation: Path | None = None) -> list[Path]:
    """``out/report.md``, ``out/report.pdf`` and the figures they show."""
    sources = read_sources(evaluation, run, matching, ablation)
    out.mkdir(parents=True, exist_ok=True)
    timed = [(d["detector"], d["ms_per_image"], d["repeatability"]["all"]) for d in sources.evaluation["detectors"] if d.get("ms_per_image")]
    if timed:
        quality_cost_chart(timed, out / "quality_cost.png", sources.evaluation["title"])
    for name, source in [("repeatability.png", evaluation / "repeatability.png"), ("metrics.png", run / "metrics.png")]:
        if source.is_file():
            shutil.copyfile(source, out / name)
    markdown = build_markdown(sources)
    (out / "report.md").write_text(markdown)
    build_pdf(markdown, out, out / "report.pdf")
    return [out / "report.md", out / "report.pdf"]
