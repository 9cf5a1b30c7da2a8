"""The features the out-of-distribution guard (:mod:`precisionmed.imaging.ood`) reads from a
network: per-stage channel statistics captured by forward hooks; the Mahalanobis and energy
scores."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ArtifactError

if TYPE_CHECKING:
    from precisionmed.io.image import Image

#: Feature-map stages read per classifier (by class name): each stage's channel means and
#: standard deviations, and whether the input of the last linear layer is read too (a ResNet's is
#: the mean of ``layer4``, already read). Other networks (DenseNet-121, whose blocks hold
#: thousands of channels) give the last linear layer's input alone.
STAGES: dict[str, tuple[tuple[str, ...], bool]] = {
    "ResNet": (("conv1", "layer1", "layer2", "layer3", "layer4"), False),
    "ReferenceCNN": (("features.1", "features.4"), True),
}


def feature_modules(net: nn.Module) -> list[tuple[nn.Module, str]]:
    """The modules whose features the guard reads, in forward order, each with how it is read.

    ``"map"``: the channel means and standard deviations of the module's output feature map;
    ``"linear"``: the input of a :class:`torch.nn.Linear` (the pooled penultimate features). A
    classifier (each member of a :class:`~precisionmed.imaging.networks.MeanEnsemble`): the
    stages of :data:`STAGES` and its last linear layer. A MONAI U-Net: the submodule of its
    deepest skip connection (the bottleneck).
    """
    from monai.networks.layers import SkipConnection

    from precisionmed.imaging.networks import MeanEnsemble

    skips = [(n, m) for n, m in net.named_modules() if isinstance(m, SkipConnection)]
    if skips:
        return [(max(skips, key=lambda item: item[0].count("."))[1].submodule, "map")]
    members = list(net.members) if isinstance(net, MeanEnsemble) else [net]
    found: list[tuple[nn.Module, str]] = []
    for member in members:
        stages, with_linear = STAGES.get(type(member).__name__, ((), True))
        found += [(member.get_submodule(name), "map") for name in stages]
        linears = [m for m in member.modules() if isinstance(m, nn.Linear)]
        if with_linear and not linears:
            raise ArtifactError(
                f"{type(member).__name__}: expected a network ending in a linear layer (its "
                "input is the feature vector the out-of-distribution guard reads); got none."
            )
        found += [(linears[-1], "linear")] if with_linear else []
    return found


@contextmanager
def capture_features(net: nn.Module) -> Iterator[list[list[torch.Tensor]]]:
    """Collect the features of every forward pass of ``net`` while the block runs.

    Yields a list with one list of per-batch tensors per feature module
    (:func:`feature_modules`); read them with :func:`stack_features` after the block. A linear
    layer gives its input ``(B, F)``; a feature map its channel means and standard deviations
    ``(B, 2C)``.
    """
    modules = feature_modules(net)
    store: list[list[torch.Tensor]] = [[] for _ in modules]
    handles = []
    for i, (module, how) in enumerate(modules):
        if how == "linear":

            def pre(_m: nn.Module, args: tuple, i: int = i) -> None:
                store[i].append(args[0].detach().flatten(1).float().cpu())

            handles.append(module.register_forward_pre_hook(pre))
        else:

            def post(_m: nn.Module, _args: tuple, out: torch.Tensor, i: int = i) -> None:
                flat = out.detach().float().flatten(2)
                store[i].append(torch.cat([flat.mean(2), flat.std(2)], dim=1).cpu())

            handles.append(module.register_forward_hook(post))
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def stack_features(store: Sequence[Sequence[torch.Tensor]]) -> list[np.ndarray]:
    """The captured features: one array (N, F_b) per feature module, batches stacked."""
    return [torch.cat(list(batches)).double().numpy() for batches in store if batches]


def mahalanobis_scores(
    features: np.ndarray, means: np.ndarray, precision: np.ndarray
) -> np.ndarray:
    """Squared Mahalanobis distance of each row to its closest class mean (shared precision).

    Parameters
    ----------
    features : ndarray of shape (N, F)
    means : ndarray of shape (K, F)
    precision : ndarray of shape (F, F)

    Returns
    -------
    ndarray of shape (N,)
    """
    diff = features[:, None, :] - means[None, :, :]  # (N, K, F)
    dist = np.einsum("nkf,fg,nkg->nk", diff, precision, diff)
    return dist.min(axis=1)


def energy_scores(logits: np.ndarray) -> np.ndarray:
    """Energy score ``-logsumexp(logits)`` per row (Liu et al. 2020; higher: less familiar).

    Measured against the Mahalanobis score in ``benchmarks/imaging_ood.py``.
    """
    from scipy.special import logsumexp

    return -logsumexp(np.asarray(logits, dtype=np.float64), axis=1)


class NetworkOutputs(nn.Module):
    """``net`` as one module whose forward returns ``(logits, *feature blocks)`` in one pass.

    The blocks are those of :func:`capture_features` (as :func:`network_features` returns them),
    so that the network can be exported to another runtime (ONNX) with the out-of-distribution
    guard's features. Adds no parameters of its own.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits (B, K) then one (B, F_b) tensor per feature module, for images (B, C, *size)."""
        with capture_features(self.net) as store:
            logits = self.net(x)
        return (logits, *[batches[0] for batches in store if batches])


def network_features(
    net: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 256
) -> tuple[list[np.ndarray], np.ndarray]:
    """Feature blocks ([(N, F_b)], :func:`stack_features`) and logits (N, K) of images
    (N, C, *size) in one pass."""
    from torch.utils.data import TensorDataset

    from precisionmed.train import predict_outputs

    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    with capture_features(net) as store:
        logits = predict_outputs(net, TensorDataset(x), batch_size=batch_size)
    return stack_features(store), logits.numpy()


def segmenter_patch(volume: np.ndarray, patch_size: Sequence[int]) -> torch.Tensor:
    """The U-Net's central input patch (1, 1, *patch) of a volume already in the training
    orientation: z-scored, padded and centre-cropped as the validation patches in training."""
    from monai.transforms import CenterSpatialCrop, NormalizeIntensity, SpatialPad

    x = torch.as_tensor(NormalizeIntensity()(np.asarray(volume, np.float32)[None]))
    x = CenterSpatialCrop(patch_size)(SpatialPad(patch_size)(x))
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)[None]


@torch.no_grad()
def patch_features(net: nn.Module, patches: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Bottleneck features ([(N, 2C)]) of U-Net input patches, each (1, 1, *patch)."""
    net.eval()
    with capture_features(net) as store:
        for patch in patches:
            net(patch)
    return stack_features(store)


def volume_features(
    net: nn.Module, image: Image, orientation: str, patch: Sequence[int]
) -> list[np.ndarray]:
    """Bottleneck features ([(1, 2C)]) of a read volume (NaN replaced, reoriented, central
    patch)."""
    from precisionmed.imaging.transforms import replace_non_finite
    from precisionmed.imaging.volumes import reorient

    array, _ = replace_non_finite(image.array, where=str(image.path or "volume"))
    volume = reorient(array, image.affine, orientation)
    return patch_features(net, [segmenter_patch(volume, patch)])
