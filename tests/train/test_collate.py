"""The engine on data that is not a pair of tensors: padded sequences with dict inputs, and
graphs batched as one disjoint graph by a custom collate (real molecules and DNA)."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import Dataset

from precisionmed.errors import ConfigError
from precisionmed.train import TrainConfig, evaluate, fit, predict_outputs, seed_everything
from tests.conftest import require_path

ce = nn.functional.cross_entropy


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: on a shared 2-core machine, a second torch thread only adds waiting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def auc(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    return {"auc": float(roc_auc_score(targets.numpy(), outputs[:, 1].numpy()))}


# --- variable-length SMILES strings, padded, as a dict of tokens and lengths -------------------


class Smiles(Dataset):
    """BBBP molecules as character-code sequences of their SMILES (16-110 characters)."""

    def __init__(self, rows: list[tuple[str, int]], alphabet: dict[str, int]) -> None:
        self.rows, self.alphabet = rows, alphabet

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], int]:
        smiles, label = self.rows[i]
        codes = torch.tensor([self.alphabet[c] for c in smiles], dtype=torch.long)
        return {"tokens": codes}, label


def pad_collate(items: list[tuple[dict[str, torch.Tensor], int]]) -> tuple[dict, torch.Tensor]:
    tokens = [x["tokens"] for x, _ in items]
    padded = nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=0)
    lengths = torch.tensor([len(t) for t in tokens])
    return {"tokens": padded, "lengths": lengths}, torch.tensor([y for _, y in items])


class MeanEmbedding(nn.Module):
    """Embeds characters and averages over the true length of each sequence (padding masked)."""

    def __init__(self, n_codes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_codes + 1, 16, padding_idx=0)
        self.head = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = torch.arange(x["tokens"].shape[1])[None, :] < x["lengths"][:, None]
        summed = (self.embed(x["tokens"]) * mask[..., None]).sum(1)
        return self.head(summed / x["lengths"][:, None])


@pytest.fixture(scope="module")
def bbbp() -> dict[str, Smiles]:
    path = require_path("molecules/moleculenet/bbbp.csv")
    with path.open() as fh:
        rows = [(r["smiles"], int(r["p_np"])) for r in csv.DictReader(fh)][:600]
    alphabet = {c: i + 1 for i, c in enumerate(sorted({c for s, _ in rows for c in s}))}
    order = np.random.default_rng(0).permutation(len(rows))
    parts = {"train": order[:400], "val": order[400:500], "test": order[500:]}
    return {k: Smiles([rows[i] for i in v], alphabet) for k, v in parts.items()}


def test_padded_sequences_with_dict_inputs_train_and_stop_early(bbbp) -> None:
    lengths = {len(s) for s, _ in bbbp["train"].rows}
    assert len(lengths) > 30  # really variable-length
    config = TrainConfig.build(
        max_epochs=40, batch_size=32, lr=1e-2, monitor="val_auc", patience=3, progress=False
    )
    assert config.mode == "max"  # from the metric registry
    seed_everything(0)
    net = MeanEmbedding(len(bbbp["train"].alphabet))
    result = fit(
        net,
        bbbp["train"],
        bbbp["val"],
        bbbp["test"],
        loss_fn=ce,
        metrics_fn=auc,
        config=config,
        collate_fn=pad_collate,
    )
    aucs = [row["val_auc"] for row in result.history]
    assert len(aucs) < 40  # early stopping ended it
    assert result.best_epoch == int(np.argmax(aucs))
    assert len(aucs) == result.best_epoch + 1 + 3  # patience epochs after the best
    assert result.val_metrics["val_auc"] > 0.7
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # evaluate() on the returned network is fit's own test computation, each molecule once
    again = evaluate(result.net, bbbp["test"], metrics_fn=auc, loss_fn=ce, collate_fn=pad_collate)
    assert again == pytest.approx(
        {k.removeprefix("test_"): v for k, v in result.test_metrics.items()}
    )
    out = predict_outputs(result.net, bbbp["test"], batch_size=17, collate_fn=pad_collate)
    labels = torch.tensor([y for _, y in bbbp["test"].rows])
    assert float(ce(out, labels)) == pytest.approx(again["loss"], rel=1e-5)


def test_a_collate_that_returns_no_pair_is_a_config_error(bbbp) -> None:
    with pytest.raises(ConfigError, match=r"train dataset.*\(inputs, target\) pair.*got a dict"):
        fit(
            MeanEmbedding(len(bbbp["train"].alphabet)),
            bbbp["train"],
            bbbp["val"],
            loss_fn=ce,
            config=TrainConfig.build(max_epochs=1, progress=False),
            collate_fn=lambda items: pad_collate(items)[0],
        )


# --- graphs: DNA sequences as chains of nucleotide nodes, batched as one disjoint graph --------


@dataclass
class GraphBatch:
    """Node features (N, 4), edges (2, E) and each node's graph (N,): a disjoint union."""

    x: torch.Tensor
    edges: torch.Tensor
    graph: torch.Tensor
    n_graphs: int

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(
            self.x.to(device), self.edges.to(device), self.graph.to(device), self.n_graphs
        )


