"""``precisionmed imaging``: inspect, train, evaluate, predict, explain and segment images.

Thin over :mod:`precisionmed.imaging` and :mod:`precisionmed.io`; heavy imports happen inside
the commands so ``--help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.state import console, print_json
from precisionmed.errors import ConfigError

app = typer.Typer(
    help="Medical images: info, train, evaluate, predict, explain, segment.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Print only machine-readable JSON.")


def _train_config(**kwargs: Any) -> Any:
    from precisionmed.train import TrainConfig

    return TrainConfig.build(**{k: v for k, v in kwargs.items() if v is not None})


def _fmt_ci(value: dict[str, float]) -> str:
    return f"{value['value']:.4f} (95% CI {value['low']:.4f}-{value['high']:.4f})"


@app.command()
def info(
    file: Path = typer.Argument(..., help="DICOM file or series folder, NIfTI, PNG/JPEG or npz."),
    as_json: bool = JSON,
) -> None:
    """Modality, shape, spacing and orientation of an image file."""
    from precisionmed.io import describe_image

    record = describe_image(file)
    if as_json:
        print_json(record)
        return
    for key, value in record.items():
        console.print(f"[bold]{key}:[/] {value}", highlight=False)


@app.command()
def train(
    dataset: str = typer.Option(..., help="Catalog dataset, e.g. pneumoniamnist."),
    model: str = typer.Option(
        None,
        help="Classifier: reference-cnn (default), resnet18, resnet50, densenet121. "
        "Segmenter: unet (default), unet-small.",
    ),
    out: Path = typer.Option(None, help="Model directory (default runs/<dataset>-<model>)."),
    seed: int = typer.Option(0, help="Random seed."),
    max_epochs: int = typer.Option(None, help="Upper bound on epochs."),
    batch_size: int = typer.Option(None, help="Images per step."),
    lr: float = typer.Option(None, help="Learning rate."),
    optimizer: str = typer.Option(None, help="adam, adamw or sgd."),
    weight_decay: float = typer.Option(None, help="Weight decay."),
    scheduler: str = typer.Option(None, help="none, cosine, step or plateau."),
    patience: int = typer.Option(None, help="Epochs without improvement before stopping."),
    monitor: str = typer.Option("val_auc", help="Validation metric for model selection."),
    devices: int = typer.Option(None, help="Processes / devices (with --strategy ddp)."),
    strategy: str = typer.Option(None, help="Lightning strategy, e.g. ddp."),
    accelerator: str = typer.Option(None, help="cpu (default), gpu or auto."),
    num_nodes: int = typer.Option(None, help="Machines (multi-node DDP; see docs/distributed.md)."),
    augment: str = typer.Option("light", help="Augmentation: none, light or strong."),
    network_arg: list[str] = typer.Option(
        None,
        "--network-arg",
        help="KEY=VALUE passed to the network builder (VALUE read as JSON), repeatable; "
        "e.g. --network-arg widen_factor=0.25 for a narrow ResNet, dropout=0.3 for reference-cnn.",
    ),
    members: int = typer.Option(
        1, "--members", min=1, help="Train a deep ensemble of this many seeds (mean logits)."
    ),
    cv: int = typer.Option(
        None, "--cv", help="k-fold cross-validation on train+val (no augmentation) instead."
    ),
    subset: int = typer.Option(None, help="Only the first N images of each split (smoke tests)."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% intervals."),
    as_json: bool = JSON,
) -> None:
    """Train a classifier (or, for a segmentation dataset, a segmenter) and save it."""
    from precisionmed.data import get_dataset

    spec = get_dataset(dataset)
    segmentation = spec.task == "segmentation"
    model = model or ("unet" if segmentation else "reference-cnn")
    out = out or Path("runs") / f"{spec.name}-{model}"
    config = _train_config(
        seed=seed,
        max_epochs=max_epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        scheduler=scheduler,
        patience=patience,
        monitor=None if segmentation else monitor,
        mode=None,  # the direction of the monitored metric, from the metric registry
        devices=devices,
        strategy=strategy,
        accelerator=accelerator,
        num_nodes=num_nodes,
        progress=not as_json,
    )
    if segmentation:
        from precisionmed.imaging.segmentation import train_segmenter

        path = train_segmenter(spec.name, model, config, out)
        if as_json:
            print_json({"model_dir": str(path)})
        else:
            console.print(f"Model directory: {path}", highlight=False)
        return
    if cv:
        from precisionmed.imaging.crossval import cross_validate_classifier

        summary = cross_validate_classifier(
            spec.name, model, n_splits=cv, config=config, subset=subset, out_dir=out
        )
        if as_json:
            print_json(summary)
            return
        table = Table("metric", "mean", "std", title=f"{cv}-fold CV of {model} on {spec.name}")
        for key, value in summary["summary"].items():
            table.add_row(key, f"{value['mean']:.4f}", f"{value['std']:.4f}")
        console.print(table)
        console.print(f"Fold results: {summary['file']}", highlight=False)
        return

    from precisionmed.imaging import train_image_classifier

    result = train_image_classifier(
        spec.name,
        model,
        out_dir=out,
        config=config,
        augment=augment,
        subset=subset,
        n_boot=n_boot,
        network_kwargs=_network_kwargs(network_arg or []),
        n_members=members,
    )
    test = result.metrics.get("test", {})
    if as_json:
        print_json({"model_dir": str(result.path), "test": test, "best_epoch": result.best_epoch})
        return
    _print_report(test, f"{model} on {spec.name}: test split")
    console.print(f"Model directory: {result.path}", highlight=False)


def _network_kwargs(items: list[str]) -> dict[str, Any]:
    """``["widen_factor=0.25", "dropout=0.3"]`` -> ``{"widen_factor": 0.25, "dropout": 0.3}``."""
    import json

    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--network-arg: expected KEY=VALUE, got {item!r}")
        try:
            kwargs[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key.strip()] = value
    return kwargs


def _print_report(report: dict[str, Any], title: str) -> None:
    if not report:
        return
    table = Table("metric", "value", title=title)
    table.add_row("n", str(report["n"]))
    table.add_row("ACC", _fmt_ci(report["acc"]))
    table.add_row("AUC", _fmt_ci(report["auc"]))
    table.add_row("ECE (uncalibrated)", f"{report['ece']:.4f}")
    table.add_row(f"ECE (T = {report['temperature']:.3f})", f"{report['ece_calibrated']:.4f}")
    table.add_row(
        "NLL (uncalibrated / calibrated)", f"{report['nll']:.4f} / {report['nll_calibrated']:.4f}"
    )
    for label, row in report["per_class"].items():
        table.add_row(
            f"{label}: precision / recall / F1",
            f"{row['precision']:.3f} / {row['recall']:.3f} / {row['f1']:.3f} (n={row['support']})",
        )
    console.print(table)


@app.command()
def evaluate(
    model_dir: Path = typer.Argument(..., help="A trained image-classifier directory."),
    dataset: str = typer.Option(..., help="Catalog dataset to evaluate on."),
    split: str = typer.Option("test", help="train, val or test."),
    out: Path = typer.Option(None, help="Output folder (default MODEL_DIR/evaluation/...)."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% intervals."),
    as_json: bool = JSON,
) -> None:
    """ACC, AUC (95% CI), per-class precision/recall/F1, confusion matrix, ECE, plots."""
    from precisionmed.imaging import evaluate_image_classifier

    report = evaluate_image_classifier(model_dir, dataset, split=split, out_dir=out, n_boot=n_boot)
    if as_json:
        print_json(report)
        return
    _print_report(report, f"{model_dir} on {report['dataset']} ({split})")
    console.print(f"confusion matrix (rows true, columns predicted): {report['confusion_matrix']}")
    console.print(f"Metrics and plots: {Path(report['files'][-1]).parent}", highlight=False)
    console.print(f"Model directory: {model_dir}", highlight=False)


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="A trained image-classifier directory."),
    files: list[Path] = typer.Argument(..., help="DICOM, NIfTI, PNG/JPEG or npz files."),
    as_json: bool = JSON,
) -> None:
    """Calibrated class probabilities for each file."""
    from precisionmed import load

    clf = load(model_dir)
    results = [clf.predict_file(f) for f in files]
    if as_json:
        print_json(results)
        return
    table = Table("file", "prediction", *clf.labels)
    for r in results:
        pred = r["prediction"]
        table.add_row(
            Path(r["file"]).name,
            ", ".join(pred) if isinstance(pred, list) else str(pred),
            *(f"{r['probabilities'][lab]:.3f}" for lab in clf.labels),
        )
    console.print(table)


@app.command()
def explain(
    model_dir: Path = typer.Argument(..., help="A trained image-classifier directory."),
    file: Path = typer.Argument(..., help="The image to explain."),
    out: Path = typer.Option(Path("heatmap.png"), help="PNG to write."),
    target: str = typer.Option(None, help="Class to explain (default: the predicted one)."),
    as_json: bool = JSON,
) -> None:
    """Grad-CAM heat map over the image (a slice montage for 3D volumes)."""
    from precisionmed import load
    from precisionmed.imaging.gradcam import explain_file

    clf = load(model_dir)
    result = explain_file(clf, file, out, target=target)
    if as_json:
        print_json(result)
        return
    console.print(
        f"Grad-CAM for class '{result['target']}' (p = {result['probability']:.3f}): {out}",
        highlight=False,
    )


@app.command()
def segment(
    model_dir: Path = typer.Argument(..., help="A trained segmenter directory."),
    file: Path = typer.Argument(..., help="A DICOM series / NIfTI volume."),
    out: Path = typer.Option(Path("mask.nii.gz"), help="Mask to write (.nii.gz or .dcm SEG)."),
    as_json: bool = JSON,
) -> None:
    """Segment lesions; print each one's location and size."""
    from precisionmed.imaging.segmenter import segment_file

    result = segment_file(model_dir, file, out, as_json=as_json)
    if as_json:
        print_json(result)
        return
    columns = ("label_name", "voxels", "volume_mm3", "centroid_world_mm", "bbox_voxel")
    table = Table(*columns, title=f"{file}: {len(result.get('lesions', []))} structure(s)")
    for lesion in result.get("lesions", []):
        cells = []
        for key in columns:
            value = lesion.get(key, "")
            if isinstance(value, float):
                value = f"{value:.1f}"
            elif isinstance(value, (list, tuple)):
                value = ", ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in value)
            cells.append(str(value))
        table.add_row(*cells)
    console.print(table)
    console.print(f"Mask: {result.get('mask', out)}", highlight=False)
    if result.get("dicom_seg"):
        console.print(f"DICOM SEG: {result['dicom_seg']}", highlight=False)
