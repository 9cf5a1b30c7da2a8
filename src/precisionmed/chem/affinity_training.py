"""Train, evaluate and save a drug-target affinity model (``precisionmed chem train-dta``).

1. the drugs' SMILES are standardised (:func:`~precisionmed.chem.molecules.standardize_smiles`,
   RDKit canonical form at training and prediction alike); a drug RDKit cannot read is reported
   in ``metrics.json`` with its pairs, which are left out, never silently;
2. DeepDTA's setting 1 (:func:`~precisionmed.chem.affinity_data.setting1_split`): four training
   folds, one validation fold, the test fold; ``subset`` keeps a seeded random ``subset`` pairs
   of each part (smoke runs), recorded in ``metrics.json``;
3. ``n_members`` networks (:class:`~precisionmed.chem.affinity_models.AffinityNet`) through the
   engine (:func:`precisionmed.train.fit_members`, MSE loss, early stopping on the validation
   MSE); more than one member is a deep ensemble whose spread scales the intervals;
4. split-conformal intervals on the validation fold (:mod:`precisionmed.chem.evaluation`, as the
   property models); CI and MSE on the test fold with bootstrap intervals, ``parity.png``;
5. the applicability domain: the training drugs' ECFP4 bits (the reference set of a new drug's
   nearest-neighbour Tanimoto similarity), a threshold (:data:`DOMAIN_QUANTILE`) and the digests
   of the training proteins, so that a prediction says whether its drug is like the training
   drugs and whether its protein was seen in training.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from precisionmed.chem.affinity_data import affinity_pairs, setting1_split
from precisionmed.chem.affinity_metrics import affinity_metrics
from precisionmed.chem.evaluation import (
    INTERVAL_LEVEL,
    conformal_scale,
    intervals,
    plot_parity,
    spread_offset,
)
from precisionmed.chem.molecules import STANDARDISATION, standardize_smiles
from precisionmed.data.sources.molecules import AffinityData
from precisionmed.errors import ConfigError
from precisionmed.predict import MoleculeInputSpec

KIND = "drug-target-affinity"


def protein_digest(sequence: str) -> str:
    """SHA-256 of a protein sequence (upper case): how a model remembers its training proteins."""
    import hashlib

    return hashlib.sha256(sequence.upper().encode()).hexdigest()


#: The applicability threshold of an affinity model: this quantile (the median) of each training
#: drug's Tanimoto similarity to its nearest other training drug. A new drug is inside when it is
#: at least as close to a training drug as the typical training drug is to its nearest one. The
#: property models' rule (the 5th percentile of the validation molecules' similarities) does not
#: carry over: setting 1's validation and test pairs reuse the training drugs (similarity 1),
#: and the 5th percentile of Davis's 68 diverse kinase inhibitors is 0.19, about the similarity
#: of unrelated drug-like molecules (aspirin: 0.17), so it would flag almost nothing; the median
#: is 0.30.
DOMAIN_QUANTILE = 0.5


def drug_domain(mols: list[Any]) -> tuple[np.ndarray, float]:
    """The training drugs' ECFP4 bits and the applicability threshold (:data:`DOMAIN_QUANTILE`
    of each drug's similarity to its nearest other training drug; 1 for a single drug)."""
    from precisionmed.chem.features import FingerprintSpec, morgan_fingerprints, tanimoto_nearest

    fps = morgan_fingerprints(mols, FingerprintSpec())
    if len(mols) < 2:
        return fps, 1.0
    nearest = tanimoto_nearest(fps, fps, exclude_self=True)
    return fps, float(np.quantile(nearest, DOMAIN_QUANTILE))


