"""Explanations of clinical pipelines: per-patient SHAP values and permutation importance.

SHAP values are computed by ``shap``'s model-agnostic Kernel explainer over the *whole*
fitted pipeline (preprocessing included), so they are per original input column: the explained
output is the probability of the positive class (classifiers) or the risk score (survival
models, ``pipeline.predict``). Categorical columns are handed to shap as their category codes
and decoded back to their values before the pipeline sees them. A small random background
sample of training patients stands for "feature absent".

Permutation importance is scikit-learn's: the drop in ROC-AUC (classifiers) or in Harrell's
C-index (survival, the estimator's ``score``) when a column is shuffled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ShapResult",
    "explain_to_dir",
    "permutation_importances",
    "plot_patient_shap",
    "plot_shap_summary",
    "shap_values",
]


@dataclass
class ShapResult:
    """SHAP values of N patients over F input columns.

    Attributes
    ----------
    values : array of shape (N, F)
        Contribution of each column to each patient's output.
    base_value : float
        Mean output over the background sample (values sum to ``output - base_value``).
    data : DataFrame of shape (N, F)
        The explained patients (original values).
    feature_names : list of str
    output : str
        ``"probability"`` or ``"risk"``.
    """

    values: np.ndarray
    base_value: float
    data: pd.DataFrame
    feature_names: list[str]
    output: str

    def explanation(self) -> Any:
        """As a ``shap.Explanation`` (categories coded for colour, shown by their values)."""
        import shap

        return shap.Explanation(
            values=self.values,
            base_values=np.full(len(self.values), self.base_value),
            data=_encode(self.data, _categories(self.data))[0],
            display_data=self.data.astype(object).to_numpy(),
            feature_names=self.feature_names,
        )


def _categories(X: pd.DataFrame) -> dict[str, list[Any]]:
    cats = {}
    for c in X.columns:
        col = X[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats[c] = list(col.cat.categories)
        elif col.dtype == object:
            cats[c] = sorted(col.dropna().unique().tolist(), key=str)
    return cats


def _encode(X: pd.DataFrame, cats: dict[str, list[Any]]) -> tuple[np.ndarray, list[str]]:
    cols = []
    for c in X.columns:
        if c in cats:
            index = {v: i for i, v in enumerate(cats[c])}
            cols.append(np.array([index.get(v, np.nan) for v in X[c]], dtype=float))
        else:
            cols.append(X[c].to_numpy(dtype=float))
    return np.column_stack(cols), [str(c) for c in X.columns]


def _decoder(template: pd.DataFrame, cats: dict[str, list[Any]]) -> Callable[[np.ndarray], Any]:
    def decode(Z: np.ndarray) -> pd.DataFrame:
        frame = {}
        for j, c in enumerate(template.columns):
            if c in cats:
                codes = Z[:, j]
                values = [np.nan if np.isnan(k) else cats[c][int(round(k))] for k in codes.tolist()]
                series = pd.Series(values, name=c)
                if isinstance(template[c].dtype, pd.CategoricalDtype):
                    series = series.astype(template[c].dtype)
                frame[c] = series
            else:
                frame[c] = pd.Series(Z[:, j], name=c).astype(template[c].dtype)
        return pd.DataFrame(frame)

    return decode


def model_output(pipeline: Any, task: str) -> Callable[[pd.DataFrame], np.ndarray]:
    """The explained output: P(class 1) for classifiers, ``predict`` (risk) for survival."""
    if task == "classification":
        return lambda X: pipeline.predict_proba(X)[:, 1]
    return lambda X: np.asarray(pipeline.predict(X), dtype=float)


def shap_values(
    pipeline: Any,
    background: pd.DataFrame,
    X: pd.DataFrame,
    *,
    task: str,
    n_background: int = 50,
    nsamples: int | str = "auto",
    seed: int = 0,
) -> ShapResult:
    """Per-patient SHAP values of a fitted pipeline (Kernel SHAP).

    Parameters
    ----------
    pipeline : fitted Pipeline
    background : DataFrame
        Training patients; ``n_background`` of them are sampled as the reference.
    X : DataFrame of shape (N, F)
        Patients to explain.
    task : {"classification", "survival"}
    nsamples : int or "auto"
        Model evaluations per patient (Kernel SHAP coalitions; ``"auto"``: ``2 F + 2048``).
    seed : int
        Seeds the background sample and the explainer's coalition sampling.

    Returns
    -------
    ShapResult
        ``values`` of shape (N, F).
    """
    import shap

    cats = _categories(pd.concat([background, X], ignore_index=True))
    bg = background.sample(min(n_background, len(background)), random_state=seed)
    bg_codes, names = _encode(bg, cats)
    x_codes, _ = _encode(X, cats)
    decode = _decoder(X, cats)
    f = model_output(pipeline, task)

    def predict(Z: np.ndarray) -> np.ndarray:
        return f(decode(Z))

    # Kernel SHAP (Lundberg & Lee 2017): model-agnostic and pure NumPy. The permutation
    # explainer JIT-compiles its masker with numba, ~20-40 s per process before the first value.
    explainer = shap.KernelExplainer(predict, bg_codes, feature_names=names)
    state = np.random.get_state()  # Kernel SHAP samples coalitions from NumPy's global RNG
    np.random.seed(seed)
    try:
        values = explainer.shap_values(x_codes, nsamples=nsamples, l1_reg=False, silent=True)
    finally:
        np.random.set_state(state)
    base = np.asarray(explainer.expected_value, dtype=float).reshape(-1)
    return ShapResult(
        values=np.asarray(values, dtype=float).reshape(len(X), len(names)),
        base_value=float(base[0]),
        data=X.reset_index(drop=True),
        feature_names=names,
        output="probability" if task == "classification" else "risk",
    )


#: What the explained output is, for plot titles (ShapResult.output -> words).
OUTPUT_LABELS = {
    "probability": "probability of the positive class",
    "risk": "risk score (higher = earlier event)",
}


def plot_shap_summary(result: ShapResult, path: str | Path, max_display: int = 15) -> Path:
    """Global beeswarm summary PNG, and mean |SHAP| per column as JSON beside it."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    path = Path(path)
    plt.figure()
    shap.plots.beeswarm(result.explanation(), max_display=max_display, show=False)
    plt.gcf().set_size_inches(7, 0.35 * min(max_display, len(result.feature_names)) + 1.5)
    plt.title(f"SHAP values: contributions to the {OUTPUT_LABELS[result.output]}", fontsize=10)
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    mean_abs = np.abs(result.values).mean(axis=0)
    order = np.argsort(-mean_abs)
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "output": result.output,
                "base_value": result.base_value,
                "mean_abs_shap": {result.feature_names[j]: float(mean_abs[j]) for j in order},
            }
        )
    )
    return path


