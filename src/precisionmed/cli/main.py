"""The ``precisionmed`` command: one Typer group per concern, thin over the library.

Errors that precisionmed raises on purpose print as one line on stderr with exit code 1;
``--debug`` shows the traceback instead. Warnings print as one ``warning:`` line each on stderr
(``--debug``: Python's own form, with the file and line that raised them).
"""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any

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

    for name in ("imaging", "clinical", "chem", "genomics", "treatment"):
        try:
            module = importlib.import_module(f"precisionmed.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"precisionmed.cli.{name}":
                raise
            continue
        app.add_typer(module.app, name=name)
    from precisionmed.cli.report import register as register_report

    register_report(app)  # `report CASE`: a top-level command, not a group
    from precisionmed.cli.service import register as register_service
    from precisionmed.cli.service_models import register as register_service_models

    register_service(app)  # `serve` and the group `users`
    register_service_models(app)  # `retrain` and the groups `models`, `feedback`


def _version(value: bool) -> None:
    if value:
        typer.echo(f"precisionmed {__version__}")
        raise typer.Exit()


def _warnings_as_lines() -> None:
    """Show each warning as one ``warning: <message>`` line on stderr, not Python's
    ``file:line: Category: message`` + source line form (the file is usually deep inside a
    library). A warning that differs from one already shown only in its numbers (the same
    problem in another fit of the same command) is not repeated."""
    from rich.markup import escape

    seen: set[tuple[type, str]] = set()

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(message).split())
        key = (category, re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", "#", text))
        if key not in seen:
            seen.add(key)
            console_err.print(
                f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True
            )

    warnings.showwarning = show


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="PRECISIONMED_DEBUG", help="Show full tracebacks on errors."
    ),
) -> None:
    """precisionmed: imaging, clinical prediction and more, from one command."""
    STATE.debug = debug
    if not debug:
        _warnings_as_lines()


_register_pillars()


def main() -> None:
    """Entry point: run the app, turning our errors into one clear line on stderr, exit code 1."""
    from rich.markup import escape

    from precisionmed.errors import PrecisionMedError

    try:
        # standalone_mode=False: a command's `typer.Exit(code)` comes back as the return value
        # (and usage errors as exceptions) instead of exiting from inside Typer.
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console_err.print("Aborted.")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: Typer's own message, exit code 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            console_err.print(f"error: {escape(exc.format_message())}", highlight=False)
        sys.exit(exc.exit_code)
    except (PrecisionMedError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if STATE.debug:
            raise
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        console_err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
