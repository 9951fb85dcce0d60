"""scripts/experiments/openvino_speed.py: each exported network timed in ONNX Runtime and in OpenVINO, or, without
OpenVINO, a message that names how to install it."""
import subprocess
import sys

import pytest

from tests.conftest import SCRIPTS, run_script


def test_without_openvino_the_script_names_its_install_command():
    hide = ("import runpy, sys; sys.modules['openvino'] = None; sys.argv = ['openvino_speed.py', '--rounds', '1']; "
            f"runpy.run_path({str(SCRIPTS / 'openvino_speed.py')!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "pip install openvino" in result.stderr


def test_every_network_is_timed_in_each_runtime_against_superpoint():
    pytest.importorskip("openvino")
    result = run_script("openvino_speed", "--rounds", "1")
    assert result.returncode == 0, result.stderr
    rows = [line.strip("| ").split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    networks = {row[0] for row in rows}
    assert networks == {"SuperPoint", "default release", "fast release"}
    for network in networks:
        runtimes = {row[1] for row in rows if row[0] == network}
        assert {"ONNX Runtime", "OpenVINO", "ONNX Runtime int8", "OpenVINO int8"} <= runtimes
    assert all(float(row[3]) == 1 for row in rows if row[0] == "SuperPoint")
    assert min(float(row[4]) for row in rows if row[0] == "SuperPoint") == 1
