"""BED reading: the GIAB confident regions and malformed lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from precisionmed.errors import DataFormatError
from precisionmed.genomics.bed import BedRegion, read_bed
from tests.conftest import require_path

BED = "genomics/giab_chr20/test_nist.b37_chr20_100kbp_at_10mb.bed"


def test_reads_the_giab_regions_as_zero_based_half_open() -> None:
    regions = read_bed(require_path(BED))
    assert len(regions) == 11
    assert regions[0] == BedRegion("chr20", 10000846, 10002407)
    assert regions[-1] == BedRegion("chr20", 10009933, 10010531)
    assert regions[0].label == "chr20:10000846-10002407"


def test_named_stranded_lines_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "genes.bed"
    path.write_text("track name=x\n# comment\n\nchr20\t10\t20\tGENE1\t5\t-\textra\nchr20\t0\t1\n")
    regions = read_bed(path)
    assert regions == [BedRegion("chr20", 10, 20, "GENE1", 5.0, "-"), BedRegion("chr20", 0, 1)]
    assert regions[0].label == "GENE1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr20\t10\n", "at least 3 tab-separated columns"),
        ("chr20\tten\t20\n", "must be integers"),
        ("chr20\t30\t20\n", "0 <= start <= end"),
        ("chr20\t1\t2\tg\t1\tx\n", "strand"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.bed"
    path.write_text("chr20\t0\t5\n" + line)
    with pytest.raises(DataFormatError, match=rf"bad\.bed, line 2: .*{message}"):
        read_bed(path)


def test_absent_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="BED file not found"):
        read_bed(tmp_path / "none.bed")
