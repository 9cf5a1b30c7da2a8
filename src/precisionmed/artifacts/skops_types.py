"""The only types :meth:`precisionmed.artifacts.Artifact.estimator` lets skops build.

skops builds, without asking, the types it trusts by default (scikit-learn's own estimators,
NumPy arrays, Python built-ins); every other type or function in a ``model.skops`` is reported
by ``skops.io.get_untrusted_types`` and must be in :data:`SKOPS_TRUSTED_TYPES`, matched as a
whole fully qualified name (no prefixes). Nothing is taken from the model's own files.
"""

# Made by saving every clinical model of the registry (svm rf gbm dnn coxph rsf deepsurv deephit,
# the deepsurv/deephit ensembles and deepsurv-select), each plain and with
# --representation autoencoder --scaling quantile, through train_clinical_model on small data
# (breast-cancer-wisconsin, gbsg2; few trees, two epochs), and collecting
# skops.io.get_untrusted_types of each model.skops:
#     python -m tests.artifacts.skops_types_of_registry
# tests/artifacts/test_skops_types.py re-runs it, so a model writing a new type fails that test
# (add the type here after checking that building it cannot run code).
SKOPS_TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "precisionmed.clinical.autoencoder.DenoisingAutoencoder",
        "precisionmed.clinical.deephit.DeepHit",
        "precisionmed.clinical.deepsurv.DeepSurv",
        "precisionmed.clinical.dnn.DNNClassifier",
        "precisionmed.clinical.ensemble.SurvivalEnsemble",
        "precisionmed.clinical.preprocess._QuantileScaler",
        # the treatment pillar's estimators (their networks are stored as NumPy arrays)
        "precisionmed.treatment.meta.SLearner",
        "precisionmed.treatment.meta.TLearner",
        "precisionmed.treatment.meta.XLearner",
        "precisionmed.treatment.nets.CFR",
        "precisionmed.treatment.nets.CausalNetMember",
        "precisionmed.treatment.nets.DragonNet",
        "precisionmed.treatment.nets.TARNet",
        "precisionmed.treatment.overlap.OverlapModel",
        "precisionmed.treatment.survival.SurvivalTLearner",
        "sklearn.tree._tree.Tree",
        "sksurv.ensemble.forest.RandomSurvivalForest",
        "sksurv.functions.StepFunction",
        "sksurv.linear_model.coxph.BreslowEstimator",
        "sksurv.linear_model.coxph.CoxPHSurvivalAnalysis",
        "sksurv.tree.tree.SurvivalTree",
    }
)
