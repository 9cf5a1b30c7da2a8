"""TrainConfig from YAML: errors name the file, the line or the field, and the bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from precisionmed.errors import ConfigError
from precisionmed.train import TrainConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_from_yaml_reads_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path, "max_epochs: 7\noptimizer: sgd\nscheduler: cosine\nmonitor: val_auc\nmode: max\n"
    )
    config = TrainConfig.from_yaml(path)
    assert (config.max_epochs, config.optimizer, config.scheduler) == (7, "sgd", "cosine")
    assert (config.monitor, config.mode, config.batch_size) == ("val_auc", "max", 128)
    assert TrainConfig.from_yaml(write(tmp_path, "")) == TrainConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: -1\n", r"train\.yaml: field 'lr': Input should be greater than 0\. Got -1\."),
        ("optimiser: adam\n", r"train\.yaml: field 'optimiser': Extra inputs are not permitted"),
        ("optimizer: rmsprop\n", r"field 'optimizer': Input should be 'adam', 'adamw' or 'sgd'"),
        ("monitor: loss\n", r"field 'monitor': must name a validation metric.*Got 'loss'"),
        ("max_epochs: [1\n", r"train\.yaml: not valid YAML at line 2, column 1"),
        ("- lr\n- 0.1\n", r"train\.yaml: a training config must be a YAML mapping.*got a list"),
        ("1: 2\n", r"train\.yaml: field names must be text; got 1"),
    ],
)
def test_from_yaml_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_yaml(write(tmp_path, text))


def test_from_yaml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read the training config"):
        TrainConfig.from_yaml(tmp_path / "absent.yaml")


def test_nesterov_sgd_reaches_the_optimiser_and_needs_sgd_momentum() -> None:
    import torch

    from precisionmed.train import EngineModule

    config = TrainConfig.build(optimizer="sgd", momentum=0.9, nesterov=True)
    module = EngineModule(torch.nn.Linear(3, 2), torch.nn.functional.cross_entropy, config)
    optimiser = module.configure_optimizers()
    assert isinstance(optimiser, torch.optim.SGD)
    assert optimiser.defaults["nesterov"] is True
    for bad in ({"optimizer": "adam"}, {"optimizer": "sgd", "momentum": 0.0}):
        with pytest.raises(ConfigError, match=r"'nesterov': Nesterov momentum needs"):
            TrainConfig.build(nesterov=True, **bad)


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [
        ("val_loss", "min"),
        ("val_auc", "max"),
        ("val_cindex", "max"),
        ("val_c_index_uno", "max"),
        ("val_dice_hippocampus", "max"),  # per-label Dice: dice's direction
        ("val_ece", "min"),
    ],
)
def test_mode_comes_from_the_monitored_metric(monitor: str, mode: str) -> None:
    assert TrainConfig.build(monitor=monitor).mode == mode
    assert TrainConfig.build(monitor=monitor, mode=mode).mode == mode  # explicit and consistent


def test_a_mode_against_the_metric_direction_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'mode': 'val_auc' is better when higher.*'min'"):
        TrainConfig.build(monitor="val_auc", mode="min")
    with pytest.raises(ConfigError, match=r"'val_loss' is better when lower"):
        TrainConfig.build(monitor="val_loss", mode="max")


def test_an_unregistered_monitor_needs_a_mode() -> None:
    with pytest.raises(ConfigError, match=r"'val_sharpness' has no registered direction.*auc"):
        TrainConfig.build(monitor="val_sharpness")
    assert TrainConfig.build(monitor="val_sharpness", mode="max").mode == "max"


def test_yaml_with_a_consistent_mode_loads_and_a_contradicting_one_names_the_file(
    tmp_path: Path,
) -> None:
    good = write(tmp_path, "monitor: val_auc\nmode: max\n")
    assert TrainConfig.from_yaml(good).mode == "max"
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitor: val_auc\nmode: min\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: field 'mode': 'val_auc' is better"):
        TrainConfig.from_yaml(bad)
    # the resolved config round-trips (as written into a model directory)
    config = TrainConfig.build(monitor="val_cindex")
    assert TrainConfig(**config.model_dump()) == config


def test_float16_precision_needs_a_gpu_and_bfloat16_is_accepted() -> None:
    with pytest.raises(ConfigError, match=r"'precision': '16-mixed' .* needs a GPU accelerator"):
        TrainConfig.build(precision="16-mixed")
    assert TrainConfig.build(precision="16-mixed", accelerator="gpu").precision == "16-mixed"
    assert TrainConfig.build(precision="bf16-mixed").precision == "bf16-mixed"
    with pytest.raises(ConfigError, match="'precision'"):
        TrainConfig.build(precision="8-true")
