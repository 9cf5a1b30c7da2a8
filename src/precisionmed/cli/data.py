"""``precisionmed data``: list, inspect, fetch and verify the datasets of the catalog."""

from __future__ import annotations

import typer
from rich.table import Table

from precisionmed.cli.state import console, print_json

app = typer.Typer(help="The dataset catalog: list, info, fetch, verify.", no_args_is_help=True)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TB"


@app.command("list")
def list_(
    modality: str = typer.Option(None, help="Only datasets of this modality."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List every registered dataset."""
    from precisionmed.data import list_datasets

    specs = list_datasets(modality)
    if as_json:
        print_json([{"name": s.name, "modality": s.modality, "task": s.task} for s in specs])
        return
    table = Table("name", "modality", "task", "files", "licence")
    for s in specs:
        table.add_row(s.name, s.modality, s.task, str(len(s.files)), s.license)
    console.print(table)


@app.command()
def info(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show a dataset's files, URLs, checksums, licence and citation."""
    from precisionmed.data import get_dataset

    s = get_dataset(name)
    record = {
        "name": s.name,
        "modality": s.modality,
        "task": s.task,
        "description": s.description,
        "license": s.license,
        "citation": s.citation,
        "files": [{"path": f.path, "url": f.url, "checksum": f.checksum} for f in s.files],
    }
    if as_json:
        print_json(record)
        return
    for key in ("name", "modality", "task", "description", "license", "citation"):
        console.print(f"[bold]{key}:[/] {record[key]}", highlight=False)
    table = Table("path", "url", "checksum")
    for f in s.files:
        table.add_row(f.path, f.url, f.checksum)
    console.print(table)


@app.command()
def fetch(
    names: list[str],
    force: bool = typer.Option(False, help="Download again even if the cache holds the file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Download (from mirror or canonical URL) and verify the files of datasets."""
    from precisionmed.data import fetch_file, get_dataset

    out = []
    for name in names:
        for f in get_dataset(name).files:
            path = fetch_file(f, force=force, progress=not as_json)
            out.append({"dataset": name, "file": f.path, "local": str(path), "status": "OK"})
            if not as_json:
                console.print(f"[green]OK[/] {f.path} -> {path}", highlight=False)
    if as_json:
        print_json(out)


@app.command()
def verify(
    names: list[str] = typer.Argument(None, help="Datasets to check (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check every locally available file (cache, local mirror) against its checksum.

    Files that are not on this machine are reported as ABSENT; exit code 1 if any file is bad.
    """
    from precisionmed.data import iter_files
    from precisionmed.data.fetch import available_locally, verify_file
    from precisionmed.errors import ChecksumError

    rows, bad = [], 0
    for spec, f in iter_files(names or None):
        path = available_locally(f)
        if path is None:
            status, detail = "ABSENT", ""
        else:
            try:
                verify_file(path, f)
                status, detail = "OK", str(path)
            except ChecksumError as exc:
                status, detail, bad = "BAD", str(exc), bad + 1
        rows.append({"dataset": spec.name, "file": f.path, "status": status, "detail": detail})
    if as_json:
        print_json(rows)
    else:
        colour = {"OK": "green", "ABSENT": "dim", "BAD": "bold red"}
        for r in rows:
            if r["status"] != "ABSENT" or names:
                console.print(
                    f"[{colour[r['status']]}]{r['status']:6}[/] {r['file']}  {r['detail']}",
                    highlight=False,
                )
        counts = {s: sum(r["status"] == s for r in rows) for s in ("OK", "BAD", "ABSENT")}
        console.print(
            f"{counts['OK']} OK, {counts['BAD']} BAD, {counts['ABSENT']} not on this machine"
        )
    if bad:
        raise typer.Exit(1)
