"""Grad-CAM explanations (Selvaraju et al., 2017) with MONAI: heat maps for any prediction.

:func:`gradcam` gives the class-activation map of one model input; :func:`explain_file` reads a
file, explains the predicted (or a chosen) class and writes a PNG: for 2D models the map, computed
at the network's input, is mapped back (:func:`cam_on_image`, undoing the letterbox) and drawn
over the original image at its own resolution and aspect ratio (:func:`write_overlay`), one PNG
per frame of a multi-frame file; for 3D models a montage of slices of the model input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.imaging.frames import FrameInput, Frames
from precisionmed.imaging.networks import cam_layers


def gradcam(
    net: nn.Module,
    image: torch.Tensor,
    *,
    layer: str | Sequence[str],
    class_index: int | None = None,
) -> np.ndarray:
    """Grad-CAM map of one image.

    Parameters
    ----------
    net : nn.Module
        A classifier returning logits (B, K).
    image : Tensor of shape (C, H, W) or (C, D, H, W)
    layer : str or sequence of str
        Name of the module whose activations are weighted (``net.named_modules()``); several
        names (one per member of an ensemble) give the mean of their maps.
    class_index : int, optional
        The logit to explain; default the arg-max.

    Returns
    -------
    np.ndarray of shape (H, W) or (D, H, W)
        The map upsampled to the image size, min-max normalised to [0, 1] (1 = most evidence).
    """
    from monai.visualize import GradCAM

    layers = [layer] if isinstance(layer, str) else list(layer)
    modules = dict(net.named_modules())
    for name in layers:
        if name not in modules:
            raise ConfigError(f"Grad-CAM layer {name!r} is not a module of {type(net).__name__}.")
    was_training = net.training
    net.eval()
    maps = []
    try:
        for name in layers:
            cam = GradCAM(nn_module=net, target_layers=name, postprocessing=lambda m: m)
            with torch.enable_grad():
                maps.append(cam(image[None].float(), class_idx=class_index).detach().cpu())
    finally:
        net.train(was_training)
    return np.asarray(_minmax(torch.stack(maps).mean(dim=0)))[0, 0]


def _minmax(cam: torch.Tensor) -> torch.Tensor:
    """Scale each map to [0, 1] with 1 = most evidence.

    MONAI's default post-processing scales to [1, 0] (inverted), which would make the
    highlighted region the least important one in a "jet" overlay.
    """
    flat = cam.reshape(cam.shape[0], -1)
    lo = flat.min(dim=1).values.reshape(-1, *([1] * (cam.ndim - 1)))
    hi = flat.max(dim=1).values.reshape(-1, *([1] * (cam.ndim - 1)))
    return torch.where(hi > lo, (cam - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(cam))


def _display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, ...) model input -> an array matplotlib shows (grey or RGB), and its colour map."""
    if image.shape[0] == 3:
        return np.clip(np.moveaxis(image, 0, -1), 0, 1), None
    return image[0], "gray"


