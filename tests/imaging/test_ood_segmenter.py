"""The out-of-distribution guard of the 3D segmenter: a small hippocampus U-Net flags a prostate
MR series (the same modality, so only its bottleneck features can tell) and records its
reference in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from precisionmed.train import TrainConfig
from tests.conftest import require_dataset, require_path

PROSTATE = "imaging/dicom/mr_series_prostate_adc"


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from precisionmed.imaging.segmentation import train_segmenter

    require_dataset("msd-hippocampus")
    config = TrainConfig(
        max_epochs=1, batch_size=2, progress=False, seed=0, monitor="val_dice", mode="max"
    )
    return train_segmenter(
        "msd-hippocampus",
        "unet-small",
        config,
        tmp_path_factory.mktemp("segmenter") / "model",
        max_train_cases=8,
        max_test_cases=1,
        n_boot=10,
        val_fraction=0.5,
    )


def test_a_prostate_series_is_flagged_by_the_hippocampus_segmenter(
    segmenter: Path, tmp_path: Path
) -> None:
    from precisionmed import load
    from precisionmed.imaging.ood import REFERENCE_FILE
    from precisionmed.imaging.segmenter import segment_file

    assert REFERENCE_FILE in json.loads((segmenter / "manifest.json").read_text())["files"]
    guard = json.loads((segmenter / "config.json").read_text())["ood_guard"]
    assert (guard["n_train"], guard["n_val"]) == (4, 4)
    prostate = require_path(PROSTATE)
    hippocampus = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr")
    case = sorted(hippocampus.glob("*.nii.gz"))[-1]
    seg = load(segmenter)
    mr, own = seg.predict([prostate, case])
    assert mr.in_distribution is False
    assert mr.details["ood"]["metadata_mismatch"] == []  # MR both: the features decide
    assert any("looks unlike the training volumes" in w for w in mr.warnings)
    assert own.ood_score < mr.ood_score
    assert isinstance(own.in_distribution, bool)
    result = segment_file(segmenter, case, tmp_path / "mask.nii.gz", as_json=True)
    assert result["in_distribution"] is own.in_distribution
    assert result["ood_score"] == pytest.approx(own.ood_score)
