"""The exception tree of precisionmed.

::

    PrecisionMedError                 every error this package raises on purpose
     +-- DataFormatError              a file, row or field is not what was expected
     |    +-- SchemaError             input columns do not match a model's recorded schema
     +-- ChecksumError                a file's checksum differs from the catalog's
     +-- DownloadError                a file could not be fetched from mirror or canonical URL
     +-- DatasetNotFoundError         no dataset of that name in the catalog
     +-- ArtifactError                a model directory is missing, incomplete or tampered with
     +-- NotFittedError               an estimator was used before ``fit``
     +-- ConfigError                  a parameter or run configuration is invalid
     +-- MissingExtraError            an optional dependency (an extra) is not installed

Messages name the file / row / field, what was expected and what was got. The CLI prints
the message on one line and exits non-zero; the service maps these errors to 4xx responses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class PrecisionMedError(Exception):
    """Base class of every error precisionmed raises on purpose."""


class DataFormatError(PrecisionMedError, ValueError):
    """A file, row or field does not have the expected format."""


class SchemaError(DataFormatError):
    """Input columns do not match the schema a model recorded at training time."""


class ChecksumError(PrecisionMedError):
    """A file's checksum differs from the one recorded in the catalog or artefact.

    Parameters
    ----------
    path : str or Path
        The file (a local path, or a catalog path).
    algorithm : str
        ``"sha256"`` or ``"md5"``.
    expected, actual : str
        Hex digests.
    source : str or None
        Where the bytes came from, when not a local file (a URL).
    hint : str or None
        What happened to the file and what to do; a generic sentence by default.
    """

    def __init__(
        self,
        path: object,
        algorithm: str,
        expected: str,
        actual: str,
        *,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.source = source
        self.hint = hint or (
            "The file is corrupt or truncated and was not used; delete it and fetch it again."
        )
        origin = f" (from {source})" if source else ""
        super().__init__(
            f"{self.path}{origin}: {algorithm} checksum mismatch: expected {expected}, "
            f"got {actual}. {self.hint}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields must survive pickling (e.g. an error raised in a DataLoader worker).
        return (
            _rebuild_checksum_error,
            (self.path, self.algorithm, self.expected, self.actual, self.source, self.hint),
        )


def _rebuild_checksum_error(
    path: str, algorithm: str, expected: str, actual: str, source: str | None, hint: str | None
) -> ChecksumError:
    return ChecksumError(path, algorithm, expected, actual, source=source, hint=hint)


class DownloadError(PrecisionMedError):
    """A file could not be downloaded from any source."""


class DatasetNotFoundError(PrecisionMedError, KeyError):
    """No dataset of that name is registered, or its files are not available."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class ArtifactError(PrecisionMedError):
    """A model artefact directory is missing, incomplete or has been tampered with."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(PrecisionMedError, _SklearnNotFittedError):
        """An estimator was used before it was fitted (also a scikit-learn NotFittedError)."""

else:

    def __getattr__(name: str) -> Any:
        # NotFittedError subclasses scikit-learn's, and importing scikit-learn takes over a
        # second: it is built on first use so that `import precisionmed.errors` (and with it
        # `precisionmed --help`, `precisionmed data list`) stays instant (PEP 562).
        if name != "NotFittedError":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

        class NotFittedError(PrecisionMedError, _SklearnNotFittedError):
            """An estimator was used before it was fitted (also a scikit-learn NotFittedError)."""

        NotFittedError.__module__ = __name__
        NotFittedError.__qualname__ = "NotFittedError"
        globals()["NotFittedError"] = NotFittedError
        return NotFittedError


class ConfigError(PrecisionMedError, ValueError):
    """A parameter or run configuration is invalid."""


class MissingExtraError(PrecisionMedError, ImportError):
    """An optional dependency group is not installed."""


def require_extra(module: str, extra: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"monai"``.
    extra : str
        The precisionmed extra that provides it, e.g. ``"imaging"``.
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"'{module}' is required for this feature: pip install 'precisionmed[{extra}]'"
        ) from exc
