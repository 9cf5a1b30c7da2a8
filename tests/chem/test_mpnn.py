"""The D-MPNN (``--model mpnn``): trained and reloaded through the CLI in fresh processes, the
same values; Tox21's missing labels masked; invariant to atom order; no message flows back
along its own bond."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import precisionmed
from precisionmed.chem.evaluation import property_metrics
from precisionmed.chem.mpnn import DMPNN, collate_graphs, mol_graphs
from precisionmed.chem.training import train_property_model
from precisionmed.data import load_dataset
from tests.conftest import require_dataset, require_path

CLI = [sys.executable, "-m", "precisionmed.cli.main", "chem"]


def _run(args: list[str]) -> str:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _outputs(net: DMPNN, mols: list) -> np.ndarray:
    """The network's outputs ``(n, 1)`` on SMILES or RDKit molecules, batched together."""
    from rdkit import Chem

    mols = [Chem.MolFromSmiles(m) if isinstance(m, str) else m for m in mols]
    batch, _ = collate_graphs([(g, np.zeros(1)) for g in mol_graphs(mols)])
    net.eval()
    with torch.no_grad():
        return net(batch).numpy()


def test_mpnn_trains_through_the_cli_reloads_and_predicts_the_same_values(tmp_path):
    source = require_path("molecules/moleculenet/delaney.csv")
    with source.open() as fh:
        rows = list(csv.reader(fh))[:61]  # the header and 60 ESOL molecules
    path = tmp_path / "esol60.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "model"
    metrics = json.loads(_run([
        "train-property", "--csv", str(path), "--model", "mpnn", "--ensemble", "2",
        "--descriptors", "--param", "max_epochs=1", "--param", "hidden=64",
        "--split", "random", "--out", str(out), "--json",
    ]))  # fmt: skip
    assert metrics["model"] == "mpnn"
    assert metrics["training"]["n_members"] == 2
    config = json.loads((out / "config.json").read_text())
    featurizer = config["input_spec"]["featurizer"]
    assert featurizer["name"] == "dmpnn-chemprop-v1+rdkit2d"
    assert (featurizer["n_atom_features"], featurizer["n_bond_features"]) == (133, 14)
    assert config["n_inputs"] == len(config["descriptor_scaler"]["mean"])
    assert not list(out.glob("*.skops"))
    assert (out / "model.safetensors").is_file()

    test_rows = json.loads((out / "split.json").read_text())["test"]
    smi = tmp_path / "test.smi"
    smi.write_text("".join(f"{rows[1 + i][0]}\n" for i in test_rows))
    records = json.loads(_run(["predict", str(out), str(smi), "--json"]))
    values = np.array([[r["values"]["logp"]] for r in records])
    targets = np.array([[float(rows[1 + i][1])] for i in test_rows])
    again = property_metrics("regression", targets, values, ["logp"])
    assert again["mean"]["rmse"] == pytest.approx(metrics["test"]["mean"]["rmse"], abs=1e-5)
    assert all(r["interval"]["logp"][0] < r["values"]["logp"] < r["interval"]["logp"][1]
               for r in records)  # fmt: skip

    in_process = precisionmed.load(out).predict([rows[1 + i][0] for i in test_rows])
    assert [r.values["logp"] for r in in_process] == pytest.approx(values[:, 0].tolist(), abs=1e-6)


def test_tox21_missing_labels_are_masked_in_mpnn_training(tmp_path):
    from precisionmed.data.sources.molecules import MoleculeData

    require_dataset("tox21")
    tox21 = load_dataset("tox21")
    small = MoleculeData(
        name="tox21-small", smiles=tox21.smiles[:120], targets=tox21.targets[:120],
        target_names=tox21.target_names, task="classification",
    )  # fmt: skip
    assert np.isnan(small.targets).any()  # the subset has missing labels
    metrics = train_property_model(
        small, "mpnn", tmp_path / "m", n_members=1, split="random", progress=False,
        params={"max_epochs": 1, "hidden": 32, "ffn_hidden": 32},
    )  # fmt: skip
    assert np.isfinite(metrics["training"]["best_score"])  # NaN labels unmasked: a NaN loss
    test_rows = json.loads((tmp_path / "m" / "split.json").read_text())["test"]
    known = ~np.isnan(small.targets[test_rows])
    for t, name in enumerate(small.target_names):
        if name in metrics["test"]["tasks"]:
            assert metrics["test"]["tasks"][name]["n"] == known[:, t].sum()


def test_message_passing_is_invariant_to_atom_order():
    from rdkit import Chem

    torch.manual_seed(0)
    net = DMPNN(1, hidden=32, ffn_hidden=32)
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")  # paracetamol
    order = np.random.default_rng(0).permutation(mol.GetNumAtoms()).tolist()
    shuffled = Chem.RenumberAtoms(mol, order)
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    assert [a.GetSymbol() for a in shuffled.GetAtoms()] != symbols  # another atom order
    out = _outputs(net, [mol, shuffled, Chem.MolFromSmiles("c1ccccc1O")])
    assert out[0] == pytest.approx(out[1], abs=1e-5)
    assert out[0] != pytest.approx(out[2], abs=1e-3)  # a different molecule: another value


def test_no_message_flows_back_along_its_own_bond():
    torch.manual_seed(0)
    shallow = DMPNN(1, hidden=16, ffn_hidden=16, depth=1)
    deep = DMPNN(1, hidden=16, ffn_hidden=16, depth=2)
    deep.load_state_dict(shallow.state_dict())
    # methanol's C->O edge hears only from C's other edges: none, so depth 2 adds nothing
    assert _outputs(deep, ["CO"]) == pytest.approx(_outputs(shallow, ["CO"]), abs=1e-6)
    # propane's C2->C3 edge hears from C1->C2: depth 2 changes the value
    assert _outputs(deep, ["CCC"]) != pytest.approx(_outputs(shallow, ["CCC"]), abs=1e-4)