def graph_collate(items: list[tuple[torch.Tensor, int]]) -> tuple[GraphBatch, torch.Tensor]:
    xs, edges, graph, offset = [], [], [], 0
    for k, (x, _) in enumerate(items):
        n = len(x)
        chain = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
        edges.append(torch.cat([chain, chain.flip(0)], 1) + offset)
        xs.append(x)
        graph.append(torch.full((n,), k))
        offset += n
    batch = GraphBatch(torch.cat(xs), torch.cat(edges, 1), torch.cat(graph), len(items))
    return batch, torch.tensor([y for _, y in items])


class GraphNet(nn.Module):
    """Two rounds of neighbour sums, then a mean over each graph's nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 32), nn.Linear(32, 32)])
        self.head = nn.Linear(32, 2)

    def forward(self, g: GraphBatch) -> torch.Tensor:
        h = g.x
        for layer in self.layers:
            messages = torch.zeros_like(h).index_add_(0, g.edges[1], h[g.edges[0]])
            h = torch.relu(layer(h + messages))
        pooled = torch.zeros(g.n_graphs, h.shape[1]).index_add_(0, g.graph, h)
        counts = torch.bincount(g.graph, minlength=g.n_graphs).clamp(min=1)
        return self.head(pooled / counts[:, None])


def test_graph_batches_from_a_custom_collate_train(bbbp) -> None:
    path = require_path("genomics/uci_promoters/uci_promoters_kernlab.csv")
    with path.open() as fh:
        rows = [(r["sequence"].upper(), int(r["class"])) for r in csv.DictReader(fh)]
    rng = np.random.default_rng(0)
    onehot = {c: torch.eye(4)[i] for i, c in enumerate("ACGT")}
    # each promoter cut to a random window of 40-57 bases: graphs of different sizes
    items = []
    for seq, label in rows:
        n = int(rng.integers(40, len(seq) + 1))
        start = int(rng.integers(0, len(seq) - n + 1))
        items.append((torch.stack([onehot[c] for c in seq[start : start + n]]), label))
    order = rng.permutation(len(items))
    train, val = [items[i] for i in order[:80]], [items[i] for i in order[80:]]
    assert {y for _, y in train} == {0, 1}
    config = TrainConfig.build(
        max_epochs=15, batch_size=16, lr=1e-2, monitor="val_loss", patience=15, progress=False
    )
    seed_everything(0)
    net = GraphNet()
    before = evaluate(net, val, metrics_fn=auc, loss_fn=ce, collate_fn=graph_collate)
    result = fit(
        net, train, val, loss_fn=ce, metrics_fn=auc, config=config, collate_fn=graph_collate
    )
    assert result.eval_sizes == {"val": len(val)}
    assert result.history[-1]["train_loss"] < 0.8 * result.history[0]["train_loss"]
    assert result.val_metrics["val_loss"] < before["loss"]
    assert result.val_metrics["val_auc"] > 0.75
