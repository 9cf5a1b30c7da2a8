"""The denoising autoencoder representation (src/precisionmed/clinical/autoencoder.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from precisionmed.clinical.autoencoder import AutoencoderNet, DenoisingAutoencoder
from precisionmed.clinical.preprocess import make_preprocessor
from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError

pytest.importorskip("sksurv")


def _low_rank(n: int = 400, p: int = 30, rank: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, p))
    X += 0.05 * rng.normal(size=(n, p))
    return (X - X.mean(0)) / X.std(0)


def test_recovers_low_rank_structure() -> None:
    """Known answer: data of rank 3 reconstructs from a 3-unit code about as well as PCA's."""
    X = _low_rank()
    ae = DenoisingAutoencoder(
        n_components=3, hidden_layers=(32,), noise=0.1, max_epochs=150, patience=15, lr=3e-3
    ).fit(X)
    codes = ae.transform(X)
    assert codes.shape == (400, 3)
    recon = ae.inverse_transform(codes)
    assert recon.shape == X.shape
    ae_err = np.mean((recon - X) ** 2)
    pca = PCA(3).fit(X)
    pca_err = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    assert ae_err < 0.1  # of unit variance: more than 90% of it reconstructed
    assert ae_err < pca_err + 0.08
    assert ae.reconstruction_error_ == pytest.approx(ae.val_metrics_["val_loss"])
    assert list(ae.get_feature_names_out()) == [f"denoisingautoencoder{i}" for i in range(3)]


def test_corruption_only_in_training() -> None:
    net = AutoencoderNet(
        4, (8,), 2, noise=0.5, noise_type="mask", dropout=0.0, activation="relu", batch_norm=False
    )
    x = torch.ones(64, 4)
    torch.manual_seed(0)
    assert (net.corrupt(x) == 0).float().mean() == pytest.approx(0.5, abs=0.1)
    net.eval()
    torch.testing.assert_close(net(x), net.decoder(net.encoder(x)))


def test_feeds_a_survival_model_on_gene_expression() -> None:
    """DeepPatient-style use: 76 genes (+ clinical) -> 8-unit code -> Cox model, in a Pipeline."""
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    data = load_dataset("gse7390")
    pipe = make_pipeline(
        make_preprocessor(data.feature_types),
        DenoisingAutoencoder(n_components=8, hidden_layers=(32,), max_epochs=40, patience=8),
        CoxPHSurvivalAnalysis(alpha=1.0),
    ).fit(data.X, data.y)
    assert pipe[1].transform(pipe[0].transform(data.X)).shape == (198, 8)
    assert pipe.score(data.X, data.y) > 0.6


def test_parameter_errors() -> None:
    X = np.zeros((10, 3))
    with pytest.raises(ConfigError, match=r"'noise' parameter of DenoisingAutoencoder.*\[0, 1\)"):
        DenoisingAutoencoder(noise=1.0).fit(X)
    with pytest.raises(ConfigError, match="'noise_type'.*Got 'salt'"):
        DenoisingAutoencoder(noise_type="salt").fit(X)
    with pytest.raises(ConfigError, match="'n_components'.*an int >= 1"):
        DenoisingAutoencoder(n_components=0).fit(X)
    ae = DenoisingAutoencoder(n_components=2, max_epochs=1).fit(
        np.random.default_rng(0).normal(size=(10, 3))
    )
    with pytest.raises(ValueError, match=r"codes of shape \(n_samples, 2\)"):
        ae.inverse_transform(np.zeros((2, 3)))
