"""Variant effect: a sequence model's prediction on the reference and on the alternate allele.

:func:`score_variants` scores every biallelic variant of a VCF (SNVs, MNVs, indels; multi-allelic
records split as :func:`~precisionmed.genomics.vcf.read_variants` does) on two windows of the
model's input length centred on it (:func:`~precisionmed.genomics.haplotypes.variant_windows`),
both strands averaged; the scores go back into the VCF as declared INFO fields and into a TSV.
A sample's haplotypes over BED regions are scored in :mod:`.haplotype_effect`.

Output columns: ``binary`` models have one column (the
probability of ``class_names[1]``); ``multi-class`` and ``multi-label`` models one per class or
label. The log-odds change is ``logit(alt) - logit(ref)`` of that column's probability (for a
multi-class model, the class against all others), probabilities clipped to ``[1e-6, 1 - 1e-6]``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError
from precisionmed.genomics.fasta import FastaReference, open_fasta
from precisionmed.genomics.haplotypes import variant_windows
from precisionmed.genomics.vcf import (
    ContigRename,
    HeaderField,
    Variant,
    VariantIssue,
    read_variants,
    write_vcf,
)

__all__ = [
    "VariantEffects",
    "log_odds_change",
    "output_columns",
    "predict_in_batches",
    "score_variants",
    "window_length",
    "write_tsv",
]

EPS = 1e-6
#: Columns of :meth:`VariantEffects.write_tsv`.
TSV_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "output", "ref_prob", "alt_prob", "diff",
               "log_odds", "issue")  # fmt: skip
#: Issue kinds of :func:`read_variants` that only annotate a record (it is still scored).
_NOTE_KINDS = {"multiallelic_split"}


def log_odds_change(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """``logit(alt) - logit(ref)``, probabilities clipped to ``[1e-6, 1 - 1e-6]``.

    Parameters
    ----------
    ref, alt : ndarray of shape (N, K)
        Probabilities.

    Returns
    -------
    ndarray of shape (N, K)
    """
    r = np.clip(np.asarray(ref, dtype=np.float64), EPS, 1 - EPS)
    a = np.clip(np.asarray(alt, dtype=np.float64), EPS, 1 - EPS)
    return np.log(a / (1 - a)) - np.log(r / (1 - r))


def output_columns(predictor: Any) -> list[str]:
    """Names of the K columns of ``predictor.predict_sequences`` (binary: the positive class)."""
    names = [str(c) for c in predictor.class_names]
    return names[1:2] if predictor.task == "binary" else names


def predict_in_batches(
    predictor: Any, sequences: list[str], batch: int, progress: bool, what: str
) -> np.ndarray:
    """``predictor.predict_sequences`` in batches of ``batch``, with a progress bar on stderr.

    Returns
    -------
    ndarray of shape (len(sequences), K)
        Both strands averaged.
    """
    from rich.console import Console
    from rich.progress import track

    starts = range(0, len(sequences), batch)
    out = [np.empty((0, len(output_columns(predictor))), dtype=np.float32)]
    bar = track(
        starts, description=what, disable=not progress, transient=True, console=Console(stderr=True)
    )
    for i in bar:
        out.append(predictor.predict_sequences(sequences[i : i + batch]))
    return np.concatenate(out)


def window_length(predictor: Any, window: int | None) -> int:
    """``window``, or the model's training sequence length when ``None``."""
    length = int(predictor.input_spec.length) if window is None else int(window)
    if length <= 0:
        raise ConfigError(f"window must be a positive number of bases, got {window}")
    return length


