"""A trained model as a directory, and reading it back with its checksums checked.

::

    model_dir/
      config.json       kind, pillar, architecture, preprocessing, labels, input schema,
                        precisionmed version, data checksum, and the sha256 of every other file
      model.safetensors torch weights (no pickle)         -- deep models
      model.skops       scikit-learn style estimators    -- classical models
      metrics.json      validation / test metrics (with intervals where computed)
      model_card.md     intended use, training data, metrics, limits
      *.png, metrics.csv  plots and training history
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from precisionmed import __version__
from precisionmed.artifacts.card import ModelCard, write_model_card
from precisionmed.errors import ArtifactError
from precisionmed.jsonable import json_default

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
SKOPS = "model.skops"
METRICS = "metrics.json"
CARD = "model_card.md"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    """Write a model directory; return its path.

    Parameters
    ----------
    out_dir : path
        The directory (created; files of the same names are overwritten). Plots or other files
        already written into it are checksummed too.
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
    """
    out = Path(out_dir)
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
    files = {
        p.name: _sha256(p)
        for p in sorted(out.iterdir())
        if p.is_file() and p.name != CONFIG and not p.name.endswith(".part")
    }
    full = {
        "kind": kind,
        "pillar": pillar,
        "precisionmed_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        **dict(config),
        "files": files,
    }
    tmp = out / (CONFIG + ".part")
    tmp.write_text(json.dumps(full, indent=2, default=json_default))
    os.replace(tmp, out / CONFIG)
    return out


@dataclass
class Artifact:
    """A model directory whose files have been checked against ``config.json``."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.config["kind"])

    @property
    def version(self) -> str:
        """sha256 (hex) of ``config.json``'s bytes, which record every other file's sha256."""
        return _sha256(self.path / CONFIG)

    def _checked(self, name: str) -> Path:
        """A model file that ``config.json`` records (and :func:`read_artifact` verified)."""
        if name not in self.config.get("files", {}):
            raise ArtifactError(
                f"{self.path / name}: not recorded in {CONFIG} (this model directory has "
                f"{sorted(self.config.get('files', {}))}); it will not be loaded unchecked."
            )
        return self.path / name

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The torch weights (safetensors: no code runs on load)."""
        return load_file(str(self._checked(WEIGHTS)))

    def estimator(self, trusted: list[str] | None = None) -> Any:
        """The skops-stored estimator, loading only the types skops reports plus ``trusted``.

        Types from scikit-learn, scikit-survival, NumPy, SciPy and precisionmed are trusted,
        as are those listed in ``config.json`` under ``skops_trusted`` and in ``trusted``.
        """
        import skops.io as sio

        path = self._checked(SKOPS)
        unknown = sio.get_untrusted_types(file=path)
        allowed = set(self.config.get("skops_trusted", [])) | set(trusted or [])
        safe_prefixes = ("sklearn.", "sksurv.", "numpy.", "scipy.", "precisionmed.")
        extra = [t for t in unknown if t not in allowed and not t.startswith(safe_prefixes)]
        if extra:
            raise ArtifactError(
                f"{path}: refuses to load untrusted types {extra}; "
                "pass trusted=[...] if you trust them."
            )
        return sio.load(path, trusted=unknown)


def read_artifact(path: str | Path) -> Artifact:
    """Open a model directory, checking that every recorded file is present and unchanged.

    Raises
    ------
    ArtifactError
        Not a model directory, a file missing, or a file's sha256 differs from ``config.json``.
    """
    root = Path(path)
    cfg_path = root / CONFIG
    if not cfg_path.is_file():
        raise ArtifactError(f"{root}: not a precisionmed model directory (no {CONFIG}).")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"{cfg_path}: not valid JSON ({exc.msg} at line {exc.lineno})."
        ) from exc
    for key in ("kind", "pillar", "files"):
        if key not in config:
            raise ArtifactError(f"{cfg_path}: field '{key}' is missing.")
    if not isinstance(config["files"], dict):
        raise ArtifactError(f"{cfg_path}: field 'files' must map file names to sha256 digests.")
    for name, digest in config["files"].items():
        if Path(name).name != name or name in ("", ".", ".."):
            raise ArtifactError(
                f"{cfg_path}: field 'files' names {name!r}; expected a file name inside {root}."
            )
        fpath = root / name
        if not fpath.is_file():
            raise ArtifactError(f"{fpath}: recorded in {CONFIG} but missing.")
        actual = _sha256(fpath)
        if actual != digest:
            raise ArtifactError(
                f"{fpath}: sha256 {actual} differs from {digest} recorded in {CONFIG}; "
                "the artefact was modified after it was saved and will not be loaded."
            )
    metrics = json.loads((root / METRICS).read_text()) if (root / METRICS).is_file() else {}
    return Artifact(path=root, config=config, metrics=metrics)
