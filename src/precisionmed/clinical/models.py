"""Clinical models by registered name: each builds a full scikit-learn ``Pipeline``.

::

    Pipeline([("preprocess", make_preprocessor(feature_types)),     # impute, scale, one-hot
              ("representation", DenoisingAutoencoder(...)),        # optional
              ("model", <estimator>)])

=========  ==============  ==========================================================
name       task            estimator
=========  ==============  ==========================================================
svm        classification  ``sklearn.svm.SVC(probability=True)`` (Platt scaling)
rf         classification  ``sklearn.ensemble.RandomForestClassifier``
gbm        classification  ``sklearn.ensemble.GradientBoostingClassifier``
dnn        classification  :class:`precisionmed.clinical.dnn.DNNClassifier`
coxph      survival        ``sksurv.linear_model.CoxPHSurvivalAnalysis`` (ridge ``alpha``)
rsf        survival        ``sksurv.ensemble.RandomSurvivalForest``
deepsurv   survival        :class:`precisionmed.clinical.deepsurv.DeepSurv`
deephit    survival        :class:`precisionmed.clinical.deephit.DeepHit`
deepsurv-  survival        :class:`~precisionmed.clinical.ensemble.SurvivalEnsemble` of
ensemble                   5 DeepSurv (also ``deephit-ensemble``)
deepsurv-  survival        :class:`~precisionmed.clinical.ensemble.SurvivalEnsemble` of 9
select                     DeepSurv, 3 per regimen of ``deepsurv.REGIMENS``; keeps the
                           regimen with the best validation C-index (``select``)
=========  ==============  ==========================================================

Default hyper-parameters live in each :class:`ModelSpec` (``defaults``); keyword arguments of
:func:`make_pipeline` override them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from precisionmed.errors import ConfigError, require_extra
from precisionmed.registry import Registry

if TYPE_CHECKING:  # scikit-learn loads when a pipeline is built, not to list the models
    from sklearn.pipeline import Pipeline

#: Refits from which the central 2.5-97.5 percentiles are a 95% interval: the range of n
#: exchangeable refits holds a further one's prediction with probability (n-1)/(n+1) >= 0.95.
REFITS_FOR_95 = 39

Task = Literal["classification", "survival"]
REPRESENTATIONS = ("none", "autoencoder")


@dataclass(frozen=True)
class ModelSpec:
    """A registered clinical model.

    Attributes
    ----------
    name : str
    task : {"classification", "survival"}
    factory : callable
        ``factory(**params) -> estimator``; ``random_state`` is passed when ``seeded``.
    defaults : dict
        Hyper-parameters used unless overridden.
    deep : bool
        Trains a PyTorch network through :mod:`precisionmed.train`.
    seeded : bool
        Whether the estimator takes ``random_state``.
    interval_models : int
        Default number of bootstrap refits stored for prediction intervals.
    """

    name: str
    task: Task
    factory: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    deep: bool = False
    seeded: bool = True
    description: str = ""
    interval_models: int = 10


#: The clinical models by (case-insensitive) name.
MODELS: Registry[ModelSpec] = Registry("clinical model")


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` to the registry.

    Raises
    ------
    ConfigError
        Another model is registered under ``spec.name`` and ``replace`` is false.
    """
    return MODELS.add(spec.name, spec, replace=replace)


def get_model(name: str) -> ModelSpec:
    """The registered model ``name`` (case-insensitive).

    Raises
    ------
    ConfigError
        Unknown name; the message offers close names and lists the known ones.
    """
    return MODELS.get(name)


def list_models(task: Task | None = None) -> list[ModelSpec]:
    """Registered models, classification before survival, by name; optionally of one task."""
    specs = sorted(MODELS, key=lambda s: (s.task, s.name))
    return [s for s in specs if task is None or s.task == task]


def _svm(**kw: Any) -> Any:
    from sklearn.svm import SVC

    return SVC(**kw)


def _rf(**kw: Any) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**kw)


def _gbm(**kw: Any) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(**kw)


def _dnn(**kw: Any) -> Any:
    from precisionmed.clinical.dnn import DNNClassifier

    return DNNClassifier(**kw)


def _coxph(**kw: Any) -> Any:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return CoxPHSurvivalAnalysis(**kw)


def _rsf(**kw: Any) -> Any:
    from sksurv.ensemble import RandomSurvivalForest

    return RandomSurvivalForest(**kw)


def _deepsurv(**kw: Any) -> Any:
    from precisionmed.clinical.deepsurv import DeepSurv

    return DeepSurv(**kw)


def _deephit(**kw: Any) -> Any:
    from precisionmed.clinical.deephit import DeepHit

    return DeepHit(**kw)


def _ensemble(base: Callable[..., Any]) -> Callable[..., Any]:
    def build(*, n_members: int = 5, random_state: int = 0, **kw: Any) -> Any:
        from precisionmed.clinical.ensemble import SurvivalEnsemble

        return SurvivalEnsemble(base(**kw), n_members=n_members, random_state=random_state)

    return build


def _deepsurv_select(
    *,
    n_members: int = 9,
    random_state: int = 0,
    regimens: tuple[str, ...] = ("minibatch", "large-batch", "binned"),
    **shared: Any,
) -> Any:
    """DeepSurv members of each regimen in turn; the regimen whose members have the best mean
    validation C-index is kept (see :data:`precisionmed.clinical.deepsurv.REGIMENS`)."""
    from precisionmed.clinical.deepsurv import REGIMENS, DeepSurv
    from precisionmed.clinical.ensemble import SurvivalEnsemble

    unknown = [r for r in regimens if r not in REGIMENS]
    if unknown:
        raise ConfigError(
            f"Unknown DeepSurv regimen {unknown[0]!r}; expected one of {sorted(REGIMENS)}."
        )
    candidates = [DeepSurv(**{**REGIMENS[r], **shared}) for r in regimens]
    return SurvivalEnsemble(
        candidates, n_members=n_members, random_state=random_state, select="val_cindex"
    )