@dataclass
class VariantEffects:
    """What :func:`score_variants` returns.

    Attributes
    ----------
    variants : list of Variant
        The scored variants, in file order.
    ref, alt : ndarray of shape (N, K)
        Probabilities of the reference and alternate windows (both strands averaged).
    columns : list of str
        The K output columns (see the module docstring).
    issues : list of VariantIssue
        Per record, what could not be scored (and ``multiallelic_split`` notes).
    window : int
        Window length in bases.
    vcf : Path
        The scored VCF.
    n_records : int
    """

    variants: list[Variant]
    ref: np.ndarray
    alt: np.ndarray
    columns: list[str]
    issues: list[VariantIssue]
    window: int
    vcf: Path
    n_records: int

    @property
    def diff(self) -> np.ndarray:
        """``alt - ref``, shape (N, K)."""
        return self.alt - self.ref

    @property
    def log_odds(self) -> np.ndarray:
        """``logit(alt) - logit(ref)``, shape (N, K)."""
        return log_odds_change(self.ref, self.alt)

    def _field_ids(self) -> list[str]:
        # binary: PM_REF...; otherwise one INFO key per column, e.g. PM_REF_label_1
        if len(self.columns) == 1:
            return [""]
        return ["_" + re.sub(r"[^A-Za-z0-9_.]", "_", c) for c in self.columns]

    def header_fields(self) -> list[HeaderField]:
        """The ``Number=A`` INFO fields written, four per output column."""
        span = f"{self.window} bp window, both strands averaged"
        what = {
            "REF": f"probability on the reference {span}",
            "ALT": f"probability on the alternate {span}",
            "DIFF": "ALT minus REF probability",
            "LOGODDS": "logit(ALT) minus logit(REF), probabilities clipped to 1e-6",
        }
        fields = []
        for suffix, column in zip(self._field_ids(), self.columns, strict=True):
            for key, text in what.items():
                description = f"precisionmed: output {column}, {text}"
                fields.append(HeaderField(f"PM_{key}{suffix}", "A", "Float", description))
        return fields

    def info(self) -> dict[int, dict[str, tuple[float | None, ...]]]:
        """Per record index, INFO key -> one value per ALT (``None`` where not scored)."""
        import pysam

        # Number=A needs every ALT of the record, scored or not (symbolic ALTs are not)
        with pysam.VariantFile(str(self.vcf)) as vin:
            n_alts = [len(record.alts or ()) for record in vin]
        values: dict[int, dict[str, list[float | None]]] = {}
        arrays = {"REF": self.ref, "ALT": self.alt, "DIFF": self.diff, "LOGODDS": self.log_odds}
        for row, v in enumerate(self.variants):
            record = values.setdefault(v.record_index, {})
            for key, array in arrays.items():
                for col, suffix in enumerate(self._field_ids()):
                    cells = record.setdefault(f"PM_{key}{suffix}", [None] * n_alts[v.record_index])
                    cells[v.alt_index - 1] = round(float(array[row, col]), 6)
        return {i: {k: tuple(c) for k, c in rec.items()} for i, rec in values.items()}

    def write_vcf(self, out: str | Path) -> Path:
        """Every input record to ``out`` (``.vcf.gz`` + ``.tbi``), scored ones with PM_* INFO.

        A multi-allelic record with an unscored ALT (symbolic) gets ``.`` for that ALT.
        """
        return write_vcf(self.vcf, out, fields=self.header_fields(), info=self.info())

    def rows(self) -> list[dict[str, Any]]:
        """TSV rows (:data:`TSV_COLUMNS`): per scored variant (file order) one per output
        column, then one per unscored record or ALT with its issue."""
        notes = {(i.contig, i.pos, i.id): i.kind for i in self.issues if i.kind in _NOTE_KINDS}
        rows = []
        for n, v in enumerate(self.variants):
            chrom = v.vcf_contig or v.contig
            for k, column in enumerate(self.columns):
                values = (self.ref[n, k], self.alt[n, k], self.diff[n, k], self.log_odds[n, k])
                cells = [chrom, v.pos, v.id or ".", v.ref, v.alt, column]
                cells += [f"{x:.6g}" for x in values]
                cells.append(notes.get((chrom, v.pos, v.id), ""))
                rows.append(dict(zip(TSV_COLUMNS, cells, strict=True)))
        empty = dict.fromkeys(TSV_COLUMNS, "")
        for i in self.issues:
            if i.kind not in _NOTE_KINDS:
                where = {"chrom": i.contig, "pos": i.pos, "id": i.id or "."}
                rows.append({**empty, **where, "issue": f"{i.kind}: {i.message}"})
        return rows

    def write_tsv(self, out: str | Path) -> Path:
        """The :meth:`rows` as a tab-separated file with a header line."""
        return write_tsv(out, self.rows(), TSV_COLUMNS)

    def summary(self) -> dict[str, Any]:
        """Counts, the window and the variants with the largest ``|diff|`` (JSON-ready)."""
        counts: dict[str, int] = {}
        for i in self.issues:
            counts[i.kind] = counts.get(i.kind, 0) + 1
        order: list[int] = (
            np.argsort(-np.abs(self.diff).max(axis=1))[:10].tolist() if self.variants else []
        )
        top = [
            {
                "variant": self.variants[j].label,
                "diff": self.diff[j].astype(float).round(6).tolist(),
                "log_odds": self.log_odds[j].astype(float).round(4).tolist(),
            }
            for j in order
        ]
        return {
            "vcf": str(self.vcf),
            "records": self.n_records,
            "scored": len(self.variants),
            "window": self.window,
            "columns": self.columns,
            "issues": counts,
            "largest_effects": top,
        }


def write_tsv(out: str | Path, rows: list[dict[str, Any]], columns: Sequence[str]) -> Path:
    """``rows`` (dicts keyed by ``columns``) as a tab-separated file with a header line."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return out


def score_variants(
    predictor: Any,
    vcf: str | Path,
    fasta: str | Path | FastaReference,
    *,
    window: int | None = None,
    rename_contigs: ContigRename = None,
    batch_size: int = 256,
    progress: bool = False,
) -> VariantEffects:
    """Score every variant of a VCF: the model on its reference and alternate windows.

    Parameters
    ----------
    predictor : SequencePredictor
        A loaded sequence model (``precisionmed.load(model_dir)``).
    vcf : str or Path
        VCF/BCF; every REF is checked against ``fasta`` (mismatches, unknown contigs and
        symbolic alleles are reported in ``issues`` and not scored).
    fasta : str, Path or FastaReference
        The reference genome.
    window : int, optional
        Window length in bases; default the model's training length. Both windows have it,
        indels included (:func:`~precisionmed.genomics.haplotypes.variant_windows`).
    rename_contigs : {"add-chr", "strip-chr", "auto"}, mapping or None
        Opt-in reconciliation of ``20`` and ``chr20`` (see :func:`read_variants`).
    batch_size : int
        Variants per call of the model (each gives two windows).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    VariantEffects
    """
    length = window_length(predictor, window)
    reference = open_fasta(fasta)
    found = read_variants(vcf, reference, rename_contigs=rename_contigs)
    windows = [variant_windows(v, reference, length) for v in found.variants]
    seqs = [s for w in windows for s in (w.ref, w.alt)]
    prob = predict_in_batches(predictor, seqs, 2 * batch_size, progress, "score variants")
    return VariantEffects(
        found.variants,
        prob[0::2],
        prob[1::2],
        output_columns(predictor),
        found.issues,
        length,
        Path(vcf),
        found.n_records,
    )
