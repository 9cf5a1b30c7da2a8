"""The affinity predictor: a saved ``deepdta`` / ``gin`` model applied to new drugs and a protein.

``precisionmed.load(model_dir)`` returns an :class:`AffinityPredictor`; its :meth:`predict`
takes SMILES (a list, or a ``.smi`` file) and one protein (a FASTA file or a sequence) and
returns one :class:`~precisionmed.predict.PredictionRecord` per SMILES, invalid ones included
(no prediction, the reason as a warning): the predicted affinity (pKd for a model trained on Kd),
its split-conformal interval, and with an ensemble the members' spread. Each record's
``details["applicability"]`` holds the drug's nearest-neighbour Tanimoto similarity to the
training drugs against the model's threshold, and whether the protein was a training protein;
a drug outside the domain or a new protein adds a warning (models saved before the domain was
recorded have none).

The input specification is the existing :class:`~precisionmed.predict.MoleculeInputSpec` with
``format="smiles+protein-sequence"`` and both encodings in its ``featurizer``; no new spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.chem.affinity_data import read_protein
from precisionmed.chem.affinity_training import KIND, member_outputs, protein_digest
from precisionmed.chem.evaluation import intervals
from precisionmed.chem.features import FingerprintSpec, morgan_fingerprints, tanimoto_nearest
from precisionmed.chem.molecules import MoleculeBatch, read_molecules, standardize_smiles
from precisionmed.errors import ConfigError
from precisionmed.predict import MoleculeInputSpec, PredictionRecord, Predictor


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # a long SMILES is not a valid file name
        return False


@register_predictor(KIND)
class AffinityPredictor(Predictor):
    """The members of a trained affinity model with their interval calibration."""

    def __init__(
        self,
        nets: list[Any],
        config: dict[str, Any],
        artifact: Artifact | None = None,
        train_drug_fingerprints: np.ndarray | None = None,
    ):
        self.nets = nets
        self.config = config
        self.artifact = artifact
        self.train_drug_fingerprints = train_drug_fingerprints

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> AffinityPredictor:
        """Rebuild every member's network from ``model.safetensors``."""
        from precisionmed.chem.affinity_models import AffinityNet

        config = dict(artifact.config)
        state = artifact.state_dict()
        packed = state.pop("train_drug_fingerprints", None)
        bits = FingerprintSpec().n_bits  # the domain's space: ECFP4 (drug_domain)
        fps = None if packed is None else np.unpackbits(packed.numpy(), axis=1, count=bits)
        members: dict[int, dict[str, Any]] = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            members.setdefault(int(head.removeprefix("member")), {})[rest] = value
        nets = []
        for i in sorted(members):
            net = AffinityNet(config["architecture"], config["params"])
            net.load_state_dict(members[i])
            net.eval()
            nets.append(net)
        return cls(nets, config, artifact, fps)

    @property
    def input_spec(self) -> MoleculeInputSpec:
        """SMILES standardised as in training, and one protein sequence (``config.json``)."""
        return MoleculeInputSpec.from_dict(self.config["input_spec"])

    @property
    def units(self) -> str:
        """``"pKd"`` (a model of Kd in nM) or ``"affinity"`` (a score modelled as it is)."""
        return str(self.config["units"])

    def predict_batch(self, batch: MoleculeBatch, protein: str) -> dict[str, np.ndarray | None]:
        """Arrays for the valid rows of ``batch`` against ``protein`` (a checked sequence):
        ``mean``, ``spread`` (None for one member), ``low``, ``high``, each of shape (n_valid,)."""
        from precisionmed.chem.affinity_models import PairCollate, drug_inputs, protein_tokens

        mols = batch.valid_mols
        if not mols:
            similarity = None if self.train_drug_fingerprints is None else np.empty(0)
            return {"mean": np.empty(0), "spread": None, "low": None, "high": None,
                    "similarity": similarity}  # fmt: skip
        smiles = [s for s in batch.smiles if s is not None]
        arch, p = self.config["architecture"], self.config["params"]
        drugs = drug_inputs(arch, smiles, mols, int(p.get("smiles_max_len", 0)))
        collate = PairCollate(drugs, protein_tokens([protein], int(p["protein_max_len"])), arch)
        items = [(i, 0, 0.0) for i in range(len(mols))]
        mean, spread = member_outputs(self.nets, items, collate)
        offset = self.config.get("interval_spread_offset")
        q = np.asarray(self.config["interval_scale"], dtype=float)
        low, high = intervals(mean[:, None], None if offset is None else spread[:, None],
                              offset, q)  # fmt: skip
        similarity = None
        if self.train_drug_fingerprints is not None:
            fps = morgan_fingerprints(mols, FingerprintSpec())
            similarity = tanimoto_nearest(fps, self.train_drug_fingerprints)
        return {"mean": mean, "spread": spread, "low": low[:, 0], "high": high[:, 0],
                "similarity": similarity}  # fmt: skip

    def predict(
        self, inputs: str | Path | Sequence[str], protein: str | Path | None = None
    ) -> list[PredictionRecord]:
        """One record per SMILES (a ``.smi`` file's lines or a list) against ``protein``.

        Parameters
        ----------
        inputs : path, str or sequence of str
            A ``.smi`` file, one SMILES, or a list of SMILES.
        protein : str or Path
            A FASTA file with one record, or the sequence itself (one-letter codes).

        Raises
        ------
        ConfigError
            No protein; DataFormatError: a protein that is not an amino-acid sequence.
        """
        if protein is None:
            raise ConfigError("An affinity model needs a protein: predict(smiles, protein=...).")
        if isinstance(inputs, Path) or (isinstance(inputs, str) and _is_file(inputs)):
            batch = read_molecules(inputs)
        else:  # one SMILES, or a list of them
            batch = standardize_smiles([inputs] if isinstance(inputs, str) else list(inputs))
        name, sequence = read_protein(protein)
        arrays = self.predict_batch(batch, sequence)
        return self.records(batch, arrays, protein_name=name, protein_sequence=sequence)

    def _applicability(
        self, similarity: float, known: bool | None
    ) -> tuple[dict[str, Any], list[str]]:
        """``details["applicability"]`` and the warnings for one drug (its nearest training
        drug's similarity) against a protein (``known``: a training protein; None: not given)."""
        threshold = self.input_spec.applicability_threshold
        in_domain = threshold is None or similarity >= threshold
        info = {"nearest_drug_similarity": similarity, "threshold": threshold,
                "in_domain": in_domain, "protein_in_training": known}  # fmt: skip
        warnings = []
        if not in_domain:
            warnings.append(
                f"Outside the applicability domain: the most similar training drug has Tanimoto "
                f"similarity {similarity:.2f} (threshold {threshold:.2f}); the prediction is an "
                "extrapolation."
            )
        if known is False:
            warnings.append(
                "The protein is not one of the training proteins: the test figures (pairs of "
                "training drugs and proteins) do not apply to it."
            )
        return info, warnings

    def records(
        self,
        batch: MoleculeBatch,
        arrays: dict[str, np.ndarray | None],
        *,
        protein_name: str,
        protein_sequence: str | None = None,
    ) -> list[PredictionRecord]:
        """:class:`PredictionRecord` per row of ``batch`` from :meth:`predict_batch`'s arrays."""
        units, level = self.units, self.config.get("interval_level")
        test = (self.artifact.metrics if self.artifact else {}).get("test", {})
        calibration = {"method": "split-conformal intervals on the validation fold",
                       "interval_level": level, "test_coverage": test.get("coverage")}  # fmt: skip
        position = {int(i): k for k, i in enumerate(batch.valid_indices)}
        similarity = arrays["similarity"]
        digests = self.config.get("train_protein_digests")
        known = None  # the protein among the training ones (None: not recorded, or not given)
        if digests is not None and protein_sequence is not None:
            known = protein_digest(protein_sequence) in digests
        out = []
        for row in batch.rows:
            details: dict[str, Any] = {"row": row.index, "line": row.line, "name": row.name,
                                       "status": row.status, "smiles": row.smiles,
                                       "protein": protein_name}  # fmt: skip
            if not row.valid:
                why = f"{row.where}: not predicted: {'; '.join(row.reasons)}"
                out.append(self.record(row.input, None, {}, warnings=(why,), details=details))
                continue
            k = position[row.index]
            value = float(arrays["mean"][k])  # type: ignore[index]
            values = {units: value}
            if arrays["spread"] is not None:
                values[f"{units}_spread"] = float(arrays["spread"][k])
            bounds = [float(arrays["low"][k]), float(arrays["high"][k])]  # type: ignore[index]
            flags: list[str] = []
            if similarity is not None:  # a model saved with its applicability domain
                details["applicability"], flags = self._applicability(float(similarity[k]), known)
            warnings = (*(f"{row.where}: standardised: {r}" for r in row.reasons), *flags)
            out.append(self.record(row.input, value, values, interval={units: bounds},
                                   interval_level=level, calibration=calibration,
                                   warnings=warnings, details=details))  # fmt: skip
        return out


__all__ = ["AffinityPredictor"]
