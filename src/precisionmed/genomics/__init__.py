"""Genomics: DNA sequence models (CNN, BiLSTM, DanQ) on one-hot sequences.

:mod:`.encoding` (one-hot with IUPAC codes, reverse complements, strand augmentation),
:mod:`.nets` and :mod:`.models` (networks, heads, metrics), :mod:`.training` (``genomics
train``) and :mod:`.predictor` (a saved model loaded by ``precisionmed.load``). Variants:
:mod:`.fasta`, :mod:`.vcf` and :mod:`.bed` (pysam IO, REF checks, per-record issues),
:mod:`.haplotypes` (a sample's two haplotype sequences, variant windows) and :mod:`.prs`
(polygenic scores from PGS Catalog scoring files) and :mod:`.prs_predictor` (a scoring file as
a model directory); :mod:`.variant_effect` and
:mod:`.haplotype_effect` (a model's predicted effect of variants and of haplotypes) and
:mod:`.mutagenesis` (in-silico saturation mutagenesis drawn as a logo) and :mod:`.attribution`
(integrated gradients with Captum, drawn as a logo). The datasets are in
:mod:`precisionmed.data.sources.genomics`. Needs the ``genomics`` extra (pysam; Captum for
attributions, imported when used).
"""

from __future__ import annotations

from typing import Any

from precisionmed.errors import require_extra

require_extra("pysam", "genomics")

# Loaded on first access (PEP 562): torch loads with the modules that use it, so
# ``precisionmed genomics --help`` stays instant.
_LAZY = {
    "encode_sequences": "precisionmed.genomics.encoding",
    "one_hot": "precisionmed.genomics.encoding",
    "reverse_complement": "precisionmed.genomics.encoding",
    "reverse_complement_one_hot": "precisionmed.genomics.encoding",
    "build_sequence_net": "precisionmed.genomics.nets",
    "sequence_metrics": "precisionmed.genomics.models",
    "train_sequence_model": "precisionmed.genomics.training",
    "SequencePredictor": "precisionmed.genomics.predictor",
    "read_sequence_file": "precisionmed.genomics.predictor",
    "FastaReference": "precisionmed.genomics.fasta",
    "read_variants": "precisionmed.genomics.vcf",
    "write_vcf": "precisionmed.genomics.vcf",
    "read_bed": "precisionmed.genomics.bed",
    "haplotype_sequences": "precisionmed.genomics.haplotypes",
    "variant_windows": "precisionmed.genomics.haplotypes",
    "read_scoring_file": "precisionmed.genomics.prs",
    "polygenic_score": "precisionmed.genomics.prs",
    "save_prs_model": "precisionmed.genomics.prs_predictor",
    "PolygenicScorePredictor": "precisionmed.genomics.prs_predictor",
    "score_variants": "precisionmed.genomics.variant_effect",
    "score_haplotypes": "precisionmed.genomics.haplotype_effect",
    "saturation_mutagenesis": "precisionmed.genomics.mutagenesis",
    "plot_mutagenesis": "precisionmed.genomics.mutagenesis",
    "integrated_gradients": "precisionmed.genomics.attribution",
    "plot_attribution": "precisionmed.genomics.attribution",
}

#: Modules that register predictors, imported by ``precisionmed.load`` (this package is lazy).
PREDICTOR_MODULES = ("precisionmed.genomics.predictor", "precisionmed.genomics.prs_predictor")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.genomics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
