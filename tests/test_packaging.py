"""``pip install .`` (not editable) gives a working package: the wheel holds the released students with the
checksums ``distill.pretrained`` pins and the ``distill`` entry point, and, installed into a fresh virtual
environment outside the repository, it detects with the released student from Python and from the command line."""
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from distill.pretrained import RELEASES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the source tree, so that no build folder is left in the repository (nor read from it)."""
    source, out = tmp_path_factory.mktemp("source") / "distill", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "out", "runs", "data",
                                                               "report", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
                   check=True, capture_output=True)
    return next(out.glob("distill-*.whl"))


def test_wheel_holds_the_released_students_and_the_entry_point(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for release in RELEASES.values():
            for file, sha256 in [(release.file, release.sha256), release.onnx, release.int8]:
                assert hashlib.sha256(archive.read(f"distill/weights/{file}")).hexdigest() == sha256
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        licence = [n for n in names if n.endswith("LICENSE")]
    assert "distill = distill.cli:app" in entry_points and licence
    assert {"hubconf.py", "tests/conftest.py"}.isdisjoint(names)


def test_wheel_installed_outside_the_repository_detects(wheel, tmp_path):
    """A fresh environment that sees this one's dependencies (a .pth file, so that no editable install of
    distill leaks in) and gets distill from the wheel alone."""
    environment = tmp_path / "env"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    image = ROOT / "examples" / "astronaut.jpg"
    found = subprocess.run([python, "-c", f"import distill; print(distill.__file__); print(len(distill.Detector.pretrained()({str(image)!r})))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert found[0].startswith(str(site)) and int(found[1]) > 100
    detected = subprocess.run([environment / "bin" / "distill", "detect", str(image), "--pretrained", "--out", "det"],
                              cwd=tmp_path, capture_output=True, text=True)
    assert detected.returncode == 0, detected.stderr
    assert (tmp_path / "det" / "astronaut.npz").is_file()