def _autoencoder(**kw: Any) -> Any:
    from precisionmed.clinical.autoencoder import DenoisingAutoencoder

    return DenoisingAutoencoder(**kw)


for _spec in (
    ModelSpec("svm", "classification", _svm, {"probability": True, "C": 1.0}, seeded=True,
              description="RBF support-vector machine, Platt-scaled probabilities"),
    ModelSpec("rf", "classification", _rf,
              {"n_estimators": 200, "min_samples_leaf": 2, "n_jobs": 1},
              description="random forest"),
    ModelSpec("gbm", "classification", _gbm,
              {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3, "subsample": 0.8},
              description="gradient boosting"),
    ModelSpec("dnn", "classification", _dnn, {}, deep=True,
              interval_models=5, description="multilayer perceptron on the training engine"),
    ModelSpec("coxph", "survival", _coxph, {"alpha": 0.1, "ties": "efron"}, seeded=False,
              interval_models=REFITS_FOR_95,  # refits take milliseconds: a 95% interval
              description="Cox proportional hazards (ridge-penalised)"),
    ModelSpec("rsf", "survival", _rsf,
              {"n_estimators": 200, "min_samples_split": 10, "min_samples_leaf": 15,
               "max_features": "sqrt", "n_jobs": 1},
              description="random survival forest"),
    ModelSpec("deepsurv", "survival", _deepsurv, {}, deep=True,
              interval_models=5,
              description="DeepSurv (Katzman et al. 2018): Cox partial likelihood MLP"),
    ModelSpec("deephit", "survival", _deephit, {}, deep=True,
              interval_models=5,
              description="DeepHit (Lee et al. 2018): discrete-time survival MLP"),
    ModelSpec("deepsurv-ensemble", "survival", _ensemble(_deepsurv), {"n_members": 5},
              deep=True, interval_models=2,
              description="mean of 5 DeepSurv networks trained with different seeds"),
    ModelSpec("deephit-ensemble", "survival", _ensemble(_deephit), {"n_members": 5},
              deep=True, interval_models=2,
              description="mean of 5 DeepHit networks trained with different seeds"),
    ModelSpec("deepsurv-select", "survival", _deepsurv_select, {"n_members": 9},
              deep=True, interval_models=2,
              description="3 DeepSurv regimens x 3 seeds; the regimen with the best "
                          "validation C-index is kept"),
):  # fmt: skip
    register_model(_spec)


def make_model(name: str, *, random_state: int = 0, **params: Any) -> Any:
    """The bare estimator ``name`` with its defaults, overridden by ``params``."""
    spec = get_model(name)
    if spec.task == "survival":  # scikit-survival (GPL-3) is needed by survival models only
        require_extra("sksurv", "clinical")
    kw = {**spec.defaults, **params}
    if spec.seeded:
        kw.setdefault("random_state", random_state)
    try:
        return spec.factory(**kw)
    except TypeError as exc:
        raise ConfigError(f"Model {name!r}: invalid hyper-parameter ({exc}).") from exc


def make_pipeline(
    name: str,
    feature_types: Mapping[str, str],
    *,
    representation: str = "none",
    random_state: int = 0,
    representation_params: Mapping[str, Any] | None = None,
    scaling: str = "standard",
    **params: Any,
) -> Pipeline:
    """A full pipeline: preprocessing, optional learned representation, the model ``name``.

    Parameters
    ----------
    name : str
        A registered model (see :func:`list_models`).
    feature_types : mapping
        ``column -> "numeric" | "categorical"`` of the input DataFrame.
    representation : {"none", "autoencoder"}
        ``"autoencoder"`` puts a :class:`~precisionmed.clinical.autoencoder.DenoisingAutoencoder`
        between the preprocessing and the model ("DeepPatient").
    random_state : int
        Seed of the model (and of the autoencoder).
    representation_params : mapping, optional
        Hyper-parameters of the autoencoder (e.g. ``{"n_components": 16}``).
    scaling : {"standard", "quantile"}
        Scaling of the numeric columns
        (:func:`~precisionmed.clinical.preprocess.make_preprocessor`).
    **params
        Hyper-parameters of the model, overriding the registered defaults.

    Returns
    -------
    Pipeline
        Unfitted; ``fit(X, y)`` takes the raw DataFrame (missing values and categories allowed).
    """
    from sklearn.pipeline import Pipeline

    from precisionmed.clinical.preprocess import make_preprocessor

    if representation not in REPRESENTATIONS:
        raise ConfigError(
            f"representation must be one of {REPRESENTATIONS}; got {representation!r}."
        )
    preprocess = make_preprocessor(dict(feature_types), scaling=scaling)
    steps: list[tuple[str, Any]] = [("preprocess", preprocess)]
    if representation == "autoencoder":
        steps.append(
            (
                "representation",
                _autoencoder(random_state=random_state, **dict(representation_params or {})),
            )
        )
    steps.append(("model", make_model(name, random_state=random_state, **params)))
    return Pipeline(steps)


def pipeline_task(pipeline: Pipeline) -> Task:
    """``"survival"`` if the pipeline's final estimator is a survival model, else classification."""
    model = pipeline[-1]
    if hasattr(model, "predict_survival_function") or getattr(model, "_estimator_type", "") == (
        "survival"
    ):
        return "survival"
    return "classification"
