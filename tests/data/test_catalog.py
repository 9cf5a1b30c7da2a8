"""The catalog: declarations are validated, names resolve (or fail with close matches), loaders
get verified files."""

from __future__ import annotations

import re

import numpy as np
import pytest

from precisionmed.data import (
    DataFile,
    DatasetSpec,
    get_dataset,
    iter_files,
    list_datasets,
    load_dataset,
    register_dataset,
)
from precisionmed.errors import ConfigError, DatasetNotFoundError
from tests.conftest import require_dataset

MD5 = "md5:750601b1f35ba3300ea97c75c52ff8f6"
URL = "https://zenodo.org/records/10519652/files/breastmnist.npz?download=1"


@pytest.mark.parametrize(
    "checksum",
    ["750601b1f35ba3300ea97c75c52ff8f6", "sha1:" + "0" * 40, "md5:abc", "sha256:" + "z" * 64],
)
def test_datafile_refuses_malformed_checksums(checksum: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"Got {checksum!r} instead")):
        DataFile("imaging/x.npz", URL, checksum)


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.npz", "a/../../b.npz", "a\\b.npz", ""])
def test_datafile_paths_stay_inside_the_cache(path: str) -> None:
    with pytest.raises(ConfigError, match="must be relative"):
        DataFile(path, URL, MD5)


def test_datafile_needs_an_http_url() -> None:
    with pytest.raises(ConfigError, match="url must be an http"):
        DataFile("imaging/x.npz", "ftp://example.org/x.npz", MD5)


def test_datafile_parts() -> None:
    f = DataFile("imaging/x.npz", URL, "md5:750601B1F35BA3300EA97C75C52FF8F6")
    assert f.algorithm == "md5"
    assert f.digest == "750601b1f35ba3300ea97c75c52ff8f6"


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("breastmnst")
    message = str(info.value)
    assert message.startswith("Unknown dataset 'breastmnst'. Did you mean: ")
    assert "breastmnist" in message.split("Did you mean: ")[1]
    assert "precisionmed data list" in message
    assert isinstance(info.value, KeyError)


def test_names_are_case_insensitive() -> None:
    assert get_dataset("BreastMNIST") is get_dataset("breastmnist")


def test_every_registration_declares_what_the_issue_asks() -> None:
    specs = list_datasets()
    assert [s.name for s in specs] == sorted(s.name for s in specs)
    for spec in specs:
        assert spec.name == spec.name.lower(), spec.name
        assert spec.modality, spec.name
        assert spec.task, spec.name
        assert spec.license, spec.name
        assert spec.citation, spec.name
        assert callable(spec.loader), spec.name
        assert len({f.path for f in spec.files}) == len(spec.files), spec.name


def test_modality_filter_and_iter_files() -> None:
    us = list_datasets("ultrasound")
    assert "breastmnist" in {s.name for s in us}
    assert {s.modality for s in us} == {"ultrasound"}
    pairs = list(iter_files(["breastmnist"]))
    assert [(s.name, f.path) for s, f in pairs] == [
        ("breastmnist", "imaging/medmnist/breastmnist.npz")
    ]


def test_a_name_registers_once() -> None:
    spec = get_dataset("breastmnist")
    assert register_dataset(spec) is spec  # the same object again is harmless
    clash = DatasetSpec(
        name="BreastMNIST",
        modality="ultrasound",
        task="binary-class",
        files=(),
        license="CC BY 4.0",
        citation="-",
        loader=lambda paths: None,
    )
    with pytest.raises(ConfigError, match="already registered"):
        register_dataset(clash)


def test_load_dataset_gives_the_published_splits() -> None:
    require_dataset("breastmnist")
    data = load_dataset("breastmnist")
    sizes = {split: len(data.targets(split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 546, "val": 78, "test": 156}  # MedMNIST v2, Table 2
    assert set(np.unique(data.targets("train"))) == {0, 1}
    assert get_dataset("breastmnist").total_size is None  # sizes not declared for MedMNIST
