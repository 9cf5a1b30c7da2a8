"""The chemistry core: a batch with bad rows reports each of them and goes on; features agree
with RDKit's own computations."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.chem.features import (
    FingerprintSpec,
    descriptor_names,
    morgan_fingerprints,
    rdkit_descriptors,
    tanimoto_nearest,
)
from precisionmed.chem.molecules import read_molecules, standardize_smiles
from precisionmed.data import load_dataset
from tests.conftest import require_dataset

# Real molecules of ESOL (delaney.csv) with a broken ring, an empty line, a salt form, an
# over-valent carbon and a zwitterion among them.
LINES = [
    "OCC3OC(OCC2OC(OC(C#N)c1ccccc1)C(O)C(O)C2O)C(O)C(O)C3O amygdalin",
    "c1ccc2ccccc2c1",
    "",
    "C1CC(N broken-ring",
    "CC(=O)[O-].[Na+] sodium-acetate",
    "C(C)(C)(C)(C)C five-valent",
    "[NH3+]CC(=O)[O-] glycine",
    "Clc1ccc(Cl)cc1",
]


def test_every_bad_row_is_reported_and_the_rest_are_kept(tmp_path, capfd):
    path = tmp_path / "mols.smi"
    path.write_text("\n".join(LINES) + "\n")
    batch = read_molecules(path)
    assert [r.line for r in batch.rows] == list(range(1, len(LINES) + 1))  # no row dropped
    status = {r.line: r.status for r in batch.rows}
    assert status == {1: "ok", 2: "ok", 3: "invalid", 4: "invalid", 5: "standardised",
                      6: "invalid", 7: "standardised", 8: "ok"}  # fmt: skip
    reasons = {r.line: " ".join(r.reasons) for r in batch.rows}
    assert "empty" in reasons[3]
    assert "SMILES Parse Error" in reasons[4]
    assert "valence" in reasons[6]
    assert "[Na+]" in reasons[5]
    assert "neutralised" in reasons[5]
    assert batch.rows[4].smiles == "CC(=O)O"  # the parent acid of the salt
    assert batch.rows[6].smiles == "NCC(=O)O"
    assert batch.rows[0].name == "amygdalin"
    assert list(batch.valid_indices) == [0, 1, 4, 6, 7]
    assert len(batch.valid_mols) == 5
    # RDKit's C++ log lines became the rows' reasons; nothing reached the terminal
    out, err = capfd.readouterr()
    assert "Parse Error" not in err + out
    assert "valence" not in err + out


def test_a_header_line_is_skipped_and_line_numbers_stay_true(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("SMILES Name\nCCO ethanol\n\nCCN\n")
    batch = read_molecules(path)
    assert [(r.line, r.status) for r in batch.rows] == [(2, "ok"), (3, "invalid"), (4, "ok")]


def test_two_spellings_of_one_molecule_get_one_canonical_smiles():
    batch = standardize_smiles(["c1ccccc1C(=O)O", "OC(=O)c1ccccc1", "[O-]C(=O)c1ccccc1.[K+]"])
    assert len({r.smiles for r in batch.rows}) == 1
    assert [r.status for r in batch.rows] == ["ok", "ok", "standardised"]


def test_without_standardisation_a_salt_keeps_its_fragments():
    (row,) = standardize_smiles(["CC(=O)[O-].[Na+]"], standardize=False).rows
    assert row.status == "ok"
    assert "." in row.smiles


def test_fingerprints_and_similarity_equal_rdkit_on_esol():
    from rdkit import DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    require_dataset("esol")
    mols = standardize_smiles(load_dataset("esol").smiles[:60]).valid_mols
    fps = morgan_fingerprints(mols, FingerprintSpec(radius=2, n_bits=1024))
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    bitvects = [gen.GetFingerprint(m) for m in mols]
    assert fps[5].nonzero()[0].tolist() == list(bitvects[5].GetOnBits())
    queries, reference = fps[:10], fps[10:]
    expected = [max(DataStructs.BulkTanimotoSimilarity(bitvects[i], bitvects[10:]))
                for i in range(10)]  # fmt: skip
    np.testing.assert_allclose(tanimoto_nearest(queries, reference), expected, atol=1e-6)
    self_excluded = tanimoto_nearest(fps, fps, exclude_self=True)
    assert (self_excluded < 1.0).any()
    assert (tanimoto_nearest(fps, fps) == 1.0).all()


def test_descriptors_equal_rdkit_functions():
    from rdkit.Chem import Descriptors

    mols = standardize_smiles(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]).valid_mols
    table = rdkit_descriptors(mols)
    names = descriptor_names()
    assert table.shape == (3, len(names))
    np.testing.assert_allclose(table[:, names.index("MolWt")], [Descriptors.MolWt(m) for m in mols])
    np.testing.assert_allclose(table[:, names.index("TPSA")], [Descriptors.TPSA(m) for m in mols])


def test_fingerprint_spec_refuses_bad_sizes():
    from precisionmed.errors import ConfigError

    with pytest.raises(ConfigError, match="n_bits"):
        FingerprintSpec(n_bits=0)


def test_descriptor_scaler_uses_training_statistics_and_bounds_huge_values():
    from precisionmed.chem.features import DescriptorScaler

    mols = standardize_smiles(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCCCCCCC"]).valid_mols
    table = rdkit_descriptors(mols)
    scaler = DescriptorScaler.fit(table[:3])
    scaled = scaler.transform(table)
    assert scaled.dtype == np.float32
    assert np.isfinite(scaled).all()
    np.testing.assert_allclose(scaled[:3].mean(axis=0), 0.0, atol=1e-5)
    assert np.abs(scaled).max() <= 10.0
    again = DescriptorScaler.from_dict(scaler.to_dict()).transform(table)
    np.testing.assert_array_equal(again, scaled)
