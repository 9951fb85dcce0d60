"""The benchmarks as commands: each writes results.json and results.md with the rows it promises, measured
on tiny real inputs (the figures themselves are machine-dependent and not asserted)."""
import json

import pytest
from typer.testing import CliRunner

from distill.cli import app

runner = CliRunner()


def test_bench_students_writes_the_ablation_table_the_report_reads(hpatches_root, tmp_path):
    result = runner.invoke(app, ["bench", "students", "--checkpoint", "pretrained:fast", "--root", str(hpatches_root),
                                 "--out", str(tmp_path / "students")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "students" / "results.json").read_text())
    assert table["kind"] == "bench_student" and [r["detector"] for r in table["rows"]][0] == "superpoint"
    assert len(table["rows"]) == 2 and all(len(r["values"]) == len(table["columns"]) for r in table["rows"])
    assert table["rows"][0]["values"][-1] == 1.0  # SuperPoint's time against itself
    assert "| superpoint |" in (tmp_path / "students" / "results.md").read_text()
    student, teacher = table["rows"][1], table["rows"][0]
    assert teacher["difference"] is None and student["difference"]["value"] == pytest.approx(student["values"][0] - teacher["values"][0])
    assert student["difference"]["low"] <= student["difference"]["value"] <= student["difference"]["high"]
    again = runner.invoke(app, ["bench", "students", "--checkpoint", "pretrained:fast", "--root", str(hpatches_root),
                                "--out", str(tmp_path / "students")])
    assert again.exit_code == 2 and "exists already" in again.output


def test_bench_labels_compares_adaptation_with_its_floor(tmp_path):
    result = runner.invoke(app, ["bench", "labels", "--images", "1", "--size", "48x64", "-n", "1", "-n", "2", "--batch-size", "1",
                                 "--batch-size", "2", "--out", str(tmp_path / "l")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "l" / "results.json").read_text())
    assert [(r["homographies"], r["batch_size"]) for r in table["rows"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(r["ratio"] > 0.3 for r in table["rows"])
    assert "--lightglue adds" in result.output


def test_bench_cli_times_help_and_a_first_detection_in_new_processes(tmp_path):
    result = runner.invoke(app, ["bench", "cli", "--runs", "1", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    rows = {row["command"]: row["seconds"] for row in json.loads((tmp_path / "cli" / "results.json").read_text())["rows"]}
    assert set(rows) == {"distill --help", "distill detect --help", "distill eval hpatches --help",
                         "distill detect --pretrained (one 480x640 image)"}
    assert rows["distill --help"] < rows["distill detect --pretrained (one 480x640 image)"]  # help loads no network


def test_bench_stores_merges_shards_and_rebuilds_indexes(tmp_path):
    result = runner.invoke(app, ["bench", "stores", "--images", "6", "--shards", "2", "--shards", "3", "--index-size", "10",
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "s" / "results.json").read_text())
    assert [(m["shards"], m["images"]) for m in table["merge"]] == [(2, 6), (3, 6)]
    assert all(m["seconds"] > 0 and m["open_seconds"] > 0 and m["megabytes"] > 0 for m in table["merge"])
    assert [i["images"] for i in table["index"]] == [10]
