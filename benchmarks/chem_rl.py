"""REINVENT on GuacaMol goal-directed tasks and on a predicted-affinity objective, in a CPU budget.

Brown et al., *GuacaMol: Benchmarking Models for De Novo Molecular Design*, J Chem Inf Model 59,
1096 (2019), Table 2: SMILES LSTM and Graph GA on Celecoxib rediscovery (1.000 / 1.000),
Aripiprazole similarity (1.000 / 1.000) and Osimertinib MPO (0.907 / 0.953) (checked against a
transcription of the table). Those runs used a prior trained on ChEMBL for days and far more
scoring calls: GuacaMol's SMILES LSTM scores its whole ChEMBL training set (about 1.6 million
molecules) to pick its starting population, then samples 20 x 1024 more
(``guacamol_baselines/smiles_lstm_hc``). Here:

1. the prior: the CharRNN of ``benchmarks/chem_moses.py`` (2 x 384 LSTM, one epoch over
   850,000 MOSES molecules in bfloat16, about 55 CPU minutes; ``--prior DIR``), or without
   ``--prior`` a quick one trained here (2 x 256 LSTM, one epoch over ``--prior-molecules``,
   about 2.3 CPU minutes);
2. each task: REINVENT with ``RECIPE`` (batch 64, sigma 120, lr 5e-4, replay 10 of 100, no
   scaffold diversity filter: chosen over the filter on three development tasks by
   ``benchmarks/dev/reinvent_recipes.py``) for a fixed budget of scoring calls (``--calls``:
   10,000 is the budget of Gao et al.'s PMO benchmark, NeurIPS 2022, about 2.5 CPU minutes a
   task; the committed run used 50,000); the GuacaMol score is
   that of the 100 best distinct molecules found (GuacaMol's top-1/10/100 average, top-1 for
   rediscovery), with the validity and internal diversity (MOSES IntDiv1) of the final batch and
   of the top 100;
3. target-aware: DeepDTA trained on Davis with its full schedule (``precisionmed chem train-dta
   --dataset davis --model deepdta --param protein_chunk=64``, about 16 CPU minutes;
   ``--dta-epochs N`` for a shorter one) scores the predicted pKd to EGFR; REINVENT maximises it
   with QED >= 0.5 and SA <= 4 (half-Gaussian thresholds), and the top molecules' predicted pKd
   stands beside the best Davis ligand's (canertinib) predicted and measured pKd, each with its
   nearest Davis training drug's Tanimoto similarity and whether it is inside the model's
   applicability domain (a high predicted pKd outside it is an extrapolation); a second run adds
   ``domain_penalty: 0.2`` to the affinity component, which keeps the optimiser near the
   training drugs.

Run (the committed figures): ``python benchmarks/chem_moses.py --models charrnn --work W`` then
``python benchmarks/chem_rl.py --prior W/charrnn --only guacamol --calls 50000`` and, at the same
time, ``python benchmarks/chem_rl.py --prior W/charrnn --only target-aware`` (each part merges
into ``benchmarks/results/chem_rl.json`` with its own run record).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, locked_results, use_shared_mirror  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "chem_rl.json"
TASKS = ("Celecoxib rediscovery", "Aripiprazole similarity", "Osimertinib MPO")
PUBLISHED = {
    "Celecoxib rediscovery": {"smiles_lstm": 1.000, "graph_ga": 1.000},
    "Aripiprazole similarity": {"smiles_lstm": 1.000, "graph_ga": 1.000},
    "Osimertinib MPO": {"smiles_lstm": 0.907, "graph_ga": 0.953},
}
KINASE = "EGFR"
DTA_PROTEIN_CHUNK = 64  # training batches of whole proteins' chunks: ~20x faster on CPU
#: The REINVENT settings of every run here (``ReinventConfig`` fields besides the budget and seed).
RECIPE = {"batch_size": 64, "sigma": 120.0, "learning_rate": 5e-4, "bucket_size": 0}


def cpu_minutes(since: float) -> float:
    return (time.process_time() - since) / 60


def child_cpu_minutes() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) / 60


def train_prior(args: argparse.Namespace, out: Path) -> dict:
    from precisionmed.chem.generative import load_generator
    from precisionmed.chem.generative.training import moses_training_smiles, train_generator
    from precisionmed.train.config import TrainConfig

    start = time.process_time()
    if args.prior is None:
        data = moses_training_smiles(args.prior_molecules, seed=args.seed)
        train_generator(
            "charrnn",
            data,
            out,
            overwrite=True,
            hparams={"hidden_size": 256, "num_layers": 2, "dropout": 0.0, "embedding_dim": 64},
            config=TrainConfig(
                max_epochs=1, batch_size=128, lr=2e-3, seed=args.seed, progress=not args.quiet
            ),
        )
    generator = load_generator(args.prior or out)
    sample = generator.sample(1000, seed=args.seed)
    return {
        "model_dir": str(args.prior or out),
        "molecules": args.prior_molecules if args.prior is None else "given",
        "hparams": generator.model.hparams,
        "validity_of_1000_samples": sample.validity,
        "cpu_minutes": cpu_minutes(start),
    }


def population_stats(smiles: list[str]) -> dict:
    """Validity and MOSES IntDiv1 of a list of SMILES (invalid ones count against validity)."""
    from precisionmed.chem.moses_scoring import fingerprint_matrix, internal_diversity, moses_mol

    mols = [moses_mol(s) for s in smiles]
    valid = [m for m in mols if m is not None]
    diversity = internal_diversity(fingerprint_matrix(valid)) if len(valid) > 1 else float("nan")
    return {"n": len(smiles), "validity": len(valid) / max(len(smiles), 1), "int_div1": diversity}


def reinvent_settings() -> dict:
    """Every ``ReinventConfig`` field of the runs here but the budget, the steps and the seed."""
    from dataclasses import asdict

    from precisionmed.chem.optimize.reinvent import ReinventConfig

    skip = ("steps", "max_calls", "seed")
    return {k: v for k, v in asdict(ReinventConfig(**RECIPE)).items() if k not in skip}


def run_task(
    prior, objective, args: argparse.Namespace, top_counts=(1, 10, 100), recipe=RECIPE
) -> dict:
    from precisionmed.chem.optimize.guacamol import benchmark_score
    from precisionmed.chem.optimize.reinvent import ReinventConfig, run_reinvent

    start = time.process_time()
    config = ReinventConfig(steps=10_000, max_calls=args.calls, seed=args.seed, **recipe)
    result = run_reinvent(prior, objective, config, progress=not args.quiet)
    top = result.top(100)
    history = result.history
    return {
        "score": benchmark_score([r["score"] for r in top], top_counts),
        "top1": top[0]["score"] if top else 0.0,
        "best": top[:5],
        "calls": result.calls,
        "steps": len(history),
        "final_batch": population_stats(result.final_batch),
        "top100": population_stats([r["smiles"] for r in top]),
        "mean_score_first_last_step": [history[0]["mean_score"], history[-1]["mean_score"]],
        "cpu_minutes": cpu_minutes(start),
        "_result": result,
    }


def target_aware(prior, args: argparse.Namespace, work: Path) -> dict:
    import precisionmed
    from precisionmed.chem.optimize.objective import build_objective
    from precisionmed.data import load_dataset

    dta_dir = work / "deepdta"
    child_before = child_cpu_minutes()
    cmd = [
        sys.executable,
        "-m",
        "precisionmed.cli.main",
        "chem",
        "train-dta",
        "--dataset",
        "davis",
        "--model",
        "deepdta",
        "--param",
        f"protein_chunk={DTA_PROTEIN_CHUNK}",
        "--out",
        str(dta_dir),
        "--overwrite",
        "--json",
    ]
    if args.dta_epochs is not None:
        cmd += ["--max-epochs", str(args.dta_epochs)]
    if args.dta_subset:
        cmd += ["--subset", str(args.dta_subset)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}  # torch's threads, as ours
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    dta_metrics = json.loads(done.stdout)
    dta_cpu = child_cpu_minutes() - child_before
    davis = load_dataset("davis")
    names = list(davis.proteins)
    sequence = davis.proteins[KINASE]
    measured = davis.pkd[:, names.index(KINASE)]
    best = int(np.nanargmax(measured))
    best_smiles = list(davis.drugs.values())[best]
    predictor = precisionmed.load(dta_dir)
    components = [
        {"type": "affinity", "model": str(dta_dir), "protein": sequence, "scale": [5, 10],
         "weight": 2},
        {"type": "qed", "min": 0.5, "width": 0.1},
        {"type": "sa", "max": 4, "width": 0.5},
    ]  # fmt: skip
    runs = {}
    # the same objective, then with domain_penalty 0.2: a molecule unlike the Davis training drugs
    # (outside the model's applicability domain) has its affinity desirability cut to a fifth
    for variant, extra in (("unconstrained", {}), ("inside_domain", {"domain_penalty": 0.2})):
        objective = build_objective({"components": [components[0] | extra, *components[1:]]})
        out = run_task(prior, objective, args)
        result = out.pop("_result")
        top = result.top(100)
        records = predictor.predict([r["smiles"] for r in top], protein=sequence)
        runs[variant] = {
            "top10": [
                {
                    "smiles": row["smiles"],
                    "predicted_pkd": r.prediction,
                    "score": row["score"],
                    "qed": _qed(row["smiles"]),
                    "sa": _sa(row["smiles"]),
                    # the nearest Davis training drug (ECFP4 Tanimoto), and the model's domain
                    "nearest_drug_similarity": r.details["applicability"][
                        "nearest_drug_similarity"
                    ],
                    "in_domain": r.details["applicability"]["in_domain"],
                }
                for r, row in zip(records[:10], top[:10], strict=True)
            ],
            "top100_in_domain": float(
                np.mean([r.details["applicability"]["in_domain"] for r in records])
            ),
            **{k: v for k, v in out.items() if k != "best"},
        }
    best_record = predictor.predict([best_smiles], protein=sequence)[0]
    return {
        "kinase": KINASE,
        "objective": "geometric mean of predicted pKd scaled [5, 10] (weight 2), QED >= 0.5 and "
        "SA <= 4 (half-Gaussian thresholds, widths 0.1 and 0.5); inside_domain adds "
        "domain_penalty 0.2 to the affinity",
        "deepdta": {
            "max_epochs": args.dta_epochs or "DeepDTA's 100 (early stopping, patience 20)",
            "protein_chunk": DTA_PROTEIN_CHUNK,
            "full_schedule": args.dta_epochs is None,
            "test_ci": dta_metrics.get("test", {}).get("ci"),
            "test_mse": dta_metrics.get("test", {}).get("mse"),
            "cpu_minutes": dta_cpu,
        },
        "best_davis_ligand": {
            "smiles": best_smiles,
            "drug_id": list(davis.drugs)[best],
            "measured_pkd": float(measured[best]),
            "predicted_pkd": float(best_record.prediction),
            "in_domain": best_record.details["applicability"]["in_domain"],
        },
        "applicability_threshold": predictor.input_spec.applicability_threshold,
        "runs": runs,
    }


def _qed(smiles: str) -> float:
    from rdkit import Chem
    from rdkit.Chem.QED import qed

    return float(qed(Chem.MolFromSmiles(smiles)))


def _sa(smiles: str) -> float:
    from rdkit import Chem

    from precisionmed.chem.moses_scoring import sa_score

    return sa_score(Chem.MolFromSmiles(smiles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="scoring calls per task")
    parser.add_argument("--prior-molecules", type=int, default=40_000)
    parser.add_argument("--prior", type=Path, default=None, help="use this CharRNN instead")
    parser.add_argument("--dta-epochs", type=int, default=None, help="default: DeepDTA's 100")
    parser.add_argument("--dta-subset", type=int, default=None, help="smoke runs only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--work", type=Path, default=None, help="where models go (temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--only",
        choices=["guacamol", "target-aware"],
        default=None,
        help="run one part (two processes can run the two at once); the other part of --out "
        "is kept, and each part records its own run (commit, calls, prior, CPU minutes)",
    )
    args = parser.parse_args()
    use_shared_mirror()
    torch.set_num_threads(args.threads)
    start = time.process_time()
    work = args.work or Path(tempfile.mkdtemp(prefix="chem_rl_"))
    from precisionmed.chem.generative import load_generator
    from precisionmed.chem.optimize.objective import build_objective

    prior_info = train_prior(args, work / "prior")
    print(
        f"prior: validity {prior_info['validity_of_1000_samples']:.3f} "
        f"({prior_info['cpu_minutes']:.1f} CPU min)",
        flush=True,
    )
    prior = load_generator(prior_info["model_dir"]).model
    parts: dict = {}
    if args.only in (None, "guacamol"):
        tasks = {}
        for name in TASKS:
            from precisionmed.chem.optimize.guacamol import goal_directed_task

            objective = build_objective({"components": [{"type": "guacamol", "task": name}]})
            row = run_task(prior, objective, args, goal_directed_task(name).top_counts)
            row.pop("_result")
            row["published"] = PUBLISHED[name]
            row["at_or_above_smiles_lstm"] = row["score"] >= PUBLISHED[name]["smiles_lstm"]
            tasks[name] = row
            print(
                f"{name}: {row['score']:.3f} (SMILES LSTM {PUBLISHED[name]['smiles_lstm']:.3f}, "
                f"Graph GA {PUBLISHED[name]['graph_ga']:.3f}) after {row['calls']} calls; "
                f"final batch validity {row['final_batch']['validity']:.2f}, IntDiv1 "
                f"{row['final_batch']['int_div1']:.3f}",
                flush=True,
            )
        parts["guacamol"] = tasks
    if args.only in (None, "target-aware"):
        target = target_aware(prior, args, work)
        for variant, row in target["runs"].items():
            first = row["top10"][0]
            print(
                f"{KINASE} ({variant}): top predicted pKd {first['predicted_pkd']:.2f} "
                f"(nearest Davis drug {first['nearest_drug_similarity']:.2f}, in domain "
                f"{first['in_domain']}; top 100 in domain {row['top100_in_domain']:.2f}); best "
                f"Davis ligand predicted {target['best_davis_ligand']['predicted_pkd']:.2f}, "
                f"measured {target['best_davis_ligand']['measured_pkd']:.2f}",
                flush=True,
            )
        parts["target_aware"] = target
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    total = cpu_minutes(start) + child_cpu_minutes()
    run = {
        "commit": commit,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "seed": args.seed,
        "calls_per_task": args.calls,
        "cpu_minutes": total,
        "reinvent": reinvent_settings(),
        "prior": prior_info,
    }
    write(parts, run, args.out)
    print(f"{total:.1f} CPU min; wrote {args.out}")


def write(parts: dict, run: dict, out: Path) -> None:
    """Merge ``parts`` (``guacamol``, ``target_aware``) into ``out`` (the two parts may run in
    two processes at once); ``_meta.runs[part]`` is each part's run."""
    with locked_results(out) as results:
        runs = results.get("_meta", {}).get("runs", {})
        for part, value in parts.items():
            results[part] = value
            runs[part] = run
        results["_meta"] = {
            "runs": runs,
            "published_source": "Brown et al., J Chem Inf Model 59, 1096 (2019), Table 2 "
            "(SMILES LSTM, Graph GA)",
            "guacamol_definitions": "precisionmed.chem.optimize.guacamol, checked against "
            "guacamol 0.5.5 in tests/chem/test_guacamol.py",
        }


if __name__ == "__main__":
    main()
