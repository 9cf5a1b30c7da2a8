"""``precisionmed imaging``: inspect, train, evaluate, predict, explain and segment images.

Thin over :mod:`precisionmed.imaging` and :mod:`precisionmed.io`; heavy imports happen inside
the commands so ``--help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.state import console, parse_key_values, print_json
from precisionmed.errors import ConfigError

app = typer.Typer(
    help="Medical images: info, train, evaluate, predict, explain, segment.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Print only machine-readable JSON.")
FRAMES = typer.Option(
    None,
    "--frames",
    help="2D models: score frames of a multi-frame file (or slices of a volume): 'all', a "
    "0-based index K, or a list such as 0,3,5; one result per frame.",
)


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
    dataset: str = typer.Option(
        None, help="Catalog dataset, e.g. pneumoniamnist (or give --data-dir)."
    ),
    data_dir: Path = typer.Option(
        None,
        help="Your own images (or give --dataset): class subfolders DIR/<label>/<image>, or "
        "DIR/labels.csv with columns file,label[,split]; for segmentation DIR/images/<case> "
        "with DIR/labels/<case> masks. DICOM, NIfTI, PNG/JPEG or npz.",
    ),
    task: str = typer.Option(
        None,
        help="--data-dir: 'classification' or 'segmentation' (default: segmentation where DIR "
        "has images/ and labels/ subfolders).",
    ),
    size: int = typer.Option(
        64, min=8, help="--data-dir classification: resize every image to SIZE pixels a side."
    ),
    model: str = typer.Option(
        None,
        help="Classifier: resnet18 (default: narrow, widen_factor 0.25; full width with "
        "--network-arg widen_factor=1), reference-cnn, resnet50, densenet121. "
        "Segmenter: unet (default), unet-small.",
    ),
    out: Path = typer.Option(None, help="Model directory (default runs/<dataset>-<model>)."),
    seed: int = typer.Option(0, min=0, help="Random seed (also of the --data-dir split)."),
    max_epochs: int = typer.Option(None, min=1, help="Upper bound on epochs (classifier: 10)."),
    batch_size: int = typer.Option(None, min=1, help="Images per step (classifier: 64)."),
    lr: float = typer.Option(None, help="Learning rate (classifier: 2e-3 with AdamW)."),
    optimizer: str = typer.Option(None, help="adam, adamw or sgd (classifier: adamw)."),
    weight_decay: float = typer.Option(None, help="Weight decay (classifier: 1e-4 with AdamW)."),
    scheduler: str = typer.Option(None, help="none, cosine, step or plateau (classifier: cosine)."),
    patience: int = typer.Option(None, help="Epochs without improvement before stopping."),
    monitor: str = typer.Option("val_auc", help="Validation metric for model selection."),
    devices: int = typer.Option(None, help="Processes / devices (with --strategy ddp)."),
    strategy: str = typer.Option(None, help="Lightning strategy, e.g. ddp."),
    accelerator: str = typer.Option(None, help="cpu (default), gpu or auto."),
    precision: str = typer.Option(
        None, help="32-true (default); mixed precision: bf16-mixed, or 16-mixed on a GPU."
    ),
    num_nodes: int = typer.Option(None, help="Machines (multi-node DDP; see docs/distributed.md)."),
    augment: str = typer.Option(None, help="Augmentation: none, light (default) or strong."),
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
        None,
        "--cv",
        min=2,
        help="k-fold cross-validation on train+val (no augmentation) instead.",
    ),
    subset: int = typer.Option(
        None, min=1, help="Only the first N images of each split (smoke tests)."
    ),
    n_boot: int = typer.Option(1000, min=1, help="Bootstrap resamples for the 95% intervals."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a model already in --out (refused otherwise)."
    ),
    as_json: bool = JSON,
) -> None:
    """Train a classifier (or, for segmentation data, a segmenter) and save it."""
    data: Any
    if (dataset is None) == (data_dir is None):
        raise ConfigError("Give either --dataset (a catalog dataset) or --data-dir (your images).")
    if data_dir is None:
        from precisionmed.data import get_dataset

        if task is not None:
            raise ConfigError("--task describes a --data-dir; a --dataset has its own task.")
        spec = get_dataset(dataset)
        segmentation = spec.task == "segmentation"
        data, name = spec.name, spec.name
    else:
        from precisionmed.imaging.folder import (
            is_segmentation_folder,
            load_image_folder,
            load_segmentation_folder,
        )

        if task not in (None, "classification", "segmentation"):
            raise ConfigError(f"--task must be 'classification' or 'segmentation'; got {task!r}.")
        segmentation = task == "segmentation" or (task is None and is_segmentation_folder(data_dir))
        if segmentation:
            data = load_segmentation_folder(data_dir, seed=seed)
        else:
            data = load_image_folder(data_dir, size=size, seed=seed, subset=subset)
        name = data.name
    train_params: dict[str, Any] = {
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "scheduler": scheduler,
        "patience": patience,
    }
    kwargs = parse_key_values(network_arg, "--network-arg")
    if segmentation:
        model = model or "unet"
    else:
        from precisionmed.imaging.recipe import DEFAULT_AUGMENT, classifier_recipe

        model, kwargs, train_params = classifier_recipe(model, kwargs, train_params)
        augment = augment or DEFAULT_AUGMENT
    out = out or Path("runs") / f"{name}-{model}"
    config = _train_config(
        seed=seed,
        **train_params,
        monitor=None if segmentation else monitor,
        mode=None,  # the direction of the monitored metric, from the metric registry
        devices=devices,
        strategy=strategy,
        accelerator=accelerator,
        precision=precision,
        num_nodes=num_nodes,
        progress=not as_json,
    )
    if segmentation:
        from precisionmed.imaging.segmentation import train_segmenter

        path = train_segmenter(data, model, config, out, n_boot=n_boot, overwrite=overwrite)
        if as_json:
            print_json({"model_dir": str(path)})
        else:
            console.print(f"Model directory: {path}", highlight=False)
        return
    if cv:
        from precisionmed.imaging.crossval import cross_validate_classifier

        summary = cross_validate_classifier(
            data,
            model,
            n_splits=cv,
            config=config,
            subset=subset,
            out_dir=out,
            network_kwargs=kwargs,
        )
        if as_json:
            print_json(summary)
            return
        table = Table("metric", "mean", "std", title=f"{cv}-fold CV of {model} on {name}")
        for key, value in summary["summary"].items():
            table.add_row(key, f"{value['mean']:.4f}", f"{value['std']:.4f}")
        console.print(table)
        console.print(f"Fold results: {summary['file']}", highlight=False)
        return

    from precisionmed.imaging import train_image_classifier

    result = train_image_classifier(
        data,
        model,
        out_dir=out,
        config=config,
        augment=augment,
        subset=subset,
        n_boot=n_boot,
        network_kwargs=kwargs,
        n_members=members,
        overwrite=overwrite,
    )
    test = result.metrics.get("test", {})
    if as_json:
        print_json({"model_dir": str(result.path), "test": test, "best_epoch": result.best_epoch})
        return
    _print_report(test, f"{model} on {name}: test split")
    console.print(f"Model directory: {result.path}", highlight=False)


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
    out: Path = typer.Option(None, help="Output folder (default MODEL_DIR-evaluation/...)."),
    n_boot: int = typer.Option(1000, min=1, help="Bootstrap resamples for the 95% intervals."),
    as_json: bool = JSON,
) -> None:
    """ACC, AUC (95% CI), per-class precision/recall/F1, confusion matrix, ECE, plots."""
    from precisionmed.imaging import evaluate_image_classifier

    report = evaluate_image_classifier(model_dir, dataset, split=split, out_dir=out, n_boot=n_boot)
    if as_json:
        print_json(report)
        return
    _print_report(report, f"{model_dir} on {report['dataset']} ({split})")
    console.print(f"model version: {report['model_version'][:12]}", highlight=False)
    console.print(f"confusion matrix (rows true, columns predicted): {report['confusion_matrix']}")
    console.print(f"Metrics and plots: {Path(report['files'][-1]).parent}", highlight=False)
    console.print(f"Model directory: {model_dir}", highlight=False)


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="A trained image model directory."),
    files: list[Path] = typer.Argument(..., help="DICOM, NIfTI, PNG/JPEG or npz files."),
    out: Path = typer.Option(None, help="Also write the records to OUT/predictions.json."),
    frames: str = FRAMES,
    as_json: bool = JSON,
) -> None:
    """Predict each file: calibrated class probabilities (classifiers) or segmented volumes
    (segmenters), with the model's version and warnings for inputs unlike its training data.
    With --frames, one record per frame, named FILE#frame=K."""
    from precisionmed import load
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.imaging.classifier import ImageClassifier
    from precisionmed.imaging.frames import parse_frames
    from precisionmed.predict import write_records

    if out is not None:
        check_outside_model_dir(out, model_dir)
    chosen = parse_frames(frames)
    predictor = load(model_dir)
    if chosen is None:
        records = predictor.predict(files)
    elif isinstance(predictor, ImageClassifier):
        records = predictor.predict(files, frames=chosen)
    else:
        raise ConfigError(f"--frames applies to image classifiers; {model_dir} is a segmenter.")
    if out is not None:
        write_records(records, out)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    keys = list(records[0].values) if records else []
    table = Table("file", "prediction", *keys, "in distribution")
    flag = {True: "yes", False: "[red]NO[/]", None: "unknown"}
    for r in records:
        pred = r.prediction
        table.add_row(
            Path(r.input).name,  # FILE#frame=K keeps its frame
            ", ".join(pred) if isinstance(pred, list) else str(pred),
            *("-" if r.values[k] is None else f"{r.values[k]:.3f}" for k in keys),
            flag[r.in_distribution],
        )
    console.print(table)
    for r in records:
        for w in r.warnings:
            console.print(f"[yellow]warning:[/] {Path(r.input).name}: {w}", highlight=False)
    notes = {r.details.get("ood", {}).get("note") for r in records} - {None}
    for note in sorted(notes):
        console.print(f"note: {note}", highlight=False)
    if records:
        console.print(
            f"model: {records[0].model} (version {str(records[0].model_version)[:12]})",
            highlight=False,
        )


