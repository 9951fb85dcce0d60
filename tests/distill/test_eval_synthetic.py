import json

import numpy as np
import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.eval.average_precision import average_precision, match_image
from distill.training.trainer import train
from distill.student.config import TrainConfig
from labels.configuration import load_config
from labels.synthetic_run import write_synthetic_store
from labels.synthetic_shapes import ShapesConfig

TRUTH = [np.array([[10.0, 10], [50, 20]]), np.array([[30.0, 30]]), np.zeros((0, 2))]


def test_perfect_detections_score_one_and_shifted_zero():
    perfect = [(t, np.ones(len(t))) for t in TRUTH]
    assert average_precision(perfect, TRUTH).average_precision == pytest.approx(1.0)
    assert average_precision(perfect, TRUTH).localisation_error == 0.0
    shifted = [(t + [5, 0], np.ones(len(t))) for t in TRUTH]
    assert average_precision(shifted, TRUTH).average_precision == 0.0


def test_average_precision_by_hand():
    # ranked: TP (0.9), FP (0.8, on the empty image), TP (0.7), duplicate of the first corner = FP (0.6)
    detections = [(np.array([[11.0, 10], [10, 11]]), np.array([0.9, 0.6])), (np.array([[30.0, 31]]), np.array([0.7])),
                  (np.array([[5.0, 5]]), np.array([0.8]))]
    result = average_precision(detections, TRUTH)
    # precision 1, 1/2, 2/3, 2/4 at recall 1/3, 1/3, 2/3, 2/3: AP = 1/3 * 1 + 1/3 * 2/3
    assert result.average_precision == pytest.approx(1 / 3 + 2 / 9)
    assert result.localisation_error == pytest.approx(1.0)
    assert np.isinf(match_image(np.array([[10.0, 11]]), np.zeros((0, 2)), 3.0)).all()


def test_eval_synthetic_cli_outputs(tmp_path):
    result = CliRunner().invoke(app, ["eval", "synthetic", "-d", "harris", "-d", "random", "--images", "16",
                                      "--out", str(tmp_path), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    scores = {d["detector"]: d["mAP"] for d in json.loads((tmp_path / "results.json").read_text())["detectors"]}
    assert scores["harris"] > scores["random"] + 0.2
    assert (tmp_path / "precision_recall.png").is_file() and "SYNTHETIC" in (tmp_path / "results.md").read_text()


def test_labels_synthetic_cli_and_mixed_training(tmp_path, image_folder):
    result = CliRunner().invoke(app, ["labels", "--synthetic", "12", "--size", "96x128", "--out", str(tmp_path / "st"), "--quiet"])
    assert result.exit_code == 0 and "12 labelled" in result.output, result.output
    synthetic = next((tmp_path / "st").glob("synthetic-*.h5"))
    other = write_synthetic_store(12, ShapesConfig(size=(96, 128)), seed=7, out_dir=tmp_path / "other", progress=False).store
    cfg = load_config(TrainConfig, overrides=["crop=[64, 96]", "batch_size=2", "steps=2", "val_every=2", "val_fraction=0.3",
                                              "student.backbone_weights=none", "student.fpn_channels=16", "store_weights=[1.0, 0.25]"])
    cfg.stores, cfg.device = [str(synthetic), str(other)], "cpu"
    assert train(cfg, tmp_path / "run", progress=False)["steps"] == 2
