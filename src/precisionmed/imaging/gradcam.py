"""Grad-CAM explanations (Selvaraju et al., 2017) with MONAI: heat maps for any prediction.

:func:`gradcam` gives the class-activation map of one image; :func:`explain_file` reads a file,
explains the predicted (or a chosen) class and writes a PNG overlay: the image and the map side
by side for 2D, a montage of axial slices for 3D volumes.
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


def explain_file(
    classifier: Any, file: str | Path, out: str | Path, *, target: str | None = None
) -> dict[str, Any]:
    """Explain a classifier's prediction for one image file with Grad-CAM.

    Parameters
    ----------
    classifier : ImageClassifier
        A loaded predictor (:func:`precisionmed.load`).
    file : path
        DICOM, NIfTI, PNG/JPEG or npz; must match the model's dimensionality.
    out : path
        The PNG to write; a JSON of the same name holds the figures.
    target : str, optional
        Class (label) name to explain; default the most probable one.

    Returns
    -------
    dict
        ``file``, ``target``, ``class_index``, ``probability`` (calibrated), ``peak`` (array
        index of the map's maximum, in model-input pixels), ``png`` and ``json``.
    """
    out = Path(out)
    x = classifier.load_file(file)
    probs = classifier.predict_proba(x[None])[0]
    if target is None:
        index = int(np.argmax(probs))
    elif target in classifier.labels:
        index = classifier.labels.index(target)
    else:
        raise ConfigError(
            f"The 'target' parameter must be one of {classifier.labels}. Got {target!r} instead."
        )
    layers = cam_layers(classifier.architecture, classifier.net)
    cam = gradcam(classifier.net, x, layer=layers, class_index=index)
    label = classifier.labels[index]
    title = f"{Path(file).name}: {label} (p = {probs[index]:.3f})"
    plot_overlay(x.numpy(), cam, out, title=title)
    record = {
        "file": str(file),
        "target": label,
        "class_index": index,
        "probability": float(probs[index]),
        "peak": [int(i) for i in np.unravel_index(int(np.argmax(cam)), cam.shape)],
        "png": str(out),
        "json": str(out.with_suffix(".json")),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    return record
