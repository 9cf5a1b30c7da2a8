"""The objective YAML: scores equal independent RDKit computations, aggregation as documented,
substructure gates, saved property models, and one clear error per bad file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml
from rdkit import Chem
from rdkit.Chem import Crippen
from rdkit.Chem.QED import qed

import precisionmed
from precisionmed.chem.moses_scoring import sa_score
from precisionmed.chem.optimize.objective import build_objective, load_objective
from precisionmed.errors import ConfigError
from tests.conftest import require_dataset

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
PHENOL = "Oc1ccccc1"


def _write(tmp_path, config, name="objective.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_geometric_and_weighted_sum_aggregation_equal_rdkit(tmp_path):
    components = [
        {"type": "qed", "weight": 2},
        {"type": "sa"},
        {"type": "logp", "window": [2, 3], "width": 1},
    ]
    mol = Chem.MolFromSmiles(ASPIRIN)
    q, s, logp = qed(mol), (10 - sa_score(mol)) / 9, Crippen.MolLogP(mol)
    window = np.exp(-0.5 * (max(2 - logp, 0) + max(logp - 3, 0)) ** 2)
    geometric = load_objective(_write(tmp_path, {"components": components}))
    total, parts = geometric.score_components([ASPIRIN, "C1CC("])
    assert parts["qed"][0] == pytest.approx(q)
    assert parts["sa"][0] == pytest.approx(s)
    assert parts["logp"][0] == pytest.approx(window)
    assert total[0] == pytest.approx((q**2 * s * window) ** (1 / 4))
    assert total[1] == 0.0
    assert np.isnan(parts["qed"][1])
    summed = build_objective({"aggregation": "weighted_sum", "components": components})
    assert summed.score([ASPIRIN])[0] == pytest.approx((2 * q + s + window) / 4)
    assert geometric.calls == 2


def test_substructures_gate_the_score_and_similarity_is_guacamols_tanimoto():
    objective = build_objective(
        {
            "components": [
                {"type": "similarity", "smiles": ASPIRIN},
                {"type": "substructure", "smarts": "C(=O)[OH]", "mode": "required"},
                {
                    "type": "substructure",
                    "smarts": "[N+](=O)[O-]",
                    "mode": "forbidden",
                    "penalty": 0.5,
                    "name": "no-nitro",
                },
            ]
        }
    )
    total, parts = objective.score_components([ASPIRIN, PHENOL, "OC(=O)c1ccccc1[N+](=O)[O-]"])
    assert total[0] == pytest.approx(1.0)  # itself: similarity 1, acid present, no nitro
    assert total[1] == 0.0  # phenol has no carboxylic acid
    assert 0 < total[2] == pytest.approx(parts["similarity"][2] * 0.5)


@pytest.fixture(scope="module")
def esol_model(tmp_path_factory):
    """A random forest (20 trees) on the first 60 ESOL molecules."""
    require_dataset("esol")
    from precisionmed.chem.training import train_property_model
    from precisionmed.data import load_dataset

    esol = load_dataset("esol")
    small = dataclasses.replace(esol, smiles=esol.smiles[:60], targets=esol.targets[:60])
    out = tmp_path_factory.mktemp("objective") / "esol"
    train_property_model(small, "rf", out, params={"n_estimators": 20}, progress=False)
    return out


def test_a_saved_property_model_is_a_component(tmp_path, esol_model):
    path = _write(
        tmp_path, {"components": [{"type": "property", "model": str(esol_model), "scale": [-6, 0]}]}
    )
    objective = load_objective(path)
    predicted = precisionmed.load(esol_model).predict([ASPIRIN, PHENOL])
    expected = [(r.prediction + 6) / 6 for r in predicted]
    assert objective.score([ASPIRIN, PHENOL]) == pytest.approx(np.clip(expected, 0, 1))


def test_domain_penalty_scales_molecules_outside_the_models_applicability_domain(
    tmp_path, esol_model
):
    smiles = [ASPIRIN, PHENOL, "CCO", "C[Si](C)(C)O[Si](C)(C)C", "O=C1CCCCCCCCCCCCCCN1"]
    spec = {"type": "property", "model": str(esol_model), "scale": [-6, 0]}
    plain = build_objective({"components": [spec]}).score(smiles)
    penalised = build_objective({"components": [spec | {"domain_penalty": 0.2}]}).score(smiles)
    records = precisionmed.load(esol_model).predict(smiles)
    inside = np.array([r.details["applicability"]["in_domain"] for r in records])
    assert inside.any()
    assert not inside.all()
    assert penalised == pytest.approx(np.where(inside, plain, 0.2 * plain))
    with pytest.raises(ConfigError, match=r"component 1 \(property\): domain_penalty must be"):
        build_objective({"components": [spec | {"domain_penalty": 1.5}]})


def test_a_property_model_is_not_an_affinity_model(tmp_path, esol_model):
    path = _write(
        tmp_path,
        {
            "components": [
                {"type": "affinity", "model": str(esol_model), "protein": "MKV", "scale": [5, 9]}
            ]
        },
    )
    with pytest.raises(ConfigError, match=r"component 1 \(affinity\).*is not an affinity model"):
        load_objective(path)


def test_unknown_component_is_one_clear_error(tmp_path):
    path = _write(tmp_path, {"components": [{"type": "qed"}, {"type": "qedd"}]})
    with pytest.raises(ConfigError) as info:
        load_objective(path)
    message = str(info.value)
    assert message.startswith(f"{path}: component 2: unknown type 'qedd'. Did you mean: qed?")
    assert "\n" not in message
    assert "affinity" in message


def test_missing_model_names_the_file_component_and_what_was_expected(tmp_path):
    path = _write(
        tmp_path,
        {
            "components": [
                {"type": "qed"},
                {"type": "property", "model": str(tmp_path / "no-such-model"), "scale": [0, 1]},
            ]
        },
    )
    with pytest.raises(ConfigError) as info:
        load_objective(path)
    assert str(info.value) == (
        f"{path}: component 2 (property): model '{tmp_path / 'no-such-model'}' not found; "
        "expected a property model directory (precisionmed chem train)."
    )


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"components": [{"type": "logp"}]}, r"component 1 \(logp\): a raw value needs"),
        ({"components": [{"type": "qed", "smarts": "C"}]}, r"unknown keys \['smarts'\]"),
        ({"components": [{"type": "similarity"}]}, r"missing \['smiles'\]"),
        ({"components": [{"type": "substructure", "smarts": "C"}]}, "besides substructures"),
        ({"aggregation": "max", "components": [{"type": "qed"}]}, "aggregation must be"),
        ({"components": [{"type": "guacamol", "task": "Nope"}]}, "Unknown GuacaMol task"),
    ],
)
def test_bad_objectives_say_what_was_expected(config, match):
    with pytest.raises(ConfigError, match=match):
        build_objective(config, "my.yaml")


def test_unreadable_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("components:\n  - type: qed\n  - [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line"):
        load_objective(path)


@pytest.mark.slow
def test_a_saved_affinity_model_scores_the_predicted_pkd(tmp_path):
    require_dataset("davis")
    from precisionmed.chem.affinity_training import train_affinity_model
    from precisionmed.data import load_dataset

    davis = load_dataset("davis")
    out = tmp_path / "dta"
    train_affinity_model(
        davis,
        "deepdta",
        out,
        subset=40,
        n_boot=20,
        progress=False,
        params={"max_epochs": 1, "batch_size": 16},
    )
    sequence = davis.proteins["EGFR"]
    objective = build_objective(
        {
            "components": [
                {"type": "affinity", "model": str(out), "protein": sequence, "scale": [5, 10]}
            ]
        }
    )
    predicted = precisionmed.load(out).predict([ASPIRIN, "C1CC("], protein=sequence)
    total = objective.score([ASPIRIN, "C1CC("])
    assert total[0] == pytest.approx(np.clip((predicted[0].prediction - 5) / 5, 0, 1))
    assert total[1] == 0.0
    # aspirin is nothing like Davis's kinase inhibitors: outside the domain, it scores 0
    assert not predicted[0].details["applicability"]["in_domain"]
    component = {"type": "affinity", "model": str(out), "protein": sequence, "scale": [5, 10]}
    inside_only = build_objective({"components": [component | {"domain_penalty": 0}]})
    assert inside_only.score([ASPIRIN])[0] == 0.0
