"""Grad-CAM maps: shapes in 2D and 3D, and that the map finds the evidence the network uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.imaging.gradcam import gradcam, plot_overlay
from precisionmed.imaging.networks import build_network, get_network_spec


@pytest.mark.parametrize(
    ("name", "dims", "size"),
    [("reference-cnn", 2, (28, 28)), ("reference-cnn", 3, (16, 16, 16)), ("resnet18", 2, (28, 28))],
)
def test_gradcam_shape_and_range(
    name: str, dims: int, size: tuple[int, ...], tmp_path: Path
) -> None:
    torch.manual_seed(0)
    net = build_network(name, spatial_dims=dims, in_channels=1, out_channels=2, size=size)
    image = torch.rand(1, *size)
    cam = gradcam(net, image, layer=get_network_spec(name).cam_layer, class_index=1)
    assert cam.shape == size
    assert np.isfinite(cam).all()
    assert cam.min() >= 0.0
    assert cam.max() <= 1.0 + 1e-6
    png = plot_overlay(image.numpy(), cam, tmp_path / "cam.png", title="t")
    assert png.read_bytes()[:4] == b"\x89PNG"


class _Spotter(nn.Module):
    """Class 1 logit = mean ReLU response of an all-ones 3x3 filter: bright pixels are evidence."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        nn.init.constant_(self.conv.weight, 1.0)
        nn.init.zeros_(self.conv.bias)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.act(self.conv(x)).mean(dim=(1, 2, 3))
        return torch.stack([-score, score], dim=1)


def test_gradcam_highlights_the_evidence() -> None:
    image = torch.zeros(1, 28, 28)
    image[0, 10:14, 20:24] = 1.0  # a bright block: the only evidence for class 1
    cam = gradcam(_Spotter(), image, layer="act", class_index=1)
    assert cam[11:13, 21:23].min() > 0.9  # the block's centre is the hottest region
    assert cam[10:14, 20:24].mean() > 0.5
    assert cam[:, :8].max() == 0.0  # far from the block there is no evidence
    assert np.unravel_index(cam.argmax(), cam.shape) in {
        (r, c) for r in range(10, 14) for c in range(20, 24)
    }


def test_unknown_layer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'nope' is not a module"):
        gradcam(_Spotter(), torch.zeros(1, 28, 28), layer="nope")
