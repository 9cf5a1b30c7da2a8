"""Known answers for connected components, bounding boxes, centroids and volumes."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.imaging.lesions import find_lesions, spacing_from_affine
from tests.conftest import require_path

SPACING = (2.0, 0.5, 1.5)
ORIGIN = (10.0, -20.0, 5.0)


def _affine(spacing=SPACING, origin=ORIGIN) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


def test_box_of_known_size_and_spacing() -> None:
    mask = np.zeros((20, 30, 40), dtype=np.uint8)
    mask[2:6, 5:15, 10:30] = 1  # 4 x 10 x 20 voxels
    (lesion,) = find_lesions(mask, affine=_affine(), label_names={1: "tumour"})
    assert lesion.label == 1
    assert lesion.label_name == "tumour"
    assert lesion.voxels == 800
    assert lesion.volume_mm3 == pytest.approx(800 * 2.0 * 0.5 * 1.5)  # 1200 mm^3
    assert lesion.bbox_voxel == ((2, 5, 10), (6, 15, 30))
    assert lesion.extent_mm == pytest.approx((8.0, 5.0, 30.0))
    assert lesion.centroid_voxel == pytest.approx((3.5, 9.5, 19.5))
    # World = origin + index * spacing, at the centres of the first and last voxels.
    low, high = lesion.bbox_world_mm
    assert low == pytest.approx((14.0, -17.5, 20.0))
    assert high == pytest.approx((20.0, -13.0, 48.5))
    assert lesion.centroid_world_mm == pytest.approx((17.0, -15.25, 34.25))


def test_spacing_is_read_from_the_affine_when_not_given() -> None:
    mask = np.zeros((5, 5, 5), dtype=int)
    mask[1:3, 1:3, 1:3] = 2
    (lesion,) = find_lesions(mask, affine=_affine())
    assert spacing_from_affine(_affine()) == pytest.approx(SPACING)
    assert lesion.volume_mm3 == pytest.approx(8 * 1.5)
    assert lesion.label_name == "2"


def test_flipped_axes_give_ordered_world_box() -> None:
    # An LPS-like flip of the first two axes: world min/max must still be ordered.
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    mask = np.zeros((10, 10, 10), dtype=int)
    mask[2:5, 3:7, 4:6] = 1
    (lesion,) = find_lesions(mask, affine=affine)
    low, high = lesion.bbox_world_mm
    assert low == pytest.approx((-4.0, -6.0, 4.0))
    assert high == pytest.approx((-2.0, -3.0, 5.0))


def test_components_per_label_largest_first() -> None:
    mask = np.zeros((10, 20, 20), dtype=np.int16)
    mask[1:3, 1:3, 1:3] = 1  # 8 voxels
    mask[5:9, 10:14, 10:14] = 1  # 64 voxels
    mask[1:2, 15:18, 15:16] = 2  # 3 voxels
    lesions = find_lesions(mask, spacing=(1.0, 1.0, 1.0), label_names={1: "a", 2: "b"})
    assert [(x.label_name, x.index, x.voxels) for x in lesions] == [
        ("a", 1, 64),
        ("a", 2, 8),
        ("b", 1, 3),
    ]
    assert all(x.bbox_world_mm is None for x in lesions)  # no affine, no world coordinates
    assert [x.voxels for x in find_lesions(mask, min_voxels=5)] == [64, 8]
    assert [(x.label, x.voxels) for x in find_lesions(mask, max_per_label=1)] == [(1, 64), (2, 3)]


def test_connectivity_faces_versus_corners() -> None:
    mask = np.zeros((4, 4, 4), dtype=int)
    mask[1, 1, 1] = 1
    mask[2, 2, 2] = 1  # touches only at a corner
    assert len(find_lesions(mask, connectivity=1)) == 2
    assert len(find_lesions(mask, connectivity=3)) == 1


def test_2d_mask_with_spacing() -> None:
    mask = np.zeros((8, 8), dtype=int)
    mask[2:4, 1:6] = 1
    (lesion,) = find_lesions(mask, spacing=(0.7, 0.7))
    assert lesion.volume_mm3 == pytest.approx(10 * 0.49)  # an area in mm^2 for 2D
    assert lesion.to_dict()["bbox_voxel"] == ((2, 1), (4, 6))


@pytest.mark.parametrize(
    ("mask", "kwargs", "message"),
    [
        (np.zeros((2, 2, 2, 2), dtype=int), {}, "2D .* or 3D"),
        (np.full((3, 3, 3), 0.5), {}, "integer labels"),
        (np.zeros((3, 3, 3), dtype=int), {"spacing": (1.0, 1.0)}, "3 positive values"),
        (np.zeros((3, 3, 3), dtype=int), {"connectivity": 4}, "connectivity"),
    ],
)
def test_bad_input_is_a_one_line_error(mask, kwargs, message) -> None:
    with pytest.raises(DataFormatError, match=message):
        find_lesions(mask, **kwargs)


def test_real_hippocampus_label_volumes_equal_voxel_count_times_voxel_volume() -> None:
    import nibabel as nib

    from precisionmed.io.nifti import read_nifti

    path = require_path("imaging/nifti/msd_task04_hippocampus/labelsTr/hippocampus_001.nii.gz")
    label = read_nifti(path, labels=True)
    lesions = find_lesions(label.array, spacing=label.spacing, affine=label.affine)
    # Independent count straight from nibabel's (x, y, z) data and header zooms.
    raw = nib.load(path)
    data = np.asarray(raw.dataobj)
    voxel_mm3 = float(np.prod(raw.header.get_zooms()[:3]))
    for value in (1, 2):
        found = [x for x in lesions if x.label == value]
        assert found, f"label {value} not found"
        assert sum(x.voxels for x in found) == int((data == value).sum())
        assert sum(x.volume_mm3 for x in found) == pytest.approx((data == value).sum() * voxel_mm3)
    # The largest anterior component lies inside the image's world bounding box.
    corners = np.array([[0, 0, 0, 1], [*np.array(label.array.shape) - 1, 1]]) @ label.affine.T
    low, high = corners[:, :3].min(axis=0), corners[:, :3].max(axis=0)
    box = next(x for x in lesions if x.label == 1).bbox_world_mm
    assert np.all(np.array(box[0]) >= low - 1e-6)
    assert np.all(np.array(box[1]) <= high + 1e-6)
