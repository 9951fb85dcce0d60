"""The command line keeps freed memory in the process (glibc): a freed 64 MB block stays resident for the next one
instead of being unmapped and faulted in again. Subprocesses, so that the test session's own heap does not count."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings are Linux's")

PROBE = """
import numpy as np
from distill.allocator import keep_freed_memory

def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

kept = {keep}
block = np.ones(16 * 2**20, np.float32)  # 64 MB, above glibc's largest dynamic mmap threshold (32 MiB)
before = resident_mb()
del block
print(kept, round(before - resident_mb()))
"""


def run(keep: str, **env) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", PROBE.format(keep=keep)], capture_output=True, text=True, timeout=60,
                         env={**clean, **env})
    assert out.returncode == 0, out.stderr
    kept, released = out.stdout.split()
    return kept, int(released)


def test_freed_blocks_stay_in_the_process_once_kept():
    assert run("False") == ("False", 64)  # glibc as it comes: the block is unmapped on free
    assert run("keep_freed_memory()") == ("True", 0)


def test_the_environment_setting_stands():
    kept, released = run("keep_freed_memory()", MALLOC_MMAP_THRESHOLD_="131072")
    assert kept == "False" and released == 64


def test_the_command_line_keeps_freed_memory():
    probe = ("import sys; from typer.testing import CliRunner; from distill.cli import app; from unittest import mock\n"
             "with mock.patch('distill.cli.keep_freed_memory') as keep:\n"
             "    CliRunner().invoke(app, ['labels', 'inspect', 'missing.h5'])\n"
             "print(keep.call_count)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
