"""JSON encoding of the values our reports hold (NumPy/torch scalars and arrays, paths).

One ``default=`` hook for :func:`json.dumps`, shared by the artefact store and the CLI's
``--json`` output, and :func:`finite_or_null` for output that must be strict JSON (the CLI's
``--json``, the service's JSON columns); it imports nothing heavy, so ``--json`` never pulls in
torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def json_default(obj: Any) -> Any:
    """``json.dumps(..., default=json_default)``: scalars -> Python numbers, arrays -> lists,
    paths -> strings; anything else raises ``TypeError`` as :mod:`json` expects."""
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite number (also in NumPy scalars and arrays, inside
    dicts, lists and tuples) replaced by None: JSON has no such numbers (``NaN`` is a Python
    extension that ``jq``, JavaScript and PostgreSQL refuse), and an undefined metric (a scaffold
    similarity over no scaffolds, an interval bound) reads as null."""
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    elif hasattr(value, "tolist"):
        return finite_or_null(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
