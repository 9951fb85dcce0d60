"""Bad input and faults through the real command line: every case ends with the exit status of the
rule of docs/cli.md (0 done, 1 some input failed, 2 usage error before any work), a message naming the
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


def test_a_label_that_is_not_finite_is_named_and_relabelling_repairs_it(store):
    """A NaN in a stored heatmap (a warp's horizon once put one there) reads back without a checksum error but
    would stop training with a NaN loss: verify names the image and the dataset, and relabelling replaces it."""
    folder = label_source_folder(store)
    segment = sorted(store_paths(store)[0].glob("*.h5"))[0]
    with h5py.File(segment, "r+") as f:
        key = sorted(f)[0]
        f[key]["heatmap"][3, 4] = np.nan
    run("labels", "verify", store, code=1, message=f"{segment.name}: image {key}: heatmap: 1 non-finite values (NaN or inf)")
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
    (["eval", "hpatches", "--root", "IMAGES", "--protocol", "huge"], "--protocol"),
    (["eval", "hpatches", "--root", "IMAGES", "--only", "x"], "--only"),
    (["eval", "hpatches", "--root", "IMAGES", "--set", "top_k=abc"], "top_k: Value 'abc'"),
    (["eval", "hpatches", "--root", "IMAGES", "--top-k", "5", "--set", "top_k=7"], "top_k given twice"),
    (["eval", "warped", "--set", "no_such_key=1"], "no_such_key"),
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


# nothing overwritten without being asked ---------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(store_template, tmp_path_factory) -> Path:
    """The last.pt (optimiser state included) of a 2-step run on the small store."""
    root = tmp_path_factory.mktemp("run")
    result = runner.invoke(app, ["train", "--store", str(store_template), "--name", "r", "--runs-dir", str(root), *TINY_TRAIN])
    assert result.exit_code == 0, result.output
    return root / "r" / "last.pt"


def test_export_never_replaces_its_checkpoint_or_an_existing_file(checkpoint, tmp_path):
    before = fingerprint(checkpoint)
    run("export", "--checkpoint", checkpoint, "--out", checkpoint, code=2, message="is the checkpoint being exported")
    run("export", "--checkpoint", checkpoint, "--out", checkpoint, "--overwrite", code=2, message="is the checkpoint being exported")
    assert fingerprint(checkpoint) == before
    (tmp_path / "slim.pt").write_bytes(b"mine")
    run("export", "--checkpoint", checkpoint, "--out", tmp_path / "slim.pt", code=2, message="slim.pt exists already: pass --overwrite")
    assert (tmp_path / "slim.pt").read_bytes() == b"mine"
    run("export", "--checkpoint", checkpoint, "--out", tmp_path / "slim.pt", "--overwrite", code=0)
    run("export", "--checkpoint", tmp_path / "none.pt", "--out", tmp_path / "x.pt", code=2, message="does not exist")
    assert not (tmp_path / "x.pt").exists()


def test_a_slim_checkpoint_is_not_resumed(checkpoint, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "s").mkdir(parents=True)
    run("export", "--checkpoint", checkpoint, "--out", tmp_path / "runs" / "s" / "last.pt", code=0)
    run("train", "--store", store, "--name", "s", "--resume", *TINY_TRAIN, code=1, message="is a slim checkpoint")


def test_detect_match_and_eval_refuse_existing_outputs(images, hpatches_root, tmp_path):
    (images / "truncated.jpg").unlink()
    run("detect", images, "--out", tmp_path / "out", "-d", "harris", "--quiet", code=0)
    first = fingerprint(tmp_path / "out")
    run("detect", images, "--out", tmp_path / "out", "-d", "shi", "--quiet", code=2, message="exist already: pass --overwrite")
    assert fingerprint(tmp_path / "out") == first
    run("detect", images, "--out", tmp_path / "out", "-d", "shi", "--quiet", "--overwrite", code=0)
    assert fingerprint(tmp_path / "out") != first
    picture = tmp_path / "m.png"
    picture.write_bytes(b"mine")
    pair = [hpatches_root / "v_photo" / "1.ppm", hpatches_root / "v_photo" / "2.ppm"]
    run("match", *pair, "--out", picture, "--matcher", "mnn", code=2, message="m.png exists already")
    assert picture.read_bytes() == b"mine"
    run("match", *pair, "--out", tmp_path, code=2, message="is a folder: give the picture's file name")
    run("match", *pair, "--out", tmp_path / "m.txt", code=2, message="not .txt")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text("{}")
    run("eval", "hpatches", "--root", hpatches_root, "-d", "harris", "--no-speed", "--quiet", "--out", tmp_path / "eval", code=2,
        message="results.json exists already")
    assert (tmp_path / "eval" / "results.json").read_text() == "{}"


@pytest.mark.parametrize("args", [
    ["detect", "IMAGES", "--out", "OUT", "--checkpoint", "NONE"],
    ["detect", "NONE", "--out", "OUT", "-d", "harris"],
    ["match", "NONE", "IMAGES/a.png", "--out", "OUT/m.png"],
    ["eval", "hpatches", "--root", "NONE", "--out", "OUT"],
    ["eval", "warped", "--checkpoint", "NONE", "--out", "OUT"],
    ["report", "--eval", "NONE", "--out", "OUT"],
    ["labels", "inspect", "NONE"],
    ["labels", "--images", "NONE", "--out", "OUT"],
    ["train", "--store", "NONE"],
])
def test_a_missing_input_is_a_usage_error_and_creates_nothing(images, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    swap = {"NONE": str(tmp_path / "none"), "OUT": str(tmp_path / "out"), "IMAGES": str(images), "IMAGES/a.png": str(images / "a.png"),
            "OUT/m.png": str(tmp_path / "out" / "m.png")}
    run(*[swap.get(a, a) for a in args], code=2, message="does not exist")
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_failing_command_does_not_create_its_out_folder(images, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    run("detect", images, "--out", tmp_path / "out", "--checkpoint", broken, code=1, message="not a distill checkpoint")
    assert not (tmp_path / "out").exists()


def test_report_names_a_results_file_that_is_not_text(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_bytes(bytes(range(256)))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("steps: 2\n")
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    run("report", "--eval", tmp_path / "eval", "--run", tmp_path / "run", "--out", tmp_path / "report", code=1,
        message="results.json: not a results file")


# the store's index, its lock and the run folder --------------------------------------------------------

def test_an_index_without_its_images_group_is_named_everywhere(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with h5py.File(store, "a") as f:
        del f["images"]
    for args in (["labels", "inspect", store], ["labels", "preview", store, "--out", tmp_path / "png"],
                 ["train", "--store", store, "--name", "x", *TINY_TRAIN]):
        run(*args, code=1, message="the index has no /images group")
    result = run("labels", "verify", store, code=1, message="the index has no /images group")
    assert "no damage" not in result.output
    run("labels", "--images", label_source_folder_of_segments(store), "--size", "96x128", "-n", "2", "--out", store.parent,
        "--quiet", "--device", "cpu", code=0)
    run("labels", "verify", store, code=0, message="5 images read back, no damage")


def label_source_folder_of_segments(store: Path) -> Path:
    segment = sorted(store_paths(store)[0].glob("*.h5"))[0]
    with h5py.File(segment, "r") as f:
        return Path(f[sorted(f)[0]].attrs["source_path"]).parent


@pytest.mark.parametrize("kind", ["symlink", "folder"])
def test_a_lock_that_is_no_plain_file_is_refused_and_never_written_through(store, tmp_path, kind):
    lock = store_paths(store)[1]
    lock.unlink(missing_ok=True)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    if kind == "symlink":
        lock.symlink_to(target)
    else:
        lock.mkdir()
    before = fingerprint(store.parent)
    run("labels", "--images", label_source_folder(store), "--size", "96x128", "-n", "2", "--out", store.parent, "--quiet",
        "--device", "cpu", code=1, message=f"{lock.name}: the store's lock file is {'a symbolic link' if kind == 'symlink' else 'a folder'}")
    assert target.read_text() == "keep me" and fingerprint(store.parent) == before


def test_a_run_folder_without_a_checkpoint_is_no_trap(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "runs" / "r"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("steps: 2\n")
    (folder / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n')
    run("train", "--store", store, "--name", "r", *TINY_TRAIN, code=2, message="stopped before its first checkpoint: pass --overwrite")
    run("train", "--store", store, "--name", "r", "--resume", *TINY_TRAIN, code=2,
        message="pass --overwrite instead of --resume")
    run("train", "--store", store, "--name", "r", "--overwrite", *TINY_TRAIN, code=0)
    assert (folder / "last.pt").is_file()


def test_ctrl_c_during_training_says_what_was_kept(store, tmp_path, monkeypatch):
    from distill.training import trainer

    monkeypatch.chdir(tmp_path)
    real, calls = trainer.compute_losses, {"n": 0}

    def interrupted_at_the_third_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "compute_losses", interrupted_at_the_third_step)
    tiny = [a for a in TINY_TRAIN if a not in ("--steps", "2")]
    run("train", "--store", store, "--name", "c", "--steps", "4", *tiny, code=130,
        message="interrupted at step 2: runs/c/last.pt keeps step 2 (the last validation); `--resume` continues")
    monkeypatch.setattr(trainer, "compute_losses", real)
    run("train", "--store", store, "--name", "c", "--steps", "4", "--resume", *tiny, code=0)
    assert torch.load(tmp_path / "runs" / "c" / "last.pt", weights_only=True)["step"] == 4


# the Python API names bad input -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def harris():
    import distill

    return distill.Detector.classical("harris")


@pytest.mark.parametrize("image,error,message", [
    (None, TypeError, "got None"),
    ([1, 2, 3], TypeError, "image 0 of the list is int 1, not an image"),
    ([], ValueError, "an empty list"),
    ({"image": 1}, TypeError, "got dict {'image': 1}"),
    (np.zeros((0, 0), np.uint8), ValueError, r"the image is empty \(0 x 0\)"),
    (np.zeros((0, 5, 3), np.uint8), ValueError, "the image is empty"),
    (np.full((32, 32), np.nan, np.float32), ValueError, "1024 values that are NaN or infinite"),
    (np.where(np.arange(32 * 32).reshape(32, 32) % 2, np.nan, 0.5).astype(np.float32), ValueError, "512 values that are NaN"),
    (np.zeros((32, 32, 2), np.uint8), ValueError, "for a batch of grey images pass a list"),
    (np.zeros((5, 32, 32), np.uint8), ValueError, "for a batch of grey images pass a list"),
    (torch.zeros(2, 32, 32), ValueError, "with C 1, 3 or 4"),
])
def test_the_api_names_bad_images(harris, image, error, message):
    with pytest.raises(error, match=message):
        harris(image)


def test_the_api_reads_paths_and_never_takes_a_colour_image_for_a_batch(harris, images):
    grey = cv2.imread(str(images / "a.png"), cv2.IMREAD_GRAYSCALE)
    reference = harris(grey)
    assert np.array_equal(harris(str(images / "a.png")).keypoints, reference.keypoints)
    assert np.array_equal(harris(images / "a.png").keypoints, reference.keypoints)
    with pytest.raises(Exception, match="none.png"):
        harris(str(images / "none.png"))
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full_like(grey[..., None], 7)], axis=2)
    assert np.array_equal(harris(rgba).keypoints, harris(rgb).keypoints)  # alpha dropped, one image
    assert np.array_equal(harris(torch.from_numpy(rgba).permute(2, 0, 1)).keypoints, harris(rgb).keypoints)
    small = np.random.default_rng(0).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    assert not isinstance(harris(small), list)  # a 4 x 4 x 3 image is one image, not four 4 x 3 ones
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        harris(grey, threshold=float("nan"))
