import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from labels.config import LabelConfig
from labels.configuration import load_config
from labels.images import list_images
from labels.run import label_images

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def small_store(folder: Path, out: Path, *extra: str) -> Path:
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2", *extra])
    return label_images(list_images([folder]), config, out, progress=False).store


@pytest.mark.parametrize("recipe", [[], ["--set", "store_weights=[1]"], ["--set", "losses.consistency.weight=1"]],
                         ids=["shuffle", "store-weights", "consistency"])
def test_two_cpu_processes_train_with_one_writer(image_folder, tmp_path, recipe):
    store = small_store(image_folder, tmp_path / "labels")
    command = [*TORCHRUN, "-m", "distill.train", "--store", str(store), "--name", "ddp", "--steps", "4", "--device", "cpu", "--quiet",
               "--set", "crop=[64, 96]", "--set", "batch_size=1", "--set", "val_every=2", "--set", "val_fraction=0.3",
               "--set", "student.backbone_weights=none", "--set", "student.fpn_channels=16", *recipe]
    result = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    run = tmp_path / "runs" / "ddp"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]  # one writer, not two
    assert yaml.safe_load((run / "provenance.yaml").read_text())["world_size"] == 2
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 4


def test_two_forwards_under_ddp_give_a_single_process_gradients(image_folder, tmp_path):
    """The consistency loss and pair mode run the wrapped student twice before one backward: with the
    same batch on both processes, the averaged gradients equal one process's, parameter by parameter."""
    store = small_store(image_folder, tmp_path / "labels", "lightglue.enabled=true")
    script = str(Path(__file__).with_name("ddp_gradients.py"))
    for command, out in [([*TORCHRUN, script], tmp_path / "ddp.pt"), ([sys.executable, script], tmp_path / "single.pt")]:
        result = subprocess.run([*command, str(store), str(out)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    ddp, single = torch.load(tmp_path / "ddp.pt"), torch.load(tmp_path / "single.pt")
    for mode in ("consistency", "pair"):
        assert ddp[mode].keys() == single[mode].keys() and len(single[mode]) > 100
        assert sum(float(g.abs().sum()) for g in single[mode].values()) > 0
        for name, grad in single[mode].items():
            assert torch.allclose(ddp[mode][name], grad, rtol=1e-4, atol=1e-7), (mode, name)
