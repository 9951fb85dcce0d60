import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from labels.config import load_config
from labels.images import list_images
from labels.run import label_images


@pytest.mark.parametrize("sampling", [[], ["--set", "store_weights=[1]"]], ids=["shuffle", "store-weights"])
def test_two_cpu_processes_train_with_one_writer(image_folder, tmp_path, sampling):
    store = label_images(list_images([image_folder]), load_config("labels", overrides=["size=[96, 128]", "adaptation.num_homographies=2"]),
                         tmp_path / "labels", progress=False).store
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "distill.train",
               "--store", str(store), "--name", "ddp", "--steps", "4", "--device", "cpu", "--quiet",
               "--set", "crop=[64, 96]", "--set", "batch_size=1", "--set", "val_every=2", "--set", "val_fraction=0.3",
               "--set", "backbone_weights=none", "--set", "fpn_channels=16", *sampling]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    run = tmp_path / "runs" / "ddp"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]  # one writer, not two
    assert yaml.safe_load((run / "config.yaml").read_text())["world_size"] == 2
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 4
