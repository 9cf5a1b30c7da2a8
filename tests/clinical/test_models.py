"""The registry of clinical models: names, tasks, defaults and the pipelines it builds."""

from __future__ import annotations

import pytest
from sklearn.base import clone

from precisionmed.clinical.models import get_model, list_models, make_model, make_pipeline
from precisionmed.errors import ConfigError

TYPES = {"age": "numeric", "grade": "categorical"}


def test_registry_has_the_cli_models_with_their_tasks():
    tasks = {s.name: s.task for s in list_models()}
    assert tasks == {
        "svm": "classification",
        "rf": "classification",
        "gbm": "classification",
        "dnn": "classification",
        "coxph": "survival",
        "rsf": "survival",
        "deepsurv": "survival",
        "deephit": "survival",
        "deepsurv-ensemble": "survival",
        "deephit-ensemble": "survival",
        "deepsurv-select": "survival",
    }
    assert {s.name for s in list_models() if s.deep} == {
        "dnn", "deepsurv", "deephit", "deepsurv-ensemble", "deephit-ensemble", "deepsurv-select",
    }  # fmt: skip


def test_deepsurv_select_builds_one_candidate_per_regimen():
    from precisionmed.clinical.deepsurv import REGIMENS

    ens = make_model("deepsurv-select", random_state=4, regimens=("minibatch", "binned"), lr=0.02)
    assert ens.select == "val_cindex"
    assert ens.n_members == 9
    assert ens.random_state == 4
    assert [c.input_bins for c in ens.estimator] == [0, REGIMENS["binned"]["input_bins"]]
    assert [c.lr for c in ens.estimator] == [0.02, 0.02]  # shared overrides apply to all
    assert ens.estimator[0].batch_size == REGIMENS["minibatch"]["batch_size"]
    with pytest.raises(ConfigError, match="Unknown DeepSurv regimen 'adam'"):
        make_model("deepsurv-select", regimens=("adam",))


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"Unknown clinical model 'xgb'\..* Known: coxph, .*, svm\."
    ):
        get_model("xgb")


@pytest.mark.parametrize("name", ["svm", "rf", "gbm", "dnn", "coxph", "rsf", "deepsurv", "deephit"])
def test_make_pipeline_builds_preprocess_then_model(name):
    pipe = make_pipeline(name, TYPES, random_state=3)
    assert [step for step, _ in pipe.steps] == ["preprocess", "model"]
    params = pipe[-1].get_params()
    if get_model(name).seeded:
        assert params["random_state"] == 3
    clone(pipe)  # scikit-learn conventions: parameters only in __init__


def test_params_override_defaults_and_bad_params_are_config_errors():
    assert make_model("rf", n_estimators=7).n_estimators == 7
    assert make_model("svm").probability is True
    with pytest.raises(ConfigError, match="Model 'coxph': invalid hyper-parameter"):
        make_model("coxph", n_trees=3)


def test_autoencoder_representation_sits_between_preprocess_and_model():
    pipe = make_pipeline("coxph", TYPES, representation="autoencoder",
                         representation_params={"n_components": 4})  # fmt: skip
    assert [step for step, _ in pipe.steps] == ["preprocess", "representation", "model"]
    assert pipe["representation"].n_components == 4
    with pytest.raises(ConfigError, match="representation must be one of"):
        make_pipeline("coxph", TYPES, representation="pca")


def test_a_registered_pipeline_fits_a_real_cohort():
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    types = {c: "categorical" if X[c].dtype == "category" else "numeric" for c in X.columns}
    pipe = make_pipeline("coxph", types).fit(X, y)
    assert 0.6 < pipe.score(X, y) < 0.8  # Harrell's C of Cox on GBSG2 is about 0.69


def test_autoencoder_pipeline_feeds_a_survival_model_on_the_gene_expression_cohort():
    from sksurv.datasets import load_breast_cancer

    X, y = load_breast_cancer()  # GSE7390: 76 genes + 4 clinical columns, 198 patients
    types = {c: "categorical" if X[c].dtype == "category" else "numeric" for c in X.columns}
    pipe = make_pipeline(
        "coxph", types, representation="autoencoder",
        representation_params={"n_components": 8, "max_epochs": 3, "hidden_layers": (32,)},
    )  # fmt: skip
    pipe.fit(X, y)
    assert pipe[:-1].transform(X).shape == (198, 8)
    assert 0.5 < pipe.score(X, y) <= 1.0
