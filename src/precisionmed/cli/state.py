"""State shared by the CLI's command groups: the debug flag, the consoles and JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from precisionmed.jsonable import json_default

console = Console()
console_err = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


STATE = _State()


def print_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: plain JSON on stdout, nothing else."""
    print(json.dumps(obj, indent=2, default=json_default))  # noqa: T201
