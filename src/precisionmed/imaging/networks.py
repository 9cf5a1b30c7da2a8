"""Image classification networks by registered name, generic over 2D and 3D.

=================  ===========================================================================
name               network
=================  ===========================================================================
``reference-cnn``  the platform's CNN: conv3x3 64 + ReLU, maxpool 2, conv3x3 128 + ReLU,
                   maxpool 2, dense 256 + ReLU, dense head (softmax / sigmoid in the loss)
``resnet18``       MONAI ResNet-18
``resnet50``       MONAI ResNet-50
``densenet121``    MONAI DenseNet-121
=================  ===========================================================================

The MONAI ResNets take ``widen_factor`` (e.g. 0.25 gives 16-32-64-128 channels, a 16x cheaper
ResNet-18 that suits 28 px images on a CPU) and the stem arguments (``conv1_t_stride=2`` halves
a 28^3 volume before the first stage: 8x less computation in 3D). :class:`MeanEnsemble` averages
the logits of several trained networks of one architecture (a deep ensemble of seeds).

Every builder takes ``spatial_dims`` (2 or 3), ``in_channels``, ``out_channels`` and the input
``size`` (the spatial shape), all read from the dataset. For small inputs (28 or 64 px, as in
MedMNIST) the MONAI ResNets and DenseNet get the stem the MedMNIST v2 paper uses for 28 px
(a 3x3 stride-1 first convolution and no first max-pool), because the ImageNet stem would shrink
a 28 px image to a few pixels before the first residual stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.registry import Registry

#: Inputs at most this many pixels per side get the small-image stem.
SMALL_INPUT = 64


def _conv(spatial_dims: int) -> type[nn.Module]:
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def _pool(spatial_dims: int) -> type[nn.Module]:
    return nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d


class ReferenceCNN(nn.Module):
    """The platform's reference CNN (issue 3), in 2D or 3D.

    conv3x3(64) + ReLU, maxpool 2, conv3x3(128) + ReLU, maxpool 2, dense 256 + ReLU, dense
    ``out_channels``. The head returns logits; the softmax (or, for multi-label tasks, the
    sigmoid) is applied by the loss during training and by the predictor at inference, which is
    numerically safer than a softmax layer inside the network.

    Parameters
    ----------
    spatial_dims : int
        2 for images (B, C, H, W), 3 for volumes (B, C, D, H, W).
    in_channels : int
        Image channels (1 grayscale, 3 RGB).
    out_channels : int
        Classes (or labels for multi-label tasks).
    size : sequence of int
        Spatial shape of the input, e.g. ``(28, 28)``; fixes the size of the dense layer.
    dropout : float
        Dropout before the head (0 disables it).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        size: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_args(spatial_dims, in_channels, out_channels, size)
        conv, pool = _conv(spatial_dims), _pool(spatial_dims)
        self.features = nn.Sequential(
            conv(in_channels, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            pool(2),
            conv(64, 128, kernel_size=3, padding=1),
            nn.ReLU(),
            pool(2),
        )
        flat = 128
        for s in size:
            flat *= s // 4
        if flat == 0:
            raise ConfigError(f"reference-cnn needs inputs of at least 4 px per side. Got {size}.")
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 256),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(256, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, out_channels) for ``x`` of shape (B, C, *size)."""
        return self.classifier(self.features(x))


class MeanEnsemble(nn.Module):
    """The mean of the logits of ``members`` (networks mapping the same input to (B, K) logits).

    Averaging logits (a normalised geometric mean of the members' probabilities) keeps a single
    temperature meaningful for calibration. Member ``i``'s modules are named ``members.i.<name>``,
    which is how Grad-CAM finds each member's layer.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ConfigError("MeanEnsemble needs at least one member network.")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean logits (B, K) of the members for ``x`` of shape (B, C, *size)."""
        return torch.stack([m(x) for m in self.members]).mean(dim=0)


def _check_args(
    spatial_dims: int, in_channels: int, out_channels: int, size: Sequence[int]
) -> None:
    if spatial_dims not in (2, 3):
        raise ConfigError(f"The 'spatial_dims' parameter must be 2 or 3. Got {spatial_dims!r}.")
    if in_channels < 1 or out_channels < 1:
        raise ConfigError(
            f"'in_channels' and 'out_channels' must be >= 1. Got {in_channels}, {out_channels}."
        )
    if len(size) != spatial_dims:
        raise ConfigError(
            f"The 'size' parameter must have {spatial_dims} entries for a {spatial_dims}D "
            f"network. Got {tuple(size)}."
        )


def _resnet(depth: int) -> Callable[..., nn.Module]:
    def build(
        spatial_dims: int, in_channels: int, out_channels: int, size: Sequence[int], **kw: Any
    ) -> nn.Module:
        from monai.networks.nets import resnet

        _check_args(spatial_dims, in_channels, out_channels, size)
        small = max(size) <= SMALL_INPUT
        factory = resnet.resnet18 if depth == 18 else resnet.resnet50
        stem = {  # overridable, e.g. conv1_t_stride=2 to halve a 28^3 volume first
            "conv1_t_size": 3 if small else 7,
            "conv1_t_stride": 1 if small else 2,
            "no_max_pool": small,
        }
        return factory(
            spatial_dims=spatial_dims,
            n_input_channels=in_channels,
            num_classes=out_channels,
            **{**stem, **kw},
        )

    return build


def _densenet121(
    spatial_dims: int, in_channels: int, out_channels: int, size: Sequence[int], **kw: Any
) -> nn.Module:
    from monai.networks.nets import DenseNet121

    _check_args(spatial_dims, in_channels, out_channels, size)
    net = DenseNet121(
        spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **kw
    )
    if max(size) <= SMALL_INPUT:
        # MONAI's stem (7x7 stride 2 + max-pool) leaves 7 px of a 28 px image, which the three
        # transition poolings reduce to nothing; a 3x3 stride-1 stem keeps 28 -> 14 -> 7 -> 3.
        net.features.conv0 = _conv(spatial_dims)(in_channels, 64, 3, padding=1, bias=False)
        net.features.pool0 = nn.Identity()
    return net


def _reference_cnn(
    spatial_dims: int, in_channels: int, out_channels: int, size: Sequence[int], **kw: object
) -> nn.Module:
    return ReferenceCNN(spatial_dims, in_channels, out_channels, size, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NetworkSpec:
    """A registered network: its builder and the layer Grad-CAM reads (a module name)."""

    name: str
    build: Callable[..., nn.Module]
    cam_layer: str
    description: str


#: The classification networks by (case-insensitive) name.
NETWORKS: Registry[NetworkSpec] = Registry("imaging network")
for _spec in (
    NetworkSpec(
        "reference-cnn", _reference_cnn, "features.4", "the platform's 2-conv CNN (issue 3)"
    ),
    NetworkSpec("resnet18", _resnet(18), "layer4", "MONAI ResNet-18"),
    NetworkSpec("resnet50", _resnet(50), "layer4", "MONAI ResNet-50"),
    NetworkSpec("densenet121", _densenet121, "class_layers.relu", "MONAI DenseNet-121"),
):
    NETWORKS.add(_spec.name, _spec)


def list_networks() -> list[str]:
    """Names of the registered classification networks."""
    return NETWORKS.names()


def get_network_spec(name: str) -> NetworkSpec:
    """The :class:`NetworkSpec` registered as ``name`` (case-insensitive).

    Raises
    ------
    ConfigError
        Unknown name; the message offers close names and lists the known ones.
    """
    return NETWORKS.get(name)


def build_network(
    name: str,
    *,
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    size: Sequence[int],
    **kwargs: object,
) -> nn.Module:
    """Build the network registered as ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_networks`.
    spatial_dims : int
        2 or 3.
    in_channels, out_channels : int
        Input channels; number of classes (labels for multi-label tasks).
    size : sequence of int
        Spatial input shape, ``(H, W)`` or ``(D, H, W)``.
    **kwargs
        Passed to the builder (e.g. ``dropout`` for ``reference-cnn``).

    Returns
    -------
    nn.Module
        Maps (B, in_channels, *size) to logits (B, out_channels).
    """
    spec = get_network_spec(name)
    try:
        return spec.build(
            spatial_dims, in_channels, out_channels, tuple(int(s) for s in size), **kwargs
        )
    except TypeError as exc:
        raise ConfigError(
            f"{spec.name} does not take the network argument(s) {sorted(kwargs)}: {exc}"
        ) from exc


def cam_layers(name: str, net: nn.Module) -> list[str]:
    """The module names Grad-CAM reads for network ``name``: one per member of an ensemble."""
    layer = get_network_spec(name).cam_layer
    if isinstance(net, MeanEnsemble):
        return [f"members.{i}.{layer}" for i in range(len(net.members))]
    return [layer]
