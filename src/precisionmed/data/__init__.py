"""The data layer: a checksummed dataset catalog with cache and mirror, and splits."""

from precisionmed.data.catalog import (
    DataFile,
    DatasetSpec,
    get_dataset,
    iter_files,
    list_datasets,
    load_dataset,
    register_dataset,
)
from precisionmed.data.fetch import fetch_file, verify_file, verify_local
from precisionmed.data.splits import kfold_indices, train_val_test_indices

__all__ = [
    "DataFile",
    "DatasetSpec",
    "fetch_file",
    "get_dataset",
    "iter_files",
    "kfold_indices",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "train_val_test_indices",
    "verify_file",
    "verify_local",
]
