"""BED reading (BED3 to BED6; extra columns ignored).

Written by hand: pysam parses BED only through a tabix index (``pysam.asBed``) and
pybedtools needs the bedtools binary; a BED line is five tab-separated fields to validate, and
doing it here gives errors that name the file and the line.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from precisionmed.errors import DataFormatError

__all__ = ["BedRegion", "read_bed"]


@dataclass(frozen=True)
class BedRegion:
    """One BED interval, 0-based half-open.

    Attributes
    ----------
    contig : str
    start, end : int
        ``[start, end)`` in bases, 0-based as BED writes them.
    name : str or None
        Column 4 (a gene or region name), when present.
    score : float or None
        Column 5, when present and not ``.``.
    strand : str or None
        ``"+"``, ``"-"`` or ``None`` (column 6 absent or ``.``).
    """

    contig: str
    start: int
    end: int
    name: str | None = None
    score: float | None = None
    strand: str | None = None

    @property
    def label(self) -> str:
        """The name, or ``contig:start-end``."""
        return self.name or f"{self.contig}:{self.start}-{self.end}"


def _parse_line(path: Path, lineno: int, line: str) -> BedRegion:
    cols = line.rstrip("\r\n").split("\t")
    if len(cols) < 3:
        raise DataFormatError(
            f"{path}, line {lineno}: expected at least 3 tab-separated columns "
            f"(contig, start, end), got {len(cols)}"
        )
    try:
        start, end = int(cols[1]), int(cols[2])
    except ValueError:
        raise DataFormatError(
            f"{path}, line {lineno}: start and end must be integers, got {cols[1]!r}, {cols[2]!r}"
        ) from None
    if start < 0 or end < start:
        raise DataFormatError(
            f"{path}, line {lineno}: expected 0 <= start <= end, got start={start}, end={end}"
        )
    name = cols[3] if len(cols) > 3 and cols[3] not in {"", "."} else None
    score = None
    if len(cols) > 4 and cols[4] not in {"", "."}:
        try:
            score = float(cols[4])
        except ValueError:
            raise DataFormatError(
                f"{path}, line {lineno}: score (column 5) must be a number, got {cols[4]!r}"
            ) from None
    strand = cols[5] if len(cols) > 5 and cols[5] in {"+", "-"} else None
    if len(cols) > 5 and cols[5] not in {"+", "-", "."}:
        raise DataFormatError(
            f"{path}, line {lineno}: strand (column 6) must be +, - or ., got {cols[5]!r}"
        )
    return BedRegion(cols[0], start, end, name, score, strand)


def read_bed(path: str | Path) -> list[BedRegion]:
    """Read the intervals of a BED file (plain or gzipped).

    Parameters
    ----------
    path : str or Path
        The BED file; ``track``/``browser`` lines, ``#`` comments and blank lines are skipped.

    Returns
    -------
    list of BedRegion
        In file order.

    Raises
    ------
    DataFormatError
        The file is absent or unreadable, or a line is malformed (the message names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: BED file not found")
    regions = []
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                regions.append(_parse_line(path, lineno, line))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a readable BED text file: {exc}") from exc
    return regions
