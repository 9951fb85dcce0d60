"""The technical report is generated from saved results only: every number in it comes from the files."""
import json
import re

import yaml
from typer.testing import CliRunner

from distill.cli import app
from distill.student.config import TrainConfig
from labels.configuration import plain, to_yaml


def fixture_numbers(*texts: str) -> set[str]:
    """Every number of the fixture files, as the report may print it."""
    values = {float(v) for text in texts for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)}
    return {f"{abs(v):.{d}f}" for v in values for d in (1, 2, 3)} | {f"{v:g}" for v in values}  # a sign is printed apart


def test_report_numbers_come_from_the_fixture_files(tmp_path):
    evaluation, run, matching, ablation = tmp_path / "eval", tmp_path / "run", tmp_path / "match", tmp_path / "ablation"
    for folder in (evaluation, run, matching, ablation):
        folder.mkdir()
    results = {"title": "HPatches (2 sequences)", "sequences": ["i_a", "v_b"],
               "protocol": {"size": [240, 320], "top_k": 300, "epsilon": 3.0, "nms_radius": 4},
               "detectors": [{"detector": "superpoint", "repeatability": {"all": 0.6271, "i": 0.7253, "v": 0.5302},
                              "localisation_error": {"all": 1.1213, "i": 0.9074, "v": 1.3341}, "ms_per_image": 431.7,
                              "speed_ratio_to_superpoint": 1.0},
                             {"detector": "student:demo/last", "repeatability": {"all": 0.6418, "i": 0.7122, "v": 0.5714},
                              "localisation_error": {"all": 1.0902, "i": 0.8876, "v": 1.2929}, "ms_per_image": 40.2,
                              "speed_ratio_to_superpoint": 0.0931}],
               "difference_from_superpoint": {"student:demo/last": {
                   "all": {"value": 0.0147, "low": -0.0213, "high": 0.0502, "above": 0.7815},
                   "i": None, "v": {"value": 0.0412, "low": 0.0104, "high": 0.0731, "above": 0.9905}}}}
    (evaluation / "results.json").write_text(json.dumps(results))
    config = TrainConfig(name="demo", stores=["data/labels/superpoint-9f75f921cf.h5"], steps=40)
    config.losses.consistency.weight, config.losses.consistency.shift = 0.03, 7  # make demo's round two
    config.losses.consistency.log_floor = 0.001
    (run / "config.yaml").write_text(to_yaml(config))
    (run / "provenance.yaml").write_text(yaml.safe_dump({"label_stores": {"data/labels/superpoint-9f75f921cf.h5": "9f75f921cf"},
                                                         "init": {"checkpoint": "runs/demo-round1/last.pt", "sha256": "53f835a8b00f7403f9",
                                                                  "loaded": ["backbone", "fpn"]}}))
    metrics = [{"kind": "train", "step": s, "focal": 0.01, "total": 0.02} for s in (10, 20, 30, 40)]
    metrics += [{"kind": "val", "step": 20, "repeatability": 0.6512}, {"kind": "val", "step": 40, "repeatability": 0.6433}]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    (matching / "results.json").write_text(json.dumps({"methods": [
        {"method": "superpoint+lightglue", "auc": {"1px": 0.3381, "3px": 0.6693, "5px": 0.7751}, "mma": {"3px": 0.8152}, "matches": 465.52}]}))
    (ablation / "table.json").write_text(json.dumps({
        "kind": "bench_student", "root": "hpatches", "columns": ["rep. all", "loc. err.", "ms"], "digits": [3, 3, 1], "rows": [
            {"detector": "abl-focal/last", "model": "cell, scale 0.5", "losses": "focal", "values": [0.6042, 1.1731, 27.14], "spread": None},
            {"detector": "mean ± std of s0, s1", "model": "cell", "losses": "focal", "values": [0.6158, 1.1522, 26.93],
             "spread": [0.0041, 0.0093, 0.47]}]}))
    result = CliRunner().invoke(app, ["report", "--eval", str(evaluation), "--run", str(run), "--matching", str(matching),
                                      "--ablation", str(ablation / "table.json"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "report.pdf").read_bytes().startswith(b"%PDF")
    files = [p.read_text() for folder in (evaluation, run, matching, ablation) for p in folder.iterdir()]
    allowed = fixture_numbers(*files, json.dumps(plain(config)))
    printed = re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", markdown)
    assert printed and set(printed) <= allowed, set(printed) - allowed
    assert "started from `runs/demo-round1/last.pt` (sha256 53f835a8b00f…; loaded: backbone, fpn)" in markdown
    assert "consistency (weight 0.03, under whole-pixel shifts of up to 7 px, on log-probabilities above 0.001)" in markdown
    assert "| student:demo/last | +0.015 [-0.021, +0.050] | — | +0.041 [+0.010, +0.073] | 0.78 |" in markdown  # the interval of the evaluation's results
    assert "AUC@3px minus" not in markdown  # matching results written before the intervals: no table
    for expected in ("0.642", "0.571", "1.09", "0.093", "0.669", "0.651", "9f75f921cf", "0.604", "0.616 ± 0.004", "26.9 ± 0.5"):
        assert expected in markdown
    missing = CliRunner().invoke(app, ["report", "--eval", str(tmp_path / "none"), "--run", str(run), "--out", str(tmp_path / "r2")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "empty").mkdir()
    missing = CliRunner().invoke(app, ["report", "--eval", str(tmp_path / "empty"), "--run", str(run), "--out", str(tmp_path / "r2")])
    assert missing.exit_code == 1 and "results.json: missing" in missing.output
