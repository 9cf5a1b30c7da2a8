"""Network shape tables for every registered classifier in 2D and 3D, and the reference CNN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.imaging.networks import build_network, get_network_spec, list_networks

# (spatial_dims, in_channels, out_channels, size): grey/RGB, 2D/3D, MedMNIST's 28 and a larger
# size that takes the ImageNet stem. 3D sizes are small to keep the test fast.
SHAPES = [
    (2, 1, 2, (28, 28)),
    (2, 3, 9, (28, 28)),
    (2, 1, 14, (96, 96)),
    (3, 1, 2, (16, 16, 16)),
    (3, 1, 11, (20, 24, 28)),
]


def test_registry_lists_the_issue_networks() -> None:
    assert list_networks() == ["densenet121", "reference-cnn", "resnet18", "resnet50"]


NAMES = ["reference-cnn", "resnet18", "resnet50", "densenet121"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("dims", "cin", "cout", "size"), SHAPES)
def test_shape_table(name: str, dims: int, cin: int, cout: int, size: tuple[int, ...]) -> None:
    # Shapes on PyTorch's meta device: every layer runs, no memory or arithmetic is spent.
    with torch.device("meta"):
        net = build_network(name, spatial_dims=dims, in_channels=cin, out_channels=cout, size=size)
        out = net.eval()(torch.empty(2, cin, *size))
    assert out.shape == (2, cout)
    # The Grad-CAM layer exists in every configuration.
    assert get_network_spec(name).cam_layer in dict(net.named_modules())


@pytest.mark.parametrize(
    ("name", "dims"), [("reference-cnn", 2), ("reference-cnn", 3), ("resnet18", 2)]
)
def test_real_forward_and_backward(name: str, dims: int) -> None:
    torch.manual_seed(0)
    size = (16,) * dims
    net = build_network(name, spatial_dims=dims, in_channels=1, out_channels=3, size=size)
    out = net(torch.rand(4, 1, *size))
    assert out.shape == (4, 3)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_reference_cnn_is_exactly_the_specified_architecture() -> None:
    net = build_network(
        "reference-cnn", spatial_dims=2, in_channels=1, out_channels=2, size=(28, 28)
    )
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 64, (3, 3)),
        (64, 128, (3, 3)),
    ]
    pools = [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]
    assert [p.kernel_size for p in pools] == [2, 2]
    dense = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(128 * 7 * 7, 256), (256, 2)]
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 3
    # 3D: the same layers as Conv3d / MaxPool3d.
    net3 = build_network(
        "reference-cnn", spatial_dims=3, in_channels=1, out_channels=2, size=(28, 28, 28)
    )
    assert sum(isinstance(m, nn.Conv3d) for m in net3.modules()) == 2
    assert net3.classifier[1].in_features == 128 * 7 * 7 * 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "vgg"}, "Unknown imaging network .vgg.* Known: densenet121, reference-cnn"),
        ({"spatial_dims": 4}, "'spatial_dims' parameter must be 2 or 3"),
        ({"size": (28, 28, 28)}, "must have 2 entries"),
        ({"out_channels": 0}, "must be >= 1"),
        ({"size": (2, 2)}, "at least 4 px"),
    ],
)
def test_bad_arguments_fail_fast(kwargs: dict, message: str) -> None:
    args = {"name": "reference-cnn", "spatial_dims": 2, "in_channels": 1, "out_channels": 2}
    args |= {"size": (28, 28)} | kwargs
    name = args.pop("name")
    with pytest.raises(ConfigError, match=message):
        build_network(name, **args)
