"""State shared by the CLI's command groups: the debug flag, the consoles and JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from precisionmed.jsonable import finite_or_null, json_default

console = Console()
console_err = Console(stderr=True)


@dataclass
class _State:
    debug: bool = False


STATE = _State()


def print_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: strict JSON on stdout (NaN and infinities as
    null), nothing else."""
    print(json.dumps(finite_or_null(obj), indent=2, allow_nan=False, default=json_default))  # noqa: T201


def parse_key_values(items: list[str] | None, option: str = "--param") -> dict[str, Any]:
    """``["max_epochs=50", "hidden=[64, 32]"]`` -> ``{"max_epochs": 50, "hidden": [64, 32]}``.

    Each VALUE is read as YAML (so JSON, numbers, booleans and bare strings all work); a bad
    item is a one-line :class:`~precisionmed.errors.ConfigError` naming ``option``.
    """
    import yaml

    from precisionmed.errors import ConfigError

    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option}: expected KEY=VALUE (e.g. max_epochs=50); got {item!r}.")
        try:
            params[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{option} {key}: cannot parse value {raw!r} ({exc}).") from exc
    return params
