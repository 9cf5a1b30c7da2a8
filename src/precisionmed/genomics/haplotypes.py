"""A sample's two haplotype sequences over a region, and ref/alt windows around one variant.

:func:`haplotype_sequences` applies exactly one haplotype's alleles of a (phased) VCF sample to
the reference: SNVs, MNVs and indels, left to right, coordinates shifting with each indel.
Unphased heterozygous calls have no known haplotype: by default they are left out of both
sequences and listed in ``unphased`` (to be scored per allele with :func:`variant_windows`);
homozygous calls are the same on both haplotypes whatever their phasing. A variant that
overlaps one already applied to the same haplotype is reported and not applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from precisionmed.errors import ConfigError
from precisionmed.genomics.fasta import FastaReference, open_fasta
from precisionmed.genomics.vcf import Variant, VariantIssue, VariantSet

__all__ = ["HaplotypeSequences", "VariantWindows", "haplotype_sequences", "variant_windows"]


@dataclass
class HaplotypeSequences:
    """A sample's two haplotypes over ``contig:[start, end)``.

    Attributes
    ----------
    sample, contig : str
    start, end : int
        The region on the reference, 0-based half-open.
    sequences : tuple of (str, str)
        Haplotype 1 and 2 (first and second GT allele), upper case; lengths differ from
        ``end - start`` by the net length of the indels applied.
    applied : tuple of (list of Variant, list of Variant)
        The variants applied to each haplotype, in position order.
    unphased : list of Variant
        Heterozygous calls without phase (not applied unless ``unphased="as-listed"``).
    issues : list of VariantIssue
        ``overlap`` (not applied to that haplotype), ``missing_genotype``, ``unphased``,
        ``crosses_region`` (REF extends past the region; not applied), ``phase_sets`` (phased
        calls from more than one phase set: their relative phase is unknown).
    """

    sample: str
    contig: str
    start: int
    end: int
    sequences: tuple[str, str]
    applied: tuple[list[Variant], list[Variant]]
    unphased: list[Variant] = field(default_factory=list)
    issues: list[VariantIssue] = field(default_factory=list)

    def reference_position(self, haplotype: int, offset: int) -> int | None:
        """The 0-based reference position of base ``offset`` of a haplotype sequence.

        Parameters
        ----------
        haplotype : {0, 1}
        offset : int
            0-based index into ``sequences[haplotype]``.

        Returns
        -------
        int or None
            ``None`` for a base inside an applied ALT allele (inserted or substituted).
        """
        ref_pos, hap_pos = self.start, 0
        for v in self.applied[haplotype]:
            before = v.start - ref_pos  # unchanged reference bases before this variant
            if offset < hap_pos + before:
                return ref_pos + (offset - hap_pos)
            hap_pos += before
            if offset < hap_pos + len(v.alt):
                return None
            hap_pos += len(v.alt)
            ref_pos = v.end
        return ref_pos + (offset - hap_pos)


@dataclass(frozen=True)
class VariantWindows:
    """Reference and alternate sequences of equal length centred on one variant.

    Attributes
    ----------
    variant : Variant
    ref, alt : str
        ``length`` bases each; REF (resp. ALT) sits in the middle, flanked by the reference,
        padded with ``N`` past a contig's end.
    ref_start, alt_start : int
        0-based reference position of each window's first base (may be negative near the
        contig's start, where the window is padded with ``N``).
    """

    variant: Variant
    ref: str
    alt: str
    ref_start: int
    alt_start: int


def _variants_of(variants: VariantSet | Iterable[Variant]) -> list[Variant]:
    return list(variants.variants if isinstance(variants, VariantSet) else variants)


def _issue(v: Variant, kind: str, message: str) -> VariantIssue:
    return VariantIssue(v.vcf_contig or v.contig, v.pos, v.id, kind, message)


def _build(reference: str, start: int, edits: list[Variant]) -> str:
    pieces, cursor = [], start
    for v in edits:
        pieces.append(reference[cursor - start : v.start - start])
        pieces.append(v.alt)
        cursor = v.end
    pieces.append(reference[cursor - start :])
    return "".join(pieces)


def haplotype_sequences(
    variants: VariantSet | Iterable[Variant],
    reference: str | Path | FastaReference,
    sample: str,
    contig: str,
    start: int,
    end: int,
    *,
    unphased: Literal["skip", "as-listed"] = "skip",
) -> HaplotypeSequences:
    """The two haplotype sequences of ``sample`` over ``contig:[start, end)``.

    Parameters
    ----------
    variants : VariantSet or iterable of Variant
        Biallelic variants (from :func:`precisionmed.genomics.vcf.read_variants`, so REF has
        been checked against the reference and multi-allelic records split).
    reference : str, Path or FastaReference
        The reference FASTA.
    sample : str
        A sample of the VCF.
    contig : str
        Reference contig name.
    start, end : int
        The region, 0-based half-open (as a BED line).
    unphased : {"skip", "as-listed"}
        What to do with a heterozygous call without phase: ``"skip"`` leaves it out of both
        haplotypes (it is listed in ``unphased`` and flagged); ``"as-listed"`` applies its first
        GT allele to haplotype 1 and its second to haplotype 2, as if phased (still flagged).

    Returns
    -------
    HaplotypeSequences

    Raises
    ------
    ConfigError
        ``start``/``end`` outside the contig, ``unphased`` unknown, or ``sample`` absent
        from a variant's genotypes.
    """
    if unphased not in ("skip", "as-listed"):
        raise ConfigError(f"unphased must be 'skip' or 'as-listed', got {unphased!r}")
    fasta = open_fasta(reference)
    length = fasta.lengths.get(contig)
    if length is None or not 0 <= start <= end <= length:
        raise ConfigError(
            f"region {contig}:{start}-{end} is not within the reference "
            f"({contig} length {length}) of {fasta.path}"
        )
    ref_seq = fasta.fetch(contig, start, end)
    chosen: tuple[list[Variant], list[Variant]] = ([], [])
    flagged: list[Variant] = []
    issues: list[VariantIssue] = []
    phase_sets: set[int] = set()
    in_region = [v for v in _variants_of(variants) if v.contig == contig]
    in_region = [v for v in in_region if v.end > start and v.start < end]
    for v in sorted(in_region, key=lambda v: (v.start, v.end)):
        if sample not in v.genotypes:
            raise ConfigError(f"sample {sample!r} has no genotype at {v.label}")
        gt = v.genotypes[sample]
        if v.start < start or v.end > end:
            issues.append(_issue(v, "crosses_region", f"{v.label} extends past {start}-{end}"))
            continue
        if gt.missing:
            issues.append(_issue(v, "missing_genotype", f"{v.label}: GT is missing"))
            continue
        alleles = gt.alleles * 2 if len(gt.alleles) == 1 else gt.alleles[:2]
        if 1 not in alleles:
            continue  # neither haplotype carries this ALT (0/0, or another ALT of the record)
        if not gt.phased and gt.heterozygous:
            flagged.append(v)
            issues.append(_issue(v, "unphased", f"{v.label}: heterozygous call without phase"))
            if unphased == "skip":
                continue
        elif gt.phased and gt.heterozygous and gt.phase_set is not None:
            phase_sets.add(gt.phase_set)
        for hap, allele in enumerate(alleles):
            if allele != 1:
                continue
            previous = chosen[hap][-1] if chosen[hap] else None
            if previous is not None and v.start < previous.end:
                issues.append(
                    _issue(
                        v,
                        "overlap",
                        f"{v.label} overlaps {previous.label} on haplotype {hap + 1}; not applied",
                    )
                )
                continue
            chosen[hap].append(v)
    if len(phase_sets) > 1:
        first = chosen[0][0] if chosen[0] else in_region[0]
        issues.append(
            _issue(first, "phase_sets", f"phased calls from {len(phase_sets)} phase sets in region")
        )
    sequences = (_build(ref_seq, start, chosen[0]), _build(ref_seq, start, chosen[1]))
    return HaplotypeSequences(sample, contig, start, end, sequences, chosen, flagged, issues)


def variant_windows(
    variant: Variant, reference: str | Path | FastaReference, length: int
) -> VariantWindows:
    """Reference and alternate windows of ``length`` bases centred on one variant.

    The allele (REF in one window, ALT in the other) is placed in the middle with
    ``(length - len(allele)) // 2`` reference bases on its left and the rest on its right, so
    both windows have the same length whatever the indel; an allele longer than ``length``
    keeps its central ``length`` bases.

    Parameters
    ----------
    variant : Variant
        A biallelic variant on a contig of ``reference``.
    reference : str, Path or FastaReference
        The reference FASTA.
    length : int
        Window length in bases (> 0).

    Returns
    -------
    VariantWindows
    """
    if length <= 0:
        raise ConfigError(f"window length must be a positive integer, got {length}")
    fasta = open_fasta(reference)
    contig_length = fasta.lengths.get(variant.contig)
    if contig_length is None:
        raise ConfigError(f"{variant.label}: contig {variant.contig!r} is not in {fasta.path}")

    def flank(begin: int, stop: int) -> str:
        # reference bases over [begin, stop), 'N' where it leaves the contig
        lo, hi = max(begin, 0), min(stop, contig_length)
        inside = fasta.fetch(variant.contig, lo, hi) if hi > lo else ""
        left_pad = max(0, min(stop, 0) - begin)
        right_pad = max(0, stop - max(begin, contig_length))
        return "N" * left_pad + inside + "N" * right_pad

    def window(allele: str) -> tuple[str, int]:
        if len(allele) >= length:
            cut = (len(allele) - length) // 2
            return allele[cut : cut + length], variant.start + cut
        left = (length - len(allele)) // 2
        right = length - len(allele) - left
        seq = flank(variant.start - left, variant.start) + allele
        return seq + flank(variant.end, variant.end + right), variant.start - left

    ref, ref_start = window(variant.ref)
    alt, alt_start = window(variant.alt)
    return VariantWindows(variant, ref, alt, ref_start, alt_start)
