"""scripts/experiments/descriptor_cells.py: both releases timed with the descriptor head on the whole grid and on the
cells their points read, beside SuperPoint, and the same descriptors both ways."""
import re

from tests.conftest import run_script


def test_the_descriptor_cells_timing_prints_every_way_and_the_same_descriptors():
    result = run_script("descriptor_cells", "--rounds", "1", "--repeat", "1", "--top-k", "100")
    assert result.returncode == 0, result.stderr
    rows = [line.strip("| ").split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row[0] for row in rows[1:]] == ["SuperPoint, ONNX Runtime", "fast release, whole grid", "fast release, cells read",
                                             "default release, whole grid", "default release, cells read"]
    differences = [float(value) for value in re.findall(r"largest descriptor difference (\S+)", result.stdout)]
    assert len(differences) == 2 and max(differences) < 1e-5
