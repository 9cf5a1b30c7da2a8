"""Directed message-passing neural network (D-MPNN, Yang et al. 2019): ``--model mpnn``.

Each bond is two directed edges. An edge's hidden state starts from its source atom's and the
bond's features, ``h0 = ReLU(W_i [x_src, b])``, and for ``depth - 1`` steps takes in the messages
of the edges entering its source atom except its own reverse edge, ``h = ReLU(h0 + W_h m)``
(so a message never flows straight back). Each atom then sums its incoming edges,
``a = ReLU(W_o [x, sum h])``; the atoms are pooled per molecule (``mean``, chemprop 1's default
and Yang et al.'s, or ``sum``; chemprop 2's default ``norm`` is the sum / 100), optionally
concatenated with the scaled RDKit 2D descriptors (``--descriptors``, as chemprop's best
MoleculeNet rows) and mapped to one output per task by a feed-forward head.
The atom (133) and bond (14) features are chemprop's ``V1`` featuriser (Yang et al.'s; chemprop
2 defaults to ``V2``, which adds a few atomic numbers and hybridisations): atomic number,
degree, formal charge, chirality, hydrogens, hybridisation, aromaticity, mass; bond type,
conjugation, ring membership, stereo. Other defaults as chemprop 2.x: hidden 300, depth 3, one
hidden FFN layer of 300, no dropout, batch size 64, 50 epochs (Adam at a constant 1e-3 with
early stopping, the engine's, rather than chemprop's warm-up and decay).

Written here on plain PyTorch rather than taken from chemprop 2.2.4: the network is the ~40
lines of :class:`DMPNN` below, on the same ``index_add_`` scatter and disjoint-graph batching
as the GIN of :mod:`.affinity_models` (:func:`~.affinity_models.mol_graph`,
:func:`~.affinity_models.batch_graphs` are reused), so it trains in our engine (early stopping,
ensembles, ``safetensors`` weights) with no new dependency for the pillar, while chemprop
would add a package whose next minor release (2.3) already moves our RDKit pin. chemprop
2.2.4 itself is the peer of ``benchmarks/chem_properties.py`` when installed, which checks
this implementation against the reference one on the same splits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.chem.affinity_models import _one_hot, batch_graphs, mol_graph
from precisionmed.errors import ConfigError

#: Default hyper-parameters (chemprop 2.x's defaults; ``--param KEY=VALUE`` overrides).
DEFAULTS: dict[str, Any] = {
    "hidden": 300,
    "depth": 3,
    "aggregation": "mean",
    "ffn_hidden": 300,
    "ffn_layers": 1,
    "dropout": 0.0,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "max_epochs": 50,
    "patience": 10,
}

_ATOMIC_NUMBERS = [*range(1, 101), None]  # None: any other (the one-hot's unknown slot)
_DEGREES = [0, 1, 2, 3, 4, 5, None]
_CHARGES = [-1, -2, 1, 2, 0, None]
_CHIRAL_TAGS = [0, 1, 2, 3, None]
_HYDROGENS = [0, 1, 2, 3, 4, None]
_HYBRIDISATIONS = ["SP", "SP2", "SP3", "SP3D", "SP3D2", None]
_BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]
_STEREO = [0, 1, 2, 3, 4, 5, None]

N_ATOM_FEATURES = (
    sum(map(len, (_ATOMIC_NUMBERS, _DEGREES, _CHARGES, _CHIRAL_TAGS, _HYDROGENS, _HYBRIDISATIONS)))
    + 2
)  # aromatic, mass / 100: 133
N_BOND_FEATURES = 1 + len(_BOND_TYPES) + 2 + len(_STEREO)  # 14

#: The featuriser as recorded in a model's ``config.json``.
FEATURIZER: dict[str, Any] = {
    "name": "dmpnn-chemprop-v1",
    "atom_features": ["atomic_number", "degree", "formal_charge", "chiral_tag", "total_hs",
                      "hybridization", "aromatic", "mass/100"],
    "bond_features": ["null", "bond_type", "conjugated", "in_ring", "stereo"],
    "n_atom_features": N_ATOM_FEATURES,
    "n_bond_features": N_BOND_FEATURES,
}  # fmt: skip


def chemprop_atom_features(atom: Any) -> list[float]:
    """chemprop's 133 features of an RDKit atom (its ``v1`` atom featuriser)."""
    return (
        _one_hot(atom.GetAtomicNum(), _ATOMIC_NUMBERS)
        + _one_hot(atom.GetTotalDegree(), _DEGREES)
        + _one_hot(atom.GetFormalCharge(), _CHARGES)
        + _one_hot(int(atom.GetChiralTag()), _CHIRAL_TAGS)
        + _one_hot(int(atom.GetTotalNumHs()), _HYDROGENS)
        + _one_hot(str(atom.GetHybridization()), _HYBRIDISATIONS)
        + [float(atom.GetIsAromatic()), 0.01 * atom.GetMass()]
    )


