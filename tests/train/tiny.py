"""A tiny seeded network and a metrics function shared by the engine tests."""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def tiny_net(seed: int = 0) -> nn.Module:
    """A 1.7k-parameter network for 1x28x28 images, 2 classes, initialised from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 32), nn.ReLU(), nn.Linear(32, 2)
    )


def accuracy_and_count(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """metrics_fn: accuracy, and how many samples the engine passed in."""
    return {"acc": float((outputs.argmax(1) == targets).float().mean()), "n": float(len(targets))}


def state_hash(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the sorted names and raw bytes of every tensor."""
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
