"""Haplotype phasing: a sequence-to-sequence network, the Li-Stephens HMM, simulated panels.

:mod:`.simulate` (msprime / stdpopsim reference panels, or a user's phased VCF), :mod:`.encoding`
(genotype windows), :mod:`.model` (the BiGRU encoder / GRU decoder), :mod:`.li_stephens` (the
copying-model HMM baseline), :mod:`.metrics` (switch error rate), :mod:`.phaser` (train, stitch
windows, save / load) and :mod:`.vcf_phasing` (phase a VCF, ``genomics phase``).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Panel": "precisionmed.genomics.phasing.simulate",
    "simulate_panel": "precisionmed.genomics.phasing.simulate",
    "read_panel_vcf": "precisionmed.genomics.phasing.simulate",
    "PhasingNet": "precisionmed.genomics.phasing.model",
    "li_stephens_phase": "precisionmed.genomics.phasing.li_stephens",
    "switch_probabilities": "precisionmed.genomics.phasing.li_stephens",
    "switch_errors": "precisionmed.genomics.phasing.metrics",
    "random_phase": "precisionmed.genomics.phasing.metrics",
    "Phaser": "precisionmed.genomics.phasing.phaser",
    "train_phaser": "precisionmed.genomics.phasing.phaser",
    "load_phaser": "precisionmed.genomics.phasing.phaser",
    "phase_vcf": "precisionmed.genomics.phasing.vcf_phasing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.genomics.phasing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
