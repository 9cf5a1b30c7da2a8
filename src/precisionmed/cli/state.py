"""State shared by the CLI's command groups: the debug flag, the consoles and JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console()
console_err = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


STATE = _State()


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and arrays, paths; written here so that `--json` never imports torch.
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def print_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: plain JSON on stdout, nothing else."""
    print(json.dumps(obj, indent=2, default=_json_default))  # noqa: T201
