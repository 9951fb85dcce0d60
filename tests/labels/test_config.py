import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.student.config import TrainConfig
from labels.config import LabelConfig, store_name
from labels.configuration import ConfigError, load_config, to_yaml
from teachers import weights


def test_store_names_are_those_of_existing_stores():
    """A store's name is a hash of its labelling configuration: the typed configuration must give the
    names that stores labelled before it carry (the benchmark store of docs/benchmarks.md among them)."""
    sha = weights.sha256_of(weights.locate(weights.SUPERPOINT))
    with_lightglue = sha + "+lightglue:" + weights.sha256_of(weights.locate(weights.LIGHTGLUE))
    assert store_name(LabelConfig(), sha) == "superpoint-9f75f921cf"
    assert store_name(load_config(LabelConfig, overrides=["descriptors=true"]), sha) == "superpoint-fff251e94f"
    adapted = store_name(load_config(LabelConfig, overrides=["descriptors=true", "adapt_descriptors=true"]), sha)
    assert adapted.startswith("superpoint-") and adapted != "superpoint-fff251e94f"
    # pair stores labelled before LightGlue ran at full depth (with its early stopping and pruning) were superpoint-46cc60a6e6
    assert store_name(load_config(LabelConfig, overrides=["lightglue.enabled=true"]), with_lightglue) == "superpoint-b5e7baaefe"
    small = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2", "runtime.batch_size=4"])
    assert store_name(small, sha) == "superpoint-677cf994b0"  # runtime settings do not change the labels
    assert store_name(LabelConfig(), sha, (2, 4)) == "superpoint-9f75f921cf-shard2of4"


@pytest.mark.parametrize("schema,override,message", [
    (TrainConfig, "lr=fast", r"--set: lr: Value 'fast' of type 'str' could not be converted to Float"),
    (TrainConfig, "steps=two", r"steps: .*'two'.* could not be converted to Integer"),
    (TrainConfig, "steps=0", r"steps must be at least 1"),
    (TrainConfig, "crop=[100, 100]", r"crop must be two multiples of 8"),
    (TrainConfig, "losses.focal.weight=[1]", r"losses.focal.weight"),
    (TrainConfig, "student.head=cone", r"student.head must be one of cell, map"),
    (TrainConfig, "descriptor_store=data/labels/superpoint-fff251e94f.h5", r"descriptor_store feeds a descriptor head: set student.descriptor_dim"),
    (TrainConfig, "pair.store=data/labels/superpoint-fff251e94f.h5", r"pair.store feeds pair mode: set pair.enabled=true"),
    (TrainConfig, "lossses.kl.weight=1", r"unknown configuration key 'lossses'; known keys: .*losses"),
    (TrainConfig, "losses.kl.wieght=1", r"unknown configuration key 'losses.kl.wieght'; known keys of losses.kl: focal_gamma, temperature, weight"),
    (LabelConfig, "adaptation.num_homographies=abc", r"adaptation.num_homographies: .*'abc'.* Integer"),
    (LabelConfig, "adaptation.aggregation=median", r"adaptation.aggregation must be 'mean' or 'max'"),
    (LabelConfig, "lr", r"--set 'lr': expected key=value"),
    (LabelConfig, "lightglue.width_confidence=1", r"lightglue.width_confidence must be -1 \(off\) or in \(0, 1\), got 1"),
    (LabelConfig, "adapt_descriptors=true", r"adapt_descriptors averages the stored descriptors .* needs descriptors"),
])
def test_config_errors_name_the_key_and_the_problem(schema, override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(schema, overrides=[override])


def test_a_descriptor_store_is_refused_where_no_descriptor_part_trains():
    with pytest.raises(ConfigError, match=r"descriptor_store feeds the descriptor branch, but train_only \(fpn, head\) trains no part"):
        load_config(TrainConfig, overrides=["student.descriptor_dim=256", "student.descriptor_channels=128", "train_only=[fpn,head]",
                                            "descriptor_store=data/labels/superpoint-fff251e94f.h5"])


def test_config_files_round_trip_and_bad_files_are_named(tmp_path):
    config = load_config(TrainConfig, overrides=["student.detail_start=4", "losses.kl.weight=0.5", "crop=[96, 128]"])
    path = tmp_path / "run.yaml"
    path.write_text(to_yaml(config))
    assert load_config(TrainConfig, path) == config
    for text, message in [("lr: [\n", "not valid YAML"), ("- 1\n- 2\n", "expected a mapping of keys to values, got a YAML list")]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"--config {path}: {message}"):
            load_config(TrainConfig, path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(TrainConfig, tmp_path / "missing.yaml")


def test_cli_config_errors_are_usage_errors_without_a_traceback(tmp_path):
    runner = CliRunner()
    for args in (["train", "--set", "lr=fast"], ["labels", "--set", "adaptation.num_homographies=abc", "--out", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "could not be converted" in result.output and "Traceback" not in result.output
    shown = runner.invoke(app, ["train", "--show-config", "--set", "student.detail_start=4"])
    assert shown.exit_code == 0 and "detail_start: 4" in shown.output and "focal:" in shown.output
