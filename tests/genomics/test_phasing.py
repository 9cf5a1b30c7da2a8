"""Haplotype phasing: simulated panels, the Li-Stephens HMM, the network, metrics, VCF output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

from precisionmed.errors import ArtifactError, DataFormatError
from precisionmed.genomics.phasing.encoding import (
    IGNORE,
    MISSING,
    canonical_haplotype,
    training_windows,
    window_starts,
)
from precisionmed.genomics.phasing.li_stephens import li_stephens_phase, switch_probabilities
from precisionmed.genomics.phasing.metrics import random_phase, switch_errors
from precisionmed.genomics.phasing.phaser import load_phaser, train_phaser
from precisionmed.genomics.phasing.simulate import Panel, read_panel_vcf, simulate_panel
from precisionmed.genomics.phasing.vcf_phasing import phase_vcf

TINY_NET = {"embed": 16, "hidden": 32, "layers": 1}
TINY_TRAINING = {"window": 32, "overlap": 12, "n_train": 4000, "n_val": 200, "max_epochs": 3}


@pytest.fixture(scope="module")
def simulated() -> Panel:
    return simulate_panel(n_samples=48, length=150_000, seed=3, contig="chr20", left=10_000_000)


@pytest.fixture(scope="module")
def panel(simulated: Panel) -> Panel:
    return simulated.select(range(40)).common_sites(0.05)


@pytest.fixture(scope="module")
def held_out(simulated: Panel, panel: Panel) -> Panel:
    """8 individuals simulated with the panel but not in it, at the panel's sites."""
    return simulated.select(range(40, 48)).sites(np.searchsorted(simulated.positions,
                                                                 panel.positions))  # fmt: skip


@pytest.fixture(scope="module")
def model(panel: Panel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phaser") / "model"
    train_phaser(panel, out, seed=0, min_maf=0.05, params=TINY_NET, training=TINY_TRAINING,
                 progress=False)  # fmt: skip
    return out


def test_simulation_is_seeded_on_chromosome_coordinates(simulated: Panel) -> None:
    again = simulate_panel(n_samples=48, length=150_000, seed=3, contig="chr20", left=10_000_000)
    np.testing.assert_array_equal(again.haplotypes, simulated.haplotypes)
    assert simulated.haplotypes.shape == (96, simulated.n_sites)
    assert simulated.positions.min() > 10_000_000
    assert simulated.positions.max() <= 10_150_000
    assert np.all(np.diff(simulated.positions) > 0)
    assert simulated.source["seed"] == 3
    assert simulated.source["recombination_map"] == "uniform"
    other = simulate_panel(n_samples=48, length=150_000, seed=4, contig="chr20", left=10_000_000)
    assert other.n_sites != simulated.n_sites or not np.array_equal(
        other.haplotypes, simulated.haplotypes
    )


def _four_gamete_pairs(haps: np.ndarray) -> int:
    h = haps.astype(int)
    both = h.T @ h
    only_a = h.T @ (1 - h)
    neither = (1 - h).T @ (1 - h)
    return int(((both > 0) & (only_a > 0) & (only_a.T > 0) & (neither > 0)).sum())


def test_user_recombination_map_is_used(tmp_path: Path) -> None:
    """No recombination (a zero-rate HapMap map): one tree, so pairs of sites with all four
    gametes come only from recurrent mutation (finite sites); recombination makes many more."""
    hapmap = tmp_path / "map.txt"
    hapmap.write_text("Chromosome Position(bp) Rate(cM/Mb) Map(cM)\n"
                      "chr1 0 0.0 0.0\nchr1 300000 0.0 0.0\n")  # fmt: skip
    flat = simulate_panel("constant", None, n_samples=20, length=300_000, seed=1,
                          recombination_map=hapmap)  # fmt: skip
    uniform = simulate_panel("constant", None, n_samples=20, length=300_000, seed=1)
    assert flat.source["recombination_map"] == str(hapmap)
    assert flat.source["mean_recombination_rate"] == 0.0
    assert 10 * _four_gamete_pairs(flat.haplotypes) < _four_gamete_pairs(uniform.haplotypes)


def test_panel_vcf_round_trip_and_unphased_panel_refused(panel: Panel, tmp_path: Path) -> None:
    path = panel.write_vcf(tmp_path / "panel.vcf.gz")
    back = read_panel_vcf(path)
    np.testing.assert_array_equal(back.haplotypes, panel.haplotypes)
    np.testing.assert_array_equal(back.positions, panel.positions)
    assert back.samples == panel.samples
    assert back.contig == "chr20"
    unphased = panel.write_vcf(tmp_path / "unphased.vcf.gz", phased=False)
    with pytest.raises(DataFormatError, match=r"record \d+ .*sample sim\d+: expected a phased"):
        read_panel_vcf(unphased)


def test_windows_cover_every_site_and_targets_are_canonical() -> None:
    starts = window_starts(100, 32, 12)
    covered = np.zeros(100, bool)
    for s in starts:
        covered[s : s + 32] = True
    assert covered.all()
    assert starts[0] == 0
    assert starts[-1] == 68
    assert window_starts(10, 32, 12) == [0]
    h1 = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])
    h2 = np.array([[0, 0, 1, 1], [1, 1, 0, 0]])  # row 2: ALT first at site 1 on h2: swapped
    np.testing.assert_array_equal(canonical_haplotype(h1, h2), [[0, 1, 0, 1], [1, 1, 0, 0]])
    x, y = training_windows(np.array([[0, 1, 1, 0], [1, 1, 0, 0]]), 5, 4, np.random.default_rng(0))
    assert x.shape == (5, 4, 3)
    assert y.shape == (5, 4)
    np.testing.assert_array_equal(y[0], [1, IGNORE, 0, IGNORE])  # ALT first at the first het


