"""Bad input and faults through the real command line: every case ends with the exit status of the
README's rule (0 done, 1 some input failed, 2 usage error before any work), a message naming the
culprit, no traceback, and its inputs unchanged."""
import hashlib
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from distill.cli import app
from labels.config import LabelConfig
from labels.configuration import load_config
from labels.images import list_images
from labels.run import label_images
from labels.store import store_paths

runner = CliRunner()
TINY_TRAIN = ["--steps", "2", "--device", "cpu", "--quiet", "--set", "crop=[64, 96]", "--set", "batch_size=2", "--set", "val_every=2",
              "--set", "val_fraction=0.3", "--set", "student.backbone_weights=none", "--set", "student.fpn_channels=16"]


def run(*args, code: int, message: str | None = None):
    """Invoke ``distill args``; check the exit status, the message and that nothing raised through."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}\n{result.output}"
    assert result.exit_code == code, result.output
    if message is not None:
        assert message in result.output, result.output
    return result


def fingerprint(*roots: Path) -> dict[str, str]:
    files = [p for root in roots for p in ([root] if root.is_file() else sorted(root.rglob("*"))) if p.is_file()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def store_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.GaussianBlur((rng.random((96, 128)) * 255).astype(np.uint8), (0, 0), 2))
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    return label_images(list_images([folder]), config, tmp_path_factory.mktemp("labels"), progress=False).store


@pytest.fixture()
def store(store_template, tmp_path) -> Path:
    """A private copy of a small labelled store (index and segments)."""
    parts, _ = store_paths(store_template)
    shutil.copytree(parts, tmp_path / "labels" / parts.name)
    shutil.copy(store_template, tmp_path / "labels" / store_template.name)
    return tmp_path / "labels" / store_template.name


@pytest.fixture()
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    grey = cv2.GaussianBlur((np.random.default_rng(1).random((96, 128)) * 255).astype(np.uint8), (0, 0), 2)
    cv2.imwrite(str(folder / "a.png"), grey)
    cv2.imwrite(str(folder / "b.jpg"), grey)
    data = (folder / "b.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return folder


def corrupt_one_image(index: Path) -> tuple[str, str]:
    """Overwrite bytes inside one image's heatmap chunk; returns ``(key, segment name)``."""
    segment = sorted(store_paths(index)[0].glob("*.h5"))[0]
    with h5py.File(segment, "r") as f:
        key = sorted(f)[0]
        chunk = f[key]["heatmap"].id.get_chunk_info(0)
    with open(segment, "r+b") as handle:
        handle.seek(chunk.byte_offset + chunk.size // 2)
        handle.write(b"\xa5" * 8)
    return key, segment.name


# data lost ---------------------------------------------------------------------------------------

def test_train_never_overwrites_a_run_without_being_asked(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run("train", "--store", store, "--name", "r", *TINY_TRAIN, code=0)
    before = fingerprint(tmp_path / "runs" / "r")
    run("train", "--store", store, "--name", "r", *TINY_TRAIN, code=2, message="already holds a run: pass --resume")
    assert fingerprint(tmp_path / "runs" / "r") == before
    run("train", "--store", store, "--name", "r", *TINY_TRAIN, "--overwrite", code=0)


def test_detect_refuses_two_images_that_would_write_one_file(images, tmp_path):
    (images / "truncated.jpg").unlink()
    cv2.imwrite(str(images / "a.jpg"), cv2.imread(str(images / "a.png")))
    run("detect", images, "--out", tmp_path / "out", "-d", "harris", code=2, message="would both be written to a.npz")
    assert not (tmp_path / "out").exists()


# silently wrong ----------------------------------------------------------------------------------

def test_a_damaged_segment_is_named_and_relabelling_repairs_it(store, store_template, tmp_path):
    folder = Path(str(label_source_folder(store)))
    key, segment = corrupt_one_image(store)
    damaged = fingerprint(store.parent)
    result = run("labels", "verify", store, code=1, message=f"{segment}: image {key}")
    assert "4 images read back" in result.output
    assert fingerprint(store.parent) == damaged  # verify reads only
    run("labels", "inspect", store, code=1, message=f"image {key} (segment")
    run("labels", "preview", store, "--out", tmp_path / "png", "--limit", "5", code=1, message=f"distill labels verify {store}")
    run("labels", "--images", folder, "--size", "96x128", "-n", "2", "--out", store.parent, "--quiet", "--device", "cpu",
        code=0, message="repaired   1 of the labelled images")
    run("labels", "verify", store, code=0, message="5 images read back, no damage")


def test_a_deleted_segment_folder_is_repaired_and_said_so(store):
    folder = label_source_folder(store)
    shutil.rmtree(store_paths(store)[0])
    run("labels", "verify", store, code=1, message="the segment folder is missing")
    run("labels", "inspect", store, code=1, message="cannot be read")
    run("labels", "--images", folder, "--size", "96x128", "-n", "2", "--out", store.parent, "--quiet", "--device", "cpu",
        code=0, message="repaired   5 of the labelled images")


def label_source_folder(store: Path) -> Path:
    with h5py.File(store, "r") as f:
        return Path(f["images"][sorted(f["images"])[0]].attrs["source_path"]).parent


@pytest.mark.parametrize("args,message", [
    (["--steps", "-5"], "steps must be at least 1"),
    (["--steps", "0"], "steps must be at least 1"),
    (["--steps", "200", "--set", "steps=4"], "steps given twice"),
    (["--name", "../../x"], "must be one folder name"),
    (["--name", "nosuch", "--resume"], "holds no run to resume"),
    (["--set", "crop=[100,100]"], "crop must be two multiples of 8"),
    (["--set", "lr=fast"], "lr: Value 'fast'"),
    (["--backbone", "no_such_net"], "unknown backbone 'no_such_net'"),
])
def test_train_usage_errors_stop_before_any_work(store, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    before = fingerprint(store.parent)
    run("train", "--store", store, "--quiet", "--device", "cpu", *args, code=2, message=message)
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "x").exists()
    assert fingerprint(store.parent) == before


def test_detect_reads_images_as_labelling_does_and_exits_1_after_the_rest(images, tmp_path):
    result = run("detect", images, "--out", tmp_path / "out", "-d", "harris", "--quiet", code=1,
                 message="truncated.jpg: not a decodable image")
    assert "wrote 2 files" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npz", "b.npz"]


@pytest.mark.parametrize("args,message", [
    (["detect", "IMAGES", "--out", "OUT", "-d", "harris", "--top-k", "-3"], "--top-k"),
    (["detect", "IMAGES", "--out", "OUT", "-d", "harris", "--nms-radius", "-2"], "--nms-radius"),
    (["detect", "IMAGES", "--out", "OUT", "-d", "sobel"], "unknown detector(s) sobel"),
    (["detect", "IMAGES", "--out", "OUT", "-d", "harris", "--format", "csv"], "--format"),
    (["labels", "preview", "STORE", "--limit", "0"], "--limit"),
    (["labels", "preview", "STORE", "--limit", "-1"], "--limit"),
    (["eval", "hpatches", "--root", "OUT", "--protocol", "huge"], "--protocol"),
    (["eval", "hpatches", "--root", "OUT", "--only", "x"], "--only"),
    (["eval", "synthetic", "--count", "0"], "--count"),
    (["eval", "warped", "--photos", "0"], "--photos"),
    (["eval", "warped", "-d", "superpoint-ha", "--ha-homographies", "0"], "--ha-homographies"),
    (["labels", "--synthetic", "0", "--out", "OUT"], "--synthetic"),
    (["labels", "--out", "IMAGES/a.png"], "is a file, not a folder"),
    (["detect", "IMAGES/a.png", "-d", "harris", "--out", "IMAGES/b.jpg"], "is a file, not a folder"),
    (["eval", "warped", "--photos", "1", "-d", "harris", "--out", "IMAGES/a.png"], "is a file, not a folder"),
    (["labels", "--out", "/dev/null/labels"], "cannot create the folder"),
    (["labels", "--set", "adaptation.num_homographies=abc"], "adaptation.num_homographies"),
    (["labels", "-n", "5", "--set", "adaptation.num_homographies=3"], "given twice"),
    (["labels", "--config", "IMAGES/a.png"], "not valid YAML"),
    (["labels", "--config", "OUT/none.yaml"], "no such file"),
])
def test_usage_errors_exit_2_and_name_the_option(store, images, tmp_path, args, message):
    before = fingerprint(images, store.parent)
    swap = {"IMAGES": str(images), "OUT": str(tmp_path / "out"), "STORE": str(store)}
    run(*[swap.get(a, a.replace("IMAGES", str(images)).replace("OUT", str(tmp_path / "out"))) for a in args], code=2, message=message)
    assert fingerprint(images, store.parent) == before


# tracebacks -> named errors ------------------------------------------------------------------------

def test_unreadable_checkpoints_are_named_everywhere(store, images, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run("train", "--store", store, "--name", "r", *TINY_TRAIN, code=0)
    last = tmp_path / "runs" / "r" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    for args in (["train", "--store", store, "--name", "r", "--resume", *TINY_TRAIN],
                 ["detect", images / "a.png", "--out", tmp_path / "o", "--checkpoint", last],
                 ["eval", "warped", "--photos", "1", "-d", "harris", "--checkpoint", last, "--no-speed", "--quiet"]):
        result = run(*args, code=1, message="r/last.pt: not a distill checkpoint")
        assert "weights_only" not in result.output and "Weights only" not in result.output
    run("train", "--store", store, "--name", "w", *TINY_TRAIN, "--set", f"student.backbone_weights={images / 'a.png'}",
        code=1, message="not a PyTorch state dict of tensors")


def test_training_on_a_damaged_store_names_the_image(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key, _ = corrupt_one_image(store)
    run("train", "--store", store, "--name", "d", *TINY_TRAIN, code=1, message=f"image {key} (segment")


def test_a_store_smaller_than_the_crop_says_both_sizes_and_leaves_no_run(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run("train", "--store", store, "--name", "big", *TINY_TRAIN[:-10], "--set", "crop=[192, 256]", code=1,
        message="holds labels of 96x128 pixels, smaller than the training crop 192x256")
    assert not (tmp_path / "runs" / "big").exists()


@pytest.mark.parametrize("matrix,message", [(np.full((3, 3), np.nan), "not finite"), (np.zeros((3, 3)), "not invertible")])
def test_broken_homographies_are_named(hpatches_root, matrix, message):
    np.savetxt(hpatches_root / "v_photo" / "H_1_3", matrix)
    run("eval", "hpatches", "--root", hpatches_root, "-d", "harris", "--no-speed", "--quiet", code=1, message=f"H_1_3: the homography is {message}")


def test_resumed_training_continues_the_learning_rate_schedule(store, tmp_path, monkeypatch):
    """A run extended by --resume continues the cosine schedule of its new length where it stopped:
    from the resumed step on, its learning rates are those of a run of that length from the start."""
    monkeypatch.chdir(tmp_path)
    tiny = [a for a in TINY_TRAIN if a not in ("--steps", "2")]
    run("train", "--store", store, "--name", "short", "--steps", "4", *tiny, code=0)
    run("train", "--store", store, "--name", "short", "--steps", "8", "--resume", *tiny, code=0)
    run("train", "--store", store, "--name", "long", "--steps", "8", *tiny, code=0)

    def rates(name):
        import json
        rows = [json.loads(line) for line in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]
        return {r["step"]: r["lr"] for r in rows if r["kind"] == "train"}

    short, long = rates("short"), rates("long")
    assert sorted(short) == list(range(1, 9)) and short[4] == pytest.approx(0.0, abs=1e-12)
    assert [short[s] for s in range(5, 9)] == pytest.approx([long[s] for s in range(5, 9)])
    state = torch.load(tmp_path / "runs" / "short" / "last.pt", weights_only=True)
    assert state["step"] == 8