@app.command()
def explain(
    model_dir: Path = typer.Argument(..., help="A trained image-classifier directory."),
    file: Path = typer.Argument(..., help="The image to explain."),
    out: Path = typer.Option(Path("heatmap.png"), help="PNG to write."),
    target: str = typer.Option(None, help="Class to explain (default: the predicted one)."),
    frames: str = FRAMES,
    as_json: bool = JSON,
) -> None:
    """Grad-CAM heat map drawn over the original image at its own size (2D; a slice montage of
    the model input for 3D volumes). With --frames, one OUT_frameKKK.png per frame."""
    from precisionmed import load
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.imaging.frames import parse_frames
    from precisionmed.imaging.gradcam import explain_file

    check_outside_model_dir(out, model_dir)
    chosen = parse_frames(frames)
    clf = load(model_dir)
    result = explain_file(clf, file, out, target=target, frames=chosen)
    if as_json:
        print_json(result)
        return
    for record in result.get("frames", [result]):
        frame = f" frame {record['frame']}" if "frame" in record else ""
        console.print(
            f"Grad-CAM{frame} for class '{record['target']}' (p = {record['probability']:.3f}): "
            f"{record['png']}",
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
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.imaging.segmenter import segment_file

    check_outside_model_dir(out, model_dir)

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
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