def chemprop_bond_features(bond: Any) -> list[float]:
    """chemprop's 14 features of an RDKit bond (the first, "no bond", is 0 for a bond)."""
    return (
        [0.0]
        + [float(str(bond.GetBondType()) == t) for t in _BOND_TYPES]
        + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
        + _one_hot(int(bond.GetStereo()), _STEREO)
    )


@dataclass(frozen=True)
class MolGraph:
    """One molecule as the D-MPNN reads it.

    Attributes
    ----------
    x : Tensor of shape (n_atoms, 133)
    edge_index : Tensor of shape (2, 2 * n_bonds)
        Source -> target atom of each directed edge: the bonds, then the same bonds reversed
        (:func:`~.affinity_models.mol_graph`'s layout), so edge ``e``'s reverse is
        ``(e + n_bonds) mod 2 n_bonds``.
    edge_attr : Tensor of shape (2 * n_bonds, 14)
    descriptors : Tensor of shape (n_descriptors,) or None
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    descriptors: torch.Tensor | None = None


def mol_graphs(mols: Sequence[Any], descriptors: np.ndarray | None = None) -> np.ndarray:
    """The :class:`MolGraph` of every molecule, as a 1-D object array (indexable as ``X[rows]``).

    Parameters
    ----------
    mols : sequence of rdkit.Chem.Mol
    descriptors : ndarray of shape (n_mols, n_descriptors), optional
        Scaled RDKit descriptors, concatenated to the pooled graph before the head.
    """
    out = np.empty(len(mols), dtype=object)
    for i, mol in enumerate(mols):
        x, edge_index = mol_graph(mol, chemprop_atom_features)
        bonds = [chemprop_bond_features(b) for b in mol.GetBonds()]
        attr = torch.tensor(bonds + bonds, dtype=torch.float32).reshape(-1, N_BOND_FEATURES)
        extra = None if descriptors is None else torch.as_tensor(descriptors[i]).float()
        out[i] = MolGraph(x, edge_index, attr, extra)
    return out


def n_descriptors(graphs: np.ndarray) -> int:
    """Width of the molecule-level features the graphs carry (0: none)."""
    first = graphs[0] if len(graphs) else None
    return 0 if first is None or first.descriptors is None else len(first.descriptors)


def collate_graphs(items: list[tuple[MolGraph, Any]]) -> tuple[dict[str, torch.Tensor], Any]:
    """``(graph, target)`` items -> one disjoint graph and the targets ``(B, n_tasks)``.

    The batch dict holds :func:`~.affinity_models.batch_graphs`'s ``x``, ``edge_index``,
    ``node_graph``, ``n_graphs``, plus ``edge_attr``, ``reverse`` (each edge's reverse edge)
    and ``descriptors`` ``(B, n_descriptors)`` when the graphs carry them.
    """
    graphs = [g for g, _ in items]
    batch = batch_graphs([(g.x, g.edge_index) for g in graphs])
    batch["edge_attr"] = torch.cat([g.edge_attr for g in graphs])
    reverse, offset = [], 0
    for g in graphs:
        n = g.edge_index.shape[1]
        reverse.append((torch.arange(n) + n // 2) % max(n, 1) + offset)
        offset += n
    batch["reverse"] = torch.cat(reverse)
    if graphs[0].descriptors is not None:
        batch["descriptors"] = torch.stack([g.descriptors for g in graphs])  # type: ignore[misc]
    target = torch.as_tensor(np.stack([np.asarray(t, dtype=np.float32) for _, t in items]))
    return batch, target


class DMPNN(nn.Module):
    """Directed bond message passing, atom readout, pooling and a feed-forward head.

    Parameters
    ----------
    n_tasks : int
    n_descriptors : int
        Width of the molecule-level features concatenated after pooling (0: none).
    hidden, depth, ffn_hidden, ffn_layers : int
    aggregation : {"mean", "sum"}
    dropout : float
    """

    def __init__(
        self,
        n_tasks: int,
        n_descriptors: int = 0,
        *,
        hidden: int = 300,
        depth: int = 3,
        aggregation: str = "mean",
        ffn_hidden: int = 300,
        ffn_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1 or hidden < 1 or ffn_layers < 0 or aggregation not in ("mean", "sum"):
            raise ConfigError(
                "DMPNN needs depth >= 1, hidden >= 1, ffn_layers >= 0 and aggregation 'mean' or "
                f"'sum'. Got depth={depth}, hidden={hidden}, ffn_layers={ffn_layers}, "
                f"aggregation={aggregation!r}."
            )
        self.depth, self.aggregation = depth, aggregation
        self.W_i = nn.Linear(N_ATOM_FEATURES + N_BOND_FEATURES, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_o = nn.Linear(N_ATOM_FEATURES + hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        width = hidden + n_descriptors
        for _ in range(ffn_layers):
            layers += [nn.Dropout(dropout), nn.Linear(width, ffn_hidden), nn.ReLU()]
            width = ffn_hidden
        self.ffn = nn.Sequential(*layers, nn.Dropout(dropout), nn.Linear(width, n_tasks))

    def encode(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The pooled molecule vectors ``(n_graphs, hidden)`` of a :func:`collate_graphs` batch."""
        x, (src, dst) = batch["x"], batch["edge_index"]
        h0 = torch.relu(self.W_i(torch.cat([x[src], batch["edge_attr"]], dim=1)))
        h = h0
        for _ in range(self.depth - 1):
            into = h.new_zeros(len(x), h.shape[1]).index_add_(0, dst, h)  # sum over k -> v
            h = self.dropout(torch.relu(h0 + self.W_h(into[src] - h[batch["reverse"]])))
        into = h0.new_zeros(len(x), h.shape[1]).index_add_(0, dst, h)
        atoms = self.dropout(torch.relu(self.W_o(torch.cat([x, into], dim=1))))
        n_graphs = int(batch["n_graphs"])
        pooled = atoms.new_zeros(n_graphs, atoms.shape[1]).index_add_(0, batch["node_graph"], atoms)
        if self.aggregation == "mean":
            counts = torch.bincount(batch["node_graph"], minlength=n_graphs).clamp(min=1)
            pooled = pooled / counts[:, None]
        return pooled

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """A :func:`collate_graphs` batch -> ``(n_graphs, n_tasks)`` logits or values."""
        pooled = self.encode(batch)
        if "descriptors" in batch:
            pooled = torch.cat([pooled, batch["descriptors"]], dim=1)
        return self.ffn(pooled)


def build_mpnn(n_descriptors: int, n_tasks: int, params: Mapping[str, Any]) -> DMPNN:
    """The untrained :class:`DMPNN` of ``params`` (see :data:`DEFAULTS`)."""
    return DMPNN(
        n_tasks,
        n_descriptors,
        hidden=int(params["hidden"]),
        depth=int(params["depth"]),
        aggregation=str(params["aggregation"]),
        ffn_hidden=int(params["ffn_hidden"]),
        ffn_layers=int(params["ffn_layers"]),
        dropout=float(params["dropout"]),
    )


def graph_items(graphs: np.ndarray, targets: np.ndarray) -> list[tuple[MolGraph, np.ndarray]]:
    """``(graph, target row)`` items for the engine (targets NaN where unlabelled)."""
    return list(zip(graphs, np.asarray(targets, dtype=np.float32), strict=True))


def member_outputs(nets: Sequence[nn.Module], graphs: np.ndarray, n_tasks: int) -> np.ndarray:
    """Every member's raw outputs ``(n_members, n_mols, n_tasks)`` on ``graphs``."""
    from precisionmed.train import predict_outputs

    items = graph_items(graphs, np.full((len(graphs), n_tasks), np.nan))
    return np.stack(
        [predict_outputs(net, items, collate_fn=collate_graphs).float().numpy() for net in nets]
    )


__all__ = [
    "DEFAULTS",
    "DMPNN",
    "FEATURIZER",
    "N_ATOM_FEATURES",
    "N_BOND_FEATURES",
    "MolGraph",
    "build_mpnn",
    "chemprop_atom_features",
    "chemprop_bond_features",
    "collate_graphs",
    "graph_items",
    "member_outputs",
    "mol_graphs",
    "n_descriptors",
]
