"""Where is it and how big is it: connected components of a label mask, measured.

Each label of a segmentation mask is split into connected components (``scipy.ndimage.label``);
every component becomes a :class:`Lesion` with its voxel count, volume in mm^3 (voxel count x
voxel volume from the spacing), bounding box in voxel indices and in patient (world)
coordinates, and centroid.

Conventions are those of :mod:`precisionmed.io`: a volume is ``(D, H, W)``, ``spacing`` is in mm
per array axis, and ``affine`` maps ``(d, h, w, 1)`` to RAS+ world coordinates in mm (DICOM's LPS
patient coordinates are RAS with x and y negated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from precisionmed.errors import DataFormatError

__all__ = ["Lesion", "find_lesions", "spacing_from_affine"]


@dataclass(frozen=True)
class Lesion:
    """One connected component of one label.

    Attributes
    ----------
    label : int
        Mask value of the component.
    label_name : str
        Name of that label (``"Anterior"``), or ``str(label)`` when none is known.
    index : int
        1-based number of the component within its label, largest first.
    voxels : int
        Number of voxels.
    volume_mm3 : float
        ``voxels`` x the voxel volume (product of the spacing), in mm^3.
    bbox_voxel : tuple of (tuple of int, tuple of int)
        ``(start, stop)`` array indices per axis, inclusive start and exclusive stop (a slice).
    extent_mm : tuple of float
        Size of the bounding box along each array axis in mm (``(stop - start) x spacing``).
    bbox_world_mm : tuple of (tuple of float, tuple of float) or None
        ``(min_xyz, max_xyz)`` RAS+ world coordinates (mm) of the centres of the bounding box's
        corner voxels; None without an affine.
    centroid_voxel : tuple of float
        Mean array index of the component's voxels.
    centroid_world_mm : tuple of float or None
        That centroid in RAS+ world coordinates (mm); None without an affine.
    """

    label: int
    label_name: str
    index: int
    voxels: int
    volume_mm3: float
    bbox_voxel: tuple[tuple[int, ...], tuple[int, ...]]
    extent_mm: tuple[float, ...]
    bbox_world_mm: tuple[tuple[float, ...], tuple[float, ...]] | None
    centroid_voxel: tuple[float, ...]
    centroid_world_mm: tuple[float, ...] | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return asdict(self)


def spacing_from_affine(affine: np.ndarray) -> tuple[float, ...]:
    """Voxel size (mm) along each array axis: the norms of the affine's first three columns."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine, float)[:3, :3], axis=0))