def test_switch_error_known_answers() -> None:
    truth = np.array([[1, 0, 1, 1, 0, 1]])
    codes = np.array([[1, 1, 1, 2, 1, 1]])
    positions = np.array([10, 20, 30, 40, 50, 60])
    same = switch_errors(truth, truth, codes, positions, window_bp=1000)
    flipped = switch_errors(truth, np.where(codes == 1, 1 - truth, truth), codes, positions)
    assert same["switch_error_rate"] == flipped["switch_error_rate"] == 0.0
    one = truth.copy()
    one[0, 4:] = np.where(codes[0, 4:] == 1, 1 - one[0, 4:], one[0, 4:])
    result = switch_errors(truth, one, codes, positions, window_bp=1000)
    assert (result["switches"], result["opportunities"]) == (1, 4)
    assert result["windows_without_error"] == 0.0
    rand = random_phase(np.tile(codes, (200, 1)), np.random.default_rng(0))
    rate = switch_errors(np.tile(truth, (200, 1)), rand, np.tile(codes, (200, 1)), positions)
    assert 0.4 < rate["switch_error_rate"] < 0.6


def test_li_stephens_recovers_panel_pairs_and_phases_held_out_individuals(
    panel: Panel, held_out: Panel
) -> None:
    switch = switch_probabilities(panel.positions, 80, rate=1.5e-8)
    inside = panel.select([3])  # two haplotypes of the panel: an exact copy exists
    hap1 = li_stephens_phase(panel.haplotypes, inside.genotypes()[0], switch)
    exact = switch_errors(inside.haplotypes[:1], hap1[None], inside.genotypes(), panel.positions)
    assert exact["switches"] == 0
    assert exact["opportunities"] > 5
    codes = held_out.genotypes()
    est = np.stack([li_stephens_phase(panel.haplotypes, c, switch) for c in codes])
    assert np.array_equal(np.where(codes == 1, 0, est), np.where(codes == 1, 0, codes // 2))
    result = switch_errors(held_out.haplotypes[0::2], est, codes, panel.positions)
    assert result["switch_error_rate"] < 0.15


def test_trained_phaser_keeps_genotypes_and_beats_random_phase(
    model: Path, panel: Panel, held_out: Panel
) -> None:
    phaser = load_phaser(model)
    np.testing.assert_array_equal(phaser.positions, panel.positions)
    codes = held_out.genotypes().astype(np.int64)
    codes[0, 5] = MISSING
    hap1, conf = phaser.phase_codes(codes)
    known = codes != MISSING
    assert np.all((hap1 <= codes)[known])
    assert np.all((codes - hap1 <= 1)[known])
    assert np.all(hap1[codes == 2] == 1)
    assert np.all(hap1[codes == 0] == 0)
    het = codes == 1
    assert np.all((conf[het & np.isfinite(conf)] >= 0.5) & (conf[het & np.isfinite(conf)] <= 1))
    assert np.isnan(conf[~het]).all()
    truth = held_out.haplotypes[0::2]
    net = switch_errors(truth, hap1, codes, panel.positions)
    rand = switch_errors(truth, random_phase(codes, np.random.default_rng(0)), codes,
                         panel.positions)  # fmt: skip
    assert net["switch_error_rate"] < rand["switch_error_rate"] - 0.1


def _calls(path: Path) -> list[list[tuple]]:
    with pysam.VariantFile(str(path)) as vcf:
        return [[(r.samples[s]["GT"], r.samples[s].phased) for s in r.samples] for r in vcf]


def test_phased_vcf_keeps_records_genotypes_and_untouched_calls(
    model: Path, held_out: Panel, tmp_path: Path
) -> None:
    """Multi-sample: each sample phased; unphasing the output gives back the input."""
    unphased = held_out.write_vcf(tmp_path / "in.vcf.gz", phased=False)
    # a missing call and an extra SNV the panel lacks
    text = pysam.VariantFile(str(unphased))
    rows = list(text)
    header = text.header.copy()
    text.close()
    rows[4].samples["sim40"]["GT"] = (None, None)
    j = next(i for i in range(10, len(rows) - 1) if rows[i + 1].pos > rows[i].pos + 1)
    extra = rows[j].copy()
    extra.pos = rows[j].pos + 1
    extra.alleles = (rows[j].ref, "T" if rows[j].ref != "T" else "G")
    for s in held_out.samples:
        extra.samples[s]["GT"] = (0, 1)
    source = tmp_path / "source.vcf.gz"
    with pysam.VariantFile(str(source), "wz", header=header) as out:
        for i, r in enumerate(rows):
            out.write(r)
            if i == j:
                out.write(extra)
    pysam.tabix_index(str(source), preset="vcf", force=True)
    report = phase_vcf(load_phaser(model), source, tmp_path / "out.vcf.gz")
    before, after = _calls(source), _calls(tmp_path / "out.vcf.gz")
    assert len(after) == len(before) == report.records == len(rows) + 1
    assert (tmp_path / "out.vcf.gz.tbi").is_file()
    for i, (row_in, row_out) in enumerate(zip(before, after, strict=True)):
        for (gt_in, _), (gt_out, phased_out) in zip(row_in, row_out, strict=True):
            assert sorted(gt_out, key=str) == sorted(gt_in, key=str)  # unphased again: the input
            het = None not in gt_in and gt_in[0] != gt_in[1]
            # heterozygous calls at panel sites are phased; homozygous, missing, off-panel not
            assert phased_out == (het and i != j + 1), (i, gt_in, gt_out)
    samples = held_out.samples
    per_sample = np.array([[p for (_, p) in row] for row in after])
    assert per_sample.any(axis=0).all(), "every sample has phased calls"
    assert after[4][0][0] == (None, None)
    assert not after[4][0][1]
    assert report.counts["not_in_panel"] == len(held_out.samples)
    assert report.counts["missing"] == 1
    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as vcf:
        assert "PM_PHASE_P" in vcf.header.formats
        values = [r.samples[s].get("PM_PHASE_P") for r in vcf for s in samples]
    probs = [v for v in values if v is not None]
    assert probs
    assert all(0.5 <= v <= 1.0 for v in probs)


def test_other_model_kinds_are_refused(model: Path, tmp_path: Path) -> None:
    import json

    config = json.loads((model / "config.json").read_text())
    assert config["kind"] == "haplotype-phaser"
    assert config["panel"]["seed"] == 3
    with pytest.raises(ArtifactError):
        load_phaser(tmp_path)
