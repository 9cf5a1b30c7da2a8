"""MOSES: the molecular-generation benchmark set and its reference statistics.

Polykovskiy et al. (2020) filtered ZINC Clean Leads into 1,936,962 drug-like molecules and split
them into ``train`` (1,584,663), ``test`` (176,074) and ``test_scaffolds`` (176,225 rows in the
file, 176,226 in the paper; Bemis-Murcko scaffolds absent from train). ``test_stats.npz`` and
``test_scaffolds_stats.npz`` are the precomputed reference statistics MOSES ships for its
metrics (FCD, SNN, Frag, Scaf): pickled dictionaries, so read them only with a restricted
unpickler, never ``allow_pickle=True``.
The canonical files are those of the ``molsets`` repository, pinned to a commit.

:func:`load_moses` returns a :class:`MosesData` (the SMILES of the splits asked for and the paths
of the statistics files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.errors import ConfigError, DataFormatError

MOSES_COMMIT = "b94468cab4590ced03a98c26a35d3c1e0647d9c9"
MOSES_RAW = f"https://github.com/molecularsets/moses/raw/{MOSES_COMMIT}/moses/dataset/data"
ROOT = "molecules/moses"
SPLITS = ("train", "test", "test_scaffolds")
MOSES_CITATION = (
    "Polykovskiy D, Zhebrak A, Sanchez-Lengeling B, et al. Molecular Sets (MOSES): A "
    "Benchmarking Platform for Molecular Generation Models. Frontiers in Pharmacology 11, "
    "565644 (2020)."
)

_FILES = [
    ("train.csv.gz", "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c", 10238967),
    ("test.csv.gz", "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2", 1367572),
    ("test_scaffolds.csv.gz",
     "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde", 1274114),
    ("test_stats.npz", "ded25073225a895d4ed17bf1d4223d27560e87ff4cb85786346ca1cc8efa03d3",
     16781400),
    ("test_scaffolds_stats.npz",
     "7b7aba6c1474634a019bebf16f389d554cb9dd1021dfc8c1d1e54430a9f0e7f8", 15949706),
]  # fmt: skip


@dataclass
class MosesData:
    """MOSES splits as SMILES, and where the reference statistics are.

    Attributes
    ----------
    splits : dict of str -> list of str
        ``"train"`` / ``"test"`` / ``"test_scaffolds"`` -> SMILES (only the splits asked for).
    stats : dict of str -> Path
        ``"test"`` / ``"test_scaffolds"`` -> the verified ``*_stats.npz`` file (pickled: read it
        with a restricted unpickler).
    """

    splits: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, Path] = field(default_factory=dict)


def read_moses_csv(path: Path) -> list[str]:
    """The ``SMILES`` column of a MOSES ``*.csv.gz`` (one header line ``SMILES``).

    Raises
    ------
    DataFormatError
        The first line is not the ``SMILES`` header.
    """
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = handle.readline().strip()
        if header.split(",")[0] != "SMILES":
            raise DataFormatError(f"{path}: line 1: expected the header 'SMILES'; got {header!r}.")
        return [line.split(",", 1)[0].strip() for line in handle if line.strip()]


def load_moses(paths: dict[str, Path], splits: tuple[str, ...] = ("train",)) -> MosesData:
    """MOSES ``splits`` (default: train only) and the statistics' paths.

    Raises
    ------
    ConfigError
        A split name other than train, test, test_scaffolds.
    """
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ConfigError(f"MOSES splits are {list(SPLITS)}. Got {unknown}.")
    return MosesData(
        splits={s: read_moses_csv(paths[f"{ROOT}/{s}.csv.gz"]) for s in splits},
        stats={s: paths[f"{ROOT}/{s}_stats.npz"] for s in ("test", "test_scaffolds")},
    )


register_dataset(
    DatasetSpec(
        name="moses",
        modality="molecule",
        task="generation",
        files=tuple(
            DataFile(f"{ROOT}/{f}", f"{MOSES_RAW}/{f}", f"sha256:{sha}", size)
            for f, sha, size in _FILES
        ),
        license="MIT",
        citation=MOSES_CITATION,
        loader=load_moses,
        description="MOSES molecular-generation benchmark: train 1,584,663 / test 176,074 / "
        "test_scaffolds 176,225 SMILES, with the reference statistics of its metrics.",
        extra="chem",
        metadata={"splits": {"train": 1584663, "test": 176074, "test_scaffolds": 176225}},
    )
)

__all__ = ["MosesData", "load_moses", "read_moses_csv"]