def _to_world(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Array indices (N, 3) -> world coordinates (N, 3) in mm."""
    homog = np.c_[points, np.ones(len(points))]
    return (homog @ np.asarray(affine, float).T)[:, :3]


def find_lesions(
    mask: np.ndarray,
    *,
    spacing: Sequence[float] | None = None,
    affine: np.ndarray | None = None,
    label_names: Mapping[int, str] | None = None,
    min_voxels: int = 1,
    connectivity: int = 1,
    max_per_label: int | None = None,
) -> list[Lesion]:
    """Connected components of every non-zero label of ``mask``, with location and size.

    Parameters
    ----------
    mask : ndarray of int, shape (D, H, W) (or (H, W) for a 2D mask)
        Label values; 0 is background.
    spacing : sequence of float, optional
        Voxel size in mm per array axis. Taken from ``affine`` when omitted, else 1 mm.
    affine : ndarray of shape (4, 4), optional
        Array index -> RAS+ world (mm); gives the world bounding box and centroid. A 2D mask
        uses the ``(h, w, 0, 1)`` convention of :mod:`precisionmed.io`.
    label_names : mapping of int to str, optional
        Names for label values (background is skipped whatever its name).
    min_voxels : int
        Components smaller than this are dropped (1 keeps everything).
    connectivity : int
        1 = faces only (6-connected in 3D), up to ``mask.ndim`` = faces, edges and corners
        (26-connected in 3D), as in :func:`scipy.ndimage.generate_binary_structure`.
    max_per_label : int, optional
        Keep only the largest components of each label (a noisy mask can have thousands).

    Returns
    -------
    list of Lesion
        Ordered by label, then by size (largest first).
    """
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise DataFormatError(
            f"Lesion mask must be 2D (H, W) or 3D (D, H, W). Got shape {mask.shape} instead."
        )
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        if not np.all(np.mod(mask, 1) == 0):
            raise DataFormatError(
                f"Lesion mask must hold integer labels. Got dtype {mask.dtype} with fractions."
            )
        mask = mask.astype(np.int64)
    if not 1 <= connectivity <= mask.ndim:
        raise DataFormatError(
            f"The 'connectivity' parameter must be in [1, {mask.ndim}]. Got {connectivity}."
        )
    if spacing is None:
        spacing = spacing_from_affine(affine)[: mask.ndim] if affine is not None else None
    spacing_arr = np.ones(mask.ndim) if spacing is None else np.asarray(spacing, float)
    if spacing_arr.shape != (mask.ndim,) or np.any(spacing_arr <= 0):
        raise DataFormatError(
            f"Spacing must be {mask.ndim} positive values (mm per axis). Got {spacing!r} instead."
        )
    voxel_mm3 = float(np.prod(spacing_arr))
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    names = dict(label_names or {})
    lesions: list[Lesion] = []
    for value in (int(v) for v in np.unique(mask) if v != 0):
        components, n = ndimage.label(mask == value, structure=structure)
        if n == 0:
            continue
        counts = np.bincount(components.ravel(), minlength=n + 1)[1:]
        boxes = ndimage.find_objects(components)
        # Largest first (stable on ties), then the size and number filters.
        order = [i for i in np.argsort(-counts, kind="stable") if counts[i] >= min_voxels]
        order = order[:max_per_label] if max_per_label is not None else order
        if not order:
            continue
        kept = [int(i) + 1 for i in order]
        centroids = ndimage.center_of_mass(np.ones_like(components), components, kept)
        for rank, (i, centroid) in enumerate(zip(order, centroids, strict=True), start=1):
            lesions.append(
                _lesion(
                    value,
                    names.get(value, str(value)),
                    rank,
                    int(counts[i]),
                    voxel_mm3,
                    boxes[i],
                    np.asarray(centroid, float),
                    spacing_arr,
                    affine,
                )
            )
    return lesions


def _lesion(
    value: int,
    name: str,
    rank: int,
    voxels: int,
    voxel_mm3: float,
    box: tuple[slice, ...],
    centroid: np.ndarray,
    spacing: np.ndarray,
    affine: np.ndarray | None,
) -> Lesion:
    start = tuple(int(s.start) for s in box)
    stop = tuple(int(s.stop) for s in box)
    extent = tuple(float((b - a) * d) for a, b, d in zip(start, stop, spacing, strict=True))
    bbox_world = centroid_world = None
    if affine is not None:
        # Pad 2D indices with a 0 third index (the io convention for a 2D image's affine).
        pad = 3 - len(start)
        last = np.array(stop) - 1
        corners = np.array(
            np.meshgrid(*[(a, b) for a, b in zip(start, last, strict=True)], indexing="ij")
        ).reshape(len(start), -1)
        corners = np.r_[corners, np.zeros((pad, corners.shape[1]))].T
        world = _to_world(affine, corners)
        bbox_world = (
            tuple(float(v) for v in world.min(axis=0)),
            tuple(float(v) for v in world.max(axis=0)),
        )
        centroid_world = tuple(
            float(v) for v in _to_world(affine, np.r_[centroid, np.zeros(pad)][None])[0]
        )
    return Lesion(
        label=value,
        label_name=name,
        index=rank,
        voxels=voxels,
        volume_mm3=voxels * voxel_mm3,
        bbox_voxel=(start, stop),
        extent_mm=extent,
        bbox_world_mm=bbox_world,
        centroid_voxel=tuple(float(v) for v in centroid),
        centroid_world_mm=centroid_world,
    )
