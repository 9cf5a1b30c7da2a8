"""scikit-learn conformance and behaviour of the pillar's deep estimators and preprocessing
(src/precisionmed/clinical/dnn.py, autoencoder.py, preprocess.py, nets.py; the spine's base
class: tests/train/test_estimator.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from precisionmed.clinical.autoencoder import DenoisingAutoencoder
from precisionmed.clinical.dnn import DNNClassifier
from precisionmed.clinical.nets import make_mlp
from precisionmed.clinical.preprocess import make_preprocessor
from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError

# Few epochs keep the conformance suite fast; scikit-learn's accuracy checks still pass.
FAST_DNN = DNNClassifier(hidden_layers=(16,), max_epochs=30, patience=5, lr=1e-2)
FAST_AE = DenoisingAutoencoder(n_components=2, hidden_layers=(8,), max_epochs=5, patience=2)


@parametrize_with_checks([FAST_DNN, FAST_AE])
def test_sklearn_conformance(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def wisconsin():
    data = load_dataset("breast-cancer-wisconsin")
    return data, *train_test_split(data.X, data.y, test_size=0.3, random_state=0, stratify=data.y)


def test_dnn_wisconsin_auc_known_band(wisconsin) -> None:
    """Known answer: the Wisconsin diagnostic set is near-separable (published AUCs ~0.99)."""
    data, Xtr, Xte, ytr, yte = wisconsin
    pipe = make_pipeline(
        make_preprocessor(data.feature_types),
        DNNClassifier(max_epochs=40, patience=8, batch_size=128, lr=3e-3),
    ).fit(Xtr, ytr)
    proba = pipe.predict_proba(Xte)
    assert proba.shape == (len(Xte), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert roc_auc_score(yte, proba[:, 1]) > 0.97
    assert pipe.score(Xte, yte) > 0.9
    model = pipe[-1]
    assert model.classes_.tolist() == [0, 1]
    assert model.best_epoch_ is not None
    assert model.n_epochs_ <= 40
    again = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_allclose(again.predict_proba(Xte), proba, rtol=1e-6)


def test_dnn_in_gridsearch_and_cross_val_score(wisconsin) -> None:
    data, Xtr, _, ytr, _ = wisconsin
    pipe = make_pipeline(
        make_preprocessor(data.feature_types), DNNClassifier(max_epochs=4, batch_size=256)
    )
    grid = GridSearchCV(pipe, {"dnnclassifier__lr": [1e-3, 1e-2]}, cv=2, scoring="roc_auc")
    grid.fit(Xtr, ytr)
    assert grid.best_params_["dnnclassifier__lr"] in (1e-3, 1e-2)
    scores = cross_val_score(pipe, Xtr, ytr, cv=2, scoring="roc_auc")
    assert np.all(scores > 0.8)


def test_preprocessor_imputes_and_ignores_unseen_categories() -> None:
    X = pd.DataFrame(
        {
            "age": [50.0, np.nan, 70.0, 60.0],
            "grade": pd.Categorical(["I", "II", None, "II"]),
        }
    )
    pre = make_preprocessor({"age": "numeric", "grade": "categorical"})
    Z = pre.fit_transform(X)
    assert list(pre.get_feature_names_out()) == ["age", "grade_I", "grade_II"]
    np.testing.assert_allclose(Z[:, 0].mean(), 0.0, atol=1e-12)  # median-imputed, standardised
    assert Z[1, 0] == pytest.approx(0.0)  # the median (60) is the mean after imputation here
    np.testing.assert_array_equal(Z[2, 1:], [0.0, 1.0])  # most frequent category "II"
    unseen = pre.transform(pd.DataFrame({"age": [55.0], "grade": ["III"]}))
    np.testing.assert_array_equal(unseen[0, 1:], [0.0, 0.0])


def test_quantile_scaling_tames_skewed_columns_and_keeps_binary_ones() -> None:
    """GBSG2's receptor levels run from 0 to 2,380: standardised, a few patients sit far out on
    that input; the quantile scaling puts them on the same footing, monotonically, and leaves a
    0/1 column as standardisation would (not at the normal quantiles' +-5.2)."""
    X = load_dataset("gbsg2").X
    types = {"progrec": "numeric", "pnodes": "numeric", "horTh": "categorical"}
    standard = make_preprocessor(types).fit_transform(X)
    quantile = make_preprocessor(types, scaling="quantile").fit_transform(X)
    assert standard[:, 0].max() > 8  # skewed: a patient 8+ standard deviations out
    assert np.abs(quantile[:, :2]).max() < 2.5
    np.testing.assert_allclose(quantile[:, :2].mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(quantile[:, :2].std(0), 1.0, atol=1e-9)
    order = np.argsort(X["progrec"].to_numpy(), kind="stable")
    assert np.all(np.diff(quantile[order, 0]) >= 0)  # monotone in the raw value
    binary = pd.DataFrame({"flag": np.r_[np.zeros(30), np.ones(10)]})
    np.testing.assert_allclose(
        make_preprocessor({"flag": "numeric"}, scaling="quantile").fit_transform(binary),
        make_preprocessor({"flag": "numeric"}).fit_transform(binary),
    )
    with pytest.raises(ConfigError, match="scaling must be one of"):
        make_preprocessor(types, scaling="robust")


def test_preprocessor_rejects_unknown_types() -> None:
    with pytest.raises(ConfigError, match="Column 'x' has feature type 'text'; expected one of"):
        make_preprocessor({"x": "text"})
    with pytest.raises(ConfigError, match="at least one column"):
        make_preprocessor({})


def test_dnn_errors() -> None:
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        DNNClassifier(max_epochs=1).fit(X, np.zeros(20))
    with pytest.raises(ConfigError, match="'optimizer' parameter of DNNClassifier must be one of"):
        DNNClassifier(optimizer="lbfgs").fit(X, np.arange(20) % 2)
    with pytest.raises(ConfigError, match="'val_fraction'.*in \\(0, 0.5\\). Got 0.7"):
        DNNClassifier(val_fraction=0.7).fit(X, np.arange(20) % 2)


def test_make_mlp_shapes_and_errors() -> None:
    import torch

    net = make_mlp(5, (8, 4), 3, dropout=0.2, activation="selu", batch_norm=True)
    assert net(torch.zeros(7, 5)).shape == (7, 3)
    assert any(isinstance(m, torch.nn.AlphaDropout) for m in net)
    assert make_mlp(5, (), 1)(torch.zeros(2, 5)).shape == (2, 1)
    with pytest.raises(ConfigError, match="positive sizes"):
        make_mlp(5, (0,), 1)
    with pytest.raises(ConfigError, match="'activation' parameter must be one of"):
        make_mlp(5, (4,), 1, activation="swish")


def test_clone_keeps_params() -> None:
    est = DNNClassifier(hidden_layers=(5,), dropout=0.3)
    assert clone(est).get_params() == est.get_params()


def test_piecewise_linear_encoding_known_values() -> None:
    import torch

    from precisionmed.clinical.nets import PiecewiseLinearEncoding, encoded_mlp

    X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0], [4.0, 1.0]])
    edges = PiecewiseLinearEncoding.quantile_edges(X, 2)
    assert edges.dtype == np.float32
    assert edges.shape == (2, 3)
    np.testing.assert_allclose(edges[0], [0.0, 1.5, 4.0])
    enc = PiecewiseLinearEncoding(2, 2)
    enc.edges.copy_(torch.from_numpy(edges))
    out = enc(torch.tensor([[0.75, 1.0], [3.0, 0.0], [9.0, -1.0]])).numpy()
    # raw inputs, then each feature's thermometer code over its bins
    np.testing.assert_allclose(out[0], [0.75, 1.0, 0.5, 0.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[1], [3.0, 0.0, 1.0, 0.6, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[2, 2:], [1.0, 1.0, 0.0, 0.0], atol=1e-6)
    net = encoded_mlp(2, 2, edges, (4,), 1)
    assert net(torch.zeros(3, 2)).shape == (3, 1)
    assert "0.edges" in net.state_dict()
    assert encoded_mlp(2, 0, None, (4,), 1)(torch.zeros(3, 2)).shape == (3, 1)
