from typer.testing import CliRunner

from distill.cli import app

runner = CliRunner()


def test_labels_cli_label_inspect_preview_and_exit_status(image_folder, tmp_path):
    (image_folder / "notes.txt").write_text("hello")
    args = ["labels", "--images", str(image_folder), "--images", str(image_folder / "notes.txt"),
            "--out", str(tmp_path / "st"), "--size", "96x128", "-n", "2", "--quiet", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # one input was not an image
    assert "4 labelled" in result.output and "notes.txt: not a decodable image" in result.output
    store = next((tmp_path / "st").glob("*.h5"))
    inspect = runner.invoke(app, ["labels", "inspect", str(store)])
    assert inspect.exit_code == 0 and "images         4" in inspect.output and "num_homographies: 2" in inspect.output
    preview = runner.invoke(app, ["labels", "preview", str(store), "--out", str(tmp_path / "png"), "--limit", "2"])
    assert preview.exit_code == 0 and len(list((tmp_path / "png").glob("*.png"))) == 2
    assert all(p.name.split("-")[0] in {"astronaut", "camera", "coffee", "brick"} for p in (tmp_path / "png").glob("*.png"))


def test_bad_options_are_named(tmp_path):
    result = runner.invoke(app, ["labels", "--size", "240by320", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "HxW" in result.output
    result = runner.invoke(app, ["labels", "--shard", "5/4", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "between 1 and 4" in result.output
    result = runner.invoke(app, ["labels", "inspect", str(tmp_path / "nothing.h5")])
    assert result.exit_code == 2 and "does not exist" in result.output
