"""Train the phasing network on a panel, phase genotype matrices window by window, save and load.

:func:`train_phaser` fits :class:`~precisionmed.genomics.phasing.model.PhasingNet` on the
training engine (:func:`precisionmed.train.fit`) with pseudo-diploids drawn from the panel
(two random haplotypes, a random window), early stopping on windows of individuals held out of
training, and saves a model directory (:func:`precisionmed.artifacts.write_model_dir`, kind
``haplotype-phaser``) that :func:`load_phaser` opens as a :class:`Phaser`.

The phaser is not a :class:`precisionmed.predict.Predictor`: its input is a VCF and its output
a phased VCF (:func:`~precisionmed.genomics.phasing.vcf_phasing.phase_vcf`), not one record per
input under an input specification of the contract's kinds; so ``precisionmed.load`` does not
open it and :func:`load_phaser` does.

Stitching: windows of ``window`` panel sites overlap by ``overlap`` sites. Each window is
decoded on its own; the next window is flipped when most heterozygous sites of the overlap
disagree in orientation with the haplotype built so far, and it takes over from the middle of
the overlap, where both windows see the most flanking sites.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ArtifactError, ConfigError
from precisionmed.genomics.phasing.encoding import MISSING, training_windows, window_starts
from precisionmed.genomics.phasing.metrics import switch_errors
from precisionmed.genomics.phasing.model import DEFAULTS, PhasingNet
from precisionmed.genomics.phasing.simulate import Panel

KIND = "haplotype-phaser"
TRAINING: dict[str, Any] = {
    "window": 64, "overlap": 24, "n_train": 20_000, "n_val": 2_000, "missing_rate": 0.01,
    "max_epochs": 8, "batch_size": 128, "lr": 2e-3, "patience": 2, "val_fraction": 0.1,
}  # fmt: skip


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, restoring the setting after it.

    Measured on the 2-core machine (test settings: 4,000 windows of 32 sites, GRU width 32, 3
    epochs): 4 CPU seconds on one thread, 135 on two (the threads spin on the small recurrent
    steps); so training and decoding here run single-threaded whatever the caller set.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Phaser:
    """A trained phasing network over a panel's sites.

    Attributes
    ----------
    net : PhasingNet
    config : dict
        ``config.json``: sites (``positions``, ``ref``, ``alt``, ``contig``), window, overlap,
        network parameters, panel provenance.
    """

    def __init__(self, net: PhasingNet, config: Mapping[str, Any], artifact: Any = None) -> None:
        self.net = net
        self.config = dict(config)
        self.artifact = artifact
        self.positions = np.asarray(self.config["positions"], dtype=np.int64)

    @property
    def window(self) -> int:
        return int(self.config["window"])

    @property
    def overlap(self) -> int:
        return int(self.config["overlap"])

    def phase_codes(
        self, codes: np.ndarray, *, overlap: int | None = None, batch_size: int = 512,
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Phase genotypes over the panel's sites, windows stitched along the region.

        Parameters
        ----------
        codes : ndarray of shape (N, M), int
            Genotype codes (0/1/2, ``MISSING``) of N individuals at the M panel sites.
        overlap : int, optional
            Sites shared by consecutive windows (default: the model's).
        batch_size : int
            Windows decoded at once.
        progress : bool
            A progress bar over the batches (stderr).

        Returns
        -------
        hap1 : ndarray of shape (N, M), int8
            Haplotype 1 (the genotype minus it is haplotype 2; missing sites: the decoder's
            guess, not a call).
        confidence : ndarray of shape (N, M), float32
            At heterozygous sites, the probability that the site's orientation relative to the
            previous heterozygous site is right; NaN at the first one and at other sites.
        """
        codes = np.asarray(codes, dtype=np.int64)
        n, m = codes.shape
        if m != self.positions.size:
            raise ConfigError(f"phase_codes: {m} sites given; the model has {self.positions.size}")
        w = min(self.window, m)
        overlap = self.overlap if overlap is None else overlap
        starts = np.asarray(window_starts(m, w, min(overlap, w - 1)))
        windows = np.stack([codes[:, s : s + w] for s in starts], axis=1).reshape(-1, w)
        firsts = np.tile(starts, n)
        hap_w = np.zeros(windows.shape, dtype=np.int8)
        prob_w = np.zeros(windows.shape, dtype=np.float32)
        batches = range(0, len(windows), batch_size)
        if progress:
            from rich.console import Console
            from rich.progress import track

            batches = track(batches, description="phasing windows", transient=True,
                            console=Console(stderr=True))  # type: ignore[assignment]  # fmt: skip
        with one_torch_thread():
            for b in batches:
                hap_w[b : b + batch_size], prob_w[b : b + batch_size] = self.net.decode(
                    windows[b : b + batch_size], firsts[b : b + batch_size]
                )
        hap_nw = hap_w.reshape(n, len(starts), w)
        conf_nw = np.maximum(prob_w, 1 - prob_w).reshape(n, len(starts), w)
        hap1 = np.zeros((n, m), dtype=np.int8)
        conf = np.full((n, m), np.nan, dtype=np.float32)
        for i in range(n):
            _stitch(codes[i], starts, w, hap_nw[i], conf_nw[i], hap1[i], conf[i])
        return hap1, conf


