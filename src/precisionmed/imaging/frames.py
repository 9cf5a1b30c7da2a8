"""Frames of a multi-frame file as inputs of a 2D model (``--frames all|K|K1,K2``).

An enhanced multi-frame DICOM (an MR of 10 frames, a cine loop), a DICOM series or a NIfTI volume
reads as a ``(D, H, W)`` :class:`~precisionmed.io.Image`. A 2D classifier refuses it unless the
caller says which frames to score: :func:`split_frames` cuts the requested ones out as 2D images
(frame ``k`` is ``array[k]``, 0-based, in the order the reader stacks them), and
:func:`load_frames` turns each into a model input with
:func:`~precisionmed.imaging.transforms.prepare_image`, exactly as a single 2D file would be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from precisionmed.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from precisionmed.io.image import Image
    from precisionmed.predict import ImageInputSpec

#: Which frames to use: None (the file must be one 2D image), "all", or 0-based indices.
Frames = Literal["all"] | int | Sequence[int] | None

__all__ = ["FrameInput", "Frames", "frame_name", "load_frames", "parse_frames", "split_frames"]


@dataclass
class FrameInput:
    """One model input cut from a file.

    Attributes
    ----------
    name : str
        The file's path, with ``#frame=K`` for a frame of a multi-frame file.
    frame : int or None
        0-based frame index; None for a file that is one 2D image.
    x : Tensor of shape (C, *input_size)
        The model input in [0, 1].
    warnings : list of str
        How it differs from the training images.
    image : Image
        The 2D image (the frame) at its own resolution, before scaling and fitting.
    """

    name: str
    frame: int | None
    x: torch.Tensor
    warnings: list[str]
    image: Image


def parse_frames(text: str | None) -> Frames:
    """``"all"``, ``"3"`` or ``"0,3,5"`` (the CLI's ``--frames``) -> ``"all"`` or indices.

    Raises
    ------
    ConfigError
        Anything else, a negative index included.
    """
    if text is None:
        return None
    value = text.strip().lower()
    if value == "all":
        return "all"
    try:
        indices = tuple(int(part) for part in value.split(","))
    except ValueError:
        indices = ()
    if not indices or min(indices) < 0:
        raise ConfigError(
            "--frames: expected 'all', a 0-based frame index K or a list such as 0,3,5; "
            f"got {text!r}"
        )
    return indices


def frame_name(name: str, frame: int | None) -> str:
    """``name`` for a single image, ``name#frame=K`` for frame ``K`` of a multi-frame file."""
    return name if frame is None else f"{name}#frame={frame}"


def split_frames(image: Image, frames: Frames) -> list[tuple[int | None, Image]]:
    """The requested frames of ``image`` as 2D images (for a 2D model).

    Parameters
    ----------
    image : Image
        ``array`` (D, H, W) for a multi-frame file or volume; (H, W), (H, W, 3) or a one-frame
        (1, H, W) for a single image.
    frames : "all", int or sequence of int
        0-based frame indices, or every frame.

    Returns
    -------
    list of (frame index or None, Image)
        Each frame with ``array`` (H, W), the in-plane spacing, no affine and
        ``metadata["frame"]``; a single image comes back whole with index None (only frame 0
        may be asked of it).

    Raises
    ------
    DataFormatError
        A requested index beyond the file's frames (one line naming the file and the count).
    """
    array = image.array
    multi = not image.is_color and array.ndim == 3 and array.shape[0] > 1
    count = array.shape[0] if multi else 1
    if frames == "all":
        wanted = list(range(count))
    else:
        wanted = [int(frames)] if isinstance(frames, int) else [int(k) for k in frames or ()]
    bad = [k for k in wanted if not 0 <= k < count]
    if bad or not wanted:
        raise DataFormatError(
            f"{image.path}: frame {bad[0] if bad else '(none)'} requested; the file has {count} "
            f"frame(s), numbered 0 to {count - 1}"
        )
    if not multi:
        return [(None, image)]
    return [
        (
            k,
            dataclasses.replace(
                image,
                array=array[k],
                spacing=tuple(image.spacing[1:]),
                affine=None,
                metadata={**image.metadata, "frame": k},
            ),
        )
        for k in dict.fromkeys(wanted)  # each frame once, in the order asked
    ]


def load_frames(
    image: Image, spec: ImageInputSpec, frames: Frames, *, name: str
) -> list[FrameInput]:
    """Model inputs of a read file: the whole image, or each requested frame.

    Parameters
    ----------
    image : Image
        As read (:func:`precisionmed.imaging.classifier.read_input_image`).
    spec : ImageInputSpec
        The model's input specification.
    frames : "all", int, sequence of int or None
        None: the file must fit the model as it is (a multi-frame file into a 2D model is refused
        with a message suggesting ``--frames``). Otherwise a 2D model gets the frames of
        :func:`split_frames`.
    name : str
        The file's name in the records.

    Raises
    ------
    ConfigError
        ``frames`` given for a 3D model (which takes the whole volume).
    DataFormatError
        As :func:`~precisionmed.imaging.transforms.prepare_image` and :func:`split_frames`.
    """
    from precisionmed.imaging.transforms import prepare_image

    if frames is None:
        x, warnings = prepare_image(image, spec)
        return [FrameInput(name, None, x, warnings, image)]
    if spec.spatial_dims != 2:
        raise ConfigError(
            f"--frames applies to 2D models; this model takes {spec.spatial_dims}D volumes whole"
        )
    out = []
    for k, frame in split_frames(image, frames):
        x, warnings = prepare_image(frame, spec)
        out.append(FrameInput(frame_name(name, k), k, x, warnings, frame))
    return out
