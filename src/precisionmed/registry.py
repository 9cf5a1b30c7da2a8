"""One registry mechanism for everything chosen by name: datasets, models, networks, metrics,
predictors.

A :class:`Registry` maps case-insensitive names to entries, refuses a second registration of a
name with another entry unless told to replace it, lists its entries sorted, and answers an
unknown name with one line that names the registry, offers close names ("did you mean") and
lists what is known. Registries whose entries live in modules that are imported on demand take
a ``loader`` called before every lookup (the dataset catalog imports its sources that way, so
``import precisionmed`` stays instant).

::

    NETWORKS: Registry[Builder] = Registry("imaging network", error=ConfigError)

    @NETWORKS.register("reference-cnn")
    def reference_cnn(...): ...

    NETWORKS.get("refrence-cnn")  # ConfigError: Unknown imaging network 'refrence-cnn'.
                                  # Did you mean: reference-cnn? Known: densenet121, ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from precisionmed.errors import ConfigError, PrecisionMedError

T = TypeVar("T")
#: Unknown-name messages list the known names only up to this many.
_MAX_LISTED = 20


class Registry(Generic[T]):
    """Entries of one kind, by case-insensitive name.

    Parameters
    ----------
    kind : str
        What an entry is, for messages (``"dataset"``, ``"clinical model"``).
    error : type of PrecisionMedError
        Raised for an unknown name (default :class:`ConfigError`).
    loader : callable, optional
        Called (once per lookup; it must be cheap after its first call) before any lookup or
        listing, to import the modules that register entries.
    hint : str
        Appended to the unknown-name message (e.g. "Run 'precisionmed data list'.").
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[PrecisionMedError] = ConfigError,
        loader: Callable[[], None] | None = None,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.error = error
        self.hint = hint
        self._loader = loader
        self._entries: dict[str, T] = {}

    def _load(self) -> None:
        if self._loader is not None:
            self._loader()

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` as ``name``; return it.

        Raises
        ------
        ConfigError
            ``name`` is already registered with another entry and ``replace`` is false.
        """
        key = name.lower()
        if not replace and key in self._entries and self._entries[key] is not entry:
            raise ConfigError(f"The {self.kind} {name!r} is already registered.")
        self._entries[key] = entry
        return entry

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(entry: T) -> T:
            return self.add(name, entry, replace=replace)

        return deco

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (case-insensitive).

        Raises
        ------
        PrecisionMedError
            ``self.error``: no such name; the message offers close names and the known ones.
        """
        self._load()
        key = str(name).lower()
        if key not in self._entries:
            close = difflib.get_close_matches(key, self._entries, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            names = sorted(self._entries)
            # a long list would not make a readable one-line message: the hint says where to look
            known = f" Known: {', '.join(names) or 'none'}." if len(names) <= _MAX_LISTED else ""
            tail = f" {self.hint}" if self.hint else ""
            raise self.error(f"Unknown {self.kind} {name!r}.{hint}{known}{tail}")
        return self._entries[key]

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and name.lower() in self._entries

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs sorted by name."""
        self._load()
        return sorted(self._entries.items())

    def __iter__(self) -> Iterator[T]:
        return iter(entry for _, entry in self.items())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


def params_with_defaults(
    registry: Registry[dict[str, Any]], name: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The default parameters registered as ``name``, updated with ``params``.

    For registries whose entries are a model's default parameters (chem, genomics).

    Raises
    ------
    PrecisionMedError
        ``registry.error``: an unknown name, or a parameter the model does not have (the known
        ones are listed).
    """
    defaults = registry.get(name)
    unknown = sorted(set(params or {}) - set(defaults))
    if unknown:
        raise registry.error(
            f"Model {name!r} has no parameter {unknown[0]!r}; its parameters are "
            f"{', '.join(sorted(defaults))}."
        )
    return {**defaults, **dict(params or {})}


__all__ = ["Registry", "params_with_defaults"]
