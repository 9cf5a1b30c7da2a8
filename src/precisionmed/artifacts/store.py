"""A trained model as a directory, and reading it back with every file checked.

::

    model_dir/
      manifest.json     the sha256 of every other file (config.json included); its own sha256 is
                        the model's version
      manifest.sig      HMAC-SHA256 of manifest.json, when saved with PRECISIONMED_SIGNING_KEY
      config.json       kind, pillar, architecture, preprocessing, labels, input schema,
                        precisionmed version, data checksum
      model.safetensors torch weights (no pickle)         -- deep models
      model.skops       scikit-learn style estimators    -- classical models
      metrics.json      validation / test metrics (with intervals where computed)
      model_card.md     intended use, training data, metrics, limits
      *.png, metrics.csv  plots and training history

What the checksums guarantee (accidental corruption and partial writes, not an attacker) and
what signing adds is written in :mod:`precisionmed.artifacts.manifest`; how a directory is written
atomically, in :mod:`precisionmed.artifacts.writer`.
"""

from __future__ import annotations

import json
import platform
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from precisionmed import __version__
from precisionmed.artifacts.card import ModelCard, write_model_card
from precisionmed.artifacts.manifest import (
    MANIFEST,
    SHORT,
    SIGNATURE,
    check_signature,
    manifest_bytes,
    parse_manifest,
    read_verified,
    sha256_bytes,
    sign,
    verify_files,
)
from precisionmed.artifacts.skops_types import SKOPS_TRUSTED_TYPES
from precisionmed.artifacts.writer import aside_prefix
from precisionmed.errors import ArtifactError
from precisionmed.jsonable import json_default

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
SKOPS = "model.skops"
METRICS = "metrics.json"
CARD = "model_card.md"


def _signing_key() -> bytes | None:
    from precisionmed.config import get_settings

    key = get_settings().signing_key
    return None if key is None else key.get_secret_value().encode()


