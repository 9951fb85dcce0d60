"""The command line answers --help and --version without loading torch (a subprocess, so that nothing the
test session imported counts)."""
import subprocess
import sys

COMMANDS = [[], ["bench"], ["bench", "cli"], ["bench", "students"], ["bench", "speed"], ["bench", "labels"], ["detect"], ["match"], ["export"], ["report"], ["train"], ["labels"], ["labels", "inspect"], ["labels", "verify"],
            ["labels", "preview"], ["labels", "merge"], ["eval"], ["eval", "hpatches"], ["eval", "warped"], ["eval", "synthetic"],
            ["eval", "matching"]]

PROBE = """
import sys
from typer.testing import CliRunner
from distill.cli import app
runner = CliRunner()
for args in {commands}:
    result = runner.invoke(app, args + ["--help"])
    assert result.exit_code == 0 and "Usage" in result.output, (args, result.output)
version = runner.invoke(app, ["--version"])
assert version.exit_code == 0 and version.output.startswith("distill "), version.output
print(sorted(name for name in ("torch", "torchvision", "timm", "kornia", "onnxruntime", "matplotlib") if name in sys.modules))
"""


def test_help_and_version_load_no_torch():
    probe = subprocess.run([sys.executable, "-c", PROBE.format(commands=COMMANDS)], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", probe.stdout


def test_the_api_loads_on_first_use():
    probe = subprocess.run([sys.executable, "-c", "import sys, distill; print(distill.__version__, 'torch' in sys.modules); "
                            "distill.Detector; print('torch' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    version, before, after = probe.stdout.split()
    assert version.count(".") >= 2 and before == "False" and after == "True"


def test_every_command_is_listed_by_a_one_line_summary():
    """Command lists (``distill --help``, ``distill eval --help``, ...) show each command's first paragraph with its
    line breaks, so that paragraph must be one line, and the details follow a blank line."""
    import inspect

    import typer

    from distill.cli import app

    def commands(group, path=()):
        for name, command in group.commands.items():
            yield path + (name,), command
            if hasattr(command, "commands"):
                yield from commands(command, path + (name,))

    listed = list(commands(typer.main.get_command(app)))
    assert {("detect",), ("eval", "matching"), ("labels", "verify"), ("bench", "stores")} <= {p for p, _ in listed}
    for path, command in listed:
        summary = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert summary and "\n" not in summary, (path, summary)
