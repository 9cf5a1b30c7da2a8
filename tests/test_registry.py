import pytest

from precisionmed.errors import ConfigError, DatasetNotFoundError
from precisionmed.registry import Registry


def test_unknown_name_offers_close_names_and_lists_known():
    reg: Registry[int] = Registry("imaging network")
    reg.add("reference-cnn", 1)
    reg.add("resnet18", 2)
    expected = (
        r"Unknown imaging network 'refrence-cnn'\. Did you mean: reference-cnn\? "
        r"Known: reference-cnn, resnet18\."
    )
    with pytest.raises(ConfigError, match=expected):
        reg.get("refrence-cnn")


def test_names_are_case_insensitive_and_sorted():
    reg: Registry[str] = Registry("metric")
    reg.register("AUC")("a")
    reg.add("brier", "b")
    assert reg.get("auc") == "a"
    assert "Auc" in reg
    assert reg.names() == ["auc", "brier"]
    assert list(reg) == ["a", "b"]


def test_second_registration_is_refused_unless_replace():
    reg: Registry[str] = Registry("dataset", error=DatasetNotFoundError)
    reg.add("x", "a")
    reg.add("x", "a")  # the same entry again is fine (module re-import)
    with pytest.raises(ConfigError, match="already registered"):
        reg.add("x", "b")
    reg.add("x", "b", replace=True)
    assert reg.get("x") == "b"
    with pytest.raises(DatasetNotFoundError):
        reg.get("y")


def test_loader_runs_before_lookup():
    calls = []
    reg: Registry[int] = Registry("dataset", loader=lambda: calls.append(1) or reg.add("a", 1))
    assert reg.get("a") == 1
    assert calls


def test_params_with_defaults_names_an_unknown_parameter():
    from precisionmed.errors import ConfigError
    from precisionmed.registry import Registry, params_with_defaults

    models: Registry[dict] = Registry("toy model")
    models.add("net", {"depth": 3, "hidden": 300})
    assert params_with_defaults(models, "net", {"depth": 5}) == {"depth": 5, "hidden": 300}
    assert params_with_defaults(models, "NET") == {"depth": 3, "hidden": 300}
    with pytest.raises(
        ConfigError, match="has no parameter 'width'; its parameters are depth, hidden"
    ):
        params_with_defaults(models, "net", {"width": 2})