def affinity_params(architecture: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults of ``architecture`` updated with ``params`` (unknown keys refused)."""
    from precisionmed.chem.affinity_models import ARCHITECTURES, DEFAULTS

    if architecture not in DEFAULTS:
        raise ConfigError(
            f"--model must be one of {', '.join(ARCHITECTURES)}; got {architecture!r}."
        )
    unknown = sorted(set(params or {}) - set(DEFAULTS[architecture]))
    if unknown:
        raise ConfigError(
            f"Model {architecture!r} has no parameter {unknown[0]!r}; its parameters are "
            f"{', '.join(sorted(DEFAULTS[architecture]))}."
        )
    return {**DEFAULTS[architecture], **{k: v for k, v in (params or {}).items() if v is not None}}


def _subset(idx: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or len(idx) <= n:
        return idx
    return np.sort(rng.choice(idx, size=n, replace=False))


def _column(a: np.ndarray | None) -> np.ndarray | None:
    """``(n,)`` -> ``(n, 1)``: the one task of the conformal helpers."""
    return None if a is None else a[:, None]


def member_outputs(nets: list[Any], dataset: Any, collate: Any) -> tuple[np.ndarray, Any]:
    """Mean and spread (None for one member) of the members' predictions on ``dataset``."""
    from precisionmed.train import predict_outputs

    outs = np.stack([predict_outputs(net, dataset, collate_fn=collate).numpy() for net in nets])
    return outs.mean(axis=0), (outs.std(axis=0) if len(outs) > 1 else None)


def train_affinity_model(
    data: AffinityData,
    architecture: str,
    out_dir: str | Path,
    *,
    affinity: str = "kd-nm",
    val_fold: int = 0,
    subset: int | None = None,
    seed: int = 0,
    n_members: int = 1,
    params: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
    interval_level: float = INTERVAL_LEVEL,
    overwrite: bool = False,
    progress: bool = True,
    source: str = "",
) -> dict[str, Any]:
    """Train ``deepdta`` or ``gin`` on a drug-target affinity set, test it, save it.

    Parameters
    ----------
    data : AffinityData
        ``load_dataset("davis")`` or :func:`~precisionmed.chem.affinity_data.read_affinity_dir`.
    architecture : {"deepdta", "gin"}
    out_dir : path
        The model directory to write.
    affinity : {"kd-nm", "as-is"}
        How ``data.affinity`` is modelled: pKd from Kd in nM (Davis), or as it is (KIBA).
    val_fold : int
        The training fold that validates (0..4).
    subset : int, optional
        Keep at most this many (seeded, random) pairs of each of train, validation and test.
    seed : int
        Seed of the subset and of member 0 (member ``i``: ``seed + i``).
    n_members : int
        Networks of the deep ensemble (1: a single network, no spread).
    params : mapping, optional
        Hyper-parameters over :data:`~precisionmed.chem.affinity_models.DEFAULTS`
        (``max_epochs``, ``batch_size``, ``lr``...).
    n_boot : int
        Bootstrap resamples of the test CI and MSE intervals.
    interval_level : float
        Coverage of the conformal prediction intervals.
    overwrite, progress : bool
    source : str
        Where the data came from (``catalog:davis``, a folder), for the config.

    Returns
    -------
    dict
        The contents of ``metrics.json``.
    """
    import torch

    from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir
    from precisionmed.chem.affinity_models import (
        AffinityNet,
        PairCollate,
        drug_inputs,
        protein_chunks,
        protein_tokens,
    )
    from precisionmed.train import TrainConfig, fit_members

    p = affinity_params(architecture, params)
    start = time.perf_counter()
    pairs = affinity_pairs(data, affinity)
    drug_ids = list(data.drugs)
    batch = standardize_smiles([data.drugs[d] for d in drug_ids], progress=progress)
    bad = [r for r in batch.rows if not r.valid]
    reported = [r.to_dict() | {"drug": drug_ids[r.index]} for r in bad]
    valid_drug = np.array([r.valid for r in batch.rows])
    rng = np.random.default_rng(seed)
    parts = {}
    for name, idx in zip(("train", "val", "test"), setting1_split(data, val_fold=val_fold),
                         strict=True):  # fmt: skip
        parts[name] = _subset(idx[valid_drug[pairs.drug[idx]]], subset, rng)
        if len(parts[name]) < 2:
            raise ConfigError(f"{data.name}: the {name} part has {len(parts[name])} pairs; "
                              "at least 2 are needed (a larger --subset?).")  # fmt: skip
    smiles = [s or "" for s in batch.smiles]
    inputs = drug_inputs(architecture, smiles, batch.mols, int(p.get("smiles_max_len", 0)))
    tokens = protein_tokens(list(data.proteins.values()), int(p["protein_max_len"]))
    collate = PairCollate(inputs, tokens, architecture)

    def items(idx: np.ndarray) -> list[tuple[int, int, float]]:
        return [(int(pairs.drug[k]), int(pairs.protein[k]), float(pairs.y[k])) for k in idx]

    train_items, val_items, test_items = (items(parts[k]) for k in ("train", "val", "test"))
    train_set: list[Any] = train_items
    val_set: list[Any] = val_items
    batch_size = int(p["batch_size"])
    chunk = p.get("protein_chunk")
    if chunk is not None:  # batches of whole proteins' chunks (affinity_models' docstring)
        train_set = protein_chunks(train_items, chunk, seed)
        val_set = protein_chunks(val_items, chunk, seed)
        batch_size = max(1, batch_size // chunk)
    config = TrainConfig.build(max_epochs=int(p["max_epochs"]), batch_size=batch_size,
                               lr=float(p["lr"]), patience=int(p["patience"]), seed=seed,
                               progress=progress)  # fmt: skip

    def train_and_report(staging: Path) -> tuple[ModelContents, dict[str, Any]]:
        y_mean = float(np.mean([t[2] for t in train_items]))

        def build_member(_seed: int) -> tuple[Any, Any]:
            net = AffinityNet(architecture, p)
            with torch.no_grad():  # start at the training mean: a short run learns the rest
                cast(torch.nn.Linear, net.head[-1]).bias.fill_(y_mean)
            return net, train_set

        fits = fit_members(
            build_member,
            val_set,
            loss_fn=torch.nn.functional.mse_loss,
            config=config,
            n_members=n_members,
            out_dir=staging,
            collate_fn=collate,
        )
        y_val = np.array([t[2] for t in val_items])
        y_test = np.array([t[2] for t in test_items])
        val_mean, val_spread = member_outputs(fits.nets, val_items, collate)
        test_mean, test_spread = member_outputs(fits.nets, test_items, collate)
        offset = spread_offset(_column(val_spread))
        q = conformal_scale(y_val[:, None], val_mean[:, None], _column(val_spread), offset,
                            interval_level)  # fmt: skip
        low, high = intervals(test_mean[:, None], _column(test_spread), offset, q)
        units = "pKd" if affinity == "kd-nm" else "affinity"
        plot_parity(y_test[:, None], test_mean[:, None], [units], staging / "parity.png",
                    units=units)  # fmt: skip
        metrics = {
            "dataset": data.name, "model": architecture, "affinity": affinity, "units": units,
            "split": f"DeepDTA setting 1: validation = training fold {val_fold}, test = test fold",
            "val_fold": val_fold, "subset": subset, "seed": seed,
            "sizes": {k: len(v) for k, v in parts.items()},
            "test": affinity_metrics(y_test, test_mean, low=low[:, 0], high=high[:, 0],
                                     n_boot=n_boot, seed=seed),
            "val": affinity_metrics(y_val, val_mean, n_boot=0),
            "rows": reported,
            "training": fits.summary(config.monitor)
            | {"total_wall_seconds": time.perf_counter() - start},
        }  # fmt: skip
        train_drugs = sorted(set(pairs.drug[parts["train"]].tolist()))
        drug_fps, threshold = drug_domain([batch.mols[d] for d in train_drugs])
        sequences = list(data.proteins.values())
        train_proteins = sorted(set(pairs.protein[parts["train"]].tolist()))
        input_spec = MoleculeInputSpec(
            format="smiles+protein-sequence",
            standardisation=STANDARDISATION,
            featurizer={"name": "label-encoding" if architecture == "deepdta" else
                        "graphdta-atom-graph", "smiles_max_len": p.get("smiles_max_len"),
                        "protein_max_len": p["protein_max_len"], "protein": "label-encoding"},
            n_training_molecules=len(train_drugs),
            applicability_threshold=threshold,
        )  # fmt: skip
        cfg = {
            "model": architecture, "architecture": architecture, "dataset": data.name,
            "dataset_source": source, "affinity": affinity, "units": units,
            "target_names": [units], "val_fold": val_fold, "subset": subset, "seed": seed,
            "params": p, "n_members": n_members, "interval_level": interval_level,
            "interval_scale": q.tolist(),
            "interval_spread_offset": None if offset is None else offset.tolist(),
            "input_spec": input_spec.to_dict(),
            "train_protein_digests": sorted({protein_digest(sequences[i])
                                             for i in train_proteins}),
        }  # fmt: skip
        state = {f"member{i}.{k}": v for i, net in enumerate(fits.nets)
                 for k, v in net.state_dict().items()}  # fmt: skip
        # the training drugs' fingerprints (bit-packed): the applicability domain's reference set
        state["train_drug_fingerprints"] = torch.from_numpy(np.packbits(drug_fps > 0, axis=1))
        card = ModelCard(
            title=f"{architecture} on {data.name}",
            intended_use="Research: ranking candidate molecules by predicted binding affinity "
            "to a protein. Not validated for decisions about people.",
            training_data=f"{data.name}: {len(train_items)} training, {len(val_items)} "
            f"validation and {len(test_items)} test drug-protein pairs (DeepDTA setting 1, "
            f"validation fold {val_fold}" + (f", subset {subset}" if subset else "") + ").",
            limitations=[
                "Setting 1 tests pairs of drugs and proteins seen in training; for new drugs "
                "or new proteins the error is larger than the test figures.",
                "Intervals are calibrated on the validation fold (same drugs and proteins).",
                "A drug unlike the training drugs, or a protein not among the training ones, is "
                "flagged in its prediction's warnings: the prediction is an extrapolation.",
            ],
            details={"model": architecture, "affinity": affinity, **p},
        )
        contents = ModelContents(kind=KIND, pillar="chem", config=cfg, metrics=metrics,
                                 card=card, state_dict=state)  # fmt: skip
        return contents, metrics

    _, metrics = write_model_dir(out_dir, train_and_report, overwrite=overwrite)
    return metrics


__all__ = [
    "DOMAIN_QUANTILE",
    "KIND",
    "affinity_params",
    "drug_domain",
    "member_outputs",
    "protein_digest",
    "train_affinity_model",
]
