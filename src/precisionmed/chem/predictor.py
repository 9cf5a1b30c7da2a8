"""The property predictor: a saved property model applied to new molecules.

``precisionmed.load(model_dir)`` returns a :class:`PropertyPredictor` whose :meth:`predict`
takes SMILES (a list, or a ``.smi`` file) and returns one
:class:`~precisionmed.predict.PredictionRecord` per input row, invalid rows included (with no
prediction and the reason as a warning): the predicted value (regression, with its conformal
interval) or probability of each task, the ensemble spread, the standardised SMILES and the
applicability domain (nearest-neighbour Tanimoto similarity to the training molecules, flagged
below the model's threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.chem.evaluation import intervals
from precisionmed.chem.features import (
    DescriptorScaler,
    FingerprintSpec,
    model_inputs,
    tanimoto_nearest,
)
from precisionmed.chem.models import NETWORKS, PropertyModel, nets_from_state
from precisionmed.chem.molecules import MoleculeBatch, read_molecules, standardize_smiles
from precisionmed.chem.training import KIND
from precisionmed.predict import MoleculeInputSpec, PredictionRecord, Predictor


@register_predictor(KIND)
class PropertyPredictor(Predictor):
    """A fitted property model with its fingerprint settings, intervals and training set."""

    def __init__(
        self,
        model: PropertyModel,
        config: dict[str, Any],
        train_fingerprints: np.ndarray,
        artifact: Artifact | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.train_fingerprints = train_fingerprints
        self.artifact = artifact
        self.fingerprint = FingerprintSpec(**config["fingerprint"])
        scaler = config.get("descriptor_scaler")
        self.scaler = None if scaler is None else DescriptorScaler.from_dict(scaler)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> PropertyPredictor:
        """Rebuild the model (networks from safetensors, estimators from skops)."""
        config = artifact.config
        state = artifact.state_dict()
        n_bits = int(config["fingerprint"]["n_bits"])
        packed = state.pop("train_fingerprints").numpy()
        train_fps = np.unpackbits(packed, axis=1, count=n_bits)
        n_tasks = len(config["target_names"])
        name = config["model"]
        n_inputs = int(config.get("n_inputs", n_bits))
        networks = name in NETWORKS
        nets = nets_from_state(state, n_inputs, n_tasks, config["params"], name) if networks else []
        estimators = [] if networks else artifact.estimator()
        model = PropertyModel(
            name=name,
            task=config["task"],
            n_tasks=n_tasks,
            params=config["params"],
            nets=nets,
            estimators=list(estimators),
            y_mean=None if config.get("y_mean") is None else np.asarray(config["y_mean"]),
            y_std=None if config.get("y_std") is None else np.asarray(config["y_std"]),
        )
        return cls(model, dict(config), train_fps, artifact)

    @property
    def input_spec(self) -> MoleculeInputSpec:
        """SMILES, standardised and featurised as in training (see ``config.json``)."""
        return MoleculeInputSpec.from_dict(self.config["input_spec"])

    @property
    def calibration(self) -> dict[str, Any]:
        """How the values and intervals are calibrated, with the test evidence from training."""
        test = (self.artifact.metrics if self.artifact else {}).get("test", {}).get("mean", {})
        if self.model.task == "classification":
            return {"method": "none (the model's own probabilities)", "test_ece": test.get("ece")}
        return {
            "method": "split-conformal intervals on the validation molecules",
            "interval_level": self.config.get("interval_level"),
            "test_coverage": test.get("coverage"),
        }

    @property
    def target_names(self) -> list[str]:
        return list(self.config["target_names"])

    def predict_batch(self, batch: MoleculeBatch) -> dict[str, np.ndarray | None]:
        """Arrays for the valid rows of ``batch`` (in :attr:`MoleculeBatch.valid_indices` order).

        Returns
        -------
        dict
            ``mean``, ``spread``, ``low``, ``high`` (None where not applicable), each of shape
            (n_valid, n_tasks), and ``similarity`` (n_valid,).
        """
        mols = batch.valid_mols
        n_tasks = len(self.target_names)
        if not mols:
            empty = np.empty((0, n_tasks))
            return {"mean": empty, "spread": None, "low": None, "high": None,
                    "similarity": np.empty(0)}  # fmt: skip
        fps, X = model_inputs(mols, self.fingerprint, self.scaler)
        if self.model.name == "mpnn":  # graphs, with the scaled descriptors after pooling
            from precisionmed.chem.mpnn import mol_graphs

            X = mol_graphs(mols, None if self.scaler is None else X[:, fps.shape[1] :])
        mean, spread = self.model.predict(X)
        low = high = None
        if self.config.get("interval_scale") is not None:
            q = np.asarray(self.config["interval_scale"], dtype=float)
            offset = self.config.get("interval_spread_offset")
            low, high = intervals(mean, None if offset is None else spread, offset, q)
        similarity = tanimoto_nearest(fps, self.train_fingerprints)
        return {"mean": mean, "spread": spread, "low": low, "high": high, "similarity": similarity}

    def predict(self, inputs: str | Path | Sequence[str]) -> list[PredictionRecord]:
        """One record per input row (a ``.smi`` file's lines, or a list of SMILES)."""
        if isinstance(inputs, (str, Path)):
            batch = read_molecules(inputs)
        else:
            batch = standardize_smiles(list(inputs))
        return self.records(batch, self.predict_batch(batch))

    def records(
        self, batch: MoleculeBatch, arrays: dict[str, np.ndarray | None]
    ) -> list[PredictionRecord]:
        """:class:`PredictionRecord` per row of ``batch`` from :meth:`predict_batch`'s arrays."""
        names = self.target_names
        threshold = self.input_spec.applicability_threshold
        level = self.config.get("interval_level")
        position = {int(i): k for k, i in enumerate(batch.valid_indices)}
        calibration = self.calibration
        out = []
        for row in batch.rows:
            details: dict[str, Any] = {"row": row.index, "line": row.line, "name": row.name,
                                       "status": row.status, "smiles": row.smiles}  # fmt: skip
            if not row.valid:
                why = f"{row.where}: not predicted: {'; '.join(row.reasons)}"
                out.append(self.record(row.input, None, {}, warnings=(why,), details=details))
                continue
            k = position[row.index]
            mean = arrays["mean"][k]  # type: ignore[index]
            values = {n: float(mean[t]) for t, n in enumerate(names)}
            spread = arrays["spread"]
            if spread is not None:
                values |= {f"{n}_spread": float(spread[k, t]) for t, n in enumerate(names)}
            interval = None
            if arrays["low"] is not None and arrays["high"] is not None:
                interval = {n: [float(arrays["low"][k, t]), float(arrays["high"][k, t])]
                            for t, n in enumerate(names)}  # fmt: skip
            similarity = float(arrays["similarity"][k])  # type: ignore[index]
            in_domain = threshold is None or similarity >= threshold
            details["applicability"] = {
                "nearest_similarity": similarity, "threshold": threshold, "in_domain": in_domain,
            }  # fmt: skip
            warnings = [f"{row.where}: standardised: {r}" for r in row.reasons]
            if not in_domain:
                warnings.append(
                    f"Outside the applicability domain: the most similar training molecule has "
                    f"Tanimoto similarity {similarity:.2f} (threshold {threshold:.2f}); the "
                    "prediction is unreliable."
                )
            if self.model.task == "classification":
                prediction: Any = [n for n in names if values[n] >= 0.5]
                if len(names) == 1:
                    prediction = int(values[names[0]] >= 0.5)
            else:
                prediction = values[names[0]] if len(names) == 1 else None
            out.append(
                self.record(
                    row.input,
                    prediction,
                    values,
                    interval=interval,
                    interval_level=level if interval else None,
                    calibration=calibration,
                    warnings=tuple(warnings),
                    details=details,
                )  # fmt: skip
            )
        return out


__all__ = ["PropertyPredictor"]
