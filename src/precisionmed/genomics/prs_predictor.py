"""A polygenic score as a model directory: a PGS Catalog scoring file and its scoring options.

:func:`save_prs_model` copies the scoring file into a model directory of kind
``polygenic-score`` (so its sha256 is in the manifest and the model version changes with it),
with the options of :func:`~precisionmed.genomics.prs.polygenic_score` that belong to the score
(its genome build, the ambiguous-SNP MAF limit, a reference mean and sd for the z-score) in
``config.json``. ``precisionmed.load(model_dir)`` returns a :class:`PolygenicScorePredictor`,
whose :meth:`~PolygenicScorePredictor.predict` scores one VCF sample.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.errors import ConfigError
from precisionmed.genomics.prs import (
    PolygenicScoreResult,
    ScoringFile,
    normalise_build,
    polygenic_score,
    read_scoring_file,
)
from precisionmed.predict import PredictionRecord, Predictor, VcfInputSpec

KIND = "polygenic-score"
#: The folder of the model directory that holds the scoring file.
SCORE_DIR = "score"


def _trait(scoring: ScoringFile) -> str | None:
    return scoring.header.get("trait_reported") or scoring.header.get("trait_mapped")


def save_prs_model(
    score: str | Path,
    out_dir: str | Path,
    *,
    genome_build: str | None = None,
    ambiguous_max_maf: float | None = None,
    reference_mean: float | None = None,
    reference_sd: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a ``polygenic-score`` model directory around a PGS Catalog scoring file.

    Parameters
    ----------
    score : str or Path
        The scoring file (``PGS000001.txt.gz`` or a harmonised ``hmPOS`` file).
    out_dir : str or Path
        The model directory to write.
    genome_build : str or None
        The build of the score's positions where the file does not say (``genome_build=NR``);
        where it does, the two must agree.
    ambiguous_max_maf : float or None
        See :func:`~precisionmed.genomics.prs.polygenic_score`.
    reference_mean, reference_sd : float or None
        A reference distribution of the score (both or neither): predictions get a z-score.
    overwrite : bool
        Replace a model already at ``out_dir``.

    Returns
    -------
    Path
        The model directory.

    Raises
    ------
    ConfigError
        A build that contradicts the file's, only one of mean/sd, sd <= 0, a MAF limit out of
        (0, 0.5].
    DataFormatError
        An unreadable scoring file.
    """
    from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir

    src = Path(score)
    scoring = read_scoring_file(src)
    build = normalise_build(genome_build)
    if build is not None and scoring.genome_build is not None and build != scoring.genome_build:
        raise ConfigError(
            f"{src}: the file's positions are on {scoring.genome_build}, "
            f"--genome-build says {build}"
        )
    build = build or scoring.genome_build
    if (reference_mean is None) != (reference_sd is None):
        raise ConfigError("give both the reference mean and sd (for the z-score), or neither")
    if reference_sd is not None and not reference_sd > 0:
        raise ConfigError(f"reference sd must be > 0, got {reference_sd}")
    if ambiguous_max_maf is not None and not 0 < ambiguous_max_maf <= 0.5:
        raise ConfigError(f"ambiguous_max_maf must be in (0, 0.5], got {ambiguous_max_maf}")
    name = scoring.pgs_id or src.name.split(".")[0]
    trait = _trait(scoring)
    spec = VcfInputSpec(genome_build=build)
    config = {
        "model": f"polygenic score {name}" + (f" ({trait})" if trait else ""),
        "pgs_id": scoring.pgs_id,
        "pgs_name": scoring.header.get("pgs_name"),
        "trait": trait,
        "scoring_file": f"{SCORE_DIR}/{src.name}",
        "genome_build": build,
        "harmonised": scoring.harmonised,
        "ambiguous_max_maf": ambiguous_max_maf,
        "reference_mean": reference_mean,
        "reference_sd": reference_sd,
        "input_spec": spec.to_dict(),
        "header": scoring.header,
    }
    metrics = {"n_variants": len(scoring.variants)}
    card = ModelCard(
        title=f"Polygenic score {name}" + (f" ({trait})" if trait else ""),
        intended_use="The additive polygenic score of one VCF sample, for research use; a "
        "z-score only against the reference distribution given when the model was made.",
        training_data=f"PGS Catalog scoring file {src.name} ({len(scoring.variants)} variants).",
        limitations=[
            "Variants absent from the VCF or with a missing genotype are left out (no "
            "imputation); coverage is reported with every score.",
            "Strand-ambiguous A/T and C/G SNPs are skipped unless a MAF limit is set.",
        ],
        details={
            k: config[k]
            for k in (
                "pgs_id",
                "genome_build",
                "reference_mean",
                "reference_sd",
                "ambiguous_max_maf",
            )
        },  # fmt: skip
    )

    def save(staging: Path) -> tuple[ModelContents, None]:
        (staging / SCORE_DIR).mkdir()
        shutil.copyfile(src, staging / SCORE_DIR / src.name)
        return ModelContents(KIND, "genomics", config, metrics, card), None

    path, _ = write_model_dir(out_dir, save, overwrite=overwrite)
    return path


