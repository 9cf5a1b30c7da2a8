"""Shared test set-up: the data mirror, a throw-away cache, and the dataset requirement helper.

Tests read real files from the shared data mirror (``../shared/data`` beside the checkout, or
``PRECISIONMED_DATA_MIRROR``). A test whose dataset is absent skips with the reason on a user's
machine and fails when ``CI=true`` (CI always has the mirror).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


def pytest_configure(config: pytest.Config) -> None:
    mirror = os.environ.get("PRECISIONMED_DATA_MIRROR", "").strip()
    if not mirror and SHARED_DATA.is_dir():
        os.environ["PRECISIONMED_DATA_MIRROR"] = str(SHARED_DATA)
    elif mirror and "://" not in mirror:
        # a relative folder means one folder for the whole run, whatever a test chdirs to
        os.environ["PRECISIONMED_DATA_MIRROR"] = str(Path(mirror).expanduser().resolve())
    if "PRECISIONMED_CACHE" not in os.environ:
        cache_plugin = getattr(config, "cache", None)
        if cache_plugin is not None:
            cache = cache_plugin.mkdir("precisionmed-cache")
        else:
            import tempfile

            cache = Path(tempfile.mkdtemp(prefix="precisionmed-cache-"))
        os.environ["PRECISIONMED_CACHE"] = str(cache)
    import torch

    torch.set_num_threads(2)


def data_root() -> Path:
    """The local mirror folder the tests read from."""
    return Path(os.environ.get("PRECISIONMED_DATA_MIRROR", str(SHARED_DATA)))


def missing(reason: str) -> None:
    """Skip on a user's machine, fail on CI (which always has the shared data)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must have this data: {reason}")
    pytest.skip(reason)


def require_path(relpath: str) -> Path:
    """A file or folder under the data mirror, or skip/fail with a clear reason."""
    path = data_root() / relpath
    if not path.exists():
        missing(f"{relpath} is not in the data mirror {data_root()} (set PRECISIONMED_DATA_MIRROR)")
    return path


def require_dataset(name: str) -> None:
    """Skip/fail unless every file of the catalog dataset ``name`` is available locally."""
    from precisionmed.data import get_dataset
    from precisionmed.data.fetch import available_locally

    absent = [f.path for f in get_dataset(name).files if available_locally(f) is None]
    if absent:
        missing(f"dataset {name!r} is not available locally (missing {absent[:3]})")


@pytest.fixture
def shared_data() -> Path:
    return data_root()
