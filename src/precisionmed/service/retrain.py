"""``precisionmed retrain TASK``: retrain a production model on its data plus accepted feedback.

Any single-label classifier whose predictor can retrain itself: the service asks the loaded
predictor (:func:`precisionmed.load`) for what it needs and never for its pillar. A predictor is
retrainable when it has ``labels`` (the classes feedback may name), ``predict_labels``,
``test_arrays()`` (its locked test set) and ``retrain(x, class_indices, out_dir, ...)`` (its own
recipe on its training split plus extra examples): the image classifiers
(``imaging/retraining.py``) and the clinical classifiers (``clinical/retraining.py``) have them.
Feedback inputs are given as the model takes them: images read by the predictor's
``load_frames`` (scaled exactly as at prediction time), patient records as a table of the
model's input columns. Survival models predict no class, so a clinician's label cannot train
them; they are refused with a message saying so.

Both models are then compared on

* the locked test set: the dataset's test split, recorded by sha256 (a later retrain refuses a
  test set whose checksum differs from the one production was gated on);
* the feedback hold-out: a seeded share of the accepted feedback, never trained on.

The gate passes when the paired 95% bootstrap interval (over test images) of the accuracy
difference (candidate - production) has its lower end above ``-margin`` (0.01, the house
margin), and the candidate's hold-out accuracy is higher than production's.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from precisionmed.errors import ConfigError
from precisionmed.service import registry
from precisionmed.service.feedback import accepted_for_model, cap_per_user, holdout_split
from precisionmed.service.models import ModelVersion, utcnow

#: The house margin: a candidate may be at most this much worse (paired lower bound).
MARGIN = 0.01


def retrain_classifier(
    session: Session,
    name: str,
    *,
    out_root: Path,
    cap: float = 0.2,
    holdout_fraction: float = 0.3,
    margin: float = MARGIN,
    n_boot: int = 1000,
    seed: int = 0,
    max_epochs: int | None = None,
    progress: bool = True,
) -> ModelVersion:
    """Train, evaluate and register a candidate for the production classifier ``name``.

    Parameters
    ----------
    session : Session
        The service database (the caller commits).
    name : str
        The model's name in the registry.
    out_root : Path
        The candidate's model directory is written under ``out_root/name/``.
    cap : float in (0, 1]
        Largest share of the training feedback one user may hold.
    holdout_fraction : float in (0, 1)
        Share of the accepted feedback held out to compare the models.
    margin : float
        How much worse on the locked test set the candidate may be (paired lower bound).
    n_boot : int
        Bootstrap resamples of the paired interval (and of the candidate's own metrics).
    seed : int
        Seed of the hold-out split and the bootstrap.
    max_epochs : int, optional
        Override the recipe's epochs (the rest of the recipe is kept).
    progress : bool
        Show the training progress bar.

    Returns
    -------
    ModelVersion
        The candidate's registry row; ``evaluation`` holds both models' figures and ``gate``.

    Raises
    ------
    ConfigError
        No production version, a model its predictor cannot retrain, no usable feedback, or
        the locked test set changed.
    """
    import precisionmed

    prod_row = registry.production(session, name)
    if prod_row is None:
        raise ConfigError(f"retrain: model {name!r} has no production version to retrain")
    prod = precisionmed.load(prod_row.path)
    _check_retrainable(prod, name, prod_row.kind)
    dataset = prod.config["dataset"]
    dataset_name = dataset["name"] if isinstance(dataset, dict) else str(dataset)
    x_test, y_test = prod.test_arrays()
    locked = _locked_test(dataset_name, x_test, y_test)
    earlier = ((prod_row.evaluation or {}).get("locked_test") or {}).get("sha256")
    if earlier is not None and earlier != locked["sha256"]:
        raise ConfigError(
            f"retrain: the locked test set of {dataset_name!r} changed (sha256 "
            f"{earlier[:12]} when production was gated, {locked['sha256'][:12]} now)"
        )

    rows, skipped = _usable_feedback(accepted_for_model(session, name), prod)
    capped, dropped = cap_per_user(rows, cap)
    train_rows, hold_rows = holdout_split(capped, holdout_fraction, seed) if capped else ([], [])
    if not train_rows or not hold_rows:
        raise ConfigError(
            f"retrain: model {name!r} has {len(rows)} usable accepted feedback rows, "
            f"{len(capped)} after the per-user cap of {cap:.0%}; expected enough for both "
            "training and a hold-out (accept more feedback, from more users)"
        )
    x_fb, labels_fb = _feedback_arrays(train_rows, prod)
    out_dir = out_root / name / f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    prod.retrain(x_fb, labels_fb, out_dir, max_epochs=max_epochs, n_boot=n_boot, progress=progress)
    cand = precisionmed.load(out_dir)
    evaluation = _compare(prod, cand, x_test, y_test, hold_rows, margin, n_boot, seed)
    evaluation.update(
        production_version=prod_row.version,
        locked_test=locked,
        feedback={
            "cap_per_user": cap,
            "accepted": len(rows),
            "skipped": skipped,
            "dropped_by_cap": {str(k): v for k, v in dropped.items()},
            "train_ids": [r.id for r in train_rows],
            "holdout_ids": [r.id for r in hold_rows],
            "share_by_user_after_cap": _shares(capped),
        },
    )
    return registry.register(
        session, name, out_dir, stage="candidate", source="retrain", evaluation=evaluation
    )


#: What a predictor must offer to be retrained from feedback.
CAPABILITIES = ("labels", "predict_labels", "test_arrays", "retrain")


def _check_retrainable(prod: Any, name: str, kind: str) -> None:
    missing = [c for c in CAPABILITIES if getattr(prod, c, None) is None]
    if missing:
        raise ConfigError(
            f"retrain: model {name!r} (a {kind!r}) cannot be retrained from feedback: its "
            f"predictor has no {', '.join(missing)}"
        )
    if getattr(prod, "task", "") == "multi-label":
        raise ConfigError(f"retrain: model {name!r} is multi-label; expected a single-label task")
    if not prod.labels:
        raise ConfigError(
            f"retrain: model {name!r} (a {kind!r}, task {getattr(prod, 'task', '?')!r}) "
            "predicts no classes, so a clinician's label cannot train it; expected a classifier"
        )
    if _takes_tables(prod) is None:
        raise ConfigError(
            f"retrain: model {name!r} takes {prod.input_spec.kind!r} inputs; feedback can "
            "give images (a predictor with load_frames) or patient records (a table model)"
        )


def _takes_tables(prod: Any) -> bool | None:
    """True for a table model, False for an image model, None for other inputs."""
    if getattr(prod.input_spec, "kind", "") == "table":
        return True
    return False if callable(getattr(prod, "load_frames", None)) else None


def _locked_test(dataset: str, x: Any, y: np.ndarray) -> dict[str, Any]:
    """The test set's identity: its sha256 over values, dtypes and shapes (tables: pandas'
    row hashes with the column names)."""
    digest = hashlib.sha256()
    if isinstance(x, pd.DataFrame):
        digest.update(repr(list(x.columns)).encode())
        x = pd.util.hash_pandas_object(x, index=False).to_numpy()
    for part in (x, y):
        arr = np.ascontiguousarray(part)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return {"dataset": dataset, "split": "test", "n": len(y), "sha256": digest.hexdigest()}


def _usable_feedback(rows: list[Any], prod: Any) -> tuple[list[Any], dict[str, int]]:
    """Rows whose label is one of the model's and whose case is an input the model takes: a
    stored image, or a patient record with every input column."""
    tables = _takes_tables(prod)
    columns = {c.name for c in prod.input_spec.columns} if tables else set()
    usable, skipped = [], {"unknown_label": 0, "no_input": 0}
    for row in rows:
        case = row.case
        if tables:
            has_input = case.input_kind == "record" and columns <= set(case.record or {})
        else:
            has_input = bool(case.stored_path) and Path(case.stored_path).is_file()
        if row.label not in prod.labels:
            skipped["unknown_label"] += 1
        elif has_input:
            usable.append(row)
        else:
            skipped["no_input"] += 1
    return usable, skipped


def _feedback_arrays(rows: list[Any], prod: Any) -> tuple[Any, np.ndarray]:
    """The cases as the model takes them -- images (N, C, *size) in [0, 1], or a table of the
    input columns (N rows) -- and their class indices (N,)."""
    labels = np.array([prod.labels.index(row.label) for row in rows], dtype=np.int64)
    if _takes_tables(prod):
        columns = [c.name for c in prod.input_spec.columns]
        table = pd.DataFrame([{c: row.case.record.get(c) for c in columns} for row in rows])
        return table, labels
    xs = [prod.load_frames(row.case.stored_path)[0].x.numpy() for row in rows]
    return np.stack(xs).astype(np.float32), labels


def _correct(model: Any, x: Any, y: np.ndarray) -> np.ndarray:
    return (model.predict_labels(x) == np.asarray(y).reshape(-1)).astype(float)


def _compare(
    prod: Any,
    cand: Any,
    x_test: Any,
    y_test: np.ndarray,
    hold_rows: list[Any],
    margin: float,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Both models on the locked test set and the feedback hold-out, and the gate's decision."""
    from precisionmed.evaluation.bootstrap import bootstrap_ci

    c_test, p_test = _correct(cand, x_test, y_test), _correct(prod, x_test, y_test)
    diff = bootstrap_ci(
        lambda c, p: float(np.mean(c - p)), c_test, p_test, n_boot=n_boot, seed=seed
    )
    x_hold, y_hold = _feedback_arrays(hold_rows, prod)
    c_hold, p_hold = _correct(cand, x_hold, y_hold), _correct(prod, x_hold, y_hold)
    reasons = []
    not_worse = diff["low"] > -margin
    if not not_worse:
        reasons.append(
            f"worse on the locked test set: accuracy difference {diff['value']:+.3f} "
            f"(95% CI {diff['low']:+.3f} to {diff['high']:+.3f}), lower end not above {-margin}"
        )
    better = float(c_hold.mean()) > float(p_hold.mean())
    if not better:
        reasons.append(
            f"not better on the feedback hold-out: accuracy {c_hold.mean():.3f} vs production "
            f"{p_hold.mean():.3f} on {len(hold_rows)} cases"
        )
    return {
        "locked_test_accuracy": {
            "candidate": float(c_test.mean()),
            "production": float(p_test.mean()),
            "difference": diff,
        },
        "holdout_accuracy": {
            "candidate": float(c_hold.mean()),
            "production": float(p_hold.mean()),
            "n": len(hold_rows),
        },
        "gate": {"passed": not_worse and better, "margin": margin, "reasons": reasons},
    }


def _shares(rows: list[Any]) -> dict[str, float]:
    from collections import Counter

    counts = Counter(r.user_id for r in rows)
    total = sum(counts.values())
    return {str(u): n / total for u, n in sorted(counts.items())}
