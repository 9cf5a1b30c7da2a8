"""VCF/BCF reading checked against the reference, and writing back bgzipped with a tabix index.

Reading (:func:`read_variants`) follows bcftools' conventions: multi-allelic records are split
into biallelic variants (as ``bcftools norm -m-``, except that in each split genotype the other
ALT alleles are coded 2, "another ALT", rather than 0, so REF dosages stay exact), every REF is
compared with the FASTA, and whatever cannot be used is reported per record as a
:class:`VariantIssue` and skipped; one bad record never stops the run.

Positions are 1-based as in the VCF (``Variant.pos``); ``Variant.start``/``Variant.end`` are
the 0-based half-open span of REF on the reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from precisionmed.errors import ConfigError, DataFormatError, require_extra
from precisionmed.genomics.fasta import FastaReference, open_fasta

__all__ = [
    "check_vcf_output",
    "ContigRename",
    "Genotype",
    "HeaderField",
    "Variant",
    "VariantIssue",
    "VariantSet",
    "read_variants",
    "rename_contig",
    "write_vcf",
]

ContigRename = Literal["add-chr", "strip-chr", "auto"] | Mapping[str, str] | None


@dataclass(frozen=True)
class VariantIssue:
    """One problem with one VCF record, reported instead of raised.

    Attributes
    ----------
    contig : str
        The contig as written in the VCF.
    pos : int
        1-based VCF position.
    id : str or None
        The record's ID column (``None`` for ``.``).
    kind : str
        ``ref_mismatch``, ``unknown_contig``, ``outside_reference``, ``symbolic_allele``,
        ``no_alt`` (record skipped) or ``multiallelic_split`` (record split, not skipped);
        other modules add their own kinds (``overlap``, ``unphased``, ...).
    message : str
        One line: what was expected and what was found.
    """

    contig: str
    pos: int
    id: str | None
    kind: str
    message: str


@dataclass(frozen=True)
class Genotype:
    """One sample's call at one biallelic variant.

    Attributes
    ----------
    alleles : tuple of (int or None)
        Allele indices per haplotype: 0 = REF, 1 = this variant's ALT, 2 = another ALT of the
        same multi-allelic record (split away; neither REF nor this ALT), ``None`` = missing
        (``.``); length 2 for diploid calls, 1 for haploid ones.
    phased : bool
        ``True`` for ``|``-separated calls.
    phase_set : int or None
        FORMAT/PS when present: phased calls are phased relative to each other only within
        one phase set.
    """

    alleles: tuple[int | None, ...]
    phased: bool
    phase_set: int | None = None

    @property
    def missing(self) -> bool:
        """Whether any allele is missing."""
        return not self.alleles or any(a is None for a in self.alleles)

    @property
    def heterozygous(self) -> bool:
        """Whether the called alleles differ."""
        return len({a for a in self.alleles if a is not None}) > 1


@dataclass(frozen=True)
class Variant:
    """One biallelic variant, on a reference contig name.

    Attributes
    ----------
    contig : str
        Contig name in the reference (after any renaming).
    pos : int
        1-based position of the first REF base.
    ref, alt : str
        Upper-case alleles.
    id : str or None
        The VCF ID column.
    record_index : int
        0-based index of the source record in the VCF (several variants share it when a
        multi-allelic record is split); the key :func:`write_vcf` annotations use.
    alt_index : int
        1-based index of ``alt`` among the record's ALT alleles.
    vcf_contig : str
        The contig as written in the VCF.
    genotypes : dict of str to Genotype
        Per sample, the call re-coded for this biallelic variant.
    allele_frequency : float or None
        INFO/AF of this ALT, when the VCF has it.
    """

    contig: str
    pos: int
    ref: str
    alt: str
    id: str | None = None
    record_index: int = 0
    alt_index: int = 1
    vcf_contig: str = ""
    genotypes: dict[str, Genotype] = field(default_factory=dict, compare=False, repr=False)
    allele_frequency: float | None = None

    @property
    def start(self) -> int:
        """0-based start of REF on the reference."""
        return self.pos - 1

    @property
    def end(self) -> int:
        """0-based exclusive end of REF on the reference."""
        return self.pos - 1 + len(self.ref)

    @property
    def is_snv(self) -> bool:
        """REF and ALT are single bases."""
        return len(self.ref) == 1 and len(self.alt) == 1

    @property
    def label(self) -> str:
        """``contig:pos:ref>alt``, for messages."""
        return f"{self.contig}:{self.pos}:{self.ref}>{self.alt}"


@dataclass
class VariantSet:
    """What :func:`read_variants` returns.

    Attributes
    ----------
    variants : list of Variant
        The usable biallelic variants, in file order.
    issues : list of VariantIssue
        One entry per problem, per record.
    n_records : int
        Records read from the file.
    samples : list of str
        Sample names kept (all of the file's by default).
    path : str
        The VCF read.
    """

    variants: list[Variant]
    issues: list[VariantIssue]
    n_records: int
    samples: list[str]
    path: str

    def issue_counts(self) -> dict[str, int]:
        """Number of issues of each kind."""
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        return counts


@dataclass(frozen=True)
class HeaderField:
    """An INFO or FORMAT header line to declare in an output VCF.

    Attributes
    ----------
    id : str
        The key, e.g. ``"PM_ALT_SCORE"``.
    number : str
        VCF Number: ``"1"``, ``"A"``, ``"R"``, ``"G"``, ``"."`` or an integer as text.
    type : str
        ``"Integer"``, ``"Float"``, ``"Flag"``, ``"Character"`` or ``"String"``.
    description : str
        Free text (no double quotes).
    kind : str
        ``"INFO"`` or ``"FORMAT"``.
    """

    id: str
    number: str
    type: str
    description: str
    kind: Literal["INFO", "FORMAT"] = "INFO"

    def header_line(self) -> str:
        """The ``##INFO=<...>`` / ``##FORMAT=<...>`` line."""
        if '"' in self.description:
            raise DataFormatError(f"{self.kind} {self.id}: description must not contain '\"'")
        return (
            f"##{self.kind}=<ID={self.id},Number={self.number},Type={self.type},"
            f'Description="{self.description}">'
        )


def rename_contig(contig: str, rename: ContigRename, known: Iterable[str] = ()) -> str:
    """The reference name of a VCF contig under an opt-in renaming rule.

    Parameters
    ----------
    contig : str
        The name in the VCF.
    rename : {"add-chr", "strip-chr", "auto"}, mapping or None
        ``"add-chr"``: ``20`` -> ``chr20``; ``"strip-chr"``: ``chr20`` -> ``20``; ``"auto"``:
        whichever of the two names is in ``known``; a mapping: explicit names (others unchanged);
        ``None``: no renaming.
    known : iterable of str
        The reference's contigs (used by ``"auto"``).

    Returns
    -------
    str
    """
    if rename is None:
        return contig
    if isinstance(rename, Mapping):
        return rename.get(contig, contig)
    stripped = contig[3:] if contig.lower().startswith("chr") else contig
    if rename == "strip-chr":
        return stripped
    if rename == "add-chr":
        return contig if contig.lower().startswith("chr") else f"chr{contig}"
    if rename == "auto":
        known = set(known)
        for name in (contig, f"chr{stripped}", stripped):
            if name in known:
                return name
        return contig
    raise DataFormatError(
        f"rename_contigs must be 'add-chr', 'strip-chr', 'auto', a mapping or None; got {rename!r}"
    )


def _is_symbolic(allele: str) -> bool:
    # <DEL>, <NON_REF>, * (spanning deletion), breakends (A[chr2:10[), missing '.'
    return allele.startswith("<") or allele in {"*", "."} or "[" in allele or "]" in allele


def _open_vcf(path: Path) -> Any:
    require_extra("pysam", "genomics")
    import pysam

    if not path.is_file():
        raise DataFormatError(f"{path}: VCF/BCF file not found")
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable VCF/BCF file: {exc}") from exc


def _genotypes(record: Any, samples: Sequence[str], alt_index: int) -> dict[str, Genotype]:
    calls = {}
    for name in samples:
        call = record.samples[name]
        raw = call.get("GT") if "GT" in record.format else None
        alleles: tuple[int | None, ...] = tuple(
            None if a is None else 0 if a == 0 else 1 if a == alt_index else 2 for a in (raw or ())
        )
        phase_set = call.get("PS") if "PS" in record.format else None
        calls[name] = Genotype(alleles=alleles, phased=bool(call.phased), phase_set=phase_set)
    return calls


def _allele_frequency(record: Any, alt_index: int) -> float | None:
    if "AF" not in record.header.info:
        return None
    try:
        values = record.info.get("AF")
    except (ValueError, KeyError):  # a malformed AF value is no frequency, not a failed run
        return None
    if values is None:
        return None
    values = values if isinstance(values, tuple) else (values,)
    value = values[alt_index - 1] if alt_index <= len(values) else None
    return None if value is None else float(value)


def _ref_issue(
    variant: Variant, fasta: FastaReference, record_id: str | None, vcf_contig: str
) -> VariantIssue | None:
    length = fasta.lengths[variant.contig]
    if variant.end > length:
        return VariantIssue(
            vcf_contig,
            variant.pos,
            record_id,
            "outside_reference",
            f"REF {variant.ref} at {variant.pos} runs past the end of {variant.contig} ({length})",
        )
    expected = fasta.fetch(variant.contig, variant.start, variant.end)
    if any(r != e and r != "N" for r, e in zip(variant.ref, expected, strict=True)):
        return VariantIssue(
            vcf_contig,
            variant.pos,
            record_id,
            "ref_mismatch",
            f"REF {variant.ref} does not match the reference {expected} at "
            f"{variant.contig}:{variant.pos}",
        )
    return None


def read_variants(
    path: str | Path,
    reference: str | Path | FastaReference | None = None,
    *,
    rename_contigs: ContigRename = None,
    samples: Sequence[str] | None = None,
    region: str | None = None,
) -> VariantSet:
    """Read a VCF/BCF into biallelic variants checked against the reference.

    Parameters
    ----------
    path : str or Path
        VCF, bgzipped VCF or BCF. ``region`` needs a ``.tbi``/``.csi`` index.
    reference : str, Path, FastaReference or None
        The reference FASTA. With it, a record is skipped and reported when its contig is not a
        reference contig (``unknown_contig``), its REF differs from the reference
        (``ref_mismatch``; an ``N`` in REF matches any base) or runs past the contig's end
        (``outside_reference``). Without it no reference check is made.
    rename_contigs : {"add-chr", "strip-chr", "auto"}, mapping or None
        Opt-in renaming of VCF contigs to reference names (see :func:`rename_contig`);
        by default ``20`` and ``chr20`` are different contigs.
    samples : sequence of str or None
        Samples whose genotypes to keep; all by default.
    region : str or None
        ``"chr20:10000000-10010000"`` (VCF contig names, 1-based inclusive) to read only there.

    Returns
    -------
    VariantSet
        Symbolic ALT alleles (``<DEL>``, ``*``, breakends) and records without ALT are skipped
        with an issue; multi-allelic records are split, with a ``multiallelic_split`` issue.

    Raises
    ------
    DataFormatError
        The file cannot be opened or read, a sample is not in it, or ``region`` cannot be used.
    """
    path = Path(path)
    fasta = open_fasta(reference) if reference is not None else None
    known = fasta.contigs if fasta is not None else []
    vcf = _open_vcf(path)
    present = list(vcf.header.samples)
    keep = list(samples) if samples is not None else present
    absent = [s for s in keep if s not in present]
    if absent:
        raise DataFormatError(f"{path}: sample(s) {absent} not in the VCF (it has {present})")
    variants: list[Variant] = []
    issues: list[VariantIssue] = []
    n_records = 0
    try:
        records = vcf.fetch(region=region) if region else vcf
        for index, record in enumerate(records):
            n_records += 1
            rid = record.id
            contig = rename_contig(record.contig, rename_contigs, known)
            alts = record.alts or ()
            if not alts:
                issues.append(VariantIssue(record.contig, record.pos, rid, "no_alt", "no ALT"))
                continue
            if fasta is not None and contig not in fasta:
                shown = f"{record.contig}" + (
                    f" (renamed {contig})" if contig != record.contig else ""
                )
                hint = "" if rename_contigs else "; rename_contigs='auto' maps 20 <-> chr20"
                issues.append(
                    VariantIssue(
                        record.contig,
                        record.pos,
                        rid,
                        "unknown_contig",
                        f"contig {shown} is not in the reference ({', '.join(known[:3])}...){hint}",
                    )
                )
                continue
            if len(alts) > 1:
                issues.append(
                    VariantIssue(
                        record.contig,
                        record.pos,
                        rid,
                        "multiallelic_split",
                        f"{len(alts)} ALT alleles {','.join(alts)} split into biallelic variants",
                    )
                )
            for alt_index, alt in enumerate(alts, start=1):
                if _is_symbolic(alt) or _is_symbolic(record.ref):
                    issues.append(
                        VariantIssue(
                            record.contig,
                            record.pos,
                            rid,
                            "symbolic_allele",
                            f"symbolic allele {record.ref}>{alt} skipped (sequence unknown)",
                        )
                    )
                    continue
                variant = Variant(
                    contig=contig,
                    pos=record.pos,
                    ref=record.ref.upper(),
                    alt=alt.upper(),
                    id=rid,
                    record_index=index,
                    alt_index=alt_index,
                    vcf_contig=record.contig,
                    genotypes=_genotypes(record, keep, alt_index),
                    allele_frequency=_allele_frequency(record, alt_index),
                )
                problem = _ref_issue(variant, fasta, rid, record.contig) if fasta else None
                if problem is not None:
                    issues.append(problem)
                    break  # REF is shared by every ALT of the record: skip all of them
                variants.append(variant)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: cannot read record {n_records + 1}: {exc}") from exc
    finally:
        vcf.close()
    return VariantSet(variants, issues, n_records, keep, str(path))


def check_vcf_output(out: str | Path) -> Path:
    """``out`` as a Path, refused in one line unless it is named ``*.vcf.gz`` (bgzip-compressed
    VCF: what tabix indexes). Commands call it before any work."""
    out = Path(out)
    if not out.name.endswith(".vcf.gz"):
        raise ConfigError(f"{out}: the output is bgzip-compressed VCF; name it *.vcf.gz")
    return out


def write_vcf(
    source: str | Path,
    out: str | Path,
    *,
    fields: Sequence[HeaderField] = (),
    info: Mapping[int, Mapping[str, Any]] | None = None,
    formats: Mapping[int, Mapping[str, Mapping[str, Any]]] | None = None,
    index: bool = True,
) -> Path:
    """Copy every record of ``source`` to a bgzipped VCF, adding declared INFO/FORMAT values.

    Parameters
    ----------
    source : str or Path
        The input VCF/BCF; every one of its records is written, annotated or not.
    out : str or Path
        The output, ``.vcf.gz`` (bgzip-compressed).
    fields : sequence of HeaderField
        The INFO/FORMAT lines to declare in the output header (every key used below must be
        declared here or in the input header).
    info : mapping of int to mapping of str to value, optional
        Per record index (0-based file order, ``Variant.record_index``), INFO key -> value;
        ``Number=A`` values are tuples with one entry per ALT (``None`` for ``.``).
    formats : mapping of int to mapping of str to mapping of str to value, optional
        Per record index, sample -> FORMAT key -> value.
    index : bool
        Write a tabix ``.tbi`` beside the output (needs position-sorted input).

    Returns
    -------
    Path
        The output path.

    Raises
    ------
    ConfigError
        ``out`` does not end in ``.vcf.gz``.
    DataFormatError
        Unreadable input, an undeclared key, a value that does not fit its declaration, or an
        unsorted file when ``index`` is set.
    """
    require_extra("pysam", "genomics")
    import pysam

    source, out = Path(source), check_vcf_output(out)
    info, formats = info or {}, formats or {}
    vin = _open_vcf(source)
    header = vin.header.copy()
    for f in fields:
        header.add_line(f.header_line())
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with pysam.VariantFile(str(out), "wz", header=header) as vout:
            for i, record in enumerate(vin):
                record.translate(header)
                for key, value in info.get(i, {}).items():
                    record.info[key] = value
                for sample, values in formats.get(i, {}).items():
                    for key, value in values.items():
                        record.samples[sample][key] = value
                vout.write(record)
                written += 1
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(
            f"{out}: cannot write record {written + 1} of {source}: {exc} "
            "(declare every INFO/FORMAT key in fields, with a matching Number and Type)"
        ) from exc
    finally:
        vin.close()
    if index:
        try:
            pysam.tabix_index(str(out), preset="vcf", force=True)
        except (OSError, ValueError) as exc:
            raise DataFormatError(
                f"{out}: cannot build a tabix index (is it sorted?): {exc}"
            ) from exc
    return out
