"""Train, evaluate and save a molecular property model (``precisionmed chem train-property``).

The steps, each a function of this package:

1. standardise every SMILES (:func:`~precisionmed.chem.molecules.standardize_smiles`): invalid
   rows and rows without any label are reported in ``metrics.json`` (index and reason) and left
   out of training, never silently;
2. ECFP fingerprints (optionally with scaled RDKit 2D descriptors; ``mpnn``: molecular graphs,
   :func:`~precisionmed.chem.mpnn.mol_graphs`, with the descriptors after pooling); a random,
   stratified or scaffold split (:mod:`~precisionmed.chem.splits`);
3. fit (:mod:`~precisionmed.chem.models`): the MLP or D-MPNN members through the engine
   (:func:`precisionmed.train.fit_members`, early stopping on the validation molecules), the
   tree models per task;
4. on the validation molecules: the conformal interval scale (regression) and the
   applicability-domain threshold (the 5th percentile of their nearest-neighbour Tanimoto
   similarity to the training molecules: a new molecule less similar to the training set than
   95% of held-out ones is flagged);
5. test metrics (masked per task), ROC or parity plot, ``split.json`` (the input rows of each
   part), the model directory (:func:`precisionmed.artifacts.write_model_dir`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.chem.evaluation import (
    INTERVAL_LEVEL,
    conformal_scale,
    intervals,
    plot_property_evaluation,
    property_metrics,
    spread_offset,
)
from precisionmed.chem.features import (
    DescriptorScaler,
    FingerprintSpec,
    morgan_fingerprints,
    rdkit_descriptors,
    tanimoto_nearest,
)
from precisionmed.chem.models import NETWORKS, PropertyModel, fit_trees, loss_for, model_params
from precisionmed.chem.molecules import STANDARDISATION, MoleculeBatch, standardize_smiles
from precisionmed.chem.mpnn import FEATURIZER, n_descriptors
from precisionmed.chem.splits import split_molecules
from precisionmed.data.sources.molecules import MoleculeData
from precisionmed.errors import ConfigError
from precisionmed.predict import MoleculeInputSpec

KIND = "molecular-property"
#: Quantile of the validation molecules' nearest-neighbour similarity used as the threshold.
APPLICABILITY_QUANTILE = 0.05


def _fit_network(
    name: str,
    X: np.ndarray,
    Y: np.ndarray,
    idx: tuple[np.ndarray, np.ndarray],
    task: str,
    params: dict[str, Any],
    *,
    n_members: int,
    seed: int,
    progress: bool,
    out_dir: Path,
) -> tuple[PropertyModel, dict[str, Any]]:
    import torch
    from torch.utils.data import TensorDataset

    from precisionmed.chem.models import build_net
    from precisionmed.train import TrainConfig, fit_members
    from precisionmed.train.estimator import BatchedTensorDataset, torch_threads

    train, val = idx
    y_mean = y_std = None
    Yn = Y
    if task == "regression":  # the network learns standardised targets
        y_mean = np.nanmean(Y[train], axis=0)
        y_std = np.nanstd(Y[train], axis=0)
        y_std = np.where(y_std > 0, y_std, 1.0)
        Yn = (Y - y_mean) / y_std
    collate = None
    if name == "mpnn":  # graphs, batched by their collate function
        from precisionmed.chem.mpnn import collate_graphs, graph_items, n_descriptors

        n_inputs = n_descriptors(X)
        collate = collate_graphs
        train_set: Any = graph_items(X[train], Yn[train])
        val_set: Any = graph_items(X[val], Yn[val])
    else:
        n_inputs = X.shape[1]
        x = torch.tensor(X, dtype=torch.float32)
        y = torch.tensor(Yn, dtype=torch.float32)
        train_set, val_set = BatchedTensorDataset(x[train], y[train]), TensorDataset(x[val], y[val])
    config = TrainConfig.build(
        max_epochs=params["max_epochs"],
        batch_size=params["batch_size"],
        lr=params["lr"],
        weight_decay=params["weight_decay"],
        patience=params["patience"],
        seed=seed,
        progress=progress,
    )

    def build_member(_seed: int) -> tuple[Any, Any]:
        return build_net(n_inputs, Y.shape[1], params, name), train_set

    # one torch thread: on a busy 2-core machine two made this MLP's epochs 17x slower (measured)
    with torch_threads(1):
        fits = fit_members(
            build_member,
            val_set,
            loss_fn=loss_for(task),
            config=config,
            n_members=n_members,
            out_dir=out_dir,
            collate_fn=collate,
        )
    model = PropertyModel(
        name, task, Y.shape[1], params, nets=fits.nets, y_mean=y_mean, y_std=y_std
    )
    return model, fits.summary(config.monitor)


@dataclass
class _Prepared:
    """The molecules of a training run, standardised, featurised and split."""

    batch: MoleculeBatch
    rows: list[dict[str, Any]]  # the reported input rows (invalid, standardised, unlabelled)
    unlabelled: list[int]
    keep: np.ndarray  # input rows used (valid SMILES with at least one label)
    fps: np.ndarray  # (len(keep), n_bits) fingerprints: the applicability domain's space
    X: np.ndarray  # (len(keep), n_inputs) model inputs
    Y: np.ndarray  # (len(keep), n_tasks) targets, NaN where missing
    scaler: DescriptorScaler | None
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _prepare(
    data: MoleculeData,
    spec: FingerprintSpec,
    split: str,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    descriptors: bool,
    progress: bool,
    graphs: bool = False,
) -> _Prepared:
    """Steps 1 and 2 of the module docstring."""
    batch = standardize_smiles(data.smiles, progress=progress)
    labelled = ~np.all(np.isnan(data.targets), axis=1)
    rows = [r.to_dict() for r in batch.problems()]
    unlabelled = [int(i) for i in np.flatnonzero(~labelled) if batch.rows[i].valid]
    rows += [
        {"index": i, "input": batch.rows[i].input, "status": "unlabelled", "reasons": ["no target"]}
        for i in unlabelled
    ]
    keep = np.array([i for i in batch.valid_indices if labelled[i]], dtype=int)
    if len(keep) < 10:
        raise ConfigError(
            f"{data.name}: {len(keep)} molecules with a valid SMILES and a label; at least 10 "
            "are needed to train, validate and test."
        )
    mols = [batch.mols[i] for i in keep]
    fps = morgan_fingerprints(mols, spec)
    Y = data.targets[keep]
    train, val, test = split_molecules(
        split, mols, Y, task=data.task, val_fraction=val_fraction,
        test_fraction=test_fraction, seed=seed,
    )  # fmt: skip
    if min(len(train), len(val), len(test)) == 0:
        raise ConfigError(
            f"{data.name}: the {split} split left an empty part (train {len(train)}, "
            f"validation {len(val)}, test {len(test)}); use more molecules or another split."
        )
    scaler = scaled = None
    if descriptors:  # scaled with the training molecules' statistics only
        table = rdkit_descriptors(mols)
        scaler = DescriptorScaler.fit(table[train])
        scaled = scaler.transform(table)
    if graphs:
        from precisionmed.chem.mpnn import mol_graphs

        X = mol_graphs(mols, scaled)
    else:
        X = fps.astype(np.float32)
        X = X if scaled is None else np.hstack([X, scaled])
    return _Prepared(batch, rows, unlabelled, keep, fps, X, Y, scaler, train, val, test)


def train_property_model(
    data: MoleculeData,
    model: str,
    out_dir: str | Path,
    *,
    split: str | None = None,
    seed: int = 0,
    n_members: int = 5,
    params: Mapping[str, Any] | None = None,
    fingerprint: FingerprintSpec | None = None,
    descriptors: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    interval_level: float = INTERVAL_LEVEL,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a property model on ``data``, evaluate it on held-out molecules, save it.

    Parameters
    ----------
    data : MoleculeData
        A catalog set (:func:`precisionmed.data.load_dataset`) or a user's CSV
        (:func:`precisionmed.chem.load_molecule_csv`).
    model : {"mlp", "mpnn", "rf", "gbm"}
    out_dir : path
        The model directory to write.
    split : {"random", "stratified", "scaffold"}, optional
        Default: the dataset's recommended split (MoleculeNet's).
    seed : int
        Seed of the split and of the model (MLP member ``i``: ``seed + i``).
    n_members : int
        ``mlp`` / ``mpnn`` ensemble size (ignored by the tree models).
    params : mapping, optional
        Model hyper-parameters (see :data:`precisionmed.chem.models.DEFAULTS`).
    fingerprint : FingerprintSpec, optional
        ECFP4, 2048 bits by default.
    descriptors : bool
        Append RDKit's 2D descriptors, scaled (:class:`~precisionmed.chem.features.
        DescriptorScaler`), to the fingerprint, or for ``mpnn`` to the pooled graph vector
        (chemprop's best MoleculeNet rows use them).
    val_fraction, test_fraction : float
    interval_level : float
        Coverage of the regression intervals.
    overwrite : bool
        Replace a model already at ``out_dir``.
    progress : bool
        Show the engine's progress bar (MLP).

    Returns
    -------
    dict
        The contents of ``metrics.json``: ``test`` and ``val`` metrics, ``rows`` (the reported
        input rows), ``applicability``, ``training``.

    Raises
    ------
    ConfigError
        Unknown model or parameter, a split that cannot be made, or too few valid molecules.
    """
    from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir

    params_ = model_params(model, params)
    spec = fingerprint or FingerprintSpec()
    split = split or data.recommended_split
    start = time.perf_counter()

    def train_and_report(staging: Path) -> tuple[ModelContents, dict[str, Any]]:
        prep = _prepare(
            data, spec, split, seed=seed, val_fraction=val_fraction,
            test_fraction=test_fraction, descriptors=descriptors, progress=progress,
            graphs=model == "mpnn",
        )  # fmt: skip
        batch, rows, unlabelled, keep = prep.batch, prep.rows, prep.unlabelled, prep.keep
        fps, X, Y, scaler = prep.fps, prep.X, prep.Y, prep.scaler
        train, val, test = prep.train, prep.val, prep.test
        n_inputs = int(X.shape[1]) if X.ndim == 2 else n_descriptors(X)  # mpnn: (n,) graphs
        if model in NETWORKS:
            fitted, training = _fit_network(
                model, X, Y, (train, val), data.task, params_, n_members=n_members, seed=seed,
                progress=progress, out_dir=staging,
            )  # fmt: skip
        else:
            t0 = time.perf_counter()
            estimators = fit_trees(
                model, data.task, X[train], Y[train], params_, seed, progress=progress
            )
            fitted = PropertyModel(model, data.task, Y.shape[1], params_, estimators=estimators)
            training = {"train_wall_seconds": time.perf_counter() - t0}
        val_mean, val_spread = fitted.predict(X[val])
        test_mean, test_spread = fitted.predict(X[test])
        q = offset = None
        low = high = None
        if data.task == "regression":
            offset = spread_offset(val_spread)
            q = conformal_scale(Y[val], val_mean, val_spread, offset, interval_level)
            low, high = intervals(test_mean, test_spread, offset, q)
        val_sim = tanimoto_nearest(fps[val], fps[train])
        test_sim = tanimoto_nearest(fps[test], fps[train])
        threshold = float(np.quantile(val_sim, APPLICABILITY_QUANTILE))
        in_domain = test_sim >= threshold
        test_metrics = property_metrics(
            data.task, Y[test], test_mean, data.target_names, low=low, high=high
        )
        applicability = {
            "threshold": threshold,
            "quantile": APPLICABILITY_QUANTILE,
            "test_in_domain_fraction": float(in_domain.mean()),
            "test_mean_similarity": float(test_sim.mean()),
        }
        for name, part in (("in_domain", in_domain), ("out_of_domain", ~in_domain)):
            if part.sum() >= 2:
                sub = property_metrics(data.task, Y[test][part], test_mean[part], data.target_names)
                applicability[f"test_{name}"] = sub["mean"] | {"n": int(part.sum())}
        plot_property_evaluation(
            data.task, Y[test], test_mean, data.target_names, staging, units=data.units
        )
        # the split as rows of the input, so that an evaluation can be repeated exactly
        parts = {"train": train, "val": val, "test": test}
        split_rows = {k: keep[v].tolist() for k, v in parts.items()}
        (staging / "split.json").write_text(json.dumps(split_rows))
        metrics = {
            "dataset": data.name,
            "model": model,
            "task": data.task,
            "split": split,
            "seed": seed,
            "sizes": {"train": len(train), "val": len(val), "test": len(test)},
            "test": test_metrics,
            "val": property_metrics(data.task, Y[val], val_mean, data.target_names),
            "applicability": applicability,
            "rows": rows,
            "rows_summary": batch.summary() | {"unlabelled": len(unlabelled)},
            "training": training | {"total_wall_seconds": time.perf_counter() - start},
        }
        input_spec = MoleculeInputSpec(
            format="smiles",
            standardisation=STANDARDISATION,
            featurizer={
                **spec.to_dict(),  # the graphs' settings too for mpnn (ECFP: the domain's space)
                **(FEATURIZER if model == "mpnn" else {}),
                "name": (FEATURIZER["name"] if model == "mpnn" else spec.name)
                + ("+rdkit2d" if descriptors else ""),
                "rdkit_descriptors": descriptors,
            },  # fmt: skip
            n_training_molecules=len(train),
            applicability_threshold=threshold,
        )
        config = {
            "model": model,
            "architecture": model,
            "dataset": data.name,
            "dataset_source": data.source,
            "task": data.task,
            "target_names": list(data.target_names),
            "units": data.units,
            "split": split,
            "seed": seed,
            "params": params_,
            "n_members": n_members if model in NETWORKS else 1,
            "fingerprint": spec.to_dict(),
            "n_inputs": n_inputs,
            "descriptor_scaler": None if scaler is None else scaler.to_dict(),
            "y_mean": None if fitted.y_mean is None else fitted.y_mean.tolist(),
            "y_std": None if fitted.y_std is None else fitted.y_std.tolist(),
            "interval_level": interval_level if q is not None else None,
            "interval_scale": None if q is None else q.tolist(),
            "interval_spread_offset": None if offset is None else offset.tolist(),
            "input_spec": input_spec.to_dict(),
        }
        # the training fingerprints (bit-packed) are the applicability domain's reference set
        import torch

        state = fitted.state_dict()
        state["train_fingerprints"] = torch.from_numpy(np.packbits(fps[train] > 0, axis=1))
        card = ModelCard(
            title=f"{model} on {data.name}",
            intended_use=(
                "Research: ranking candidate molecules by a predicted property. Not validated "
                "for decisions about people."
            ),
            training_data=(
                f"{data.name}: {len(train)} training, {len(val)} validation and {len(test)} "
                f"test molecules ({split} split, seed {seed}); {len(rows)} input rows reported "
                "(invalid, standardised or unlabelled)."
            ),
            limitations=[
                "Predictions for molecules unlike the training set (flagged by the "
                "applicability domain) are unreliable.",
                "Intervals are calibrated on the validation molecules; they cover less for "
                "new scaffolds.",
            ],
            details={
                "model": model,
                "fingerprint": spec.name,
                "rdkit_descriptors": descriptors,
                **params_,
            },  # fmt: skip
        )
        contents = ModelContents(
            kind=KIND,
            pillar="chem",
            config=config,
            metrics=metrics,
            card=card,
            state_dict=state,
            estimator=fitted.estimators or None,
        )
        return contents, metrics

    _, metrics = write_model_dir(out_dir, train_and_report, overwrite=overwrite)
    return metrics


__all__ = ["APPLICABILITY_QUANTILE", "KIND", "train_property_model"]
