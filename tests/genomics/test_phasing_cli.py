"""``genomics train-phaser`` / ``genomics phase`` in fresh processes, on the GIAB chr20 VCF."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

from precisionmed.genomics.haplotypes import haplotype_sequences
from precisionmed.genomics.phasing.simulate import Panel, simulate_panel
from precisionmed.genomics.vcf import read_variants
from tests.conftest import require_dataset, require_path

CLI = [sys.executable, "-m", "precisionmed.cli.main", "genomics"]
GIAB = "genomics/giab_chr20"
VCF = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
FASTA = f"{GIAB}/ucsc.hg19.chr20.unittest.fasta.gz"
BED = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.bed"
TINY = ["--epochs", "1", "--train-windows", "400", "--window", "32", "--overlap", "12"]


def _run(args: list[str], ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=1200)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def giab_panel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user panel VCF at the GIAB SNV sites: simulated haplotypes (chr20 coordinates, linked
    as in CEU) placed on the GIAB biallelic SNVs' positions and alleles, in order."""
    variants = read_variants(require_path(VCF)).variants
    multi = {v.record_index for v in variants if v.alt_index > 1}
    snvs = [v for v in variants if v.is_snv and v.record_index not in multi]
    sim = simulate_panel(n_samples=30, length=400_000, seed=5, contig="chr20", left=10_000_000)
    sim = sim.common_sites(0.05)
    assert sim.n_sites >= len(snvs)
    panel = Panel(sim.haplotypes[:, : len(snvs)], np.array([v.pos for v in snvs]),
                  [v.ref for v in snvs], [v.alt for v in snvs], "chr20", sim.samples)  # fmt: skip
    return panel.write_vcf(tmp_path_factory.mktemp("giab") / "panel.vcf.gz")


def test_giab_vcf_phased_through_the_cli_keeps_every_record(
    giab_panel: Path, tmp_path: Path
) -> None:
    model = tmp_path / "phaser"
    trained = json.loads(_run(["train-phaser", "--panel", str(giab_panel), "--min-maf", "0",
                               *TINY, "--out", str(model), "--json"]).stdout)  # fmt: skip
    assert trained["sizes"]["panel_individuals"] == 30
    out = tmp_path / "giab.phased.vcf.gz"
    source = require_path(VCF)
    report = json.loads(_run(["phase", str(model), "--vcf", str(source), "--out", str(out),
                              "--json"]).stdout)  # fmt: skip
    assert report["records"] == 221
    assert report["samples"] == 1
    assert report["counts"]["phased"] > 50
    with pysam.VariantFile(str(source)) as a, pysam.VariantFile(str(out)) as b:
        assert "PM_PHASE_P" in b.header.formats
        pairs = list(zip(a, b, strict=True))
    assert len(pairs) == 221
    rewritten = 0
    for r_in, r_out in pairs:
        assert (r_in.pos, r_in.ref, r_in.alts, r_in.id) == (
            r_out.pos,
            r_out.ref,
            r_out.alts,
            r_out.id,
        )
        assert dict(r_in.info) == dict(r_out.info)
        s_in, s_out = r_in.samples["INTEGRATION"], r_out.samples["INTEGRATION"]
        assert sorted(s_in["GT"]) == sorted(s_out["GT"])
        assert (s_in.get("DP"), s_in.get("GQ"), s_in.get("PS")) == (
            s_out.get("DP"), s_out.get("GQ"), s_out.get("PS"))  # fmt: skip
        if s_in.phased or len(set(s_in["GT"])) == 1:
            assert s_out["GT"] == s_in["GT"]
            assert s_out.phased == s_in.phased
        rewritten += s_out.phased and not s_in.phased
    assert rewritten == report["counts"]["phased"]
    refused = _run(["phase", str(model), "--vcf", str(source), "--out",
                    str(model / "x.vcf.gz")], ok=False)  # fmt: skip
    assert "inside the model directory" in refused.stderr
    refused = _run(["phase", str(model), "--vcf", str(source), "--out", str(tmp_path / "x.vcf")],
                   ok=False)  # fmt: skip
    assert "name it *.vcf.gz" in refused.stderr


def test_phased_output_is_taken_by_genomics_haplotypes(giab_panel: Path, tmp_path: Path) -> None:
    """The phased VCF leaves fewer unphased calls for ``genomics haplotypes`` than the input."""
    from precisionmed.data import load_dataset
    from precisionmed.genomics.phasing.phaser import load_phaser, train_phaser
    from precisionmed.genomics.phasing.simulate import read_panel_vcf
    from precisionmed.genomics.phasing.vcf_phasing import phase_vcf
    from precisionmed.genomics.training import train_sequence_model

    require_dataset("gue-tf0")
    phaser_dir, seq_dir = tmp_path / "phaser", tmp_path / "cnn"
    train_phaser(read_panel_vcf(giab_panel), phaser_dir, min_maf=0.0, params={"hidden": 16},
                 training={"window": 32, "overlap": 12, "n_train": 300, "max_epochs": 1},
                 progress=False)  # fmt: skip
    out = tmp_path / "phased.vcf.gz"
    phase_vcf(load_phaser(phaser_dir), require_path(VCF), out)
    data = load_dataset("gue-tf0").subset(200)
    train_sequence_model(data, "cnn", seq_dir, params={"channels": 8, "max_epochs": 1},
                         n_boot=20, progress=False)  # fmt: skip
    regions = tmp_path / "three.bed"
    regions.write_text("".join(require_path(BED).read_text().splitlines(True)[:3]))
    done = _run(["haplotypes", str(seq_dir), "--vcf", str(out), "--fasta",
                 str(require_path(FASTA)), "--regions", str(regions), "--json"])  # fmt: skip
    report = json.loads(done.stdout)
    assert len(report["regions"]) == 3
    fasta, source = require_path(FASTA), read_variants(require_path(VCF))
    before = after = 0
    for region in report["regions"]:
        contig, span = region["region"].split(":")
        start, end = (int(x) for x in span.split("-"))
        before += len(haplotype_sequences(source, fasta, "INTEGRATION", contig, start,
                                          end).unphased)  # fmt: skip
        after += len(region["unphased"])
    assert after < before
