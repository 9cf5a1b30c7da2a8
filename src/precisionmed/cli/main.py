"""The ``precisionmed`` command: one Typer group per concern, thin over the library.

Errors that precisionmed raises on purpose print as one line on stderr with exit code 1;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import click
import typer

from precisionmed import __version__
from precisionmed.cli.data import app as data_app
from precisionmed.cli.state import STATE, console_err

app = typer.Typer(
    name="precisionmed",
    help="Deep learning for precision medicine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")


def _register_pillars() -> None:
    # Each pillar's CLI module imports its heavy libraries inside the commands only.
    import importlib

    for name in ("imaging", "clinical"):
        try:
            module = importlib.import_module(f"precisionmed.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"precisionmed.cli.{name}":
                raise
            continue
        app.add_typer(module.app, name=name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"precisionmed {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """precisionmed: imaging, clinical prediction and more, from one command."""
    STATE.debug = debug


_register_pillars()


def main() -> None:
    """Entry point: run the app, turning our errors into one clear line."""
    from precisionmed.errors import PrecisionMedError

    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        console_err.print("Aborted.")
        sys.exit(130)
    except (PrecisionMedError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if STATE.debug:
            raise
        console_err.print(
            f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
