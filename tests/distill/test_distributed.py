import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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


# the plain shuffle, and the weighted sampler with the two forwards of the consistency loss before one backward
@pytest.mark.parametrize("recipe", [[], ["--set", "store_weights=[1]", "--set", "losses.consistency.weight=1"]],
                         ids=["shuffle", "store-weights-consistency"])
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


def test_two_cpu_processes_label_the_store_one_process_labels(image_folder, tmp_path):
    """``torchrun -m distill.labels``: each process labels its shard, process 0 merges them into the store a single
    process writes, with the same name and the same labels image by image."""
    from labels.store import StoreReader

    common = ["--images", str(image_folder), "-n", "2", "--size", "48x64", "--device", "cpu", "--quiet"]
    sharded = subprocess.run([*TORCHRUN, "-m", "distill.labels", *common, "--out", str(tmp_path / "two")],
                             cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert sharded.returncode == 0, sharded.stdout + sharded.stderr
    assert "merged 2 shard stores" in sharded.stdout
    single = subprocess.run([sys.executable, "-m", "distill.labels", *common, "--out", str(tmp_path / "one")],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    [one] = list((tmp_path / "one").glob("*.h5"))
    stores = sorted(p.name for p in (tmp_path / "two").glob("*.h5"))
    assert stores == sorted([one.name, one.stem + "-shard1of2.h5", one.stem + "-shard2of2.h5"])
    shards = [len(StoreReader(tmp_path / "two" / f"{one.stem}-shard{i}of2.h5")) for i in (1, 2)]
    merged, reference = StoreReader(tmp_path / "two" / one.name), StoreReader(one)
    assert shards == [2, 2] and len(merged) == len(reference) == 4
    for key, labels in reference:
        other = merged[key]
        for field in ("heatmap", "variance", "count", "keypoints", "scores", "image"):
            assert np.array_equal(getattr(labels, field), getattr(other, field)), (key, field)


def test_labelling_under_torchrun_refuses_a_shard_of_its_own(image_folder, tmp_path, monkeypatch):
    """The environment ``torchrun`` gives each process (the refusal comes before any process group is joined)."""
    from typer.testing import CliRunner

    from distill.cli import app

    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--shard", "1/2", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--shard and torchrun" in result.output
    assert not list(tmp_path.glob("*.h5"))
