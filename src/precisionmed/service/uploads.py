"""Checking an upload before anything reads it: size, type by content, bombs, truncation.

The type is sniffed from the bytes (the client's file name and content type are not trusted):
DICOM (``DICM`` at byte 128), PNG (its signature), NIfTI-1/2 (``n+1``/``n+2`` magic, optionally
gzipped), a JSON object (a patient record) or, where the route takes one, a VCF (plain or
gzipped/bgzipped: stored inflated). Compressed inputs are inflated with a cap
(:attr:`ServiceSettings.max_decoded_bytes`) so that a zip bomb is refused without being
expanded, and images are decoded once so that a truncated file is refused before it is stored.

:class:`UploadStore` keeps the accepted (de-identified) files: each is written once under a
random name and fsynced before the case row that names it is committed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import threading
import uuid
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precisionmed.errors import DataFormatError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
VCF_MAGIC = b"##fileformat=VCF"


class UploadRejected(DataFormatError):
    """An upload refused before use; ``status_code`` is the HTTP status it maps to.

    413: too large (as sent, or once inflated); 415: not a supported type; 422: unreadable.
    """

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the checks.

    Attributes
    ----------
    kind : {"image", "record", "vcf"}
    format : {"dicom", "png", "nifti", "json", "vcf"}
    data : bytes
        The file (NIfTI: as sent, possibly gzipped; VCF: inflated).
    record : dict or None
        The parsed patient record (JSON uploads).
    suffix : str
        File name suffix to store it under (``.dcm``, ``.png``, ``.nii``, ``.nii.gz``).
    spatial_dims : int or None
        Images: 2 (a PNG, a one-frame DICOM, a NIfTI of one slice) or 3 (a multi-frame DICOM, a
        NIfTI volume), so that only the models of that dimensionality are run; None when the
        header does not say.
    """

    kind: str
    format: str
    data: bytes
    record: dict[str, Any] | None = None
    suffix: str = ""
    spatial_dims: int | None = None


def check_upload(
    data: bytes, *, max_bytes: int, max_decoded_bytes: int, accept_vcf: bool = False
) -> CheckedUpload:
    """Sniff and check one uploaded file.

    Parameters
    ----------
    data : bytes
        The whole upload.
    max_bytes : int
        Largest accepted upload.
    max_decoded_bytes : int
        Largest accepted inflated or decoded size.
    accept_vcf : bool
        Take a VCF (kind ``"vcf"``); otherwise one is refused with 415.

    Raises
    ------
    UploadRejected
        Empty, too large, of an unsupported type, a bomb, truncated or otherwise unreadable.
    """
    if not data:
        raise UploadRejected("upload: the file is empty; expected a DICOM, NIfTI, PNG or JSON file")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    if len(data) >= 132 and data[128:132] == b"DICM":
        _check_dicom_transfer_syntax(data)
        return CheckedUpload("image", "dicom", data, suffix=".dcm", spatial_dims=_dicom_dims(data))
    if data.startswith(PNG_SIGNATURE):
        _check_png(data, max_decoded_bytes)
        return CheckedUpload("image", "png", data, suffix=".png", spatial_dims=2)
    if data.startswith(GZIP_MAGIC):
        raw = _gunzip_capped(data, max_decoded_bytes)
        if raw.startswith(VCF_MAGIC):
            return _checked_vcf(raw, accept_vcf)
        if not _is_nifti(raw):
            raise UploadRejected(
                "upload: a gzip file that is not a NIfTI image (.nii.gz); expected a DICOM, "
                "NIfTI, PNG or JSON file",
                415,
            )
        dims = _check_nifti(raw)
        return CheckedUpload("image", "nifti", data, suffix=".nii.gz", spatial_dims=dims)
    if _is_nifti(data):
        dims = _check_nifti(data)
        return CheckedUpload("image", "nifti", data, suffix=".nii", spatial_dims=dims)
    if data.startswith(VCF_MAGIC):
        return _checked_vcf(data, accept_vcf)
    if data.lstrip()[:1] in (b"{", b"["):  # JSON: an object is checked for below
        return CheckedUpload("record", "json", data, record=_parse_record(data), suffix=".json")
    what = "a zip archive" if data.startswith(ZIP_MAGIC) else f"bytes starting {data[:8]!r}"
    raise UploadRejected(
        f"upload: unsupported file type ({what}); expected one DICOM, NIfTI (.nii/.nii.gz), "
        "PNG image or a JSON patient record",
        415,
    )