def save_artifact(
    out_dir: str | Path,
    *,
    kind: str,
    pillar: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    card: ModelCard,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    estimator: Any | None = None,
) -> Path:
    """Write the model files and the manifest into ``out_dir``; return its path.

    Call it on the staging folder of a :class:`~precisionmed.artifacts.ModelWriter` so that the
    directory appears complete or not at all; on a plain folder it writes in place.

    Parameters
    ----------
    out_dir : path
        The directory (created if needed). Plots or other files already written into it are
        recorded in the manifest too. A directory that already holds a manifest is refused.
    kind : str
        Registered predictor name, e.g. ``"image-classifier"``.
    pillar : str
        The package that defines the predictor, e.g. ``"imaging"``.
    config : mapping
        Architecture, preprocessing, label names, input schema, data checksum, training config.
    metrics : mapping
        Evaluation figures.
    card : ModelCard
        Text of the model card.
    state_dict : mapping of tensors, optional
        Torch weights, saved as safetensors.
    estimator : object, optional
        A scikit-learn style estimator, saved with skops.

    Raises
    ------
    ArtifactError
        ``out_dir`` already holds a saved model (replace it through ``ModelWriter(...,
        overwrite=True)``, which never mixes old and new files).
    """
    out = Path(out_dir)
    if (out / MANIFEST).exists():
        raise ArtifactError(
            f"{out}: already holds a saved model ({MANIFEST}); write a new model through "
            "precisionmed.artifacts.ModelWriter(path, overwrite=True) instead of into it."
        )
    out.mkdir(parents=True, exist_ok=True)
    if state_dict is not None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        save_file(tensors, str(out / WEIGHTS))
    if estimator is not None:
        import skops.io as sio

        # Deflated: tree ensembles store arrays per leaf (a random survival forest with its
        # bootstrap refits is ~140 MB raw, ~8 MB deflated).
        sio.dump(estimator, out / SKOPS, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    (out / METRICS).write_text(json.dumps(metrics, indent=2, default=json_default))
    write_model_card(out / CARD, card, metrics)
    full = {
        "kind": kind,
        "pillar": pillar,
        "precisionmed_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        **dict(config),
    }
    (out / CONFIG).write_text(json.dumps(full, indent=2, default=json_default))
    manifest = manifest_bytes(out)
    key = _signing_key()
    if key is not None:
        (out / SIGNATURE).write_text(sign(manifest, key) + "\n")
    (out / MANIFEST).write_bytes(manifest)  # last: a folder without it is not a model
    return out


@dataclass
class Artifact:
    """A model directory whose every file was checked against its manifest.

    Attributes
    ----------
    path : Path
        The directory.
    config, metrics : dict
        ``config.json`` and ``metrics.json`` (the bytes that were checked).
    files : dict
        ``{relative path: sha256}`` from ``manifest.json``.
    version : str
        sha256 (hex) of ``manifest.json``'s bytes: changes whenever any file changes.
    signed : bool
        Whether a signature was checked (``PRECISIONMED_SIGNING_KEY`` set at load).
    """

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    version: str = ""
    signed: bool = False

    @property
    def kind(self) -> str:
        return str(self.config["kind"])

    @property
    def short_version(self) -> str:
        """The first 12 hex digits of :attr:`version`, as shown to users."""
        return self.version[:SHORT]

    def read_bytes(self, name: str) -> bytes:
        """A file of the model, its bytes checked against the manifest as they are read."""
        return read_verified(self.path, name, self.files)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The torch weights (safetensors: no code runs on load)."""
        return load_safetensors(self.read_bytes(WEIGHTS))

    def estimator(self) -> Any:
        """The skops-stored estimator, refused if it holds a type this project does not write.

        Only the fully qualified types of :data:`~precisionmed.artifacts.skops_types.
        SKOPS_TRUSTED_TYPES` are loaded: no prefixes, and nothing the model's own files say.

        Raises
        ------
        ArtifactError
            The file holds another type (named), before any object is built.
        """
        import skops.io as sio

        data = self.read_bytes(SKOPS)
        unknown = sio.get_untrusted_types(data=data)
        extra = sorted(set(unknown) - SKOPS_TRUSTED_TYPES)
        if extra:
            raise ArtifactError(
                f"{self.path / SKOPS}: holds types that precisionmed does not write and will "
                f"not load: {extra}."
            )
        return sio.loads(data, trusted=unknown)


def _missing_dir_message(root: Path) -> str:
    asides = sorted(root.parent.glob(f"{aside_prefix(root)}*")) if root.parent.is_dir() else []
    if asides:
        return (
            f"{root}: no model directory, but a save into it was interrupted and the previous "
            f"model waits at {asides[-1]}; rename it back (mv '{asides[-1]}' '{root}') or save "
            "again into this path (the next save restores it first)."
        )
    if root.exists():
        return f"{root}: is a file, not a model directory."
    return f"{root}: no such model directory."


def read_artifact(path: str | Path) -> Artifact:
    """Open a model directory, checking every file against ``manifest.json``.

    Every file must be listed with its sha256, every listed file must be there unchanged, and
    no other file may be present (staging folders of interrupted saves are siblings, never
    read). This guards against accidental damage (corruption, a partial write, an edit by
    mistake), not against an attacker, who can rewrite ``manifest.json`` too. With
    ``PRECISIONMED_SIGNING_KEY`` set, ``manifest.sig`` must be the manifest's HMAC under that
    key, which an attacker without the key cannot forge; without the key a signature present
    is not checked.

    Raises
    ------
    ArtifactError
        Not a model directory, a file missing, added or changed (named), a bad signature.
    """
    root = Path(path)
    if not root.is_dir():
        raise ArtifactError(_missing_dir_message(root))
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(
            f"{root}: not a precisionmed model directory (no {MANIFEST}); models saved by "
            "earlier precisionmed versions (checksums in config.json) must be trained again."
        )
    manifest = mpath.read_bytes()
    files = parse_manifest(root, manifest)
    signed = check_signature(root, manifest, _signing_key())
    verify_files(root, files)
    config = _json(root, CONFIG, read_verified(root, CONFIG, files))
    for key in ("kind", "pillar"):
        if key not in config:
            raise ArtifactError(f"{root / CONFIG}: field '{key}' is missing.")
    metrics = _json(root, METRICS, read_verified(root, METRICS, files)) if METRICS in files else {}
    return Artifact(root, config, metrics, files, sha256_bytes(manifest), signed)


def _json(root: Path, name: str, data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{root / name}: not valid JSON ({exc}).") from exc
    if not isinstance(value, dict):
        raise ArtifactError(f"{root / name}: expected a JSON object; got {type(value).__name__}.")
    return value