def _stitch(
    codes: np.ndarray, starts: np.ndarray, w: int, hap_w: np.ndarray, conf_w: np.ndarray,
    hap1: np.ndarray, conf: np.ndarray,
) -> None:  # fmt: skip
    """Write one individual's windows into ``hap1`` / ``conf`` (see the module docstring)."""
    hap1[:w], conf[:w] = hap_w[0], conf_w[0]
    het_all = codes == 1
    for k in range(1, len(starts)):
        s, prev_end = int(starts[k]), int(starts[k - 1]) + w
        het = het_all[s:prev_end]
        win = hap_w[k].copy()
        agree = int((hap1[s:prev_end][het] == win[: prev_end - s][het]).sum())
        disagree = int(het.sum()) - agree
        if disagree > agree:
            win = np.where(het_all[s : s + w], 1 - win, win).astype(np.int8)
        cut = s + (prev_end - s) // 2
        hap1[cut : s + w] = win[cut - s :]
        conf[cut : s + w] = conf_w[k][cut - s :]
        after = np.flatnonzero(het_all[cut : s + w])
        if after.size:  # the join: as sure as the overlap's agreement
            share = max(agree, disagree) / het.sum() if het.any() else 0.5
            j = cut + int(after[0])
            conf[j] = min(share, conf[j]) if np.isfinite(conf[j]) else share
    first = np.flatnonzero(het_all)
    if first.size:
        conf[first[0]] = np.nan
    conf[~het_all] = np.nan


def _panel_split(panel: Panel, fraction: float, rng: np.random.Generator) -> tuple[Panel, Panel]:
    n = len(panel.samples)
    n_val = max(1, round(fraction * n)) if n >= 4 else 0
    if n_val == 0:
        raise ConfigError(f"a panel of {n} individuals is too small to train on; give >= 4")
    order = rng.permutation(n)
    return panel.select(np.sort(order[n_val:])), panel.select(np.sort(order[:n_val]))


