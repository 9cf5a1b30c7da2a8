"""Out-of-distribution guard: AUROC of "another modality" against each model's own test images.

For each 2D MedMNIST set in the mirror (PneumoniaMNIST: chest X-ray; BreastMNIST: ultrasound) a
quick narrow ResNet-18 is trained (its model directory records the guard's reference, see
``precisionmed.imaging.ood``), then every input below goes through the predictor's own
preprocessing and guard, and the guard's scores are compared with those of the model's own
test images (in distribution):

- ``dicom_ct`` / ``dicom_mr``: the CT and MR DICOMs of ``../shared/data/imaging/dicom`` (``ct``,
  ``ct_seg_liver`` CT slices, ``mr``, the 20 ``mr_series_prostate_adc`` slices);
- ``other_medmnist``: the other set's test images (ultrasound into the X-ray model and back);
- ``nifti_hippocampus``: the middle axial slice of 40 hippocampus MR crops (NIfTI, no metadata);
- ``all_other_modality``: the four pooled (the headline; target >= 0.95 on the X-ray model).

Reported apart, not pooled: ``dicom_hip_cr``, a hip radiograph (CR): the same modality as a
chest X-ray, another body part; it counts as out of distribution for a chest model (the model
never saw a hip) but its metadata agree, so only the feature score can flag it.
``dicom_chest_cr``: a chest radiograph from another source, which should *not* be flagged by the
chest model (its flag is reported, no AUROC).

Metrics per group: ``auroc_mahalanobis`` (the feature score alone), ``auroc_energy`` (the energy
score ``-logsumexp(logits)``, measured to choose between the two), ``auroc_combined`` (the feature
score with a metadata mismatch ranked above every score), ``auroc_flag`` (the binary
``in_distribution`` flag) and ``flagged`` (the fraction flagged); ``id_test_flagged`` is the
false-alarm rate on the model's own test images at the recorded threshold.

Run: ``.venv/bin/python benchmarks/imaging_ood.py [--seeds 0 1 2]``; writes
``benchmarks/results/imaging_ood.json`` (dataset -> model -> metrics; headline figures are
means over seeds, each seed's figures beside them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import SHARED_DATA, use_shared_mirror

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "imaging_ood.json"
TARGET_AUROC = 0.95
THREADS = 1
N_NIFTI = 40

_NARROW = {"widen_factor": 0.25}
_ADAMW = {"optimizer": "adamw", "scheduler": "cosine", "lr": 2e-3, "weight_decay": 1e-4}
#: Quick recipes (a few CPU minutes each): the narrow ResNet-18 of imaging_medmnist, fewer epochs.
RECIPES = {
    "pneumoniamnist": {"epochs": 4, "batch_size": 64, "augment": "light"},
    "breastmnist": {"epochs": 15, "batch_size": 32, "augment": "strong"},
}
OTHER = {"pneumoniamnist": "breastmnist", "breastmnist": "pneumoniamnist"}
POOLED = ("dicom_ct", "dicom_mr", "other_medmnist", "nifti_hippocampus")


def mirror(*parts: str) -> Path:
    """A folder of the data mirror (``PRECISIONMED_DATA_MIRROR``, else ``../shared/data``)."""
    return Path(os.environ.get("PRECISIONMED_DATA_MIRROR") or SHARED_DATA).joinpath(*parts)


def dicom_groups() -> dict[str, list[Path]]:
    """The DICOM files of each out-of-distribution group (the SEG and ECG files are no images)."""
    DICOM = mirror("imaging", "dicom")  # noqa: N806
    return {
        "dicom_ct": sorted((DICOM / "ct").glob("*.dcm"))
        + sorted((DICOM / "ct_seg_liver").glob("ct_*.dcm")),
        "dicom_mr": sorted((DICOM / "mr").glob("*.dcm"))
        + sorted((DICOM / "mr_series_prostate_adc").glob("*.dcm")),
        "dicom_hip_cr": [DICOM / "xray" / "RG2_J2KR_hip_CR.dcm"],
        "dicom_chest_cr": [DICOM / "xray" / "RG1_J2KI_chest_CR.dcm"],
    }


def nifti_slices() -> list:
    """Middle axial slices of the first hippocampus MR crops, as 2D images (no metadata)."""
    from precisionmed.io import read_medical_image

    images = []
    folder = mirror("imaging", "nifti", "msd_task04_hippocampus", "imagesTr")
    for path in sorted(folder.glob("*.nii.gz"))[:N_NIFTI]:
        volume = read_medical_image(path)
        mid = volume.array[volume.array.shape[0] // 2]
        images.append(
            dataclasses.replace(volume, array=mid, spacing=volume.spacing[1:], affine=None)
        )
    return images


def guard_scores(clf, images: list) -> dict[str, np.ndarray]:
    """Mahalanobis and energy scores, metadata mismatch and flag of read images (or arrays)."""
    from precisionmed.imaging.ood import (
        assess,
        energy_scores,
        metadata_mismatches,
        network_features,
    )
    from precisionmed.imaging.transforms import prepare_image

    spec = clf.input_spec
    if isinstance(images, np.ndarray):
        x, mismatch = torch.as_tensor(images), [[] for _ in images]
    else:
        x = torch.stack([prepare_image(im, spec)[0] for im in images])
        mismatch = [metadata_mismatches(im, spec) for im in images]
    feats, logits = network_features(clf.net, x)
    flags = assess(clf.ood_reference, spec, feats, mismatch)
    return {
        "mahalanobis": clf.ood_reference.score(feats),
        "energy": energy_scores(logits),
        "mismatch": np.array([bool(m) for m in mismatch]),
        "flagged": np.array([a.in_distribution is False for a in flags]),
    }


def group_metrics(ind: dict[str, np.ndarray], ood: dict[str, np.ndarray]) -> dict[str, float]:
    """AUROC of each score for ``ood`` (positive) against ``ind`` (negative)."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(ind["energy"])), np.ones(len(ood["energy"]))]

    def auroc(key: str) -> float:
        return float(roc_auc_score(y, np.r_[ind[key], ood[key]]))

    top = max(ind["mahalanobis"].max(), ood["mahalanobis"].max()) + 1.0
    combined = {
        k: np.where(d["mismatch"], top, d["mahalanobis"]) for k, d in (("i", ind), ("o", ood))
    }
    return {
        "n": len(ood["energy"]),
        "auroc_mahalanobis": auroc("mahalanobis"),
        "auroc_energy": auroc("energy"),
        "auroc_combined": float(roc_auc_score(y, np.r_[combined["i"], combined["o"]])),
        "auroc_flag": auroc("flagged"),
        "flagged": float(ood["flagged"].mean()),
    }


