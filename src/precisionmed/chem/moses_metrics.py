"""The MOSES metrics of a generated set of molecules, with the published definitions.

Polykovskiy et al., *Molecular Sets (MOSES)*, Frontiers in Pharmacology 11, 565644 (2020); the
definitions are those of the reference implementation (``molsets`` 0.3.1,
``moses/metrics/metrics.py``), which the tests match to 1e-3 on a fixed sample:

- ``valid``: the fraction of SMILES RDKit parses and sanitises (an empty string is invalid);
- ``unique@k``: distinct canonical SMILES among the first ``k`` valid ones, over ``k`` (all of
  them, with a logged warning, when fewer than ``k`` are valid);
- ``Novelty``: distinct valid canonical SMILES absent from Train, over distinct valid ones;
- ``IntDiv`` / ``IntDiv2``: 1 - the mean (p = 1) or root-mean-square (p = 2) pairwise Tanimoto
  similarity of the valid molecules (Morgan radius 2, 1,024 bits; duplicates and self-pairs
  included, as MOSES does);
- ``Filters``: the fraction of valid molecules with no ring of 8 or more atoms, no charge, only
  C N S O F Cl Br H, and no MCF or PAINS match (the SMARTS file MOSES ships, in ``data/``);
- ``FCD``: Frechet ChemNet Distance (fcd-torch) to the reference's ChemNet mean and covariance;
- ``SNN``: mean over valid molecules of the Tanimoto similarity to the nearest reference one;
- ``Frag`` / ``Scaf``: cosine similarity of the BRICS-fragment / Bemis-Murcko-scaffold (two or
  more rings) counts;
- ``logP``, ``SA``, ``QED``, ``weight``: Wasserstein-1 distance of the property distributions
  (computed from the reference's stored values).

``FCD``, ``SNN``, ``Frag``, ``Scaf`` and the property distances are computed against Test and
against the scaffold split TestSF, as ``<metric>/Test`` and ``<metric>/TestSF``. The references
are MOSES's own (:func:`moses_reference`: the statistics MOSES ships, so Test's 176,074
molecules are not re-encoded) or any list of SMILES (:func:`reference_statistics`).
The scoring pieces live in :mod:`.moses_scoring`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from precisionmed.chem.moses_scoring import (
    ReferenceStatistics,
    canonical_smiles,
    chemnet_statistics,
    cosine_similarity,
    fraction_passes_filters,
    internal_diversity,
    moses_mol,
    property_values,
    reference_statistics,
    snn,
)

log = logging.getLogger(__name__)

Reference = str | Sequence[str] | ReferenceStatistics | None


@cache
def _moses_dataset() -> Any:
    from precisionmed.data import load_dataset

    return load_dataset("moses", splits=("train",))


@cache
def moses_reference(split: str) -> ReferenceStatistics:
    """The statistics MOSES ships for ``"test"`` or ``"test_scaffolds"`` (read once per process).

    Raises
    ------
    ConfigError
        Another split name.
    """
    from precisionmed.chem.moses_scoring import load_moses_statistics
    from precisionmed.errors import ConfigError

    if split not in ("test", "test_scaffolds"):
        raise ConfigError(f"MOSES ships statistics for 'test' and 'test_scaffolds'. Got {split!r}.")
    return load_moses_statistics(_moses_dataset().stats[split])


@cache
def moses_train_set() -> frozenset[str]:
    """MOSES Train's 1,584,663 canonical SMILES, as the files store them."""
    return frozenset(_moses_dataset().splits["train"])


def _resolve(reference: Reference, split: str) -> ReferenceStatistics | None:
    if reference is None or isinstance(reference, ReferenceStatistics):
        return reference
    if isinstance(reference, str):
        if reference != "moses":
            from precisionmed.errors import ConfigError

            raise ConfigError(
                f"A reference set is 'moses', a list of SMILES or ReferenceStatistics. "
                f"Got the string {reference!r}."
            )
        return moses_reference(split)
    return reference_statistics(list(reference))


def fraction_unique(smiles: Sequence[str], k: int | None) -> float:
    """``unique@k`` of already valid canonical SMILES (all of them when ``k`` is None)."""
    if k is not None and len(smiles) < k:
        log.warning("unique@%d: only %d valid molecules; computed over all of them", k, len(smiles))
    head = list(smiles if k is None else smiles[:k])
    return len(set(head)) / len(head) if head else float("nan")


