"""How long the command line takes to answer: the wall time of ``distill --help``, of a command's
``--help``, and of ``distill detect --pretrained`` on one 480x640 image, each a fresh process (as a user
runs it), median of a few runs."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from labels.images import embedded_images, read_grey, resize_image

PROGRAM = [sys.executable, "-m", "distill.cli"]


def wall_seconds(args: list[str], runs: int) -> float:
    """Median wall time of ``distill args`` in a new process; a failing command raises with its output."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(PROGRAM + args, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"distill {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return statistics.median(times)


def bench_cli(runs: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "photo.png"
        cv2.imwrite(str(image), resize_image(read_grey(embedded_images()[0]), (480, 640)))
        cases = {"distill --help": ["--help"], "distill detect --help": ["detect", "--help"],
                 "distill eval hpatches --help": ["eval", "hpatches", "--help"],
                 "distill detect --pretrained (one 480x640 image)": ["detect", str(image), "--pretrained", "--out", str(Path(folder) / "out"),
                                                                    "--overwrite", "--quiet", "--device", "cpu"]}
        rows = [{"command": name, "seconds": wall_seconds(args, runs)} for name, args in cases.items()]
    return {"kind": "bench_cli", "runs": runs, "rows": rows}


def markdown(table: dict) -> str:
    lines = [f"Wall time of a new process, median of {table['runs']} runs", "", "| command | s |", "|---|---|"]
    lines += [f"| `{row['command']}` | {row['seconds']:.2f} |" for row in table["rows"]]
    return "\n".join(lines) + "\n"
