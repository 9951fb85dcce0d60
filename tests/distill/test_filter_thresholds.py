"""scripts/experiments/filter_thresholds.py: AUC@3px at several LightGlue confidence thresholds from one LightGlue run
per pair, as `distill eval matching --set filter_threshold=T` measures each."""
from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from distill.cli import app
from tests.conftest import run_script


def test_the_thresholds_table_agrees_with_the_matching_command_at_its_threshold(hpatches_root, tmp_path):
    script = run_script("filter_thresholds", "--root", str(hpatches_root))
    assert script.returncode == 0, script.stderr
    rows = dict(re.findall(r"^\| superpoint \| ([\d.]+) \| ([\d.]+) \|", script.stdout, re.MULTILINE))
    assert list(rows) == ["0.1", "0.2", "0.3", "0.5", "0.7", "0.9"]
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["eval", "matching", "--root", str(hpatches_root), "-m", "superpoint+lightglue",
                                      "--set", "filter_threshold=0.5", "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "LightGlue matches above 0.5 confidence" in (out / "results.md").read_text()
    method = json.loads((out / "results.json").read_text())["methods"][0]
    assert f"{method['auc']['3px']:.3f}" == rows["0.5"]
