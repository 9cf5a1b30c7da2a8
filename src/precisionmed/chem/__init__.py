"""Drug discovery: molecules from SMILES, fingerprints, splits and property models.

The chemistry core (:mod:`.molecules`: parse, sanitise and standardise a batch, every bad row
reported; :mod:`.features`: ECFP fingerprints, RDKit 2D descriptors, Tanimoto similarity;
:mod:`.splits`: random, stratified and Bemis-Murcko scaffold splits) is shared by the property
models (:mod:`.models`, :mod:`.training`: ``mlp``, ``rf``, ``gbm`` on ECFP and
the ``mpnn`` D-MPNN on molecular graphs (:mod:`.mpnn`), with intervals and an
applicability domain) and the generation pillar. Drug-target affinity (``deepdta``, ``gin`` on
Davis or any set in DeepDTA's folder layout) is in the ``affinity_*`` modules. A trained model
directory loads back with ``precisionmed.load`` as a :class:`PropertyPredictor` or an
:class:`AffinityPredictor`. Needs the ``chem`` extra (RDKit).
"""

from __future__ import annotations

from typing import Any

# Loaded on first access (PEP 562): RDKit, torch and scikit-learn load with the modules that
# use them, so ``import precisionmed.chem`` and ``precisionmed chem --help`` stay instant.
_LAZY = {
    "MoleculeBatch": "precisionmed.chem.molecules",
    "MoleculeRow": "precisionmed.chem.molecules",
    "parse_smiles": "precisionmed.chem.molecules",
    "read_molecules": "precisionmed.chem.molecules",
    "standardize_mol": "precisionmed.chem.molecules",
    "standardize_smiles": "precisionmed.chem.molecules",
    "FingerprintSpec": "precisionmed.chem.features",
    "morgan_fingerprints": "precisionmed.chem.features",
    "rdkit_descriptors": "precisionmed.chem.features",
    "tanimoto_nearest": "precisionmed.chem.features",
    "murcko_scaffold": "precisionmed.chem.splits",
    "scaffold_split_indices": "precisionmed.chem.splits",
    "split_molecules": "precisionmed.chem.splits",
    "PropertyModel": "precisionmed.chem.models",
    "load_molecule_csv": "precisionmed.chem.own_data",
    "train_property_model": "precisionmed.chem.training",
    "PropertyPredictor": "precisionmed.chem.predictor",
    "concordance_index": "precisionmed.chem.affinity_metrics",
    "read_affinity_dir": "precisionmed.chem.affinity_data",
    "train_affinity_model": "precisionmed.chem.affinity_training",
    "AffinityPredictor": "precisionmed.chem.affinity_predictor",
}

#: Modules that register predictors, imported by ``precisionmed.load`` (this package is lazy).
PREDICTOR_MODULES = (
    "precisionmed.chem.predictor",
    "precisionmed.chem.affinity_predictor",
    "precisionmed.chem.generative.predictor",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.chem' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
