"""Readers and writers of clinical file formats.

Every image reader returns an :class:`Image`: a float32 array (``(H, W)``, ``(H, W, 3)`` or
``(D, H, W)``), its spacing in mm and an index -> RAS+ affine. Heavy libraries (pydicom,
nibabel, highdicom, Pillow; the ``imaging`` extra) are imported when a reader is called.
"""

from precisionmed.io.dicom import read_dicom
from precisionmed.io.dicom_seg import read_dicom_seg, write_dicom_seg
from precisionmed.io.dicom_series import DicomSeries, find_dicom_series, read_dicom_series
from precisionmed.io.image import Image, check_spatial_dims, orientation_code
from precisionmed.io.images import read_image, read_npz
from precisionmed.io.medical import describe_image, detect_format, read_medical_image
from precisionmed.io.nifti import read_nifti, write_nifti_mask

__all__ = [
    "DicomSeries",
    "Image",
    "check_spatial_dims",
    "describe_image",
    "detect_format",
    "find_dicom_series",
    "orientation_code",
    "read_dicom",
    "read_dicom_series",
    "read_dicom_seg",
    "read_image",
    "read_medical_image",
    "read_nifti",
    "read_npz",
    "write_dicom_seg",
    "write_nifti_mask",
]