def train_phaser(
    panel: Panel,
    out_dir: str | Path,
    *,
    seed: int = 0,
    min_maf: float = 0.01,
    params: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the phasing network on a panel and save it as a model directory.

    Parameters
    ----------
    panel : Panel
        Phased reference haplotypes (:func:`~precisionmed.genomics.phasing.simulate_panel` or
        :func:`~precisionmed.genomics.phasing.read_panel_vcf`).
    out_dir : path
        The model directory to write.
    seed : int
        Seeds the split, the training windows and the network.
    min_maf : float
        Panel sites below this minor-allele frequency are left out (their genotypes are not
        phased).
    params : mapping, optional
        Network parameters (:data:`~precisionmed.genomics.phasing.model.DEFAULTS`).
    training : mapping, optional
        Window, overlap, sizes and optimiser settings (:data:`TRAINING`).
    overwrite : bool
        Replace a model already at ``out_dir``.
    progress : bool
        The engine's progress bar.

    Returns
    -------
    dict
        ``metrics.json``: switch error of the held-out panel individuals (``val``), sizes,
        training figures.
    """
    import torch
    from torch.utils.data import TensorDataset

    from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir
    from precisionmed.genomics.phasing.model import masked_bce, site_accuracy
    from precisionmed.train import TrainConfig, fit

    unknown = set(params or {}) - set(DEFAULTS) | set(training or {}) - set(TRAINING)
    if unknown:
        raise ConfigError(f"unknown phaser settings {sorted(unknown)}; expected "
                          f"{sorted(DEFAULTS)} or {sorted(TRAINING)}")  # fmt: skip
    params_, train_ = {**DEFAULTS, **(params or {})}, {**TRAINING, **(training or {})}
    panel = panel.common_sites(min_maf)
    rng = np.random.default_rng(seed)
    fit_panel, val_panel = _panel_split(panel, float(train_["val_fraction"]), rng)
    window = min(int(train_["window"]), panel.n_sites)
    overlap = min(int(train_["overlap"]), window - 1)
    start = time.perf_counter()

    def train_and_report(staging: Path) -> tuple[ModelContents, dict[str, Any]]:
        x, y = training_windows(fit_panel.haplotypes, int(train_["n_train"]), window, rng,
                                missing_rate=float(train_["missing_rate"]))  # fmt: skip
        n_val = min(int(train_["n_val"]), max(100, int(train_["n_train"]) // 4))
        xv, yv = training_windows(val_panel.haplotypes, n_val, window, rng)
        config = TrainConfig.build(
            max_epochs=train_["max_epochs"], batch_size=train_["batch_size"], lr=train_["lr"],
            patience=train_["patience"], seed=seed, progress=progress, gradient_clip=1.0,
        )  # fmt: skip
        torch.manual_seed(seed)
        net = PhasingNet(panel.n_sites, **params_)
        result = fit(
            net, TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
            TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv)),
            loss_fn=masked_bce, metrics_fn=site_accuracy, config=config, out_dir=staging,
        )  # fmt: skip
        config_json = {
            "model": "bigru-gru-phaser",
            "architecture": "BiGRU encoder, autoregressive GRU decoder",
            "dataset": panel.source.get("model") or panel.source.get("panel_vcf"),
            "contig": panel.contig, "positions": panel.positions.tolist(),
            "ref": panel.ref, "alt": panel.alt, "window": window, "overlap": overlap,
            "min_maf": min_maf, "seed": seed, "params": params_, "training": train_,
            "panel": panel.source, "n_panel_samples": len(panel.samples),
        }  # fmt: skip
        phaser = Phaser(result.net, config_json)
        truth = val_panel.haplotypes[0::2].astype(np.int8)
        codes = val_panel.genotypes()
        hap1, _ = phaser.phase_codes(codes)
        val = switch_errors(truth, hap1, codes, panel.positions)
        metrics = {
            "val": val, "seed": seed,
            "sizes": {"panel_individuals": len(panel.samples), "fit_individuals":
                      len(fit_panel.samples), "val_individuals": len(val_panel.samples),
                      "sites": panel.n_sites, "train_windows": len(x)},
            "training": {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                         "val_site_accuracy": result.val_metrics.get("val_site_accuracy"),
                         "fit_seconds": result.fit_seconds,
                         "total_wall_seconds": time.perf_counter() - start},
        }  # fmt: skip
        card = ModelCard(
            title=f"Haplotype phaser on {panel.contig}:{panel.positions[0]}-{panel.positions[-1]}",
            intended_use="Research: statistical phasing of unphased genotypes at the panel's "
            "sites, so that haplotype sequences can be scored. Not validated for decisions "
            "about people.",
            training_data=f"{len(panel.samples)} panel individuals ({panel.source}), "
            f"{panel.n_sites} sites with minor-allele frequency >= {min_maf}.",
            limitations=[
                "Only biallelic SNVs at the panel's positions with the panel's alleles are "
                "phased; other heterozygous calls stay unphased.",
                "Trained on one panel and population; phase quality depends on how closely the "
                "patient's haplotypes resemble the panel's.",
            ],
            details={"window": window, "overlap": overlap, **params_},
        )
        contents = ModelContents(
            kind=KIND, pillar="genomics", config=config_json, metrics=metrics, card=card,
            state_dict=result.net.state_dict(),
        )  # fmt: skip
        return contents, metrics

    with one_torch_thread():
        _, metrics = write_model_dir(out_dir, train_and_report, overwrite=overwrite)
    return metrics


def load_phaser(path: str | Path) -> Phaser:
    """Open a model directory written by :func:`train_phaser` (every file checked).

    Raises
    ------
    ArtifactError
        Missing or tampered files, or a model directory of another kind.
    """
    from precisionmed.artifacts import read_artifact

    artifact = read_artifact(path)
    if artifact.kind != KIND:
        raise ArtifactError(
            f"{artifact.path}: a {artifact.kind!r} model; expected a {KIND!r} model "
            "(written by 'precisionmed genomics train-phaser')"
        )
    config = dict(artifact.config)
    net = PhasingNet(len(config["positions"]), **config["params"])
    net.load_state_dict(artifact.state_dict())
    net.eval()
    return Phaser(net, config, artifact)


__all__ = ["KIND", "MISSING", "TRAINING", "Phaser", "load_phaser", "train_phaser"]
