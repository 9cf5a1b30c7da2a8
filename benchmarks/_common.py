"""What the benchmark scripts share (a helper module, not a benchmark: `make bench` skips it)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The project's data mirror when the repository sits beside ``shared/`` (as in CI).
SHARED_DATA = ROOT.parent / "shared" / "data"


def use_shared_mirror() -> None:
    """Read datasets from ``../shared/data`` unless ``PRECISIONMED_DATA_MIRROR`` says otherwise.

    Without it (and without a cache) the data layer downloads from the canonical URLs.
    """
    if SHARED_DATA.is_dir():
        os.environ.setdefault("PRECISIONMED_DATA_MIRROR", str(SHARED_DATA))
