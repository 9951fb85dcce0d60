"""The ``distill`` command line."""
from __future__ import annotations

import typer

from distill import __version__
from distill.allocator import keep_freed_memory
from distill.commands import bench, evaluate, labels
from distill.commands.detect import detect_command
from distill.commands.export import export_command
from distill.commands.match import match_command
from distill.commands.report import report_command
from distill.commands.train import train_command

app = typer.Typer(
    help="Distil SuperPoint into small interest-point detectors: label once, train many students, evaluate on HPatches.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"distill {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=show_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Distil SuperPoint into small interest-point detectors: label once, train many students, evaluate on HPatches."""
    keep_freed_memory()  # SuperPoint's large activations reuse pages (distill.allocator), for every command alike


app.add_typer(labels.app, name="labels")
app.add_typer(evaluate.app, name="eval")
app.add_typer(bench.app, name="bench")
app.command(name="detect")(detect_command)
app.command(name="train")(train_command)
app.command(name="match")(match_command)
app.command(name="export")(export_command)
app.command(name="report")(report_command)

if __name__ == "__main__":
    app()
