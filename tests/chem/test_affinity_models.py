"""The affinity networks: GraphDTA's atom features, the hand-written GIN's batching, and the
pair batches that encode each distinct drug and protein once."""

from __future__ import annotations

import pytest
import torch
from rdkit import Chem

from precisionmed.chem.affinity_models import (
    ATOM_SYMBOLS,
    DEFAULTS,
    N_ATOM_FEATURES,
    AffinityNet,
    PairCollate,
    atom_features,
    batch_graphs,
    drug_inputs,
    mol_graph,
    protein_chunks,
    protein_tokens,
)
from precisionmed.errors import ConfigError

IMATINIB = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"


def test_atom_features_are_graphdta_s_78():
    mol = Chem.MolFromSmiles("c1ccccc1O")
    assert N_ATOM_FEATURES == 78
    features = atom_features(mol.GetAtomWithIdx(6))  # the oxygen
    assert len(features) == 78
    assert features[ATOM_SYMBOLS.index("O")] == 1.0
    assert features[44 + 1] == 1.0  # degree 1
    assert features[55 + 1] == 1.0  # one hydrogen
    assert features[-1] == 0.0  # not aromatic
    assert atom_features(mol.GetAtomWithIdx(0))[-1] == 1.0
    x, edges = mol_graph(mol)
    assert x.shape == (7, 78)
    assert edges.shape == (2, 14)  # 7 bonds, both directions


def test_gin_on_a_disjoint_batch_equals_each_graph_alone():
    torch.manual_seed(0)
    net = AffinityNet("gin", DEFAULTS["gin"]).eval()
    graphs = [mol_graph(Chem.MolFromSmiles(s)) for s in ("CCO", IMATINIB, "c1ccncc1")]
    with torch.no_grad():
        together = net.drug(batch_graphs(graphs))
        alone = torch.cat([net.drug(batch_graphs([g])) for g in graphs])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_pairs_batch_each_drug_and_protein_once_with_the_same_outputs():
    torch.manual_seed(0)
    smiles = ["CCO", IMATINIB]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    proteins = protein_tokens(["MKVLAAGIVG", "MSTNPKPQRK", "MLEICLKLVG"])
    items = [(0, 2, 5.0), (1, 2, 7.0), (0, 0, 5.5), (1, 2, 7.0)]
    for arch in ("deepdta", "gin"):
        net = AffinityNet(arch, DEFAULTS[arch]).eval()
        collate = PairCollate(drug_inputs(arch, smiles, mols), proteins, arch)
        inputs, target = collate(items)
        assert inputs["protein"].shape == (2, 1000)  # proteins 0 and 2, once each
        with torch.no_grad():
            batched = net(inputs)
            single = torch.cat([net(collate([item])[0]) for item in items])
        assert batched.shape == (4,)
        torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)
        assert target.tolist() == [5.0, 7.0, 5.5, 7.0]


def test_protein_chunks_keep_every_pair_once_one_protein_a_chunk():
    items = [(d, p, float(d + p)) for p in range(3) for d in range(7)]
    chunks = protein_chunks(items, 3, seed=1)
    assert sorted(pair for chunk in chunks for pair in chunk) == sorted(items)
    assert all(len({pair[1] for pair in chunk}) == 1 and len(chunk) <= 3 for chunk in chunks)
    assert len(chunks) == 9  # 7 pairs a protein: 3 + 3 + 1
    assert chunks == protein_chunks(items, 3, seed=1)
    with pytest.raises(ConfigError, match="protein_chunk"):
        protein_chunks(items, 0)


def test_a_batch_of_chunks_is_the_batch_of_their_pairs():
    smiles = ["CCO", IMATINIB]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    collate = PairCollate(
        drug_inputs("deepdta", smiles, mols), protein_tokens(["MKVLAAG", "MSTNPK"]), "deepdta"
    )
    chunks = [[(0, 1, 5.0), (1, 1, 6.0)], [(1, 0, 7.0)]]
    chunked, target = collate(chunks)
    flat, flat_target = collate([pair for chunk in chunks for pair in chunk])
    assert target.tolist() == flat_target.tolist() == [5.0, 6.0, 7.0]
    for key in ("drug", "drug_index", "protein", "protein_index"):
        assert torch.equal(chunked[key], flat[key])
