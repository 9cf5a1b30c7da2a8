"""The exception tree: what each error is (also) an instance of, and what its message says."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from precisionmed import errors
from precisionmed.errors import (
    ArtifactError,
    ChecksumError,
    ConfigError,
    DataFormatError,
    DatasetNotFoundError,
    DownloadError,
    MissingExtraError,
    NotFittedError,
    PrecisionMedError,
    SchemaError,
    require_extra,
)


@pytest.mark.parametrize(
    ("cls", "also"),
    [
        (DataFormatError, ValueError),
        (SchemaError, DataFormatError),
        (ChecksumError, PrecisionMedError),
        (DownloadError, PrecisionMedError),
        (DatasetNotFoundError, KeyError),
        (ArtifactError, PrecisionMedError),
        (NotFittedError, SklearnNotFittedError),
        (NotFittedError, AttributeError),  # scikit-learn's check_is_fitted contract
        (ConfigError, ValueError),
        (MissingExtraError, ImportError),
    ],
)
def test_tree(cls: type, also: type) -> None:
    assert issubclass(cls, PrecisionMedError)
    assert issubclass(cls, also)


def test_checksum_message_names_file_expected_and_actual() -> None:
    exc = ChecksumError("data/x.npz", "sha256", "ab" * 32, "cd" * 32)
    assert str(exc) == (
        f"data/x.npz: sha256 checksum mismatch: expected {'ab' * 32}, got {'cd' * 32}. "
        "The file is corrupt or truncated and was not used; delete it and fetch it again."
    )
    with_source = ChecksumError("x.npz", "md5", "1" * 32, "2" * 32, source="http://m/x", hint="H.")
    assert str(with_source).startswith("x.npz (from http://m/x): md5 checksum mismatch")
    assert str(with_source).endswith(". H.")


def test_errors_survive_pickling() -> None:
    # e.g. raised in a DataLoader worker process and re-raised in the parent
    exc = ChecksumError("x.npz", "md5", "1" * 32, "2" * 32, source="http://m/x", hint="H.")
    back = pickle.loads(pickle.dumps(exc))
    assert (type(back), str(back), back.source) == (ChecksumError, str(exc), "http://m/x")
    nf = pickle.loads(pickle.dumps(NotFittedError("call fit first")))
    assert type(nf) is NotFittedError


def test_dataset_not_found_message_is_not_quoted() -> None:
    assert str(DatasetNotFoundError("No dataset named 'x'.")) == "No dataset named 'x'."


def test_require_extra_names_the_extra() -> None:
    require_extra("json", "core")
    with pytest.raises(MissingExtraError, match=r"pip install 'precisionmed\[chem\]'"):
        require_extra("surely_not_an_installed_module", "chem")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchError"):
        errors.NoSuchError  # noqa: B018


def test_importing_errors_does_not_import_sklearn() -> None:
    # `precisionmed --help` and `data list` stay fast: scikit-learn loads only for NotFittedError.
    code = "import sys, precisionmed.errors; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