@register_predictor(KIND)
class PolygenicScorePredictor(Predictor):
    """A PGS Catalog scoring file and its options, applied to one VCF sample."""

    kind = KIND

    def __init__(self, scoring: ScoringFile, config: dict[str, Any], artifact: Artifact | None):
        self.scoring = scoring
        self.config = config
        self.artifact = artifact

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> PolygenicScorePredictor:
        """Read the scoring file of the model directory (its checksum checked first)."""
        name = str(artifact.config["scoring_file"])
        artifact.read_bytes(name)  # checks the file against the manifest
        return cls(read_scoring_file(artifact.path / name), dict(artifact.config), artifact)

    @property
    def input_spec(self) -> VcfInputSpec:
        """One sample of a VCF, on the score's genome build."""
        return VcfInputSpec.from_dict(self.config["input_spec"])

    def score(
        self,
        vcf: str | Path,
        *,
        sample: str | None = None,
        fasta: str | Path | None = None,
        vcf_build: str | None = None,
        rename_contigs: Any = None,
    ) -> PolygenicScoreResult:
        """The :class:`~precisionmed.genomics.prs.PolygenicScoreResult` of one VCF sample."""
        build = normalise_build(vcf_build)
        own = self.config.get("genome_build")
        if build is not None and own is not None and build != own:
            raise ConfigError(
                f"{self.model_name}: the score's positions are on {own}, the VCF {vcf} on "
                f"{build}; make the model from the scoring file of the VCF's build"
            )
        return polygenic_score(
            self.scoring,
            vcf,
            sample=sample,
            reference=fasta,
            rename_contigs=rename_contigs,
            vcf_genome_build=build,
            ambiguous_max_maf=self.config.get("ambiguous_max_maf"),
            reference_mean=self.config.get("reference_mean"),
            reference_sd=self.config.get("reference_sd"),
        )

    def predict(
        self,
        inputs: str | Path,
        *,
        sample: str | None = None,
        fasta: str | Path | None = None,
        vcf_build: str | None = None,
        rename_contigs: Any = None,
    ) -> list[PredictionRecord]:
        """One record: the score of ``sample`` (default: the VCF's only one) of the VCF
        ``inputs``; keywords as in :meth:`score`. ``values`` hold the score, the z-score (None
        without a reference distribution) and the coverage; each kind of variant left out is a
        warning."""
        r = self.score(inputs, sample=sample, fasta=fasta, vcf_build=vcf_build,
                       rename_contigs=rename_contigs)  # fmt: skip
        warnings = []
        for kind, count in sorted(r.issue_counts.items()):
            first = next(i for i in r.issues if i.kind == kind)
            warnings.append(f"{count} score variant(s) not scored ({kind}), e.g. {first.message}")
        values = {
            "score": r.score,
            "z_score": r.z_score,
            "variant_coverage": r.variant_coverage,
            "weight_coverage": r.weight_coverage,
        }
        details = {
            "pgs_id": r.pgs_id,
            "trait": self.config.get("trait"),
            "genome_build": r.genome_build,
            "sample": r.sample,
            "n_variants": r.n_variants,
            "n_matched": r.n_matched,
            "reference_mean": r.reference_mean,
            "reference_sd": r.reference_sd,
            "issue_counts": r.issue_counts,
        }
        return [self.record(str(inputs), r.score, values, warnings=warnings, details=details)]


__all__ = ["KIND", "PolygenicScorePredictor", "save_prs_model"]