def check_dicom_pixels(ds: Any, max_decoded_bytes: int) -> None:
    """Refuse a DICOM dataset whose pixels would decode too large, are missing or truncated."""
    if "PixelData" not in ds:
        raise UploadRejected("upload: the DICOM file has no pixel data (0x7FE0,0x0010)")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 8) or 8)
    decoded = rows * cols * frames * samples * max(bits // 8, 1)
    if decoded > max_decoded_bytes:
        raise _too_large(decoded, max_decoded_bytes, decoded=True)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for bad pixel data
        raise UploadRejected(
            f"upload: the DICOM pixel data cannot be decoded ({type(exc).__name__}: {exc}); "
            "the file may be truncated"
        ) from exc
    if pixels.size == 0:
        raise UploadRejected("upload: the DICOM image has no pixels (Rows or Columns is 0)")


#: Deflated Explicit VR Little Endian: the whole dataset is zlib-compressed.
DEFLATED_DICOM = "1.2.840.10008.1.2.1.99"


def _check_dicom_transfer_syntax(data: bytes) -> None:
    """Refuse deflated DICOM: pydicom inflates the whole dataset on reading, with no size cap,
    so a deflate bomb would be expanded before any check could run.

    The transfer syntax is read from the file meta group by hand (PS3.10 7.1: group 0002 is
    always explicit VR little endian) because pydicom's ``read_file_meta_info`` takes only a
    path and ``dcmread`` would inflate the dataset.
    """
    import struct

    end = len(data)
    if data[132:138] == b"\x02\x00\x00\x00UL":  # (0002,0000) group length: bound the search
        end = min(end, 144 + struct.unpack_from("<I", data, 140)[0])
    at = data.find(b"\x02\x00\x10\x00UI", 132, end)  # (0002,0010) Transfer Syntax UID
    if at < 0:
        return  # no declared syntax: pydicom reads it as implicit VR, not deflated
    length = struct.unpack_from("<H", data, at + 6)[0]
    syntax = data[at + 8 : at + 8 + length].rstrip(b"\0 ").decode("ascii", "replace")
    if syntax == DEFLATED_DICOM:
        raise UploadRejected(
            f"upload: deflated DICOM (transfer syntax {DEFLATED_DICOM}) is not accepted, "
            "since it cannot be inflated with a size limit; send it uncompressed or "
            "with compressed pixel data",
            415,
        )


def _too_large(size: int, limit: int, *, decoded: bool = False) -> UploadRejected:
    what = "decodes to" if decoded else "is"
    return UploadRejected(
        f"upload: the file {what} {size:,} bytes; the limit is {limit:,} bytes", status_code=413
    )


def _check_png(data: bytes, max_decoded_bytes: int) -> None:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            decoded = width * height * max(len(image.getbands()), 1)
            if decoded > max_decoded_bytes:
                raise _too_large(decoded, max_decoded_bytes, decoded=True)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadRejected(f"upload: PNG decompression bomb refused ({exc})", 413) from exc
        except UploadRejected:
            raise
        except (OSError, SyntaxError, ValueError, zlib.error) as exc:
            reason = "" if "BytesIO" in str(exc) else f" ({exc})"  # PIL names its buffer object
            raise UploadRejected(
                f"upload: the PNG image cannot be decoded{reason}; the file may be truncated"
            ) from exc


def _gunzip_capped(data: bytes, max_decoded_bytes: int) -> bytes:
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(1 << 20):
                out += chunk
                if len(out) > max_decoded_bytes:
                    raise UploadRejected(
                        f"upload: the gzip file inflates to more than {max_decoded_bytes:,} "
                        "bytes (the limit); refused as a possible zip bomb",
                        413,
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadRejected(
            f"upload: the gzip stream cannot be read ({exc}); the file may be truncated"
        ) from exc
    return bytes(out)


def _is_nifti(raw: bytes) -> bool:
    return (len(raw) >= 348 and raw[344:348] in (b"n+1\0", b"ni1\0")) or (
        len(raw) >= 540 and raw[4:8] in (b"n+2\0", b"ni2\0")
    )


def _dicom_dims(data: bytes) -> int | None:
    """3 for a multi-frame DICOM, else 2; None if its header cannot be read (the reading for
    the prediction reports why). Called after the deflate check: nothing is inflated here."""
    import io

    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except Exception:  # pydicom raises many types for a bad header
        return None
    return 3 if frames > 1 else 2


def _check_nifti(raw: bytes) -> int:
    """Check a NIfTI header against the data; 3 for a volume of several slices, else 2."""
    import nibabel as nib
    import numpy as np

    try:
        image = nib.Nifti1Image.from_bytes(raw) if raw[344:347] == b"n+1" else None
        if image is None:
            image = nib.Nifti2Image.from_bytes(raw)
        header = image.header
        expected = int(header.get_data_offset()) + int(np.prod(header.get_data_shape())) * int(
            header.get_data_dtype().itemsize
        )
    except Exception as exc:  # nibabel raises many types for a bad header
        raise UploadRejected(f"upload: the NIfTI header cannot be read ({exc})") from exc
    if len(raw) < expected:
        raise UploadRejected(
            f"upload: the NIfTI file is truncated: its header declares {expected:,} bytes, "
            f"got {len(raw):,}"
        )
    shape = header.get_data_shape()
    return 3 if len(shape) >= 3 and int(shape[2]) > 1 else 2


def _checked_vcf(raw: bytes, accepted: bool) -> CheckedUpload:
    """A VCF's header checked: a ``#CHROM`` line, and every record on a declared contig.

    Read by hand rather than with pysam so that the service needs no genomics extra to refuse a
    bad file; pysam only warns about an undeclared contig and reads on.
    """
    if not accepted:
        raise UploadRejected("upload: a VCF file; send it to POST /variants", 415)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UploadRejected(f"upload: the VCF is not UTF-8 text ({exc})") from exc
    header = next((n for n, line in enumerate(lines) if not line.startswith("##")), len(lines))
    if header == len(lines) or not lines[header].startswith("#CHROM\tPOS"):
        raise UploadRejected(
            f"upload: VCF line {header + 1}: expected the '#CHROM POS ID REF ALT ...' header "
            "line after the ## meta lines; the file may be truncated"
        )
    declared = [
        line[len("##contig=<ID=") :].split(",")[0].rstrip(">")
        for line in lines[:header]
        if line.startswith("##contig=<ID=")
    ]
    for n, line in enumerate(lines[header + 1 :], header + 2):
        chrom = line.split("\t", 1)[0]
        if line and declared and chrom not in declared:
            shown = ", ".join(declared[:5]) + (", ..." if len(declared) > 5 else "")
            raise UploadRejected(
                f"upload: VCF line {n}, CHROM: contig {chrom[:40]!r} is not declared in the "
                f"header (##contig: {shown})"
            )
    return CheckedUpload("vcf", "vcf", raw, suffix=".vcf")


def _parse_record(data: bytes) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UploadRejected(f"upload: invalid JSON ({exc}); expected a JSON object") from exc
    if not isinstance(record, dict) or not record:
        got = "an empty object" if record == {} else f"a JSON {type(record).__name__}"
        raise UploadRejected(
            f"upload: expected a JSON object of patient fields (column -> value); got {got}"
        )
    return record


class UploadStore:
    """Uploads kept as ``folder/YYYY-MM-DD/<random hex><suffix>`` (the UTC day of the upload).

    Parameters
    ----------
    folder : Path
        The uploads folder (created on first use; the day folders mode 0700).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._day: Path | None = None

    def write(self, suffix: str, data: bytes) -> Path:
        """Write ``data`` to a new file with one ``write`` and fsync it; its path.

        The file is never renamed: nothing names it until the case row that does is committed,
        after this returns, so a file cut short by a crash is never referenced. The day's folder
        is fsynced (with its parent) once, by the first upload of the day in this process; on a
        journaling file system (ext4, XFS) a file's own fsync also makes its name durable, since
        it commits the journal transaction that created the name. The fsync runs in the
        request's thread: handing it to a background thread to overlap the prediction was slower
        on a busy 2-core machine (each hand-over waits for the scheduler).
        """
        from datetime import UTC, datetime

        day = self.folder / datetime.now(UTC).strftime("%Y-%m-%d")
        with self._lock:  # the day's first upload creates and fsyncs its folder; others wait
            if self._day != day:
                day.mkdir(parents=True, exist_ok=True, mode=0o700)
                _fsync_folders(day, day.parent)
                self._day = day
        path = day / f"{uuid.uuid4().hex}{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return path


def _fsync_folders(*folders: Path) -> None:
    """fsync folders, so that the names in them survive a power cut."""
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
