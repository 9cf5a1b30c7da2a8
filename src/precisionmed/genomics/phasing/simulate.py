"""Reference panels of phased haplotypes: simulated (msprime / stdpopsim) or read from a VCF.

A :class:`Panel` is a 0/1 matrix of haplotypes (two rows per individual) over biallelic sites
with their positions and alleles. :func:`simulate_panel` draws one from a stdpopsim human
demographic model (``HomSap``, e.g. ``OutOfAfrica_3G09`` / ``CEU``) or from a constant-size
population, with a uniform recombination map or a user's HapMap-format map (read by msprime's
``RateMap.read_hapmap``); nothing downloads. :func:`read_panel_vcf` reads a user's phased VCF
(e.g. 1000 Genomes) through :func:`precisionmed.genomics.vcf.read_variants`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError, DataFormatError, require_extra
from precisionmed.genomics.vcf import read_variants

CONSTANT_MODEL = "constant"


@dataclass
class Panel:
    """Phased haplotypes over biallelic sites.

    Attributes
    ----------
    haplotypes : ndarray of shape (2 * N, M), uint8
        Rows ``2 i`` and ``2 i + 1`` are individual ``i``'s two haplotypes; 1 = ALT.
    positions : ndarray of shape (M,), int64
        1-based positions, increasing.
    ref, alt : list of str
        The alleles of each site.
    contig : str
    samples : list of str
        The N individuals' names.
    source : dict
        How the panel was made (model, seed, sizes, map...), recorded in the model directory.
    """

    haplotypes: np.ndarray
    positions: np.ndarray
    ref: list[str]
    alt: list[str]
    contig: str
    samples: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n_sites(self) -> int:
        return int(self.positions.shape[0])

    def select(self, individuals: np.ndarray | list[int]) -> Panel:
        """The panel of the given individuals (row pairs), same sites."""
        idx = np.asarray(individuals, dtype=int)
        rows = np.stack([2 * idx, 2 * idx + 1], axis=1).ravel()
        return replace(self, haplotypes=self.haplotypes[rows],
                       samples=[self.samples[i] for i in idx])  # fmt: skip

    def sites(self, keep: np.ndarray) -> Panel:
        """The panel over the sites where ``keep`` (boolean mask or indices) holds."""
        keep = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return replace(
            self, haplotypes=self.haplotypes[:, keep], positions=self.positions[keep],
            ref=[self.ref[i] for i in keep], alt=[self.alt[i] for i in keep],
        )  # fmt: skip

    def common_sites(self, min_maf: float) -> Panel:
        """The sites whose minor-allele frequency in this panel is at least ``min_maf``."""
        freq = self.haplotypes.mean(axis=0)
        keep = np.minimum(freq, 1 - freq) >= min_maf
        if not keep.any():
            raise ConfigError(f"no site of the panel has a minor-allele frequency >= {min_maf}")
        return self.sites(keep)

    def genotypes(self) -> np.ndarray:
        """ALT dosages (0/1/2) of shape (N, M), int8."""
        h = self.haplotypes.astype(np.int8)
        return h[0::2] + h[1::2]

    def write_vcf(self, out: str | Path, *, phased: bool = True) -> Path:
        """Write the panel as a bgzipped, tabix-indexed VCF (``a|b``, or ``a/b`` unphased).

        Hand-written with pysam: :func:`~precisionmed.genomics.vcf.write_vcf` copies an existing
        VCF, and here there is none (tskit's writer needs the tree sequence, gone after site
        filtering).
        """
        import pysam

        out = Path(out)
        header = pysam.VariantHeader()
        header.add_line(f"##contig=<ID={self.contig}>")
        header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
        for s in self.samples:
            header.add_sample(s)
        out.parent.mkdir(parents=True, exist_ok=True)
        with pysam.VariantFile(str(out), "wz", header=header) as vcf:
            for m, pos in enumerate(self.positions):
                rec = vcf.new_record(contig=self.contig, start=int(pos) - 1,
                                     alleles=(self.ref[m], self.alt[m]))  # fmt: skip
                for i, s in enumerate(self.samples):
                    call = rec.samples[s]
                    call["GT"] = (
                        int(self.haplotypes[2 * i, m]),
                        int(self.haplotypes[2 * i + 1, m]),
                    )
                    call.phased = phased
                vcf.write(rec)
        pysam.tabix_index(str(out), preset="vcf", force=True)
        return out


def _contig(model: Any, species: Any, contig: str | None, left: int | None, length: int) -> Any:
    mutation_rate = model.mutation_rate if model is not None else 1.29e-8
    if contig is None:
        return species.get_contig(length=length, mutation_rate=mutation_rate)
    start = 0 if left is None else left
    try:
        return species.get_contig(contig, left=start, right=start + length,
                                  mutation_rate=mutation_rate)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"contig {contig!r} of HomSap: {exc}") from exc


def simulate_panel(
    model: str = "OutOfAfrica_3G09",
    population: str | None = "CEU",
    *,
    n_samples: int,
    length: int,
    seed: int = 0,
    contig: str | None = None,
    left: int | None = None,
    recombination_map: str | Path | None = None,
) -> Panel:
    """Simulate phased diploid individuals with msprime under a stdpopsim human model.

    Parameters
    ----------
    model : str
        A ``HomSap`` demographic model id of stdpopsim (``OutOfAfrica_3G09``...), or
        ``"constant"`` (one population of 10,000, the HomSap contig's rates).
    population : str or None
        The model's population to sample (default: its first one).
    n_samples : int
        Diploid individuals.
    length : int
        Simulated span in bp.
    seed : int
        Seeds msprime (ancestry and mutations).
    contig : str or None
        A HomSap chromosome (``"chr20"``): positions are then that chromosome's, from ``left``;
        default a generic contig at 1..length.
    left : int or None
        0-based start on ``contig``.
    recombination_map : path or None
        A HapMap-format map (``Chromosome Position(bp) Rate(cM/Mb) Map(cM)``, msprime
        ``RateMap.read_hapmap``) on the contig's coordinates; default the uniform rate.

    Returns
    -------
    Panel
        Every biallelic site (multi-allelic ones dropped), ``source`` with the parameters.
    """
    require_extra("stdpopsim", "genomics")
    import msprime
    import stdpopsim

    if n_samples < 1 or length < 1:
        raise ConfigError(f"n_samples and length must be >= 1; got {n_samples} and {length}")
    species = stdpopsim.get_species("HomSap")
    demography = None
    if model != CONSTANT_MODEL:
        try:
            demography = species.get_demographic_model(model)
        except ValueError as exc:
            known = ", ".join(m.id for m in species.demographic_models[:6])
            raise ConfigError(f"--simulate {model!r}: not a HomSap model ({known}, ...)") from exc
    chrom = _contig(demography, species, contig, left, length)
    if recombination_map is not None:
        path = Path(recombination_map)
        try:
            rates = msprime.RateMap.read_hapmap(
                str(path), sequence_length=chrom.recombination_map.sequence_length
            )
        except (OSError, ValueError, IndexError) as exc:
            raise DataFormatError(f"{path}: not a HapMap-format recombination map: {exc}") from exc
        lo = 0 if contig is None or left is None else left
        chrom.recombination_map = rates.slice(lo, lo + length)
    if demography is None:
        demography = stdpopsim.PiecewiseConstantSize(10_000)
    names = [p.name for p in demography.populations]
    population = population or names[0]
    if population not in names:
        raise ConfigError(f"population {population!r} is not in {model} (it has {names})")
    engine = stdpopsim.get_engine("msprime")
    ts = engine.simulate(demography, chrom, {population: n_samples}, seed=seed)
    haps: list[np.ndarray] = []
    positions: list[int] = []
    refs: list[str] = []
    alts: list[str] = []
    for var in ts.variants():
        if len(var.alleles) != 2 or positions and int(var.site.position) + 1 <= positions[-1]:
            continue  # multi-allelic sites, and a second site at one integer position
        haps.append(var.genotypes.astype(np.uint8))
        positions.append(int(var.site.position) + 1)
        refs.append(str(var.alleles[0]))
        alts.append(str(var.alleles[1]))
    if not haps:
        raise ConfigError(f"the simulation of {length} bp gave no biallelic site; simulate more")
    source = {
        "simulator": f"msprime {msprime.__version__}, stdpopsim {stdpopsim.__version__}",
        "model": model, "population": population, "n_samples": n_samples, "length": length,
        "seed": seed, "contig": contig, "left": left,
        "recombination_map": str(recombination_map) if recombination_map else "uniform",
        "mean_recombination_rate": float(np.nanmean(chrom.recombination_map.rate)),
        "mutation_rate": chrom.mutation_rate,
    }  # fmt: skip
    return Panel(
        haplotypes=np.stack(haps, axis=1),
        positions=np.asarray(positions, dtype=np.int64),
        ref=refs,
        alt=alts,
        contig=contig or "1",
        samples=[f"sim{i}" for i in range(n_samples)],
        source=source,
    )


def read_panel_vcf(path: str | Path, *, region: str | None = None) -> Panel:
    """A reference panel from a user's phased VCF (every diploid call ``a|b``, no missing).

    Only biallelic SNV records are kept (others are not phased against the panel).

    Raises
    ------
    DataFormatError
        A call is unphased, missing or not diploid (the record and the sample are named), the
        file holds more than one contig, or no SNV.
    """
    data = read_variants(path, region=region)
    keep = [v for v in data.variants if v.is_snv and v.alt_index == 1 and "," not in v.alt]
    multi = {v.record_index for v in data.variants if v.alt_index > 1}
    keep = [v for v in keep if v.record_index not in multi]
    if not keep:
        raise DataFormatError(f"{path}: no biallelic SNV record to use as a reference panel")
    contigs = sorted({v.vcf_contig for v in keep})
    if len(contigs) > 1:
        raise DataFormatError(
            f"{path}: a panel covers one contig; got {contigs} (pass region=, --region)"
        )
    haps = np.zeros((2 * len(data.samples), len(keep)), dtype=np.uint8)
    for m, v in enumerate(keep):
        for i, s in enumerate(data.samples):
            gt = v.genotypes[s]
            if gt.missing or len(gt.alleles) != 2 or (gt.heterozygous and not gt.phased):
                raise DataFormatError(
                    f"{path}: record {v.record_index + 1} ({v.label}), sample {s}: expected a "
                    f"phased diploid call a|b; got alleles {gt.alleles} phased={gt.phased}"
                )
            haps[2 * i, m], haps[2 * i + 1, m] = gt.alleles[0] == 1, gt.alleles[1] == 1
    positions = np.asarray([v.pos for v in keep], dtype=np.int64)
    if np.any(np.diff(positions) <= 0):
        raise DataFormatError(f"{path}: panel records must be sorted with one SNV per position")
    source = {"panel_vcf": str(path), "region": region, "n_samples": len(data.samples)}
    return Panel(haps, positions, [v.ref for v in keep], [v.alt for v in keep], contigs[0],
                 list(data.samples), source)  # fmt: skip


__all__ = ["CONSTANT_MODEL", "Panel", "read_panel_vcf", "simulate_panel"]
