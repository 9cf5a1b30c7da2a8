"""A sample's two haplotypes scored against the reference over BED regions.

Each region is covered by windows of the model's input length (:func:`region_windows`); the
reference and each haplotype are scored on the same windows, and per haplotype the region's
disruption is the largest ``|haplotype - reference|`` over windows and output columns (columns
as in :mod:`precisionmed.genomics.variant_effect`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError
from precisionmed.genomics.bed import BedRegion, read_bed
from precisionmed.genomics.fasta import FastaReference, open_fasta
from precisionmed.genomics.haplotypes import haplotype_sequences, variant_windows
from precisionmed.genomics.variant_effect import (
    output_columns,
    predict_in_batches,
    window_length,
    write_tsv,
)
from precisionmed.genomics.vcf import ContigRename, read_variants, rename_contig

__all__ = ["HaplotypeEffects", "region_windows", "score_haplotypes"]

#: Columns of ``haplotypes.tsv``.
TSV_COLUMNS = ("region", "contig", "start", "end", "n_windows", "haplotype", "phased",
               "variants", "max_abs_diff", "diff", "output", "window_start")  # fmt: skip


@dataclass
class HaplotypeEffects:
    """What :func:`score_haplotypes` returns: per region, per haplotype, the largest disruption.

    Attributes
    ----------
    sample : str
    window : int
    columns : list of str
    regions : list of dict
        Per BED region: ``region``, ``contig``, ``start``, ``end``, ``windows`` (their 0-based
        reference starts), ``haplotypes`` (two dicts: ``haplotype``, ``variants`` (the alleles
        applied within the windows, flanks of a short region included), ``max_abs_diff``,
        ``diff`` (signed, at the maximum), ``output``, ``window_start``), ``unphased`` (per
        heterozygous call without phase in the windows, scored alone on the reference:
        ``variant``, ``ref``, ``alt``, ``diff``, ``max_abs_diff``, ``flag`` = ``unphased``) and
        ``issues`` (overlapping alleles not applied, missing genotypes...: one-line strings).
    """

    sample: str
    window: int
    columns: list[str]
    regions: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "sample": self.sample,
            "window": self.window,
            "columns": self.columns,
            "regions": self.regions,
        }

    def rows(self) -> list[dict[str, Any]]:
        """TSV rows (:data:`TSV_COLUMNS`): per region, haplotype 1, haplotype 2, then one row
        per unphased allele (``haplotype`` = ``allele``, ``phased`` = ``no (unphased)``)."""
        rows = []
        keys = ("max_abs_diff", "diff", "output", "window_start")
        for r in self.regions:
            base = [r["region"], r["contig"], r["start"], r["end"], len(r["windows"])]
            for h in r["haplotypes"]:
                cells = [*base, h["haplotype"], "yes", ";".join(h["variants"])]
                rows.append(dict(zip(TSV_COLUMNS, cells + [h[k] for k in keys], strict=True)))
            for u in r["unphased"]:
                cells = [*base, "allele", "no (unphased)", u["variant"]]
                rows.append(dict(zip(TSV_COLUMNS, cells + [u[k] for k in keys], strict=True)))
        return rows

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """``haplotypes.json`` and ``haplotypes.tsv`` in ``out_dir``."""
        import json

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "haplotypes.json").write_text(json.dumps(self.to_dict(), indent=2))
        return out_dir / "haplotypes.json", write_tsv(
            out_dir / "haplotypes.tsv", self.rows(), TSV_COLUMNS
        )


def region_windows(region: BedRegion, length: int, contig_length: int) -> list[int]:
    """0-based reference starts of the windows that cover a region.

    A region of at least ``length`` bases is tiled by adjacent windows, the last one moved left
    to end at the region's end (it overlaps its neighbour); a shorter region gets one window
    centred on it (reaching into its flanks). Windows stay within the contig when it is long
    enough.
    """
    size = region.end - region.start
    if size >= length:
        n = math.ceil(size / length)
        starts = [min(region.start + i * length, region.end - length) for i in range(n)]
    else:
        starts = [region.start + size // 2 - length // 2]
    return [max(0, min(s, contig_length - length)) for s in starts]


def _haplotype_window(hap: Any, h: int, ws: int, length: int) -> str:
    # the haplotype's bases over reference [ws, ws + length): the span's ends mapped through the
    # indels applied before them, then `length` bases centred on that span (an indel shifts
    # both flanks evenly); padded with N where the haplotype sequence ends
    def offset(pos: int) -> int:
        shift = sum(len(v.alt) - len(v.ref) for v in hap.applied[h] if v.end <= pos)
        return pos - hap.start + shift

    seq = hap.sequences[h]
    lo, hi = offset(ws), offset(ws + length)
    begin = (lo + hi) // 2 - length // 2
    pad_left = max(0, -begin)
    piece = seq[max(begin, 0) : begin + length]
    return ("N" * pad_left + piece).ljust(length, "N")


def _largest(diff: np.ndarray, starts: Sequence[int], columns: list[str]) -> dict[str, Any]:
    w, k = (int(i) for i in np.unravel_index(int(np.argmax(np.abs(diff))), diff.shape))
    return {
        "max_abs_diff": round(float(abs(diff[w, k])), 6),
        "diff": round(float(diff[w, k]), 6),
        "output": columns[k],
        "window_start": int(starts[w]),
    }


def score_haplotypes(
    predictor: Any,
    vcf: str | Path,
    fasta: str | Path | FastaReference,
    regions: str | Path | Iterable[BedRegion],
    *,
    sample: str | None = None,
    window: int | None = None,
    rename_contigs: ContigRename = None,
    progress: bool = False,
) -> HaplotypeEffects:
    """Score a sample's two haplotypes over BED regions against the reference.

    Each region is covered by model-length windows (:func:`region_windows`); the reference and
    each haplotype (the reference with exactly that haplotype's phased alleles applied, indels
    included: :func:`~precisionmed.genomics.haplotypes.haplotype_sequences`) are scored on the
    same windows (a haplotype's window is the ``window`` bases centred on the reference
    window's span as the haplotype's indels moved it), and the largest
    ``|haplotype - reference|`` over windows and output columns is the region's disruption for
    that haplotype. Heterozygous calls without phase are not put on either haplotype: each is
    scored alone on the reference (its centred ref/alt windows) and listed as unphased.

    Parameters
    ----------
    predictor : SequencePredictor
    vcf : str or Path
        A (phased) VCF.
    fasta : str, Path or FastaReference
    regions : str, Path or iterable of BedRegion
        A BED file or its regions (contigs renamed by ``rename_contigs`` as the VCF's are).
    sample : str, optional
        Default: the VCF's only sample.
    window : int, optional
        Default: the model's training length.
    rename_contigs : {"add-chr", "strip-chr", "auto"}, mapping or None
    progress : bool

    Returns
    -------
    HaplotypeEffects

    Raises
    ------
    ConfigError
        No ``sample`` with a multi-sample VCF, or a region off the reference.
    """
    length = window_length(predictor, window)
    reference = open_fasta(fasta)
    beds = read_bed(regions) if isinstance(regions, str | Path) else list(regions)
    found = read_variants(
        vcf, reference, rename_contigs=rename_contigs, samples=[sample] if sample else None
    )
    if len(found.samples) != 1:
        raise ConfigError(
            f"{vcf}: {len(found.samples)} samples {found.samples[:5]}; name one with --sample"
        )
    name = found.samples[0]
    seqs: list[str] = []
    plans = []
    for bed in beds:
        contig = rename_contig(bed.contig, rename_contigs, reference.contigs)
        region = replace(bed, contig=contig)
        contig_length = reference.lengths.get(contig)
        if contig_length is None or region.end > contig_length:
            raise ConfigError(
                f"BED region {region.label} ({region.contig}:{region.start}-"
                f"{region.end}) is not within the reference {reference.path}"
            )
        starts = region_windows(region, length, contig_length)
        lo, hi = max(0, min(starts) - length), min(contig_length, max(starts) + 2 * length)
        hap = haplotype_sequences(found, reference, name, region.contig, lo, hi)
        first = len(seqs)
        for ws in starts:
            seqs.append(reference.fetch(region.contig, ws, ws + length))
            seqs.extend(_haplotype_window(hap, h, ws, length) for h in (0, 1))
        span = (min(starts), max(starts) + length)  # the reference the windows cover
        unphased = [v for v in hap.unphased if v.end > span[0] and v.start < span[1]]
        pairs = [variant_windows(v, reference, length) for v in unphased]
        seqs.extend(s for w in pairs for s in (w.ref, w.alt))
        plans.append((region, starts, span, hap, pairs, first))
    prob = predict_in_batches(predictor, seqs, 512, progress, "score haplotypes")
    columns = output_columns(predictor)
    out = []
    for region, starts, span, hap, pairs, first in plans:
        block = prob[first : first + 3 * len(starts)].reshape(len(starts), 3, -1)
        haps = []
        for h in (0, 1):
            inside = [v.label for v in hap.applied[h] if v.end > span[0] and v.start < span[1]]
            haps.append(
                {
                    "haplotype": h + 1,
                    "variants": inside,
                    **_largest(block[:, h + 1] - block[:, 0], starts, columns),
                }
            )
        singles = []
        at = first + 3 * len(starts)
        for j, w in enumerate(pairs):
            ref, alt = prob[at + 2 * j], prob[at + 2 * j + 1]
            singles.append(
                {
                    "variant": w.variant.label,
                    "ref": ref.astype(float).round(6).tolist(),
                    "alt": alt.astype(float).round(6).tolist(),
                    "flag": "unphased",
                    **_largest((alt - ref)[None], [w.ref_start], columns),
                }
            )
        issues = [
            f"{i.kind}: {i.message}"
            for i in hap.issues
            if i.kind != "unphased" and span[0] < i.pos <= span[1]
        ]
        out.append(
            {
                "region": region.label,
                "contig": region.contig,
                "start": region.start,
                "end": region.end,
                "windows": starts,
                "haplotypes": haps,
                "unphased": singles,
                "issues": issues,
            }
        )
    return HaplotypeEffects(name, length, columns, out)
