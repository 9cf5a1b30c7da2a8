"""``precisionmed data``: list, inspect, fetch and verify the datasets of the catalog."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
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
        print_json(
            [
                {
                    "name": s.name,
                    "modality": s.modality,
                    "task": s.task,
                    "files": len(s.files),
                    "size": s.total_size,
                    "license": s.license,
                }
                for s in specs
            ]
        )
        return
    table = Table("name", "modality", "task", "files", "size", "licence")
    for s in specs:
        table.add_row(s.name, s.modality, s.task, str(len(s.files)), _size(s.total_size), s.license)
    console.print(table)


@app.command()
def info(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show a dataset's files, URLs, checksums, licence and citation."""
    from precisionmed.data import get_dataset
    from precisionmed.data.fetch import available_locally

    s = get_dataset(name)
    local = {f.path: available_locally(f) for f in s.files}
    record: dict[str, Any] = {
        "name": s.name,
        "modality": s.modality,
        "task": s.task,
        "description": s.description,
        "license": s.license,
        "citation": s.citation,
        "extra": s.extra,
        "files": [
            {
                "path": f.path,
                "url": f.url,
                "checksum": f.checksum,
                "size": f.size,
                "local": None if local[f.path] is None else str(local[f.path]),
            }
            for f in s.files
        ],
    }
    if as_json:
        print_json(record)
        return
    # Plain lines rather than a table: URLs and checksums must be copyable in full.
    for key in ("name", "modality", "task", "description", "license", "citation", "extra"):
        if record[key]:
            console.print(f"[bold]{key}:[/] {escape(str(record[key]))}", highlight=False)
    console.print(f"[bold]files:[/] {len(s.files)} ({_size(s.total_size)})", highlight=False)
    for f in s.files:
        where = escape(str(local[f.path])) if local[f.path] else "not on this machine"
        console.print(
            f"  {escape(f.path)}\n    url: {escape(f.url)}\n    checksum: {f.checksum}"
            f"\n    size: {_size(f.size)}\n    local: {where}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def fetch(
    names: list[str] = typer.Argument(..., help="Datasets to fetch."),
    force: bool = typer.Option(
        False, "--force", help="Fetch again even if the cache holds the file (replaces a bad one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Download (from mirror or canonical URL) and verify the files of datasets."""
    from precisionmed.data import fetch_file, get_dataset

    specs = [get_dataset(name) for name in names]  # unknown names fail before any download
    out = []
    for spec in specs:
        name = spec.name
        for f in spec.files:
            path = fetch_file(f, force=force, progress=not as_json)
            out.append({"dataset": name, "file": f.path, "local": str(path), "status": "OK"})
            if not as_json:
                console.print(f"[green]OK[/] {f.path} -> {path}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(out)


@app.command()
def verify(
    names: list[str] = typer.Argument(None, help="Datasets to check (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check every locally available file (cache, local mirror) against its checksum.

    Files that are not on this machine are reported as ABSENT (listed only for named datasets);
    exit code 1 if any file is BAD.
    """
    from precisionmed.data import iter_files
    from precisionmed.data.fetch import verify_local
    from precisionmed.errors import ChecksumError

    rows, bad = [], 0
    for spec, f in iter_files(names or None):
        try:
            path = verify_local(f)
            status, detail = ("ABSENT", "") if path is None else ("OK", str(path))
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
                    f"[{colour[r['status']]}]{r['status']:6}[/] {r['file']}  {escape(r['detail'])}",
                    highlight=False,
                    soft_wrap=True,
                )
        counts = {s: sum(r["status"] == s for r in rows) for s in ("OK", "BAD", "ABSENT")}
        console.print(
            f"{counts['OK']} OK, {counts['BAD']} BAD, {counts['ABSENT']} not on this machine"
        )
    if bad:
        raise typer.Exit(1)
