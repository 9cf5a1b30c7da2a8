"""The default classifier recipe of `imaging train` (chosen in benchmarks/imaging_defaults.py)."""

import json
import os
import subprocess
import sys

from precisionmed.imaging.recipe import CLASSIFIER_TRAIN, classifier_recipe
from precisionmed.train import TrainConfig
from tests.conftest import require_dataset


def test_defaults_fill_what_the_user_did_not_give():
    model, kwargs, train = classifier_recipe(None, {}, {"lr": None, "max_epochs": 3})
    assert model == "resnet18"
    assert kwargs == {"widen_factor": 0.25}
    assert train["max_epochs"] == 3  # given
    assert train["lr"] == CLASSIFIER_TRAIN["lr"]  # not given (None)
    TrainConfig.build(**train)  # a valid configuration


def test_full_width_and_other_networks_by_flag():
    _, kwargs, _ = classifier_recipe("resnet18", {"widen_factor": 1}, {})
    assert kwargs == {"widen_factor": 1}
    _, kwargs, _ = classifier_recipe("densenet121", {}, {})
    assert kwargs == {}


def test_another_optimizer_keeps_its_own_learning_rate():
    _, _, train = classifier_recipe(None, {}, {"optimizer": "sgd"})
    assert train["optimizer"] == "sgd"
    assert "lr" not in train
    assert "weight_decay" not in train
    assert TrainConfig.build(**train).lr == TrainConfig().lr


def test_cli_trains_the_default_recipe(tmp_path):
    require_dataset("breastmnist")
    out = tmp_path / "m"
    cmd = [sys.executable, "-c", "from precisionmed.cli.main import main; main()", "imaging",
           "train", "--dataset", "breastmnist", "--subset", "32", "--max-epochs", "1",
           "--n-boot", "20", "--out", str(out), "--json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "resnet18"
    assert config["network_kwargs"] == {"widen_factor": 0.25}
    assert config["augmentation"] == "light"
    assert config["train_config"]["optimizer"] == "adamw"
    assert config["train_config"]["scheduler"] == "cosine"
    assert config["train_config"]["max_epochs"] == 1  # the flag wins


def test_cli_trains_in_bfloat16_mixed_precision(tmp_path):
    require_dataset("breastmnist")
    out = tmp_path / "m"
    cmd = [sys.executable, "-c", "from precisionmed.cli.main import main; main()", "imaging",
           "train", "--dataset", "breastmnist", "--subset", "32", "--max-epochs", "1",
           "--n-boot", "20", "--out", str(out), "--json", "--precision", "bf16-mixed"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["train_config"]["precision"] == "bf16-mixed"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["auc"]["value"] <= 1.0