def run_one(name: str, seed: int) -> dict:
    """Train the quick model of ``name`` and measure its guard on every group."""
    from precisionmed import load
    from precisionmed.imaging import load_classification_data, train_image_classifier
    from precisionmed.imaging.classifier import read_input_image
    from precisionmed.train import TrainConfig

    recipe = RECIPES[name]
    config = TrainConfig.build(
        seed=seed,
        progress=False,
        max_epochs=recipe["epochs"],
        batch_size=recipe["batch_size"],
        patience=recipe["epochs"],
        monitor="val_auc",
        mode="max",
        **_ADAMW,
    )
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_image_classifier(
            name,
            "resnet18",
            out_dir=Path(tmp) / name,
            config=config,
            augment=recipe["augment"],
            network_kwargs=_NARROW,
            n_boot=100,
        )
        clf = load(trained.path)
    ind = guard_scores(clf, load_classification_data(name).arrays["test"][0])
    groups = {
        k: guard_scores(clf, [read_input_image(p) for p in v]) for k, v in dicom_groups().items()
    }
    groups["other_medmnist"] = guard_scores(
        clf, load_classification_data(OTHER[name]).arrays["test"][0]
    )
    groups["nifti_hippocampus"] = guard_scores(clf, nifti_slices())
    groups["all_other_modality"] = {k: np.concatenate([groups[g][k] for g in POOLED]) for k in ind}
    out: dict = {
        "seed": seed,
        "test_auc": trained.metrics["test"]["auc"]["value"],
        "train_cpu_minutes": trained.cpu_seconds / 60.0,
        "threshold": clf.ood_reference.threshold,
        "percentile": clf.ood_reference.percentile,
        "id_test_flagged": float(ind["flagged"].mean()),
        "id_test_n": len(ind["energy"]),
    }
    for key, scores in groups.items():
        if key == "dicom_chest_cr":
            out[key] = {"n": len(scores["energy"]), "flagged": float(scores["flagged"].mean()),
                        "mahalanobis": [float(v) for v in scores["mahalanobis"]]}  # fmt: skip
        else:
            out[key] = group_metrics(ind, scores)
    return out


def summarise(runs: list[dict]) -> dict:
    """Means over seeds of every number (headline), with each seed's figures kept."""

    def mean(values: list) -> object:
        if all(isinstance(v, dict) for v in values):
            return {k: mean([v[k] for v in values]) for k in values[0]}
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return float(np.mean(values))
        return values[0]

    headline = {k: mean([r[k] for r in runs]) for k in runs[0] if k != "seed"}
    headline["seeds"] = [r["seed"] for r in runs]
    headline["per_seed"] = runs
    return headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args()
    use_shared_mirror()
    torch.set_num_threads(args.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    meta = results.get("_meta", {})
    for name in args.only:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        runs = [run_one(name, seed) for seed in args.seeds]
        ours = summarise(runs)
        pooled = ours["all_other_modality"]
        ours["meets_target"] = bool(pooled["auroc_mahalanobis"] >= TARGET_AUROC)
        results[name] = {"precisionmed:resnet18-narrow": ours}
        print(f"\n== {name}: seeds {args.seeds}, threshold p{ours['percentile']:g} of val")
        print(f"{'group':22s} {'n':>5s} {'maha':>6s} {'energy':>6s} {'comb':>6s} {'flag':>6s} "
              f"{'flagged':>7s}")  # fmt: skip
        for key, row in ours.items():
            if isinstance(row, dict) and "auroc_mahalanobis" in row:
                print(
                    f"{key:22s} {row['n']:5.0f} {row['auroc_mahalanobis']:6.3f} "
                    f"{row['auroc_energy']:6.3f} {row['auroc_combined']:6.3f} "
                    f"{row['auroc_flag']:6.3f} {row['flagged']:7.1%}"
                )
        print(f"own test images flagged: {ours['id_test_flagged']:.1%}; chest CR flagged: "
              f"{ours['dicom_chest_cr']['flagged']:.0%}")  # fmt: skip
        meta.setdefault("runs", {})[name] = {
            "seeds": args.seeds,
            "cpu_minutes": (time.process_time() - cpu0) / 60.0,
            "wall_minutes": (time.perf_counter() - wall0) / 60.0,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    meta.update(
        {
            "commit": commit,
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "target": f"auroc_mahalanobis of all_other_modality >= {TARGET_AUROC} (X-ray model)",
            "recipes": RECIPES,
        }
    )
    results["_meta"] = meta
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
