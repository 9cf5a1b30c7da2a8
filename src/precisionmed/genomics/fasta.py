"""Reference FASTA with random access (pysam.FastaFile: plain or bgzipped with ``.fai``/``.gzi``).

Coordinates follow pysam/BED: 0-based, half-open ``[start, end)``. Sequences come back in upper
case (soft-masked lower-case bases are still bases); past a contig's end nothing is returned,
so callers that need a fixed length pad with ``N`` themselves (see
:func:`precisionmed.genomics.haplotypes.variant_windows`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from precisionmed.errors import DataFormatError, require_extra

__all__ = ["FastaReference", "open_fasta"]


class FastaReference:
    """A reference genome opened for random access.

    Parameters
    ----------
    path : str or Path
        A FASTA file, plain or bgzip-compressed. Its ``.fai`` index (and ``.gzi`` when
        bgzipped) is used when present and built by pysam beside the file otherwise.

    Raises
    ------
    DataFormatError
        The file is absent or not a readable (bgzipped) FASTA.
    """

    def __init__(self, path: str | Path) -> None:
        require_extra("pysam", "genomics")
        import pysam

        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f"{self.path}: FASTA file not found")
        try:
            self._fasta: Any = pysam.FastaFile(str(self.path))
        except (OSError, ValueError) as exc:
            raise DataFormatError(
                f"{self.path}: not a readable FASTA (plain, or bgzipped with .fai/.gzi): {exc}"
            ) from exc
        self.lengths: dict[str, int] = dict(
            zip(self._fasta.references, self._fasta.lengths, strict=True)
        )

    @property
    def contigs(self) -> list[str]:
        """The contig names, in file order."""
        return list(self.lengths)

    def __contains__(self, contig: object) -> bool:
        return contig in self.lengths

    def fetch(self, contig: str, start: int, end: int) -> str:
        """The upper-case sequence of ``contig`` over ``[start, end)`` (0-based, half-open).

        Parameters
        ----------
        contig : str
            A contig of this FASTA (``chr20`` and ``20`` are different names).
        start, end : int
            0-based half-open coordinates; ``end`` past the contig's end is cut to its length.

        Returns
        -------
        str
            ``min(end, length) - start`` bases.

        Raises
        ------
        DataFormatError
            Unknown contig, or ``start`` negative, past the end or after ``end``.
        """
        if contig not in self.lengths:
            raise DataFormatError(
                f"{self.path}: contig {contig!r} is not in the FASTA "
                f"(it has {', '.join(self.contigs[:5])}{' ...' if len(self.lengths) > 5 else ''})"
            )
        length = self.lengths[contig]
        if start < 0 or start > end or start > length:
            raise DataFormatError(
                f"{self.path}: interval {contig}:{start}-{end} is outside the contig "
                f"(expected 0 <= start <= end, start <= {length})"
            )
        return str(self._fasta.fetch(contig, start, min(end, length))).upper()

    def close(self) -> None:
        """Release the file handle."""
        self._fasta.close()

    def __enter__(self) -> FastaReference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_fasta(path: str | Path | FastaReference) -> FastaReference:
    """Open a reference FASTA, or pass an open one through.

    Parameters
    ----------
    path : str, Path or FastaReference
        The FASTA file (plain or bgzipped), or an already opened reference.

    Returns
    -------
    FastaReference
    """
    return path if isinstance(path, FastaReference) else FastaReference(path)
