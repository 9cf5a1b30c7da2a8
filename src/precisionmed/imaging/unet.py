"""The 3D segmentation U-Net (MONAI): registered configurations, building one, rebuilding it
from a model directory's ``architecture`` entry, and the Dice it is trained and scored with.

Shared by :mod:`.segmentation` (training) and :mod:`.segmenter` (the predictor), so that the
predictor never imports the training module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.registry import Registry

#: Registered segmentation networks: name -> default MONAI UNet arguments.
SEGMENTATION_NETWORKS: Registry[dict[str, Any]] = Registry("segmentation network")
SEGMENTATION_NETWORKS.add(
    "unet", {"channels": (16, 32, 64, 128), "strides": (2, 2, 2), "num_res_units": 1}
)
SEGMENTATION_NETWORKS.add(
    "unet-small", {"channels": (8, 16, 32), "strides": (2, 2), "num_res_units": 1}
)


def segmentation_architecture(
    model: str, *, n_labels: int, in_channels: int = 1, **overrides: Any
) -> dict[str, Any]:
    """The architecture dict of a registered U-Net (what ``config.json`` records), unbuilt.

    Parameters
    ----------
    model : {"unet", "unet-small"}
        Registered name (see :data:`SEGMENTATION_NETWORKS`).
    n_labels : int
        Output channels, background included (3 for the hippocampus).
    in_channels : int
        Image channels.
    **overrides
        ``channels``, ``strides``, ``num_res_units``, ``dropout`` (MONAI ``UNet`` arguments).

    Raises
    ------
    ConfigError
        An unknown network name or option.
    """
    defaults = SEGMENTATION_NETWORKS.get(model)
    args: dict[str, Any] = {**defaults, "dropout": 0.0, **overrides}
    unknown = set(args) - {"channels", "strides", "num_res_units", "dropout"}
    if unknown:
        raise ConfigError(f"Unknown U-Net option(s) {sorted(unknown)} for model {model!r}.")
    return {
        "name": model,
        "spatial_dims": 3,
        "in_channels": in_channels,
        "out_channels": n_labels,
        "channels": [int(c) for c in args["channels"]],
        "strides": [int(s) for s in args["strides"]],
        "num_res_units": int(args["num_res_units"]),
        "dropout": float(args["dropout"]),
        "norm": "instance",
    }


def build_segmentation_net(
    model: str, *, n_labels: int, in_channels: int = 1, **overrides: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """A MONAI 3D U-Net by registered name, and the architecture dict that rebuilds it.

    The arguments are those of :func:`segmentation_architecture`.
    """
    from monai.networks.nets import UNet

    arch = segmentation_architecture(model, n_labels=n_labels, in_channels=in_channels, **overrides)
    net = UNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=n_labels,
        channels=arch["channels"],
        strides=arch["strides"],
        num_res_units=arch["num_res_units"],
        dropout=arch["dropout"],
        norm="instance",
    )
    return net, arch


def net_from_architecture(arch: Mapping[str, Any]) -> nn.Module:
    """Rebuild the network an artefact's ``architecture`` entry describes."""
    overrides = {k: arch[k] for k in ("channels", "strides", "num_res_units", "dropout")}
    net, _ = build_segmentation_net(
        str(arch["name"]),
        n_labels=int(arch["out_channels"]),
        in_channels=int(arch["in_channels"]),
        **overrides,
    )
    return net


def dice_loss() -> nn.Module:
    """MONAI DiceCE loss on logits (B, K, D, H, W) and integer targets (B, 1, D, H, W)."""
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True)


def dice_per_label(pred: torch.Tensor, target: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Dice of each foreground label per case (MONAI ``compute_dice``).

    Parameters
    ----------
    pred, target : Tensor of int, shape (B, 1, D, H, W)
        Label maps.
    n_labels : int
        Number of labels, background included.

    Returns
    -------
    Tensor of shape (B, n_labels - 1)
        NaN where the label is absent from both prediction and target.
    """
    from monai.metrics import compute_dice
    from monai.networks.utils import one_hot

    return compute_dice(
        one_hot(pred, n_labels), one_hot(target, n_labels), include_background=False
    )


__all__ = [
    "SEGMENTATION_NETWORKS",
    "build_segmentation_net",
    "dice_loss",
    "dice_per_label",
    "net_from_architecture",
]
