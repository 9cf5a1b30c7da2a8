"""MOSES metrics equal the reference implementation's (molsets 0.3.1) to 1e-3.

The reference values are in ``tests/chem/data/moses_reference.json``, computed by
``benchmarks/dev/chem_reference_values.py`` in a throwaway environment on the fixed samples of
``tests/chem/moses_sample.py`` (drawn from the mirror's MOSES files, invalid SMILES included).
The small sample runs through ``precisionmed chem evaluate --json`` in a fresh process; the full
one (MOSES's own Test/TestSF statistics, 1.58 M Train SMILES) is marked slow.
"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from precisionmed.chem.moses_metrics import compute_moses_metrics, fraction_unique
from precisionmed.chem.moses_scoring import load_moses_statistics
from precisionmed.errors import DataFormatError
from tests.chem.moses_sample import fixed_sample, small_sample
from tests.conftest import require_dataset, require_path

REFERENCE = json.loads((Path(__file__).parent / "data" / "moses_reference.json").read_text())
CLI = [sys.executable, "-m", "precisionmed.cli.main", "chem"]


def _assert_matches(ours: dict[str, float], reference: dict[str, float]) -> None:
    assert set(ours) == set(reference)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-3), name


def test_small_sample_through_the_cli_matches_molsets(tmp_path):
    sample = small_sample(require_path("molecules/moses"))
    files = {}
    for name, smiles in sample.items():
        files[name] = tmp_path / f"{name}.smi"
        files[name].write_text("".join(f"{s}\n" for s in smiles))
    args = [
        "evaluate",
        str(files["gen"]),
        "--test",
        str(files["test"]),
        "--test-scaffolds",
        str(files["test_scaffolds"]),
        "--train",
        str(files["train"]),
        "--k",
        "100",
        "--k",
        "1000",
        "--json",
    ]
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["n"] == 200  # the empty last line and the three broken SMILES are rows too
    _assert_matches(out["metrics"], REFERENCE["small"]["metrics"])
    assert out["metrics"]["valid"] == pytest.approx(196 / 200)


@pytest.mark.slow
def test_full_sample_against_moses_statistics_matches_molsets():
    require_dataset("moses")
    sample = fixed_sample(require_path("molecules/moses"))
    _assert_matches(compute_moses_metrics(sample), REFERENCE["metrics"])


def test_invalid_smiles_are_counted_and_the_batch_goes_on():
    smiles = ["CCO", "C1CC(", "", "not a smiles", "c1ccccc1O", "CCO", "C[N+](C)(C)C"]
    metrics = compute_moses_metrics(smiles, test=None, test_scaffolds=None, train=["CCO"], k=[3])
    assert metrics["valid"] == pytest.approx(4 / 7)
    assert metrics["unique@3"] == pytest.approx(2 / 3)  # CCO, c1ccccc1O, CCO
    assert metrics["Novelty"] == pytest.approx(2 / 3)  # CCO is in train
    assert metrics["Filters"] == pytest.approx(3 / 4)  # the charged ammonium fails
    assert "FCD/Test" not in metrics
    with pytest.raises(DataFormatError, match="None of the 2 SMILES"):
        compute_moses_metrics(["", "C1CC("], test=None, test_scaffolds=None, train=None)


def test_unique_at_k_looks_at_the_first_k_only():
    assert fraction_unique(["A", "A", "B", "C"], 2) == 0.5
    assert fraction_unique(["A", "A", "B", "C"], None) == 0.75


def test_statistics_reader_refuses_a_pickle_that_is_not_data(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": "|O", "fortran_order": False, "shape": ()})
    raw.write(pickle.dumps(np.array({"FCD": Evil()}, dtype=object), protocol=2))
    path = tmp_path / "test_stats.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("stats.npy", raw.getvalue())
    with pytest.raises(DataFormatError, match=r"test_stats.npz.*refusing to load .*print"):
        load_moses_statistics(path)
