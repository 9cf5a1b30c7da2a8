"""A user's folder of images (imaging/folder.py): class subfolders, a labels file, images with
masks; and a one-line error naming the folder, file, row or column for each kind of bad folder."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.folder import (
    is_segmentation_folder,
    load_image_folder,
    load_segmentation_folder,
)
from tests.conftest import require_path

HIPPOCAMPUS = "imaging/nifti/msd_task04_hippocampus"


@pytest.fixture(scope="module")
def breast():
    """BreastMNIST's first training images and labels (0 malignant, 1 normal/benign)."""
    path = require_path("imaging/medmnist/breastmnist.npz")
    with np.load(path) as npz:
        return npz["train_images"], npz["train_labels"].ravel()


def _save(array: np.ndarray, path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _class_folder(root, breast, per_class=20):
    x, y = breast
    for label, name in enumerate(("malignant", "benign")):
        for k, i in enumerate(np.flatnonzero(y == label)[:per_class]):
            _save(x[i], root / name / f"{k:03d}.png")
    return root


def test_class_subfolders_give_a_stratified_seeded_split(tmp_path, breast):
    root = _class_folder(tmp_path / "breast", breast)
    data = load_image_folder(root, size=28, seed=3)
    assert data.name == "breast"
    assert data.labels == ["benign", "malignant"]  # sorted, as torchvision's ImageFolder
    assert data.task == "binary-class"
    assert data.n_channels == 1
    assert data.spatial_dims == 2
    assert data.size == (28, 28)
    sizes = {split: np.bincount(y, minlength=2).tolist() for split, (_, y) in data.arrays.items()}
    assert sizes == {"train": [14, 14], "val": [2, 2], "test": [4, 4]}
    x_train = data.arrays["train"][0]
    assert x_train.shape == (28, 1, 28, 28)
    assert x_train.dtype == np.float32
    assert x_train.min() >= 0.0
    assert x_train.max() <= 1.0
    again = load_image_folder(root, size=28, seed=3)
    np.testing.assert_array_equal(again.arrays["test"][0], data.arrays["test"][0])
    other = load_image_folder(root, size=28, seed=4)
    assert not np.array_equal(other.arrays["test"][0], data.arrays["test"][0])
    assert data.checksum.startswith("sha256:")
    assert data.checksum == again.checksum
    # the image of a file is what the trained model will see at prediction time
    x, y = breast
    first_malignant = x[np.flatnonzero(y == 0)[0]] / 255.0
    assert any(np.allclose(img[0], first_malignant, atol=1e-6) for img in x_train)
    assert load_image_folder(root, size=16).arrays["val"][0].shape == (4, 1, 16, 16)


def test_labels_csv_with_split_column(tmp_path, breast):
    x, y = breast
    root = tmp_path / "flat"
    rows = ["file,label,split"]
    for k in range(12):
        _save(x[k], root / "img" / f"{k}.png")
        rows.append(
            f"img/{k}.png,{'normal' if y[k] else 'cancer'},{('train', 'val', 'test')[k % 3]}"
        )
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    data = load_image_folder(root, size=28)
    assert data.labels == ["cancer", "normal"]
    assert {s: len(v[1]) for s, v in data.arrays.items()} == {"train": 4, "val": 4, "test": 4}
    expected = [int(y[k] == 1) for k in range(0, 12, 3)]
    assert data.arrays["train"][1].tolist() == expected


def test_rgb_images_give_three_channels(tmp_path, breast):
    x, _ = breast
    for label in ("a", "b"):
        for k in range(10):
            _save(np.repeat(x[k][..., None], 3, axis=2), tmp_path / "rgb" / label / f"{k}.png")
    data = load_image_folder(tmp_path / "rgb", size=28)
    assert data.n_channels == 3
    assert data.arrays["train"][0].shape[1:] == (3, 28, 28)


def test_bad_folders_are_one_line_errors(tmp_path, breast):
    x, _ = breast
    with pytest.raises(DataFormatError, match="absent: no such folder"):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty: no class subfolders and no labels.csv"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "hollow" / "a").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="hollow: no images found"):
        load_image_folder(tmp_path / "hollow")
    one = _class_folder(tmp_path / "one", (x, np.zeros(len(x), dtype=int)), per_class=5)
    shutil.rmtree(one / "benign", ignore_errors=True)
    with pytest.raises(DataFormatError, match=r"one class only \('malignant', 5 images\)"):
        load_image_folder(one)
    bad = _class_folder(tmp_path / "bad", (x, np.arange(len(x)) % 2), per_class=5)
    (bad / "benign" / "notes.png").write_text("not an image")
    with pytest.raises(DataFormatError, match=r"benign/notes.png: "):
        load_image_folder(bad)
    mixed = _class_folder(tmp_path / "mixed", (x, np.arange(len(x)) % 2), per_class=5)
    _save(np.repeat(x[0][..., None], 3, axis=2), mixed / "benign" / "rgb.png")
    with pytest.raises(DataFormatError, match=r"mixed images: .* 1 channel\(s\) but .*rgb.png is "
                       r"2D with 3 channel\(s\)"):  # fmt: skip
        load_image_folder(mixed)
    small = _class_folder(tmp_path / "small", (x, np.arange(len(x)) % 2), per_class=2)
    with pytest.raises(ConfigError, match="Cannot split 4 samples"):
        load_image_folder(small)


def test_bad_labels_csv_names_row_and_column(tmp_path, breast):
    x, _ = breast
    root = tmp_path / "csv"
    for k in range(4):
        _save(x[k], root / f"{k}.png")
    table = root / "labels.csv"
    table.write_text("file,label\n0.png,a\n1.png,b\n7.png,a\n")
    with pytest.raises(
        DataFormatError, match=r"labels.csv: row 3, column 'file': no such file '7.png'"
    ):
        load_image_folder(root)
    table.write_text("file,label,split\n0.png,a,train\n1.png,b,validation\n")
    with pytest.raises(
        DataFormatError, match=r"row 2, column 'split': expected one of .* got 'validation'"
    ):
        load_image_folder(root)
    table.write_text("file,label\n0.png,a\n1.png,\n")
    with pytest.raises(DataFormatError, match=r"row 2, column 'label': empty"):
        load_image_folder(root)
    table.write_text("path,label\n0.png,a\n")
    with pytest.raises(DataFormatError, match=r"expected one column 'file' in the header"):
        load_image_folder(root)
    table.write_text("file,label,split\n0.png,a,train\n1.png,b,train\n2.png,a,test\n3.png,b,test\n")
    with pytest.raises(DataFormatError, match=r"column 'split' gives no \['val'\] images"):
        load_image_folder(root)


@pytest.fixture
def hippocampus_folder(tmp_path):
    """Six hippocampus cases copied into the Decathlon layout, with its dataset.json."""
    source = require_path(HIPPOCAMPUS)
    root = tmp_path / "hippo"
    names = sorted(p.name for p in (source / "imagesTr").iterdir())[:6]
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(source / sub / name, root / sub / name)
    shutil.copy(source / "dataset.json", root / "dataset.json")
    return root, names


def test_segmentation_folder_pairs_images_with_masks(hippocampus_folder):
    root, names = hippocampus_folder
    assert is_segmentation_folder(root)
    data = load_segmentation_folder(root, seed=0, test_fraction=0.34)
    assert data.labels == {0: "background", 1: "Anterior", 2: "Posterior"}
    assert data.modality == "mri"
    assert [image.name for image, _ in data.cases] == names
    assert all(
        image.name == mask.name and mask.parent.name == "labelsTr" for image, mask in data.cases
    )
    assert len(data.split("train")) == 3
    assert len(data.split("test")) == 3
    (root / "dataset.json").unlink()
    unnamed = load_segmentation_folder(root)
    assert unnamed.labels == {0: "background", 1: "label_1", 2: "label_2"}  # from the masks


def test_bad_segmentation_folders(hippocampus_folder, tmp_path):
    import nibabel as nib

    root, names = hippocampus_folder
    (root / "labelsTr" / names[2]).unlink()
    with pytest.raises(
        DataFormatError, match=rf"imagesTr/{names[2]}: no mask .*labelsTr/{names[2]}"
    ):
        load_segmentation_folder(root)
    (root / "imagesTr" / names[2]).unlink()
    (root / "imagesTr" / names[3]).unlink()
    with pytest.raises(DataFormatError, match=rf"labelsTr/{names[3]}: a mask without its image"):
        load_segmentation_folder(root)
    (root / "labelsTr" / names[3]).unlink()
    (root / "dataset.json").unlink()
    mask = root / "labelsTr" / names[0]
    image = nib.load(mask)
    scaled = np.asarray(image.dataobj) * 100  # values 0, 100, 200: not labels 0, 1, 2
    nib.save(nib.Nifti1Image(scaled.astype(np.uint8), image.affine), mask)
    with pytest.raises(DataFormatError, match=r"hold the values \[0, 1, 2, 100, 200\]; expected"):
        load_segmentation_folder(root)
    (tmp_path / "plain").mkdir()
    assert not is_segmentation_folder(tmp_path / "plain")
    with pytest.raises(DataFormatError, match="expected subfolders images/ and labels/"):
        load_segmentation_folder(tmp_path / "plain")
