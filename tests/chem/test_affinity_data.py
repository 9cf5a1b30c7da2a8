"""Drug-target affinity data and metrics: DeepDTA's folder layout read from a copy of Davis
(built from the mirror's files in a temporary folder), bad layouts refused in one line, and
the concordance index against a brute-force reference and scikit-survival."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest

from precisionmed.chem.affinity_data import (
    affinity_pairs,
    label_encode,
    read_affinity_dir,
    read_protein,
    setting1_split,
)
from precisionmed.chem.affinity_metrics import affinity_metrics, concordance_index
from precisionmed.data.sources.molecules import DAVIS_KD
from precisionmed.errors import DataFormatError
from tests.conftest import require_path


def make_deepdta_dir(root, *, y_format: str = "pickle"):
    """A Davis folder as DeepDTA's repository has it (``Y`` a pickled array) under ``root``."""
    source = require_path("molecules/dta_davis")
    root.mkdir(parents=True, exist_ok=True)
    for name in ("ligands_can.txt", "proteins.txt"):
        shutil.copy(source / name, root / name)
    shutil.copytree(source / "folds", root / "folds")
    os.chmod(root / "folds", 0o755)
    for f in (root / "folds").iterdir():
        os.chmod(f, 0o644)
    kd = np.loadtxt(source / DAVIS_KD)
    if y_format == "pickle":
        (root / "Y").write_bytes(pickle.dumps(kd, protocol=2))
    else:
        np.save(root / "Y.npy", kd)
    return root


@pytest.fixture(scope="module")
def davis_dir(tmp_path_factory):
    return make_deepdta_dir(tmp_path_factory.mktemp("dta") / "davis")


def test_a_deepdta_folder_reads_as_the_catalog_davis(davis_dir):
    from precisionmed.data import load_dataset

    data = read_affinity_dir(davis_dir)
    catalog = load_dataset("davis")
    assert data.name == "davis"
    assert list(data.drugs) == list(catalog.drugs)  # the files' order is the matrix's
    np.testing.assert_array_equal(data.affinity, catalog.affinity)
    np.testing.assert_array_equal(data.test_fold, catalog.test_fold)
    pairs = affinity_pairs(data)
    assert len(pairs.y) == 68 * 442
    # pKd = -log10(Kd / 1e9): 10,000 nM (Davis's detection limit) is 5
    assert pairs.y.min() == pytest.approx(5.0)
    k = int(np.argmin(data.affinity[pairs.drug, pairs.protein]))
    assert pairs.y[k] == pytest.approx(-np.log10(data.affinity.min() / 1e9))


def test_setting1_validates_on_a_training_fold_and_tests_on_the_test_fold(davis_dir):
    data = read_affinity_dir(davis_dir)
    train, val, test = setting1_split(data, val_fold=2)
    np.testing.assert_array_equal(val, data.train_folds[2])
    np.testing.assert_array_equal(test, data.test_fold)
    assert not set(train) & set(val)
    assert not set(train) & set(test)
    assert not set(val) & set(test)
    assert len(train) + len(val) + len(test) == 30056


def test_y_as_npy_and_kiba_scores_as_they_are(tmp_path):
    root = make_deepdta_dir(tmp_path / "set", y_format="npy")
    data = read_affinity_dir(root, name="kiba-like")
    pairs = affinity_pairs(data, "as-is")
    assert data.name == "kiba-like"
    np.testing.assert_array_equal(pairs.y, data.affinity[pairs.drug, pairs.protein])


def _broken(tmp_path, what):
    root = make_deepdta_dir(tmp_path / what)
    if what == "no-folds":
        (root / "folds/test_fold_setting1.txt").unlink()
    elif what == "shape":
        kd = np.loadtxt(require_path(f"molecules/dta_davis/{DAVIS_KD}"))
        (root / "Y").write_bytes(pickle.dumps(kd[:, :-1], protocol=2))
    elif what == "index":
        (root / "folds/test_fold_setting1.txt").write_text(json.dumps([0, 1, 99999]))
    elif what == "json":
        (root / "proteins.txt").write_text("AAK1 MKKFF\n")
    elif what == "evil":
        (root / "Y").write_bytes(pickle.dumps(os.getcwd, protocol=2))  # a function, not an array
    return root


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("no-folds", r"test_fold_setting1.txt: missing; a DeepDTA folder has"),
        ("shape", r"Y: expected a 68 x 442 matrix .* got 68 x 441"),
        ("index", r"test_fold_setting1.txt: pair index 99999 out of range; Y has 30056"),
        ("json", r"proteins.txt: expected an object of protein name -> sequence in JSON"),
        ("evil", r"Y: expected a NumPy array .* refusing to load posix.getcwd"),
    ],
)
def test_bad_layouts_are_refused_in_one_line_naming_the_file(tmp_path, what, expected):
    root = _broken(tmp_path, what)
    with pytest.raises(DataFormatError, match=expected) as info:
        read_affinity_dir(root)
    assert "\n" not in str(info.value)
    assert str(root) in str(info.value)


def test_protein_from_fasta_or_sequence(tmp_path):
    fasta = tmp_path / "abl1.fasta"
    fasta.write_text(">ABL1 tyrosine kinase\nMLEICLKLVG\ncsrlE\n")
    assert read_protein(fasta) == ("ABL1", "MLEICLKLVGCSRLE")
    assert read_protein("mleick") == ("sequence", "MLEICK")
    two = tmp_path / "two.fasta"
    two.write_text(">a\nMK\n>b\nMK\n")
    with pytest.raises(DataFormatError, match=r"two.fasta: expected a FASTA file with one record"):
        read_protein(two)
    with pytest.raises(DataFormatError, match=r"--protein: .* got the characters '1J'"):
        read_protein("MKJ1")
    assert label_encode("ACA", "AC", 5).tolist() == [1, 2, 1, 0, 0]


def _brute_force_ci(y, p):
    num = den = 0.0
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] > y[j]:
                den += 1
                num += 1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0
    return num / den


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concordance_index_equals_deepdta_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 80).astype(float)  # many ties in the truth, as Davis's pKd 5
    p = np.round(rng.normal(size=80) + 0.3 * y, 1)  # and some in the prediction
    assert concordance_index(y, p) == pytest.approx(_brute_force_ci(y, p), abs=1e-12)


def test_concordance_index_matches_scikit_survival_without_censoring():
    sksurv = pytest.importorskip("sksurv.metrics")
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(size=500), 1)
    p = np.round(y + rng.normal(size=500), 1)
    reference = sksurv.concordance_index_censored(np.ones(500, bool), y, -p)[0]
    assert concordance_index(y, p) == pytest.approx(reference, abs=1e-12)


def test_concordance_index_edges_and_metrics_with_intervals():
    assert concordance_index([1, 2, 3], [1, 2, 3]) == 1.0
    assert concordance_index([1, 2, 3], [3, 2, 1]) == 0.0
    assert concordance_index([1, 2, 3], [7, 7, 7]) == 0.5
    with pytest.raises(ValueError, match="two different true affinities"):
        concordance_index([5, 5], [1, 2])
    y = np.linspace(5, 9, 50)
    m = affinity_metrics(y, y + 0.1, low=y - 1, high=y + 1, n_boot=50)
    assert m["ci"] == 1.0
    assert m["mse"] == pytest.approx(0.01)
    assert m["ci_interval"]["low"] == 1.0
    assert m["coverage"] == 1.0
