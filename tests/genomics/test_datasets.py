"""The DNA sets of the catalog and the user's own data (GUE folder layout, one CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.data import get_dataset, list_datasets, load_dataset
from precisionmed.data.sources.genomics import read_sequence_csv, read_sequence_dir
from precisionmed.errors import DataFormatError
from tests.conftest import require_dataset

GUE = [f"gue-tf{i}" for i in range(5)] + [
    "gue-prom-core-all", "gue-prom-core-notata", "gue-prom-core-tata", "gue-prom-300-tata",
]  # fmt: skip


def test_catalog_lists_the_dna_sets_with_urls_and_checksums() -> None:
    names = {s.name for s in list_datasets() if s.modality == "dna"}
    assert set(GUE) | {"uci-promoters", "uci-splice", "gb-human-nontata-promoters"} <= names
    for name in GUE:
        files = get_dataset(name).files
        assert [Path(f.path).name for f in files] == ["train.csv", "dev.csv", "test.csv"]
        assert all(f.url.startswith("https://") and f.checksum.startswith("sha256:") for f in files)


def test_gue_tf0_loads_as_published() -> None:
    require_dataset("gue-tf0")
    data = load_dataset("gue-tf0")
    assert {k: len(v) for k, v in data.sequences.items()} == {
        "train": 32378, "val": 1000, "test": 1000,
    }  # fmt: skip
    assert data.task == "binary"
    assert data.class_names == ["0", "1"]
    assert {len(s) for s in data.sequences["test"]} == {101}


def test_uci_splice_keeps_statlog_test_split() -> None:
    require_dataset("uci-splice")
    data = load_dataset("uci-splice")
    assert data.task == "multi-class"
    assert data.class_names == ["ei", "ie", "n"]
    assert len(data.sequences["test"]) == 1186
    assert len(data.sequences["train"]) + len(data.sequences["val"]) == 2000


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("sequence,label\n" + "\n".join(rows) + "\n")
    return path


def test_own_folder_in_gue_layout(tmp_path: Path) -> None:
    for name in ("train", "dev", "test"):
        _write(tmp_path / f"{name}.csv", ["ACGT,a", "TTGA,b", "GGNA,a"])
    data = read_sequence_dir(tmp_path)
    assert data.class_names == ["a", "b"]
    np.testing.assert_array_equal(data.labels["val"], [0, 1, 0])


def test_own_csv_is_split_stratified_and_seeded(tmp_path: Path) -> None:
    rows = [f"{'ACGT' * 5},{i % 2}" for i in range(100)]
    path = _write(tmp_path / "mine.csv", rows)
    one, two = read_sequence_csv(path, seed=3), read_sequence_csv(path, seed=3)
    assert one.sequences == two.sequences
    assert sum(len(v) for v in one.sequences.values()) == 100
    assert one.labels["test"].mean() == pytest.approx(0.5)


def test_multi_label_columns(tmp_path: Path) -> None:
    path = tmp_path / "ml.csv"
    path.write_text("sequence,x,y\n" + "\n".join(f"ACGT,{i % 2},{i // 2 % 2}" for i in range(40)))
    data = read_sequence_csv(path, label_columns=["x", "y"])
    assert data.task == "multi-label"
    assert data.labels["train"].shape[1] == 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["ACGT,1", "AC-T,0"], r"bad\.csv: row 3, column 'sequence': .*got '-'"),
        (["ACGT,1", ",0"], r"row 3, column 'sequence': .*an empty cell"),
        (["ACGT,1", "ACGT,"], r"row 3, column 'label': expected a label; got an empty cell"),
    ],
)
def test_bad_csv_is_refused_naming_file_row_and_column(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    with pytest.raises(DataFormatError, match=message) as err:
        read_sequence_csv(_write(tmp_path / "bad.csv", rows))
    assert "\n" not in str(err.value)


def test_a_folder_missing_a_split_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", ["ACGT,1"])
    with pytest.raises(DataFormatError, match=r"dev\.csv: not found"):
        read_sequence_dir(tmp_path)


def test_a_test_label_unseen_in_training_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", ["ACGT,0", "ACGT,1"])
    _write(tmp_path / "dev.csv", ["ACGT,0", "ACGT,1"])
    _write(tmp_path / "test.csv", ["ACGT,0", "ACGT,2"])
    with pytest.raises(DataFormatError, match=r"test\.csv: row 3, column 'label'.*got '2'"):
        read_sequence_dir(tmp_path)