def plot_patient_shap(
    result: ShapResult, index: int, path: str | Path, max_display: int = 12
) -> Path:
    """Waterfall PNG of one patient's SHAP values (``index`` into ``result``), JSON beside."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    path = Path(path)
    plt.figure()
    shap.plots.waterfall(result.explanation()[index], max_display=max_display, show=False)
    plt.title(f"Patient {index + 1}: contributions to the {OUTPUT_LABELS[result.output]}",
              fontsize=10, pad=22)  # fmt: skip
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    row = result.data.iloc[index]
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "output": result.output,
                "base_value": result.base_value,
                "prediction": float(result.base_value + result.values[index].sum()),
                "contributions": [
                    {"feature": n, "value": str(row[n]), "shap": float(v)}
                    for n, v in zip(result.feature_names, result.values[index], strict=True)
                ],
            }
        )
    )
    return path


def permutation_importances(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    n_repeats: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Permutation importance of each input column (scikit-learn).

    The score is ROC-AUC for classifiers and Harrell's C-index (the survival estimator's
    ``score``) for survival models.

    Returns
    -------
    DataFrame
        Columns ``feature``, ``importance_mean``, ``importance_std``; sorted, largest first.
    """
    from sklearn.inspection import permutation_importance

    scoring = "roc_auc" if task == "classification" else None
    result = permutation_importance(
        pipeline, X, y, scoring=scoring, n_repeats=n_repeats, random_state=seed
    )
    frame = pd.DataFrame(
        {
            "feature": [str(c) for c in X.columns],
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return frame.sort_values("importance_mean", ascending=False, ignore_index=True)


def explain_to_dir(
    pipeline: Any,
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    task: str,
    out_dir: str | Path,
    seed: int = 0,
    n_explain: int = 20,
) -> list[dict[str, Any]]:
    """Permutation importance (returned) and SHAP PNGs written to ``out_dir``.

    Writes ``shap_summary.png`` over up to ``n_explain`` held-out patients and
    ``shap_patient1.png`` for the first of them.
    """
    out = Path(out_dir)
    imp = permutation_importances(pipeline, X_test, y_test, task=task, n_repeats=5, seed=seed)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(X_test), size=min(n_explain, len(X_test)), replace=False))
    result = shap_values(
        pipeline, X_train, X_test.iloc[pick].reset_index(drop=True), task=task, seed=seed,
        n_background=20,
    )  # fmt: skip
    plot_shap_summary(result, out / "shap_summary.png")
    plot_patient_shap(result, 0, out / "shap_patient1.png")
    return imp.to_dict(orient="records")
