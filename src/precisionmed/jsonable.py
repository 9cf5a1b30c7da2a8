"""JSON encoding of the values our reports hold (NumPy/torch scalars and arrays, paths).

One ``default=`` hook for :func:`json.dumps`, shared by the artefact store and the CLI's
``--json`` output; it imports nothing heavy, so ``--json`` never pulls in torch.
"""

from __future__ import annotations

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