def plot_overlay(
    image: np.ndarray, cam: np.ndarray, path: Path, *, title: str, n_slices: int = 16
) -> Path:
    """Write a PNG: the image and its Grad-CAM overlay (2D), or a slice montage (3D).

    Parameters
    ----------
    image : np.ndarray of shape (C, H, W) or (C, D, H, W)
        The model input, in [0, 1].
    cam : np.ndarray of shape (H, W) or (D, H, W)
        Grad-CAM map in [0, 1].
    n_slices : int
        For volumes: evenly spaced slices along D shown in the montage.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown, cmap = _display(image)
    if cam.ndim == 2:
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.8))
        axes[0].imshow(shown, cmap=cmap)
        axes[0].set_title("input")
        axes[1].imshow(shown, cmap=cmap)
        overlay = axes[1].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[1].set_title("Grad-CAM")
        fig.colorbar(overlay, ax=axes[1], fraction=0.046)
    else:
        depth = cam.shape[0]
        index = np.unique(np.linspace(0, depth - 1, min(n_slices, depth)).round().astype(int))
        cols = int(np.ceil(np.sqrt(len(index))))
        rows = int(np.ceil(len(index) / cols))
        fig, grid = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        for ax in grid.ravel():
            ax.axis("off")
        for ax, d in zip(grid.ravel(), index, strict=False):
            ax.imshow(shown[d], cmap=cmap)
            ax.imshow(cam[d], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.set_title(f"slice {d}", fontsize=8)
    for ax in fig.axes[:2] if cam.ndim == 2 else ():
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def cam_on_image(cam: np.ndarray, shape: Sequence[int], *, resize: str) -> np.ndarray:
    """Map a 2D Grad-CAM from the network's input back onto the original image.

    Parameters
    ----------
    cam : np.ndarray of shape (h, w)
        The map at the model's input size.
    shape : (int, int)
        The original image's (H, W).
    resize : {"stretch", "letterbox"}
        How the image was fitted to the input (:attr:`ImageInputSpec.resize`): for a letterbox
        the padding is cut off first (:func:`~precisionmed.imaging.letterbox.letterbox_geometry`),
        so the map lands on the image with its aspect ratio.

    Returns
    -------
    np.ndarray of float32, shape (H, W)
        Bilinearly upsampled, values in [0, 1] as at the input.
    """
    import torch.nn.functional as F  # noqa: N812

    from precisionmed.imaging.letterbox import letterbox_geometry

    shape = (int(shape[0]), int(shape[1]))
    if resize == "letterbox":
        (h, w), (top, left) = letterbox_geometry(shape, cam.shape)
        cam = cam[top : top + h, left : left + w]
    if tuple(cam.shape) == shape:
        return np.asarray(cam, dtype=np.float32)
    t = torch.as_tensor(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(t, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def write_overlay(
    image: np.ndarray, cam: np.ndarray, path: Path, *, title: str, alpha: float = 0.4
) -> Path:
    """Write the Grad-CAM drawn over the original image, as a PNG of the image's own size.

    Parameters
    ----------
    image : np.ndarray of shape (C, H, W), C = 1 or 3
        The image at its resolution, intensities in [0, 1]; shown contrast-stretched to its own
        minimum and maximum.
    cam : np.ndarray of shape (H, W)
        The map on the image (:func:`cam_on_image`), in [0, 1], drawn in the "jet" colour map.
    path : Path
        The PNG to write: W pixels wide, H high; ``title`` is stored in its text chunk.
    alpha : float
        Weight of the heat map in the blend.
    """
    import matplotlib
    from PIL import Image as PILImage
    from PIL.PngImagePlugin import PngInfo

    shown = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    lo, hi = float(shown.min()), float(shown.max())
    grey = np.round((shown - lo) / (hi - lo) * 255) if hi > lo else np.zeros_like(shown)
    base = PILImage.fromarray(grey.astype(np.uint8)).convert("RGB")
    # a 256-colour lookup table keeps a 4664 x 3064 mammogram's overlay in uint8 memory
    lut = np.round(matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255)
    heat = lut.astype(np.uint8)[np.round(np.clip(cam, 0, 1) * 255).astype(np.uint8)]
    info = PngInfo()
    info.add_text("Title", title)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.blend(base, PILImage.fromarray(heat), alpha).save(path, pnginfo=info)
    return path


def explain_file(
    classifier: Any,
    file: str | Path,
    out: str | Path,
    *,
    target: str | None = None,
    frames: Frames = None,
) -> dict[str, Any]:
    """Explain a classifier's prediction for one image file with Grad-CAM.

    The map is computed at the network's input (the image fitted as at prediction, letterboxed
    where the model records it) and, for a 2D model, drawn on the original image at its own
    resolution: the PNG has the input image's width and height. A 3D model gets a montage of
    slices of its input.

    Parameters
    ----------
    classifier : ImageClassifier
        A loaded predictor (:func:`precisionmed.load`).
    file : path
        DICOM, NIfTI, PNG/JPEG or npz; must match the model's dimensionality (a multi-frame
        file into a 2D model: give ``frames``).
    out : path
        The PNG to write; a JSON of the same name holds the figures. With ``frames``, one
        ``OUT_frameKKK.png`` (and ``.json``) per frame instead.
    target : str, optional
        Class (label) name to explain; default the most probable one.
    frames : "all", int or sequence of int, optional
        Frames of a multi-frame file (:func:`~precisionmed.imaging.frames.split_frames`).

    Returns
    -------
    dict
        ``file``, ``target``, ``class_index``, ``probability`` (calibrated), ``peak`` (row,
        column of the map's maximum on the original image), ``input_peak`` (the same in
        model-input pixels), ``size`` (the PNG's width, height), ``resize``, ``png`` and
        ``json``; with ``frames`` a dict with ``file`` and ``frames``, one such record each
        (with its ``frame`` index).
    """
    out = Path(out)
    loaded = classifier.load_frames(file, frames)
    records = []
    for fr in loaded:
        png = out if frames is None else out.with_name(f"{out.stem}_frame{fr.frame or 0:03d}.png")
        records.append(_explain_one(classifier, fr, png, str(file), target))
    return records[0] if frames is None else {"file": str(file), "frames": records}


def _explain_one(
    classifier: Any, fr: FrameInput, out: Path, file: str, target: str | None
) -> dict[str, Any]:
    probs = classifier.predict_proba(fr.x[None])[0]
    if target is None:
        index = int(np.argmax(probs))
    elif target in classifier.labels:
        index = classifier.labels.index(target)
    else:
        raise ConfigError(
            f"The 'target' parameter must be one of {classifier.labels}. Got {target!r} instead."
        )
    layers = cam_layers(classifier.architecture, classifier.net)
    cam = gradcam(classifier.net, fr.x, layer=layers, class_index=index)
    label = classifier.labels[index]
    frame = "" if fr.frame is None else f" frame {fr.frame}"
    title = f"{Path(file).name}{frame}: {label} (p = {probs[index]:.3f})"
    spec = classifier.input_spec
    record: dict[str, Any] = {"file": file}
    if fr.frame is not None:
        record["frame"] = fr.frame
    record |= {
        "target": label,
        "class_index": index,
        "probability": float(probs[index]),
        "input_peak": [int(i) for i in np.unravel_index(int(np.argmax(cam)), cam.shape)],
    }
    if cam.ndim == 2:
        from precisionmed.imaging.transforms import scale_image

        image, _ = scale_image(fr.image, spec)
        full = cam_on_image(cam, image.shape[1:], resize=spec.resize)
        write_overlay(image, full, out, title=title)
        peak = np.unravel_index(int(np.argmax(full)), full.shape)
        size = [int(full.shape[1]), int(full.shape[0])]
    else:
        plot_overlay(fr.x.numpy(), cam, out, title=title)
        peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
        size = None
    record |= {
        "peak": [int(i) for i in peak],
        "size": size,
        "resize": spec.resize,
        "png": str(out),
        "json": str(out.with_suffix(".json")),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    return record
