"""BreastMNIST (28 px, 546/78/156 images) as tensor datasets for the engine tests."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def breast() -> dict[str, TensorDataset]:
    require_dataset("breastmnist")
    from precisionmed.data import load_dataset

    data = load_dataset("breastmnist")
    return {
        split: TensorDataset(
            torch.from_numpy(data.images(split)), torch.from_numpy(data.targets(split))
        )
        for split in ("train", "val", "test")
    }
