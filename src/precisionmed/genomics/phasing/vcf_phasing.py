"""Phase the unphased heterozygous calls of a VCF with a trained phaser (``genomics phase``).

Every record and field of the input is copied (:func:`precisionmed.genomics.vcf.write_vcf`);
only unphased heterozygous diploid calls at the model's sites (same position, REF and ALT,
biallelic record) are rewritten, as ``0|1`` / ``1|0``, with ``PM_PHASE_P`` beside them.
Homozygous, missing and already phased calls are left as they are (they still inform the phase
of the others as genotypes); heterozygous calls at sites the panel lacks stay unphased and are
counted. Each sample is phased on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import DataFormatError
from precisionmed.genomics.phasing.encoding import MISSING
from precisionmed.genomics.phasing.phaser import Phaser
from precisionmed.genomics.vcf import (
    HeaderField,
    Variant,
    check_vcf_output,
    read_variants,
    write_vcf,
)

#: The per-call phase confidence written beside each phased call.
PHASE_FIELD = HeaderField(
    "PM_PHASE_P", "1", "Float",
    "precisionmed phaser: probability that this call's phase relative to the sample's previous "
    "heterozygous call phased by the model is right (missing at the first one)",
    kind="FORMAT",
)  # fmt: skip


@dataclass
class PhasingReport:
    """What :func:`phase_vcf` did.

    Attributes
    ----------
    out : str
    records, samples : int
    matched_sites : int
        Panel sites found in the VCF (same position, REF, ALT).
    counts : dict of str to int
        Calls by fate: ``phased`` (by the model), ``already_phased``, ``not_in_panel``
        (heterozygous, left unphased), ``multiallelic`` (heterozygous on a multi-allelic record,
        left unphased), ``homozygous``, ``missing``.
    mean_confidence : float or None
        Mean ``PM_PHASE_P`` over the phased calls.
    """

    out: str
    records: int
    samples: int
    matched_sites: int
    counts: dict[str, int] = field(default_factory=dict)
    mean_confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _same_contig(a: str, b: str) -> bool:
    def strip(name: str) -> str:
        return name[3:] if name.lower().startswith("chr") else name

    return strip(a) == strip(b)


def _genotype_codes(
    phaser: Phaser, samples: list[str], on_contig: list[Variant], variants: list[Variant]
) -> tuple[np.ndarray, dict[int, int], set[int]]:
    """Genotype codes (samples x panel sites), record -> panel site, multi-allelic records."""
    index = {
        (int(p), r, a): m
        for m, (p, r, a) in enumerate(
            zip(phaser.positions, phaser.config["ref"], phaser.config["alt"], strict=True)
        )
    }
    multi = {v.record_index for v in variants if v.alt_index > 1}
    codes = np.full((len(samples), phaser.positions.size), MISSING, dtype=np.int64)
    site_of: dict[int, int] = {}
    for v in on_contig:
        m = index.get((v.pos, v.ref, v.alt))
        if m is None or v.record_index in multi:
            continue
        site_of[v.record_index] = m
        for s, name in enumerate(samples):
            gt = v.genotypes[name]
            if not gt.missing and len(gt.alleles) == 2:
                codes[s, m] = sum(a == 1 for a in gt.alleles)
    return codes, site_of, multi


def phase_vcf(
    phaser: Phaser, vcf: str | Path, out: str | Path, *, progress: bool = False
) -> PhasingReport:
    """Phase every sample of ``vcf`` and write ``out`` (bgzipped, tabix-indexed).

    Parameters
    ----------
    phaser : Phaser
        From :func:`~precisionmed.genomics.phasing.load_phaser`.
    vcf : path
        VCF/BCF with diploid calls, on the model's contig (``20`` and ``chr20`` are the same).
    out : path
        ``*.vcf.gz``.
    progress : bool
        A progress bar while decoding.

    Returns
    -------
    PhasingReport

    Raises
    ------
    DataFormatError
        The VCF cannot be read, has no sample, or has no record on the model's contig.
    ConfigError
        ``out`` is not named ``*.vcf.gz``.
    """
    out = check_vcf_output(out)
    data = read_variants(vcf)
    if not data.samples:
        raise DataFormatError(f"{vcf}: no sample column; phasing needs genotypes")
    contig = str(phaser.config["contig"])
    on_contig = [v for v in data.variants if _same_contig(v.vcf_contig, contig)]
    if data.variants and not on_contig:
        found = sorted({v.vcf_contig for v in data.variants})
        raise DataFormatError(f"{vcf}: no record on the model's contig {contig}; found {found}")
    codes, site_of, multi = _genotype_codes(phaser, data.samples, on_contig, data.variants)
    hap1, conf = phaser.phase_codes(codes, progress=progress)
    counts = dict.fromkeys(("phased", "already_phased", "not_in_panel", "multiallelic",
                            "homozygous", "missing"), 0)  # fmt: skip
    formats: dict[int, dict[str, dict[str, Any]]] = {}
    used: list[float] = []
    seen: set[int] = set()
    for v in data.variants:
        if v.record_index in seen:
            continue
        seen.add(v.record_index)
        m = site_of.get(v.record_index)
        for s, name in enumerate(data.samples):
            gt = v.genotypes[name]
            if gt.missing:
                counts["missing"] += 1
            elif not gt.heterozygous:
                counts["homozygous"] += 1
            elif gt.phased:
                counts["already_phased"] += 1
            elif v.record_index in multi:
                counts["multiallelic"] += 1
            elif m is None or len(gt.alleles) != 2:
                counts["not_in_panel"] += 1
            else:
                counts["phased"] += 1
                call: dict[str, Any] = {"GT": (1, 0) if hap1[s, m] == 1 else (0, 1), "phased": True}
                if np.isfinite(conf[s, m]):
                    call[PHASE_FIELD.id] = round(float(conf[s, m]), 4)
                    used.append(float(conf[s, m]))
                formats.setdefault(v.record_index, {})[name] = call
    write_vcf(vcf, out, fields=[PHASE_FIELD], formats=formats)
    return PhasingReport(
        out=str(out),
        records=data.n_records,
        samples=len(data.samples),
        matched_sites=len(site_of),
        counts=counts,
        mean_confidence=float(np.mean(used)) if used else None,
    )


__all__ = ["PHASE_FIELD", "PhasingReport", "phase_vcf"]
