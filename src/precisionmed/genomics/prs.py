"""Polygenic risk score of one VCF sample from a PGS Catalog scoring file.

The scoring file is parsed here rather than with ``pgscatalog-core``: that package keeps our pins
but pulls polars and pyarrow (about 250 MB, ``shared/env/NOTES.md``), and the format is a
``#key=value`` header followed by one tab-separated table with documented column names
(PGS Catalog scoring file format v2.0, harmonised files add ``hm_*`` columns).

Matching follows pgsc_calc's additive scoring: a score variant matches a VCF variant at the same
chromosome (``chr`` prefix ignored) and position whose REF/ALT are the effect and other alleles,
directly or on the opposite strand (SNVs only: complemented alleles, a "strand flip"). A/T and
C/G SNPs are strand-ambiguous: they are reported and skipped (pgsc_calc's default) unless an
allele-frequency rule is given (``ambiguous_max_maf``), see :func:`polygenic_score`. The dosage
is the number of effect alleles in the sample's GT; a variant absent from the VCF, or with a
missing GT, is reported and left out of the score (no imputation): a sites-only-where-variant
VCF cannot tell a homozygous-reference call from no call. Coverage is reported as matched
variants / variants in the file and as the matched share of the summed absolute weights.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.genomics.fasta import FastaReference
from precisionmed.genomics.vcf import ContigRename, Variant, VariantSet, read_variants

__all__ = [
    "PolygenicScoreResult",
    "ScoreIssue",
    "ScoreMatch",
    "ScoreVariant",
    "ScoringFile",
    "normalise_build",
    "polygenic_score",
    "read_scoring_file",
]

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_BUILDS = {
    "GRCH37": "GRCh37",
    "HG19": "GRCh37",
    "B37": "GRCh37",
    "37": "GRCh37",
    "GRCH38": "GRCh38",
    "HG38": "GRCh38",
    "B38": "GRCh38",
    "38": "GRCh38",
}
_NON_ADDITIVE = ("dosage_0_weight", "dosage_1_weight", "dosage_2_weight")


def normalise_build(build: str | None) -> str | None:
    """``GRCh37``/``GRCh38`` for the usual spellings (hg19, b37, ...); ``None`` for NR/empty."""
    if build is None or build.strip().upper() in {"", "NR", "NA", "NONE"}:
        return None
    key = build.strip().upper().split(".")[0]
    return _BUILDS.get(key, build.strip())


@dataclass(frozen=True)
class ScoreVariant:
    """One row of a scoring file.

    Attributes
    ----------
    chrom : str or None
        Chromosome (``hm_chr`` when harmonised, else ``chr_name``); ``None`` when unmapped.
    pos : int or None
        1-based position (``hm_pos`` / ``chr_position``); ``None`` when unmapped.
    effect_allele : str
    other_allele : str or None
    weight : float
        ``effect_weight`` (per effect-allele copy).
    rsid : str or None
    effect_allele_frequency : float or None
        ``allelefrequency_effect``, when given.
    line : int
        1-based line number in the file.
    """

    chrom: str | None
    pos: int | None
    effect_allele: str
    other_allele: str | None
    weight: float
    rsid: str | None = None
    effect_allele_frequency: float | None = None
    line: int = 0


@dataclass
class ScoringFile:
    """A parsed PGS Catalog scoring file.

    Attributes
    ----------
    path : str
    header : dict of str to str
        The ``#key=value`` lines (``pgs_id``, ``genome_build``, ``HmPOS_build``, ...).
    variants : list of ScoreVariant
    harmonised : bool
        Positions come from ``hm_chr``/``hm_pos``.
    """

    path: str
    header: dict[str, str]
    variants: list[ScoreVariant]
    harmonised: bool

    @property
    def pgs_id(self) -> str | None:
        """The ``pgs_id`` header value."""
        return self.header.get("pgs_id")

    @property
    def genome_build(self) -> str | None:
        """The build of the positions: ``HmPOS_build`` when harmonised, else ``genome_build``."""
        build = self.header.get("HmPOS_build") if self.harmonised else None
        return normalise_build(build or self.header.get("genome_build"))


def _cell(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value if value and value not in {".", "NA", "NR"} else None


def _float(path: Path, line: int, column: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise DataFormatError(
            f"{path}, line {line}, column {column}: expected a number, got {text!r}"
        ) from None


def _row(path: Path, line: int, row: dict[str, str], harmonised: bool) -> ScoreVariant:
    chrom_col, pos_col = ("hm_chr", "hm_pos") if harmonised else ("chr_name", "chr_position")
    effect = _cell(row, "effect_allele")
    if effect is None:
        raise DataFormatError(f"{path}, line {line}, column effect_allele: the allele is empty")
    weight = _float(path, line, "effect_weight", _cell(row, "effect_weight"))
    if weight is None:
        raise DataFormatError(f"{path}, line {line}, column effect_weight: the weight is empty")
    for flag in ("is_dominant", "is_recessive", "is_haplotype", "is_diplotype", "is_interaction"):
        if (_cell(row, flag) or "").lower() == "true":
            raise DataFormatError(
                f"{path}, line {line}, column {flag}: only additive scores are supported, got True"
            )
    pos_text = _cell(row, pos_col)
    pos = _float(path, line, pos_col, pos_text)
    other = _cell(row, "other_allele")
    if other is None and harmonised:  # hm_inferOtherAllele may list several ("A/G"): use one only
        inferred = _cell(row, "hm_inferOtherAllele")
        other = inferred if inferred and "/" not in inferred else None
    return ScoreVariant(
        chrom=_cell(row, chrom_col),
        pos=None if pos is None else int(pos),
        effect_allele=effect.upper(),
        other_allele=other.upper() if other else None,
        weight=weight,
        rsid=_cell(row, "hm_rsID") or _cell(row, "rsID"),
        effect_allele_frequency=_float(
            path, line, "allelefrequency_effect", _cell(row, "allelefrequency_effect")
        ),
        line=line,
    )


def read_scoring_file(path: str | Path) -> ScoringFile:
    """Read a PGS Catalog scoring file (plain or gzipped; original or harmonised).

    Parameters
    ----------
    path : str or Path
        ``PGS000001.txt.gz``, ``PGS000001_hmPOS_GRCh38.txt.gz`` or a file in the same format.

    Returns
    -------
    ScoringFile
        Positions from ``hm_chr``/``hm_pos`` when those columns exist, else from
        ``chr_name``/``chr_position``.

    Raises
    ------
    DataFormatError
        Absent or unreadable file, a required column missing, an empty allele or weight, a
        non-numeric value, or a non-additive score (dosage weights, dominant/recessive rows).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: scoring file not found")
    header: dict[str, str] = {}
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a readable scoring file: {exc}") from exc
    body_start = len(lines)
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            body_start = i
            break
        key, sep, value = line.lstrip("#").partition("=")
        if sep and not line.startswith("##"):
            header[key.strip()] = value.strip()
    if body_start == len(lines):
        raise DataFormatError(f"{path}: no column line after the '#' header")
    reader = csv.DictReader(lines[body_start:], delimiter="\t")
    columns = reader.fieldnames or []
    harmonised = "hm_chr" in columns and "hm_pos" in columns
    positions = ["hm_chr", "hm_pos"] if harmonised else ["chr_name", "chr_position"]
    absent = [c for c in ["effect_allele", "effect_weight", *positions] if c not in columns]
    if absent:
        raise DataFormatError(
            f"{path}, line {body_start + 1}: missing column(s) {absent} "
            "(expected effect_allele, effect_weight and hm_chr/hm_pos or chr_name/chr_position)"
        )
    non_additive = [c for c in _NON_ADDITIVE if c in columns]
    if non_additive:
        raise DataFormatError(
            f"{path}: columns {non_additive} make a non-additive score; only additive "
            "effect_weight scores are supported"
        )
    variants = [_row(path, body_start + 2 + i, row, harmonised) for i, row in enumerate(reader)]
    return ScoringFile(str(path), header, variants, harmonised)


