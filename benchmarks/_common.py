"""What the benchmark scripts share (a helper module, not a benchmark: `make bench` skips it)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
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


def _plain(value: object) -> object:
    """JSON for what ``json`` cannot write: the package's encoding (NumPy/torch scalars and
    arrays, paths), anything else as text."""
    from precisionmed.jsonable import json_default

    try:
        return json_default(value)
    except TypeError:
        return str(value)


@contextlib.contextmanager
def locked_results(path: Path) -> Iterator[dict]:
    """The results JSON at ``path`` (empty if absent), read under an exclusive lock and written
    back when the block ends: two runs of one script may share the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_suffix(".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.is_file() else {}
        yield results
        path.write_text(json.dumps(results, indent=2, default=_plain))
    with contextlib.suppress(OSError):
        lock_path.unlink()