def compute_moses_metrics(
    generated: Sequence[str],
    *,
    test: Reference = "moses",
    test_scaffolds: Reference = "moses",
    train: str | Sequence[str] | None = "moses",
    k: Sequence[int] = (1000, 10000),
    properties: bool = True,
    device: str = "cpu",
    batch_size: int = 512,
) -> dict[str, float]:
    """Every MOSES metric of ``generated``; invalid SMILES are counted, then left out.

    Parameters
    ----------
    generated : sequence of str
        The generated SMILES, in sampling order (``unique@k`` looks at the first ``k``).
    test, test_scaffolds : "moses", sequence of str, ReferenceStatistics or None
        ``"moses"``: MOSES's Test / TestSF statistics (the catalog's ``moses`` dataset); SMILES:
        statistics computed from them; None: skip the ``*/Test`` (``*/TestSF``) metrics.
    train : "moses", sequence of str or None
        The training set for ``Novelty`` (canonical SMILES as stored, as MOSES compares them);
        None skips it.
    k : sequence of int
        The ``unique@k`` sizes.
    properties : bool
        Also the logP / SA / QED / weight Wasserstein distances.
    device : str
        Torch device of ChemNet (FCD) and the Tanimoto matrix products.
    batch_size : int
        ChemNet batch size.

    Returns
    -------
    dict of str -> float
        Keys as in MOSES: ``valid``, ``unique@1000``, ``unique@10000``, ``FCD/Test``,
        ``SNN/Test``, ``Frag/Test``, ``Scaf/Test`` (and ``/TestSF``), ``IntDiv``, ``IntDiv2``,
        ``Filters``, ``logP``, ``SA``, ``QED``, ``weight`` (against Test), ``Novelty``.

    Raises
    ------
    DataFormatError
        No valid SMILES in ``generated``.
    """
    from precisionmed.errors import DataFormatError

    smiles = ["" if s is None else str(s) for s in generated]
    if not smiles:
        raise DataFormatError("compute_moses_metrics: no SMILES given.")
    mols_all = [moses_mol(s) for s in smiles]
    valid_mols = [m for m in mols_all if m is not None]
    metrics: dict[str, float] = {"valid": len(valid_mols) / len(smiles)}
    if not valid_mols:
        raise DataFormatError(f"None of the {len(smiles)} SMILES is a valid molecule.")
    canon = [canonical_smiles(m) for m in valid_mols]
    for size in k:
        metrics[f"unique@{size}"] = fraction_unique(canon, size)
    # MOSES re-parses the canonical SMILES (the rare one RDKit cannot read back is left out)
    mols = [m for m in (moses_mol(s) for s in canon) if m is not None]
    gen = reference_statistics(canon, mols=mols, properties=properties, fcd=False)
    fcd_gen: dict[str, np.ndarray] | None = None
    for name, reference in (("Test", test), ("TestSF", test_scaffolds)):
        ref = _resolve(reference, "test" if name == "Test" else "test_scaffolds")
        if ref is None:
            continue
        if fcd_gen is None:
            fcd_gen = chemnet_statistics(canon, device=device, batch_size=batch_size)
        metrics[f"FCD/{name}"] = ref.frechet_distance(fcd_gen)
        metrics[f"SNN/{name}"] = snn(ref.fingerprints, gen.fingerprints, device=device)
        metrics[f"Frag/{name}"] = cosine_similarity(ref.fragments, gen.fragments)
        metrics[f"Scaf/{name}"] = cosine_similarity(ref.scaffolds, gen.scaffolds)
        if properties and name == "Test":
            metrics.update(ref.property_distances(gen))
    metrics["IntDiv"] = internal_diversity(gen.fingerprints, p=1, device=device)
    metrics["IntDiv2"] = internal_diversity(gen.fingerprints, p=2, device=device)
    metrics["Filters"] = fraction_passes_filters(mols)
    if isinstance(train, str) and train != "moses":
        from precisionmed.errors import ConfigError

        raise ConfigError(f"train must be 'moses', a list of SMILES or None. Got {train!r}.")
    if train is not None:
        train_set = moses_train_set() if isinstance(train, str) else frozenset(train)
        distinct = set(canon)
        metrics["Novelty"] = len(distinct - train_set) / len(distinct)
    return {key: float(value) for key, value in metrics.items()}


__all__ = [
    "ReferenceStatistics",
    "compute_moses_metrics",
    "fraction_unique",
    "moses_reference",
    "moses_train_set",
    "property_values",
    "reference_statistics",
]