@dataclass(frozen=True)
class ScoreMatch:
    """One scored variant: where it matched and what it added.

    Attributes
    ----------
    chrom : str
    pos : int
    effect_allele : str
        As in the scoring file.
    weight : float
    dosage : int
        Effect-allele copies in the sample's GT (0, 1 or 2).
    strand : str
        ``"forward"``, ``"flipped"`` (complemented alleles), or ``"inferred-forward"`` /
        ``"inferred-flipped"`` (an ambiguous SNP resolved by allele frequency).
    """

    chrom: str
    pos: int
    effect_allele: str
    weight: float
    dosage: int
    strand: str


@dataclass(frozen=True)
class ScoreIssue:
    """A score variant that was not (or not simply) scored.

    Attributes
    ----------
    chrom : str or None
    pos : int or None
    effect_allele : str
    kind : str
        ``unmapped`` (no position), ``missing`` (not in the VCF), ``allele_mismatch`` (VCF
        alleles differ), ``ambiguous`` (A/T or C/G, skipped), ``missing_genotype``.
    message : str
    """

    chrom: str | None
    pos: int | None
    effect_allele: str
    kind: str
    message: str


@dataclass
class PolygenicScoreResult:
    """The score of one sample; ``to_dict()`` is JSON-able.

    Attributes
    ----------
    pgs_id : str or None
    genome_build : str or None
        Build of the score's positions.
    sample : str
    score : float
        Sum over scored variants of dosage x effect_weight.
    n_variants, n_matched : int
        Variants in the scoring file, and those scored.
    variant_coverage : float
        ``n_matched / n_variants``.
    weight_coverage : float
        Matched share of the sum of absolute weights.
    z_score, percentile : float or None
        Against the reference distribution, when one was given (percentile only with
        reference-panel scores: percentage of them <= ``score``).
    reference_mean, reference_sd : float or None
    matches : list of ScoreMatch
    issues : list of ScoreIssue
    issue_counts : dict of str to int
    """

    pgs_id: str | None
    genome_build: str | None
    sample: str
    score: float
    n_variants: int
    n_matched: int
    variant_coverage: float
    weight_coverage: float
    z_score: float | None = None
    percentile: float | None = None
    reference_mean: float | None = None
    reference_sd: float | None = None
    matches: list[ScoreMatch] = field(default_factory=list)
    issues: list[ScoreIssue] = field(default_factory=list)
    issue_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists, numbers and strings (``json.dumps`` ready)."""
        return asdict(self)


def _chrom_key(chrom: str) -> str:
    key = chrom[3:] if chrom.lower().startswith("chr") else chrom
    key = key.upper()
    return "MT" if key == "M" else key


def _complement(allele: str) -> str:
    return allele.translate(_COMPLEMENT)


def _is_snv(*alleles: str | None) -> bool:
    return all(a is not None and len(a) == 1 and a in "ACGT" for a in alleles)


def _alleles_fit(effect: str, other: str | None, v: Variant) -> bool:
    pair = {v.ref, v.alt}
    return effect in pair and (other is None or {effect, other} == pair)


def _resolve_ambiguous(
    sv: ScoreVariant, v: Variant, max_maf: float | None
) -> tuple[bool, str] | str:
    """(flipped, strand label) for an A/T or C/G SNP, or the reason it stays unscored."""
    if max_maf is None:
        return "strand-ambiguous A/T or C/G SNP skipped (no allele-frequency rule given)"
    eaf, af = sv.effect_allele_frequency, v.allele_frequency
    if eaf is None or af is None:
        return "strand-ambiguous SNP skipped: needs allelefrequency_effect and the VCF's INFO/AF"
    if min(eaf, 1 - eaf) >= max_maf or min(af, 1 - af) >= max_maf:
        return f"strand-ambiguous SNP skipped: allele frequency too close to 0.5 (MAF >= {max_maf})"
    forward_eaf = af if sv.effect_allele == v.alt else 1 - af
    if (forward_eaf - 0.5) * (eaf - 0.5) > 0:
        return False, "inferred-forward"
    return True, "inferred-flipped"


def _match(
    sv: ScoreVariant, candidates: list[Variant], max_maf: float | None
) -> tuple[Variant, bool, str] | tuple[str, str]:
    """(VCF variant, flipped, strand label) for a score row, or (issue kind, message)."""
    ea, oa = sv.effect_allele, sv.other_allele
    unresolved = None
    for v in candidates:
        direct = _alleles_fit(ea, oa, v)
        flip = _is_snv(ea, oa, v.ref, v.alt) and _alleles_fit(
            _complement(ea), _complement(oa) if oa else None, v
        )
        if direct and flip:  # A/T or C/G: both strands fit
            resolved = _resolve_ambiguous(sv, v, max_maf)
            if isinstance(resolved, str):
                unresolved = resolved
                continue
            return (v, *resolved)
        if direct or flip:
            return v, flip, "flipped" if flip else "forward"
    if unresolved is not None:
        return "ambiguous", f"{sv.chrom}:{sv.pos} {ea}/{oa}: {unresolved}"
    seen = ", ".join(f"{v.ref}>{v.alt}" for v in candidates)
    return (
        "allele_mismatch",
        f"{sv.chrom}:{sv.pos}: score alleles {ea}/{oa or '?'} do not fit VCF {seen}",
    )


def _standardise(
    score: float,
    mean: float | None,
    sd: float | None,
    panel: Sequence[float] | None,
) -> tuple[float | None, float | None, float | None, float | None]:
    if panel is not None and (mean is not None or sd is not None):
        raise ConfigError("give reference_scores or reference_mean/reference_sd, not both")
    percentile = None
    if panel is not None:
        values = [float(x) for x in panel]
        if len(values) < 2:
            raise ConfigError(f"reference_scores needs at least 2 scores, got {len(values)}")
        mean = math.fsum(values) / len(values)
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (len(values) - 1))
        percentile = 100.0 * sum(x <= score for x in values) / len(values)
    if mean is None and sd is None:
        return None, None, None, None
    if mean is None or sd is None or not sd > 0:
        raise ConfigError(
            f"a reference distribution needs a mean and a positive sd, got mean={mean}, sd={sd}"
        )
    return (score - mean) / sd, percentile, mean, sd


def polygenic_score(
    scoring: ScoringFile | str | Path,
    vcf: VariantSet | str | Path,
    *,
    sample: str | None = None,
    reference: str | Path | FastaReference | None = None,
    rename_contigs: ContigRename = None,
    vcf_genome_build: str | None = None,
    ambiguous_max_maf: float | None = None,
    reference_mean: float | None = None,
    reference_sd: float | None = None,
    reference_scores: Sequence[float] | None = None,
) -> PolygenicScoreResult:
    """Score one VCF sample with a PGS Catalog scoring file (additive: sum of dosage x weight).

    Parameters
    ----------
    scoring : ScoringFile, str or Path
        The scoring file (see :func:`read_scoring_file`).
    vcf : VariantSet, str or Path
        The sample's VCF, or variants already read with
        :func:`precisionmed.genomics.vcf.read_variants`.
    sample : str or None
        The sample to score; may be omitted when the VCF has exactly one.
    reference : str, Path, FastaReference or None
        Reference FASTA to check the VCF's REF alleles against (when reading from a path).
    rename_contigs : {"add-chr", "strip-chr", "auto"}, mapping or None
        Passed to ``read_variants`` (matching itself ignores a ``chr`` prefix).
    vcf_genome_build : str or None
        The VCF's build (``GRCh37``, ``hg19``, ``GRCh38`` ...); when given and the score's
        build is known, they must agree.
    ambiguous_max_maf : float or None
        ``None`` (default): A/T and C/G SNPs are reported and skipped. A value in (0, 0.5): an
        ambiguous SNP is kept when both the score's ``allelefrequency_effect`` and the VCF's
        INFO/AF are known with minor allele frequency below it; the strand is the one on which
        the effect allele's frequency lies on the same side of 0.5 in both.
    reference_mean, reference_sd : float or None
        A reference distribution's mean and sd: the result gets ``z_score``.
    reference_scores : sequence of float or None
        Scores of a reference panel: mean, sd (ddof=1), ``z_score`` and ``percentile``.

    Returns
    -------
    PolygenicScoreResult

    Raises
    ------
    ConfigError
        Ambiguous sample, build mismatch, or an invalid reference distribution or threshold.
    DataFormatError
        An unreadable scoring file or VCF.
    """
    if ambiguous_max_maf is not None and not 0 < ambiguous_max_maf <= 0.5:
        raise ConfigError(f"ambiguous_max_maf must be in (0, 0.5], got {ambiguous_max_maf}")
    score_file = scoring if isinstance(scoring, ScoringFile) else read_scoring_file(scoring)
    if not isinstance(vcf, VariantSet):
        vcf = read_variants(
            vcf,
            reference,
            rename_contigs=rename_contigs,
            samples=[sample] if sample is not None else None,
        )
    if sample is None:
        if len(vcf.samples) != 1:
            raise ConfigError(f"{vcf.path}: has samples {vcf.samples}; name the one to score")
        sample = vcf.samples[0]
    if sample not in vcf.samples:
        raise ConfigError(f"{vcf.path}: sample {sample!r} not in {vcf.samples}")
    wanted, build = normalise_build(vcf_genome_build), score_file.genome_build
    if wanted is not None and build is not None and wanted != build:
        raise ConfigError(
            f"{score_file.path}: the score's positions are on {build}, the VCF on {wanted}; "
            "use the harmonised scoring file of the VCF's build (PGS Catalog hmPOS files)"
        )

    by_position: dict[tuple[str, int], list[Variant]] = {}
    for v in vcf.variants:
        by_position.setdefault((_chrom_key(v.contig), v.pos), []).append(v)

    matches: list[ScoreMatch] = []
    issues: list[ScoreIssue] = []

    def report(sv: ScoreVariant, kind: str, message: str) -> None:
        issues.append(ScoreIssue(sv.chrom, sv.pos, sv.effect_allele, kind, message))

    for sv in score_file.variants:
        if sv.chrom is None or sv.pos is None:
            report(sv, "unmapped", f"line {sv.line}: no chromosome/position")
            continue
        candidates = by_position.get((_chrom_key(sv.chrom), sv.pos), [])
        if not candidates:
            report(sv, "missing", f"{sv.chrom}:{sv.pos} is not in the VCF")
            continue
        found = _match(sv, candidates, ambiguous_max_maf)
        if isinstance(found, tuple) and len(found) == 2:
            report(sv, *found)
            continue
        v, flipped, strand = found
        effect_forward = _complement(sv.effect_allele) if flipped else sv.effect_allele
        effect_index = 1 if effect_forward == v.alt else 0
        genotype = v.genotypes.get(sample)
        if genotype is None or genotype.missing:
            report(sv, "missing_genotype", f"{v.label}: GT is missing for the sample")
            continue
        dosage = sum(a == effect_index for a in genotype.alleles)
        matches.append(ScoreMatch(v.contig, v.pos, sv.effect_allele, sv.weight, dosage, strand))

    total_weight = math.fsum(abs(sv.weight) for sv in score_file.variants)
    matched_weight = math.fsum(abs(m.weight) for m in matches)
    score = math.fsum(m.dosage * m.weight for m in matches)
    z, percentile, mean, sd = _standardise(score, reference_mean, reference_sd, reference_scores)
    counts: dict[str, int] = {}
    for issue in issues:
        counts[issue.kind] = counts.get(issue.kind, 0) + 1
    n = len(score_file.variants)
    return PolygenicScoreResult(
        pgs_id=score_file.pgs_id,
        genome_build=build,
        sample=sample,
        score=score,
        n_variants=n,
        n_matched=len(matches),
        variant_coverage=len(matches) / n if n else 0.0,
        weight_coverage=matched_weight / total_weight if total_weight else 0.0,
        z_score=z,
        percentile=percentile,
        reference_mean=mean,
        reference_sd=sd,
        matches=matches,
        issues=issues,
        issue_counts=counts,
    )
