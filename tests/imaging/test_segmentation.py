"""The hippocampus dataset, segmentation training through the engine, and segment_file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.train import TrainConfig
from tests.conftest import require_dataset, require_path

DATASET = "msd-hippocampus"


@pytest.fixture(scope="module")
def hippocampus():
    from precisionmed.data import load_dataset

    require_dataset(DATASET)
    return load_dataset(DATASET)


def test_dataset_registration_and_fixed_split(hippocampus) -> None:
    from precisionmed.data import get_dataset, load_dataset

    spec = get_dataset(DATASET)
    assert (spec.modality, spec.task) == ("mri", "segmentation")
    assert len(spec.files) == 521  # dataset.json + 260 images + 260 labels
    assert all(f.url.startswith("https://raw.githubusercontent.com/") for f in spec.files)
    assert "medicaldecathlon.com" in spec.metadata["canonical_source"]
    assert len(hippocampus.cases) == 260
    assert (len(hippocampus.train_indices), len(hippocampus.test_indices)) == (208, 52)
    assert not set(hippocampus.train_indices) & set(hippocampus.test_indices)
    assert hippocampus.labels == {0: "background", 1: "Anterior", 2: "Posterior"}
    image, label = hippocampus.cases[0]
    assert image.name == label.name == "hippocampus_001.nii.gz"
    assert image.parent.name == "imagesTr"
    assert label.parent.name == "labelsTr"
    again = load_dataset(DATASET)
    np.testing.assert_array_equal(again.test_indices, hippocampus.test_indices)
    other = load_dataset(DATASET, seed=1)
    assert not np.array_equal(other.test_indices, hippocampus.test_indices)


def test_training_items_have_the_patch_shape_and_labels(hippocampus) -> None:
    from precisionmed.imaging.volumes import SegmentationDataset

    pairs = hippocampus.split("train")[:3]
    for train in (True, False):
        ds = SegmentationDataset(pairs, (40, 56, 40), "SAR", train=train, seed=0)
        image, label = ds[0]
        assert image.shape == label.shape == (1, 40, 56, 40)
        assert image.dtype == torch.float32
        assert label.dtype == torch.int64
        assert set(label.unique().tolist()) <= {0, 1, 2}
        assert set(label.unique().tolist()) >= {1, 2}
    # Evaluation items are z-scored volumes: mean ~0 and std ~1 inside the original crop.
    image, _ = SegmentationDataset(pairs[:1], (48, 64, 48), "SAR", train=False)[0]
    assert float(image[image != 0].std()) == pytest.approx(1.0, abs=0.15)


def test_reorient_round_trip() -> None:
    from precisionmed.imaging.volumes import axcodes, reorient, undo_reorient

    rng = np.random.default_rng(0)
    array = rng.integers(0, 3, size=(4, 5, 6))
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])  # axes point Left, Anterior, Superior
    assert axcodes(affine) == "LAS"
    moved = reorient(array, affine, "SAR")
    assert moved.shape == (6, 5, 4)
    # (s, a, r) in the SAR array is (l = 3 - r, a, s) in the LAS one.
    assert moved[5, 1, 0] == array[3, 1, 5]
    assert moved[2, 4, 3] == array[0, 4, 2]
    np.testing.assert_array_equal(undo_reorient(moved, affine, "SAR"), array)


def test_dice_metrics_known_answer() -> None:
    from precisionmed.imaging.segmentation import make_metrics_fn

    target = torch.zeros(1, 1, 4, 4, 4, dtype=torch.long)
    target[0, 0, :2] = 1
    target[0, 0, 2:] = 2
    logits = torch.nn.functional.one_hot(target[:, 0], 3).permute(0, 4, 1, 2, 3).float()
    metrics = make_metrics_fn({0: "background", 1: "Anterior", 2: "Posterior"})(logits, target)
    assert metrics == pytest.approx({"dice": 1.0, "dice_anterior": 1.0, "dice_posterior": 1.0})
    # Predict label 1 everywhere: Dice(1) = 2*32/(64+32) = 2/3, Dice(2) = 0.
    wrong = torch.zeros_like(logits)
    wrong[:, 1] = 1.0
    metrics = make_metrics_fn({0: "bg", 1: "a", 2: "b"})(wrong, target)
    assert metrics["dice_a"] == pytest.approx(2 / 3)
    assert metrics["dice_b"] == pytest.approx(0.0)
    assert metrics["dice"] == pytest.approx(1 / 3)


def test_bad_model_or_patch_is_a_config_error() -> None:
    from precisionmed.imaging.segmentation import build_segmentation_net, train_segmenter

    with pytest.raises(
        ConfigError, match=r"Unknown segmentation network 'vnet'\..* Known: unet, unet-small\."
    ):
        build_segmentation_net("vnet", n_labels=3)
    with pytest.raises(ConfigError, match="segmentation"):
        train_segmenter("pneumoniamnist", "unet", TrainConfig(), Path("unused"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, hippocampus) -> Path:
    from precisionmed.imaging.segmentation import train_segmenter

    config = TrainConfig(
        max_epochs=1, batch_size=2, progress=False, seed=0, monitor="val_dice", mode="max"
    )
    out = tmp_path_factory.mktemp("segmenter")
    return train_segmenter(
        DATASET,
        "unet-small",
        config,
        out,
        max_train_cases=6,
        max_test_cases=2,
        n_boot=50,
        val_fraction=0.34,
    )


def test_train_segmenter_writes_a_loadable_artifact(tiny_model: Path) -> None:
    import precisionmed
    from precisionmed.imaging.segmenter import ImageSegmenter

    config = json.loads((tiny_model / "config.json").read_text())
    assert (config["kind"], config["pillar"]) == ("image-segmenter", "imaging")
    assert config["labels"] == {"0": "background", "1": "Anterior", "2": "Posterior"}
    assert config["preprocessing"]["patch_size"] == [40, 56, 40]
    assert config["preprocessing"]["spacing"] == [1.0, 1.0, 1.0]
    assert config["architecture"]["name"] == "unet-small"
    assert config["data"]["split"]["train"] + config["data"]["split"]["val"] == 6
    assert config["inference"]["method"] == "monai.inferers.sliding_window_inference"
    files = json.loads((tiny_model / "manifest.json").read_text())["files"]
    for name in ("model.safetensors", "training_curve.png", "test_cases.json", "test_dice.png"):
        assert name in files
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    test = metrics["test"]
    assert test["n_cases"] == 2
    for key in ("mean_dice", "dice_anterior", "dice_posterior"):
        assert 0.0 <= test[key]["low"] <= test[key]["value"] <= test[key]["high"] <= 1.0
    assert "val_dice" in metrics["val"]
    predictor = precisionmed.load(tiny_model)
    assert isinstance(predictor, ImageSegmenter)


def test_segment_file_writes_mask_and_measures_structures(tiny_model: Path, tmp_path) -> None:
    from precisionmed.imaging.segmenter import segment_file
    from precisionmed.io.nifti import read_nifti

    source = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_003.nii.gz")
    out = tmp_path / "mask.nii.gz"
    result = segment_file(tiny_model, source, out, as_json=True)
    json.dumps(result)  # plain JSON types only
    assert result["mask"] == str(out)
    assert out.is_file()
    assert result["dicom_seg"] is None
    assert result["labels"] == {"0": "background", "1": "Anterior", "2": "Posterior"}
    image = read_nifti(source)
    mask = read_nifti(out, canonical=False, labels=True)
    assert mask.array.shape == image.array.shape == tuple(result["shape"])
    np.testing.assert_allclose(mask.affine, image.affine)
    for lesion in result["lesions"]:
        assert set(lesion) >= {"label_name", "voxels", "volume_mm3", "bbox_voxel", "bbox_world_mm"}
        assert lesion["volume_mm3"] == pytest.approx(lesion["voxels"] * 1.0)  # 1 mm voxels
    for value, name in ((1, "Anterior"), (2, "Posterior")):
        assert result["volume_mm3"][name] == pytest.approx(float((mask.array == value).sum()))


def test_segment_file_rejects_a_2d_png(tiny_model: Path, tmp_path) -> None:
    from PIL import Image as PILImage

    from precisionmed.imaging.segmenter import segment_file

    png = tmp_path / "slice.png"
    PILImage.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(png)
    with pytest.raises(DataFormatError, match=r"slice\.png.*3D volume") as info:
        segment_file(tiny_model, png, tmp_path / "mask.nii.gz")
    assert "\n" not in str(info.value)


def test_segment_file_refuses_dicom_seg_output_for_nifti_input(tiny_model: Path, tmp_path) -> None:
    from precisionmed.imaging.segmenter import segment_file

    source = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_003.nii.gz")
    with pytest.raises(ConfigError, match="DICOM series folder"):
        segment_file(tiny_model, source, tmp_path / "mask.dcm")
    with pytest.raises(ConfigError, match=r"\.nii\.gz"):
        segment_file(tiny_model, source, tmp_path / "mask.png")


@pytest.mark.slow  # about 30 s: sliding windows over a 20 x 256 x 256 series, then highdicom
def test_segment_file_on_a_dicom_series_writes_dicom_seg(tiny_model: Path, tmp_path) -> None:
    from precisionmed.imaging.segmenter import segment_file
    from precisionmed.io.dicom_seg import read_dicom_seg

    series = require_path("imaging/dicom/mr_series_prostate_adc")
    result = segment_file(tiny_model, series, tmp_path / "prostate.dcm")
    assert result["shape"] == [20, 256, 256]
    seg_path = Path(result["dicom_seg"])
    assert seg_path == tmp_path / "prostate.dcm"
    assert seg_path.is_file()
    assert result["mask"] == tmp_path / "prostate.nii.gz"
    seg = read_dicom_seg(seg_path, series)
    mask = np.asarray(read_nifti_mask(tmp_path / "prostate.nii.gz"))
    np.testing.assert_array_equal(seg.array, mask)


def read_nifti_mask(path: Path) -> np.ndarray:
    from precisionmed.io.nifti import read_nifti

    return read_nifti(path, canonical=False, labels=True).array


def test_predict_records_summarise_the_segmentation_as_json(tiny_model: Path, tmp_path) -> None:
    import precisionmed
    from precisionmed.imaging.segmenter import segment_file
    from precisionmed.predict import ImageInputSpec

    source = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_003.nii.gz")
    segmenter = precisionmed.load(tiny_model)
    spec = segmenter.input_spec
    assert isinstance(spec, ImageInputSpec)
    assert (spec.modality, spec.dicom_modalities, spec.spatial_dims) == ("mri", ("MR",), 3)
    assert spec.spacing_mm == (1.0, 1.0, 1.0)
    (record,) = segmenter.predict(source)
    data = json.loads(json.dumps(record.to_dict(), allow_nan=False))
    assert data["kind"] == "image-segmenter"
    assert data["model"] == "unet-small on msd-hippocampus"
    assert len(data["model_version"]) == 64
    result = segment_file(tiny_model, source, tmp_path / "mask.nii.gz", as_json=True)
    for name in ("Anterior", "Posterior"):
        assert data["values"][f"volume_mm3_{name}"] == pytest.approx(result["volume_mm3"][name])
    assert data["details"]["lesions"] == result["lesions"]
    assert data["warnings"] == result["warnings"] == []


def test_nan_voxels_are_replaced_with_a_warning_and_an_all_nan_volume_is_refused(
    tiny_model: Path, tmp_path
) -> None:
    """An all-NaN volume gave 52 'lesions' (NaN silently became 0); now it is refused."""
    import nibabel as nib

    import precisionmed

    source = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_003.nii.gz")
    nii = nib.load(source)
    data = np.asarray(nii.dataobj, dtype=np.float32)
    holes = data.copy()
    holes[:2] = np.nan
    nib.save(nib.Nifti1Image(holes, nii.affine), tmp_path / "holes.nii.gz")
    nib.save(nib.Nifti1Image(np.full_like(data, np.nan), nii.affine), tmp_path / "nan.nii.gz")
    segmenter = precisionmed.load(tiny_model)
    (record,) = segmenter.predict(tmp_path / "holes.nii.gz")
    n_nan = int(np.isnan(holes).sum())
    assert any(f"{n_nan} of {holes.size} values" in w for w in record.warnings)
    with pytest.raises(DataFormatError, match=r"nan\.nii\.gz: expected an image with finite"):
        segmenter.predict(tmp_path / "nan.nii.gz")


def test_a_ct_volume_or_another_voxel_size_carries_a_warning(tiny_model: Path) -> None:
    """A hippocampus MR labelled as CT with 3 mm slices (running a real 512 px CT series through
    the sliding window takes half a minute): both differences are reported."""
    import dataclasses

    import precisionmed
    from precisionmed.imaging.volumes import read_volume

    source = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_003.nii.gz")
    image = read_volume(source)
    segmenter = precisionmed.load(tiny_model)
    assert segmenter.mask_and_warnings(image)[1] == []
    ct = dataclasses.replace(image, modality="CT", spacing=(3.0, 1.0, 1.0))
    _, warnings = segmenter.mask_and_warnings(ct)
    assert any("DICOM modality is CT" in w and "mri" in w for w in warnings)
    assert any("voxel size (3, 1, 1 mm) differs" in w for w in warnings)
