"""Experiment: DeepDTA on Davis with batches of whole proteins, to make its full schedule fit a CPU.

``chem_dta.py``'s DeepDTA costs about 5 CPU minutes an epoch on this machine (100 epochs:
8 CPU hours) because the protein CNN (1,000 residues) runs once per distinct protein of each
batch, and a random batch of 256 Davis pairs holds about 190 of the 442 proteins. Davis is a
dense 68 x 442 matrix, so a batch can instead be ``--proteins-per-batch`` whole proteins with
all their training pairs (about 54 each): the protein CNN then runs 4-8 times a step instead
of about 190, for a similar number of pairs per step. The question is whether the correlated
batches cost accuracy. Same split (DeepDTA setting 1, validation fold 0), same network and
learning rate as ``chem_train-dta --model deepdta``; early stopping on the validation MSE.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/dev/dta_protein_batches.py --out FILE
[--proteins-per-batch 4] [--max-epochs 100]``.

Outcome (2026-12-07, seed 0, 4 proteins a batch): test CI 0.856, MSE 0.257, best epoch 56 of
77, 16.4 CPU min; adopted as ``protein_chunk`` (the recorded run is ``chem_dta.py``'s). The
grouping is now :func:`~precisionmed.chem.affinity_models.protein_chunks` with one chunk a protein.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import use_shared_mirror  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins-per-batch", type=int, default=4)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--model", default="deepdta", choices=["deepdta", "gin"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    use_shared_mirror()
    torch.set_num_threads(1)
    from precisionmed.chem.affinity_data import affinity_pairs, setting1_split
    from precisionmed.chem.affinity_metrics import affinity_metrics
    from precisionmed.chem.affinity_models import (
        AffinityNet,
        PairCollate,
        drug_inputs,
        protein_chunks,
        protein_tokens,
    )
    from precisionmed.chem.affinity_training import affinity_params, member_outputs
    from precisionmed.chem.molecules import standardize_smiles
    from precisionmed.data import load_dataset
    from precisionmed.train import TrainConfig, fit_members

    cpu0, wall0 = time.process_time(), time.perf_counter()
    data = load_dataset("davis")
    p = affinity_params(args.model)
    pairs = affinity_pairs(data, "kd-nm")
    batch = standardize_smiles(list(data.drugs.values()), progress=False)
    smiles = [s or "" for s in batch.smiles]
    collate = PairCollate(
        drug_inputs(args.model, smiles, batch.mols, int(p.get("smiles_max_len", 0))),
        protein_tokens(list(data.proteins.values()), int(p["protein_max_len"])),
        args.model,
    )
    train_idx, val_idx, test_idx = setting1_split(data, val_fold=0)

    def items(idx: np.ndarray) -> list[tuple[int, int, float]]:
        return [(int(pairs.drug[k]), int(pairs.protein[k]), float(pairs.y[k])) for k in idx]

    def by_protein(idx: np.ndarray) -> list[list[tuple[int, int, float]]]:
        return protein_chunks(items(idx), len(idx), seed=args.seed)  # one chunk a protein

    train, val = by_protein(train_idx), by_protein(val_idx)
    test = items(test_idx)
    y_mean = float(np.mean([t[2] for g in train for t in g]))
    config = TrainConfig.build(
        max_epochs=args.max_epochs, batch_size=args.proteins_per_batch, lr=float(p["lr"]),
        patience=args.patience, seed=args.seed, progress=True,
    )  # fmt: skip

    def build_member(_seed: int):
        net = AffinityNet(args.model, p)
        with torch.no_grad():
            net.head[-1].bias.fill_(y_mean)
        return net, train

    with tempfile.TemporaryDirectory() as tmp:
        fits = fit_members(
            build_member, val, loss_fn=torch.nn.functional.mse_loss, config=config,
            n_members=1, out_dir=tmp, collate_fn=collate,
        )  # fmt: skip
    pred, _ = member_outputs(fits.nets, test, collate)
    y = np.array([t[2] for t in test])
    m = affinity_metrics(y, pred, n_boot=1000, seed=args.seed)
    result = {
        "model": args.model,
        "proteins_per_batch": args.proteins_per_batch,
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "seed": args.seed,
        "test_ci": m["ci"],
        "test_mse": m["mse"],
        "best_epoch": fits.results[0].best_epoch,
        "epochs_run": len(fits.results[0].history),
        "cpu_minutes": (time.process_time() - cpu0) / 60.0,
        "wall_minutes": (time.perf_counter() - wall0) / 60.0,
        "sizes": {"train_proteins": len(train), "val": len(val_idx), "test": len(test)},
    }
    print(json.dumps(result, indent=2, default=str))  # noqa: T201
    args.out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
