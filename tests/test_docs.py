"""The documentation holds: the README is a short user guide whose quick start runs as written, every
relative link and anchor in the README and docs/ leads somewhere, and the pages speak of the project and
its runs (dates, commits, commands), not of how the work was organised."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_readme_is_a_short_guide():
    assert len((ROOT / "README.md").read_bytes()) <= 15 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_speak_of_runs_not_of_the_work(page):
    text = page.read_text()
    banned = re.compile(r"\b(this|that|previous|next|last|same|first|second|third|fourth|a|one) (stop|session)s?\b"
                        r"|\bissues? \d+|#\d+\b|\bitem \d+", re.I)
    assert not [m.group(0) for m in banned.finditer(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(page):
    broken = []
    for target in LINK.findall(re.sub(r"```.*?```", "", page.read_text(), flags=re.S)):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists() or (anchor and destination.suffix == ".md" and anchor not in anchors(destination)):
            broken.append(target)
    assert not broken


def test_readme_quick_start_runs_as_written(tmp_path, monkeypatch):
    """The README's Python snippet, run from the repository root; the homography it finds is the one the
    example pair was made with."""
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):readme.index("## Two commands")]
    snippet = re.search(r"```python\n(.*?)```", quick_start, re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert len(scope["features"]) == 1000 and scope["keypoints"].shape == (1000, 2)
    known = np.loadtxt(ROOT / "examples" / "H_astronaut.txt")
    corners = np.array([[0, 0, 1], [511, 0, 1], [511, 511, 1], [0, 511, 1]], float).T

    def warp(h):
        p = h @ corners
        return (p[:2] / p[2]).T

    assert np.abs(warp(scope["result"].homography) - warp(known)).max() < 2.0


def test_api_page_runs_as_written(monkeypatch):
    """docs/api.md's first block runs as written from the repository root (the other pages' blocks are
    templates with placeholders such as ``<hash>``)."""
    snippet = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(snippet, "docs/api.md", "exec"), scope)
    assert scope["result"].homography is not None and len(scope["features"]) == 1000


def test_readme_commands_run_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):readme.index("## Two commands")]
    commands = [line.split("#")[0].split() for line in quick_start.splitlines() if line.startswith("distill ")]
    assert [c[1] for c in commands] == ["detect", "match"]
    distill = Path(sys.executable).parent / "distill"
    for command in commands:
        out = command.index("--out")
        command[out + 1] = str(tmp_path / Path(command[out + 1]).relative_to("out"))
        result = subprocess.run([str(distill), *command[1:]], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "quick-start" / "astronaut.npz").is_file()
    assert (tmp_path / "quick-start" / "astronaut_keypoints.png").is_file()
    assert (tmp_path / "quick-start" / "match.png").is_file() and (tmp_path / "quick-start" / "match.npz").is_file()


def test_model_cards_pin_the_shipped_files():
    from distill.pretrained import RELEASES

    cards = (ROOT / "docs" / "models.md").read_text()
    for release in RELEASES.values():
        for file, sha256 in [(release.file, release.sha256), release.onnx, release.int8]:
            assert f"`{file}`" in cards and f"`{sha256}`" in cards
