"""Drug-target affinity networks: DeepDTA and GraphDTA's GIN, with their inputs and batches.

``deepdta`` (Öztürk et al. 2018): the label-encoded SMILES (``smiles_max_len`` characters: 85,
DeepDTA's Davis setting; 100 for KIBA) and protein sequence (``protein_max_len``: 1000) are each
embedded (128), passed through three 1-D convolutions (32, 64, 96 filters; kernel 4 for SMILES,
8 for proteins, DeepDTA's Davis setting) and global max pooling; the two codes are concatenated
and regressed by a 1024-1024-512 feed-forward head (dropout 0.1) to one affinity, trained with
MSE.

``gin`` (GraphDTA, Nguyen et al. 2021): the drug is an RDKit atom graph with GraphDTA's 78
atom features (:func:`atom_features`), encoded by five GIN layers (Xu et al. 2019; MLP
Linear-ReLU-Linear of width 32, ReLU and batch norm after each) and global add pooling to 128;
the protein branch is DeepDTA's; GraphDTA's head (1024-256, dropout 0.2).

A batch (:class:`PairCollate`) holds each distinct drug and protein of its pairs once (the
encoders run on those) and, per pair, which drug and protein it is: the same outputs as
encoding every pair's inputs, since neither encoder mixes samples (except GIN's batch norm in
training, whose statistics are then over distinct drugs).

``protein_chunk`` (off by default): training batches of whole proteins instead of random pairs.
The protein CNN over 1,000 residues is most of the cost, and a random batch of 256 Davis pairs
holds about 190 distinct proteins; :func:`protein_chunks` cuts each protein's training pairs into
seeded chunks of at most ``protein_chunk`` pairs, and a batch is ``batch_size // protein_chunk``
shuffled chunks, so the protein CNN runs a few times a step. On Davis (setting 1, one thread)
an epoch of ``deepdta`` then takes about 12 CPU seconds instead of about 5 CPU minutes
(``benchmarks/dev/dta_protein_batches.py``). Written here because it is a property of dense
drug-target matrices, not something a library offers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.chem.affinity_data import (
    PROTEIN_ALPHABET,
    PROTEIN_MAX_LEN,
    SMILES_ALPHABET,
    SMILES_MAX_LEN,
)
from precisionmed.errors import ConfigError

#: Default hyper-parameters (DeepDTA's and GraphDTA's published settings; epochs as theirs).
DEFAULTS: dict[str, dict[str, Any]] = {
    "deepdta": {"smiles_max_len": SMILES_MAX_LEN, "protein_max_len": PROTEIN_MAX_LEN,
                "embed": 128, "filters": 32, "smiles_kernel": 4, "protein_kernel": 8,
                "head": [1024, 1024, 512], "dropout": 0.1, "lr": 1e-3, "batch_size": 256,
                "max_epochs": 100, "patience": 20, "protein_chunk": None},
    "gin": {"protein_max_len": PROTEIN_MAX_LEN, "embed": 128, "filters": 32,
            "protein_kernel": 8, "gin_dim": 32, "gin_layers": 5, "drug_dim": 128,
            "head": [1024, 256], "dropout": 0.2, "lr": 5e-4, "batch_size": 512,
            "max_epochs": 1000, "patience": 50, "protein_chunk": None},
}  # fmt: skip
ARCHITECTURES = tuple(DEFAULTS)

#: GraphDTA's atom symbols (the last one stands for any other element).
ATOM_SYMBOLS = (
    "C", "N", "O", "S", "F", "Si", "P", "Cl", "Br", "Mg", "Na", "Ca", "Fe", "As", "Al", "I", "B",
    "V", "K", "Tl", "Yb", "Sb", "Sn", "Ag", "Pd", "Co", "Se", "Ti", "Zn", "H", "Li", "Ge", "Cu",
    "Au", "Ni", "Cd", "In", "Mn", "Zr", "Cr", "Pt", "Hg", "Pb", "Unknown",
)  # fmt: skip
N_ATOM_FEATURES = len(ATOM_SYMBOLS) + 3 * 11 + 1  # 78


def _one_hot(value: Any, choices: Sequence[Any]) -> list[float]:
    """One-hot over ``choices``, an unknown value counted as the last (GraphDTA's ``_unk``)."""
    index = choices.index(value) if value in choices else len(choices) - 1
    return [float(i == index) for i in range(len(choices))]


def atom_features(atom: Any) -> list[float]:
    """GraphDTA's 78 features of an RDKit atom: symbol (44), degree, total H count and
    implicit valence (0-10 each), aromaticity."""
    from rdkit import Chem

    small = list(range(11))
    implicit = atom.GetValence(Chem.ValenceType.IMPLICIT)
    return (
        _one_hot(atom.GetSymbol(), ATOM_SYMBOLS)
        + _one_hot(atom.GetDegree(), small)
        + _one_hot(atom.GetTotalNumHs(), small)
        + _one_hot(implicit, small)
        + [float(atom.GetIsAromatic())]
    )


def mol_graph(
    mol: Any, featurize: Callable[[Any], list[float]] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Atom features ``(n_atoms, F)`` float (``featurize`` of each atom: GraphDTA's 78
    :func:`atom_features` by default) and both directions of every bond ``(2, 2 * n_bonds)``
    long (the bonds, then the same bonds reversed), of an RDKit molecule."""
    featurize = featurize or atom_features
    x = torch.tensor([featurize(a) for a in mol.GetAtoms()], dtype=torch.float32)
    edges = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    both = edges + [(j, i) for i, j in edges]
    index = torch.tensor(both, dtype=torch.long).T if both else torch.zeros(2, 0, dtype=torch.long)
    return x, index


class SequenceCNN(nn.Module):
    """DeepDTA's encoder of a label-encoded sequence: embedding, three Conv1d + ReLU, global
    max pooling. ``(B, L)`` long -> ``(B, 3 * filters)``."""

    def __init__(self, vocab: int, embed: int, filters: int, kernel: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab + 1, embed, padding_idx=0)
        widths = [embed, filters, 2 * filters, 3 * filters]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv1d(a, b, kernel), nn.ReLU()]
        self.convs = nn.Sequential(*layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.embed(tokens).transpose(1, 2))  # (B, C, L')
        return h.amax(dim=2)


class GIN(nn.Module):
    """GIN layers (Xu et al. 2019, ``eps = 0`` as GraphDTA) with global add pooling.

    Hand-written on ``index_add_`` rather than taken from torch_geometric: the layer is the sum
    of each node's neighbours plus itself through an MLP, some 40 lines here, against a heavy
    dependency with compiled extensions pinned to each torch release.
    """

    def __init__(self, n_features: int, dim: int, layers: int, out: int, dropout: float) -> None:
        super().__init__()
        self.mlps = nn.ModuleList()
        self.norms = nn.ModuleList()
        width = n_features
        for _ in range(layers):
            self.mlps.append(nn.Sequential(nn.Linear(width, dim), nn.ReLU(), nn.Linear(dim, dim)))
            self.norms.append(nn.BatchNorm1d(dim))
            width = dim
        self.out = nn.Sequential(nn.Linear(dim, out), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, graph: dict[str, torch.Tensor]) -> torch.Tensor:
        """``graph``: ``x`` (N, F) node features, ``edge_index`` (2, E) source -> target,
        ``node_graph`` (N,) graph of each node, ``n_graphs`` () -> ``(n_graphs, out)``."""
        h, (src, dst) = graph["x"], graph["edge_index"]
        for mlp, norm in zip(self.mlps, self.norms, strict=True):
            summed = h.clone().index_add_(0, dst, h[src])  # (1 + eps) h_i + sum of neighbours
            h = norm(torch.relu(mlp(summed)))
        pooled = h.new_zeros(int(graph["n_graphs"]), h.shape[1])
        pooled.index_add_(0, graph["node_graph"], h)
        return self.out(pooled)


def _head(width: int, sizes: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, 1))


class AffinityNet(nn.Module):
    """A drug encoder (``deepdta``: SMILES CNN; ``gin``: :class:`GIN`), DeepDTA's protein CNN,
    and a regression head on their concatenation.

    ``forward(batch)`` takes a :class:`PairCollate` batch's inputs and returns ``(B,)``
    affinities (one per pair).
    """

    def __init__(self, architecture: str, params: dict[str, Any]) -> None:
        super().__init__()
        if architecture not in DEFAULTS:
            raise ConfigError(f"Unknown affinity model {architecture!r}; use {ARCHITECTURES}.")
        p = params
        self.architecture = architecture
        self.protein = SequenceCNN(len(PROTEIN_ALPHABET), p["embed"], p["filters"],
                                   p["protein_kernel"])  # fmt: skip
        if architecture == "deepdta":
            self.drug: nn.Module = SequenceCNN(
                len(SMILES_ALPHABET), p["embed"], p["filters"], p["smiles_kernel"]
            )
            drug_dim = 3 * p["filters"]
        else:
            self.drug = GIN(N_ATOM_FEATURES, p["gin_dim"], p["gin_layers"], p["drug_dim"],
                            p["dropout"])  # fmt: skip
            drug_dim = p["drug_dim"]
        self.head = _head(drug_dim + 3 * p["filters"], p["head"], p["dropout"])

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        drugs = self.drug(batch["drug"])[batch["drug_index"]]
        proteins = self.protein(batch["protein"])[batch["protein_index"]]
        return self.head(torch.cat([drugs, proteins], dim=1)).squeeze(1)


class PairCollate:
    """Batches ``(drug id, protein id, affinity)`` items into ``(inputs, target)`` for
    :class:`AffinityNet`: each distinct drug and protein once, and the index of each pair's.

    Parameters
    ----------
    drug_inputs : list
        Per drug id: its label-encoded SMILES ``(SMILES_MAX_LEN,)`` (``deepdta``) or its graph
        ``(x, edge_index)`` (``gin``).
    protein_tokens : Tensor of shape (n_proteins, PROTEIN_MAX_LEN)
    architecture : {"deepdta", "gin"}
    """

    def __init__(self, drug_inputs: list[Any], protein_tokens: torch.Tensor, architecture: str):
        self.drug_inputs = drug_inputs
        self.protein_tokens = protein_tokens
        self.architecture = architecture

    def __call__(self, items: list[Any]) -> tuple[dict[str, Any], torch.Tensor]:
        """``items``: ``(drug, protein, affinity)`` pairs, or chunks (lists) of such pairs."""
        if items and isinstance(items[0], list):
            items = [pair for chunk in items for pair in chunk]
        drugs = torch.tensor([int(i[0]) for i in items])
        proteins = torch.tensor([int(i[1]) for i in items])
        target = torch.tensor([float(i[2]) for i in items], dtype=torch.float32)
        d_ids, d_index = torch.unique(drugs, return_inverse=True)
        p_ids, p_index = torch.unique(proteins, return_inverse=True)
        if self.architecture == "deepdta":
            drug: Any = torch.stack([self.drug_inputs[int(d)] for d in d_ids])
        else:
            drug = batch_graphs([self.drug_inputs[int(d)] for d in d_ids])
        inputs = {"drug": drug, "drug_index": d_index, "protein": self.protein_tokens[p_ids],
                  "protein_index": p_index}  # fmt: skip
        return inputs, target


def protein_chunks(
    items: Sequence[tuple[int, int, float]], size: int, seed: int = 0
) -> list[list[tuple[int, int, float]]]:
    """``(drug, protein, affinity)`` pairs grouped by protein and cut into chunks of at most
    ``size`` pairs (each protein's pairs in a seeded random order first)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"protein_chunk must be a whole number >= 1. Got {size!r}.")
    rng = np.random.default_rng(seed)
    by_protein: dict[int, list[tuple[int, int, float]]] = {}
    for item in items:
        by_protein.setdefault(int(item[1]), []).append(item)
    chunks = []
    for protein in sorted(by_protein):
        pairs = by_protein[protein]
        order = rng.permutation(len(pairs))
        shuffled = [pairs[i] for i in order]
        chunks += [shuffled[i : i + size] for i in range(0, len(shuffled), size)]
    return chunks


def batch_graphs(graphs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Graphs ``(x, edge_index)`` as one disjoint graph (chemprop's and PyG's batching)."""
    offsets = np.cumsum([0] + [len(x) for x, _ in graphs])
    return {
        "x": torch.cat([x for x, _ in graphs]),
        "edge_index": torch.cat(
            [e + int(o) for (_, e), o in zip(graphs, offsets[:-1], strict=True)], 1
        ),
        "node_graph": torch.repeat_interleave(
            torch.arange(len(graphs)), torch.tensor([len(x) for x, _ in graphs])
        ),
        "n_graphs": torch.tensor(len(graphs)),
    }


def drug_inputs(
    architecture: str, smiles: Sequence[str], mols: Sequence[Any], max_len: int = SMILES_MAX_LEN
) -> list[Any]:
    """Per drug, the input its encoder takes: label-encoded SMILES or the atom graph (None
    where ``mols`` has None: a drug RDKit could not read)."""
    from precisionmed.chem.affinity_data import label_encode

    if architecture == "deepdta":
        codes = [label_encode(s, SMILES_ALPHABET, max_len) for s in smiles]
        pairs = zip(codes, mols, strict=True)
        return [None if m is None else torch.from_numpy(c) for c, m in pairs]
    return [None if m is None else mol_graph(m) for m in mols]


def protein_tokens(sequences: Sequence[str], max_len: int = PROTEIN_MAX_LEN) -> torch.Tensor:
    """Label-encoded proteins ``(n, max_len)`` long (truncated or 0-padded)."""
    from precisionmed.chem.affinity_data import label_encode

    return torch.from_numpy(
        np.stack([label_encode(s, PROTEIN_ALPHABET, max_len) for s in sequences])
    )


__all__ = [
    "ARCHITECTURES",
    "ATOM_SYMBOLS",
    "DEFAULTS",
    "GIN",
    "N_ATOM_FEATURES",
    "AffinityNet",
    "PairCollate",
    "SequenceCNN",
    "atom_features",
    "batch_graphs",
    "drug_inputs",
    "mol_graph",
    "protein_chunks",
    "protein_tokens",
]
