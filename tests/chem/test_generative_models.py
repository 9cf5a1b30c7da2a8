"""The three generators on 200 MOSES molecules: one epoch, saved, reloaded, the same molecules
for the same seed; CharRNN's log-likelihoods; invalid samples and bad input rows counted."""

from __future__ import annotations

import json

import pytest
import torch

from precisionmed.chem.generative import (
    CharRNN,
    file_training_smiles,
    load_generator,
    moses_training_smiles,
    train_generator,
)
from precisionmed.chem.molecules import parse_smiles
from precisionmed.errors import ArtifactError, ConfigError
from precisionmed.train import TrainConfig
from tests.conftest import require_dataset

TINY = {
    "charrnn": {"hidden_size": 48, "num_layers": 2, "embedding_dim": 16},
    "vae": {"encoder_hidden": 32, "latent_dim": 16, "decoder_hidden": 48, "decoder_layers": 2},
}
CONFIG = TrainConfig(max_epochs=1, batch_size=32, progress=False)


@pytest.fixture(scope="module")
def moses_200():
    require_dataset("moses")
    return moses_training_smiles(max_molecules=200, seed=0)


@pytest.fixture(scope="module")
def trained(moses_200, tmp_path_factory):
    """A charrnn, a vae and a latentgan working in that vae, each saved to its directory."""
    root = tmp_path_factory.mktemp("generators")
    dirs = {}
    for name in ("charrnn", "vae"):
        dirs[name] = root / name
        train_generator(name, moses_200, dirs[name], hparams=TINY[name], config=CONFIG)
    dirs["latentgan"] = root / "latentgan"
    train_generator(
        "latentgan", moses_200, dirs["latentgan"], vae_dir=dirs["vae"], config=CONFIG,
        gan_config=TrainConfig(max_epochs=1, batch_size=32, lr=2e-4, progress=False),
    )  # fmt: skip
    return dirs


def test_moses_subset_is_seeded_and_described(moses_200) -> None:
    again = moses_training_smiles(max_molecules=200, seed=0)
    assert again.smiles == moses_200.smiles
    assert len(set(moses_200.smiles)) == 200
    assert moses_200.n_read == 1_584_663
    assert moses_200.source == "catalog:moses"


@pytest.mark.parametrize("name", ["charrnn", "vae", "latentgan"])
def test_reloaded_generator_samples_the_same_molecules(trained, name: str) -> None:
    generator = load_generator(trained[name])
    assert generator.name == name
    assert generator.version
    first = generator.sample(24, seed=3, batch_size=12, max_length=50)
    second = load_generator(trained[name]).sample(24, seed=3, batch_size=12, max_length=50)
    assert first.smiles == second.smiles
    assert len(first.smiles) == 24
    other = generator.sample(24, seed=4, batch_size=24, max_length=50)
    assert other.smiles != first.smiles
    # invalid samples are kept and counted, each judged by RDKit
    assert first.valid == [parse_smiles(s)[0] is not None for s in first.smiles]
    assert first.n_invalid == first.valid.count(False)
    assert first.n_invalid > 0  # one epoch on 200 molecules: far from always valid
    config = json.loads((trained[name] / "config.json").read_text())
    assert config["kind"] == "molecule-generator"
    assert config["training"]["data"]["n_used"] == 200


def test_latentgan_carries_its_vae(trained) -> None:
    gan = load_generator(trained["latentgan"])
    vae = load_generator(trained["vae"])
    for key, value in vae.model.state_dict().items():
        assert torch.equal(gan.model.vae.state_dict()[key], value), key
    assert gan.training["vae"]["vae_version"] == vae.version


def test_charrnn_log_likelihood_matches_its_samples(trained) -> None:
    model = load_generator(trained["charrnn"]).model
    assert isinstance(model, CharRNN)
    torch.manual_seed(0)
    smiles, sampled = model.sample(16, max_length=200)
    assert sampled.shape == (16,)
    assert sampled.requires_grad
    finished = [i for i, s in enumerate(smiles) if s and parse_smiles(s)[0] is not None]
    finished = finished or [i for i, s in enumerate(smiles) if s]
    scored = model.log_likelihood([smiles[i] for i in finished])
    assert scored.requires_grad
    # the same token sequences (re-tokenised strings may merge e.g. C + l; those are rare)
    close = torch.isclose(scored, sampled[finished].detach(), atol=1e-3)
    assert close.float().mean() >= 0.8
    scored.sum().backward()
    assert model.head.weight.grad is not None


def test_bad_rows_of_a_users_file_are_reported_and_left_out(moses_200, tmp_path) -> None:
    path = tmp_path / "mine.smi"
    lines = moses_200.smiles[:20] + ["C1CC", "", "CC(=O)Oc1ccccc1C(=O)O.[Na+] aspirin-salt"]
    path.write_text("\n".join(lines) + "\n")
    data = file_training_smiles(path)
    assert data.n_read == 23
    assert data.n_invalid == 2
    assert len(data.smiles) == 21
    assert [p["line"] for p in data.problems] == [21, 22]
    assert "unclosed ring" in data.problems[0]["reason"]
    assert "CC(=O)Oc1ccccc1C(=O)O" in data.smiles  # the salt standardised to its parent


def test_wrong_model_kinds_are_refused(trained, moses_200, tmp_path) -> None:
    with pytest.raises(ConfigError, match="a charrnn model, not a vae"):
        train_generator("latentgan", moses_200, tmp_path / "g", vae_dir=trained["charrnn"])
    with pytest.raises(ConfigError, match=r"must be one of \['charrnn', 'vae', 'latentgan'\]"):
        train_generator("aae", moses_200, tmp_path / "a")
    with pytest.raises(ConfigError, match="Hyper-parameters of charrnn"):
        train_generator("charrnn", moses_200, tmp_path / "c", hparams={"hidden": 3})
    (tmp_path / "plain").mkdir()
    with pytest.raises(ArtifactError, match="no manifest.json"):
        load_generator(tmp_path / "plain")


def test_bfloat16_training_keeps_float32_weights_and_records_it(moses_200, tmp_path) -> None:
    config = TrainConfig(max_epochs=1, batch_size=32, progress=False, precision="bf16-mixed")
    generator = train_generator(
        "charrnn", moses_200, tmp_path / "bf16", hparams=TINY["charrnn"], config=config
    )
    assert all(p.dtype == torch.float32 for p in generator.model.parameters())
    assert generator.training["config"]["precision"] == "bf16-mixed"
    val_loss = generator.training["losses"]["val_loss"]
    # validated in float32: a bfloat16 loss would carry 8 bits of mantissa
    assert val_loss != float(torch.tensor(val_loss).to(torch.bfloat16))
    assert len(load_generator(tmp_path / "bf16").sample(8, seed=0).smiles) == 8
