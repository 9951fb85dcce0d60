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


def test_bench_students_without_hpatches_runs_on_synthetic_warps_of_the_held_out_photos(tmp_path):
    result = runner.invoke(app, ["bench", "students", "--checkpoint", "pretrained:fast", "--held-out", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "s" / "results.json").read_text())
    assert table["title"].startswith("SYNTHETIC warps of 3 held-out photos") and "6 sequences" in table["title"]
    assert [r["detector"] for r in table["rows"]] == ["superpoint", "student:pretrained:fast"]
    both = runner.invoke(app, ["bench", "students", "--checkpoint", "pretrained:fast", "--held-out", "--root", str(tmp_path),
                               "--out", str(tmp_path / "both")])
    assert both.exit_code == 2 and "choose one" in both.output


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


def test_bench_parts_times_each_part_of_a_student_inside_its_end_to_end_calls(keypoints_only_checkpoint, tmp_path):
    """The fast release with descriptors: every part of its network is timed inside its end-to-end calls; keypoints alone never run the descriptor branch, and a student without one is refused a timing
    with descriptors."""
    result = runner.invoke(app, ["bench", "parts", "--checkpoint", "pretrained:fast", "--size", "64x96", "--rounds", "2",
                                 "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "p" / "results.json").read_text())
    row = table["rows"][0]
    assert [p["part"] for p in row["parts"]] == ["backbone", "pyramid", "detail branch", "keypoint head", "descriptor pyramid",
                                                  "descriptor head", "the rest (resizing, the levels' sum, NMS, top-k, sampling)"]
    assert all(p["ms"] > 0 for p in row["parts"])  # the rest too: it holds the NMS, top-k and sampling
    assert sum(p["ms"] for p in row["parts"][:-1]) < row["ms"]  # each part is timed inside the end-to-end call
    assert row["ratio"] == pytest.approx(row["ms"] / table["superpoint_ms"])
    assert "| descriptor head |" in (tmp_path / "p" / "results.md").read_text()
    alone = runner.invoke(app, ["bench", "parts", "--checkpoint", "pretrained:fast", "--keypoints-only", "--size", "64x96",
                                "--rounds", "1", "--out", str(tmp_path / "k")])
    assert alone.exit_code == 0, alone.output
    parts = [p["part"] for p in json.loads((tmp_path / "k" / "results.json").read_text())["rows"][0]["parts"]]
    assert "descriptor head" not in parts and "keypoint head" in parts
    refused = runner.invoke(app, ["bench", "parts", "--checkpoint", str(keypoints_only_checkpoint), "--size", "64x96",
                                  "--out", str(tmp_path / "r")])
    assert refused.exit_code == 2 and "no descriptor head" in refused.output
