"""``POST /variants``: a VCF (bgzipped or plain) scored by the served polygenic score (the
hand-computed score of ``tests/genomics/test_prs.py``) and DNA sequence model (every variant of
the GIAB chr20 slice against its reference genome); stored as a case, audited, its clinician's
only; a VCF with an undeclared contig or no header line refused naming the line; a VCF sent to
``POST /cases`` pointed here.

The models are real and small: a polygenic score made from a hand-made scoring file, and a
1-epoch sequence model on 200 GUE human TF-binding sequences.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app as cli
from tests.conftest import require_dataset, require_path
from tests.service.conftest import Api, upload

GIAB = "genomics/giab_chr20/"
VCF = GIAB + "test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
FASTA = GIAB + "ucsc.hg19.chr20.unittest.fasta.gz"
#: The score of tests/genomics/test_prs.py's scoring file on this VCF, computed by hand there.
SCORE = 1 * 0.5 + 2 * 0.3 + 1 * -0.4 + 2 * 0.1 + 0 * 0.25 + 1 * 0.05


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (result.output, result.exception)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory: a polygenic score ("prs") and a DNA sequence model ("tf0")."""
    from tests.genomics.test_prs import _write_score

    pytest.importorskip("pysam", reason="the variant tests need the genomics extra (pysam)")
    require_dataset("gue-tf0")
    root = tmp_path_factory.mktemp("variant-models")
    score = _write_score(root.parent / "PGS999999.txt")
    _invoke(["genomics", "prs-model", "--score", str(score), "--reference-mean", "0.5",
             "--reference-sd", "0.25", "--out", str(root / "prs")])  # fmt: skip
    _invoke(["genomics", "train", "--dataset", "gue-tf0", "--max-epochs", "1", "--subset", "200",
             "--n-boot", "20", "--seed", "0", "--out", str(root / "tf0")])  # fmt: skip
    return root


@pytest.fixture
def api(make_app: Callable[..., Any]) -> Api:
    return Api(make_app(reference_fasta=require_path(FASTA)))


def _vcf_text() -> str:
    with gzip.open(require_path(VCF), "rt") as handle:
        return handle.read()


def test_a_bgzipped_vcf_gets_its_variant_effects_and_polygenic_score(api: Api) -> None:
    me = api.add_user("carl", "clinician")
    data = require_path(VCF).read_bytes()
    response = api.client.post("/variants", files=upload("sample.vcf.gz", data), headers=me)
    assert response.status_code == 201, response.text
    case = response.json()
    assert (case["input_kind"], case["input_format"], case["not_run"]) == ("vcf", "vcf", [])
    by_model = {p["model_name"]: p for p in case["predictions"]}
    assert set(by_model) == {"prs", "tf0"}
    prs = by_model["prs"]["record"]
    assert prs["values"]["score"] == pytest.approx(SCORE)
    assert prs["values"]["z_score"] == pytest.approx((SCORE - 0.5) / 0.25)
    effects = by_model["tf0"]["record"]
    details = effects["details"]
    # 221 VCF records, one multi-allelic split in two: 222 variants scored, all listed
    assert (details["vcf_records"], details["variants_scored"]) == (221, 222)
    assert details["variants_listed"] == len(details["variants"]) == 222
    changes = [abs(v["diff"]) for v in details["variants"]]
    assert changes == sorted(changes, reverse=True)
    assert effects["prediction"] == details["variants"][0]["variant"]
    assert effects["input"] == f"case {case['id']}"
    rows = api.audit_rows()
    assert (1, "create", "case", case["id"]) in rows
    assert {(1, "create", "prediction", p["id"]) for p in case["predictions"]} <= set(rows)
    assert api.client.get(f"/cases/{case['id']}", headers=me).status_code == 200


def test_a_plain_vcf_gives_the_same_score_and_without_a_reference_only_the_score(
    make_app: Callable[..., Any],
) -> None:
    api = Api(make_app())  # no reference genome configured
    me = api.add_user("carl", "clinician")
    plain = _vcf_text().encode()
    response = api.client.post("/variants", files=upload("sample.vcf", plain), headers=me)
    assert response.status_code == 201, response.text
    case = response.json()
    (prediction,) = case["predictions"]
    assert prediction["model_name"] == "prs"
    assert prediction["record"]["values"]["score"] == pytest.approx(SCORE)
    (reason,) = case["not_run"]
    assert reason.startswith("tf0: the service has no reference genome")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("chr20\t10000211\t", "chrZZ\t10000211\t"),
         "VCF line {n}, CHROM: contig 'chrZZ' is not declared in the header"),
        (lambda t: t.split("#CHROM")[0], "expected the '#CHROM POS ID REF ALT ...' header line"),
    ],
)  # fmt: skip
def test_a_vcf_with_a_wrong_contig_or_no_header_line_is_refused_naming_the_line(
    api: Api, edit: Callable[[str], str], message: str
) -> None:
    me = api.add_user("carl", "clinician")
    text = edit(_vcf_text())
    line = next((n for n, s in enumerate(text.splitlines(), 1) if s.startswith("chrZZ")), 0)
    data = gzip.compress(text.encode())
    response = api.client.post("/variants", files=upload("bad.vcf.gz", data), headers=me)
    assert response.status_code == 422
    assert message.format(n=line) in response.json()["detail"]
    assert api.client.get("/cases", headers=me).json() == []


def test_a_vcf_sent_as_a_case_or_an_image_sent_here_is_refused_with_415(api: Api) -> None:
    me = api.add_user("carl", "clinician")
    data = require_path(VCF).read_bytes()
    response = api.client.post("/cases", files=upload("sample.vcf.gz", data), headers=me)
    assert response.status_code == 415
    assert "a VCF file; send it to POST /variants" in response.json()["detail"]
    record = api.client.post("/variants", files=upload("r.json", b'{"age": 3}'), headers=me)
    assert record.status_code == 415
    assert "expected a VCF" in record.json()["detail"]


def test_variant_scoring_needs_a_token_and_a_clinician_and_the_case_stays_theirs(api: Api) -> None:
    data = _vcf_text().encode()
    assert api.client.post("/variants", files=upload("s.vcf", data)).status_code == 401
    researcher = api.add_user("rita", "researcher")
    refused = api.client.post("/variants", files=upload("s.vcf", data), headers=researcher)
    assert refused.status_code == 403
    carl, dora = api.add_user("carl", "clinician"), api.add_user("dora", "clinician")
    case = api.client.post("/variants", files=upload("s.vcf", data), headers=carl).json()
    assert api.client.get(f"/cases/{case['id']}", headers=dora).status_code == 404
    assert api.client.get(f"/cases/{case['id']}", headers=researcher).status_code == 200
    assert (1, "denied", "endpoint", None) in api.audit_rows()
