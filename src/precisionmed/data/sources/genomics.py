"""DNA sequence classification sets: GUE, the UCI promoter and splice sets, Genomic Benchmarks.

Registered here:

* the human sets of GUE, the Genome Understanding Evaluation of DNABERT-2 (Zhou et al. 2024):
  ``gue-tf0`` ... ``gue-tf4`` (transcription-factor binding, 101 bp), ``gue-prom-core-all``,
  ``gue-prom-core-notata``, ``gue-prom-core-tata`` (core promoters, 70 bp) and
  ``gue-prom-300-tata`` (300 bp), each a ``train.csv`` / ``dev.csv`` / ``test.csv`` of
  ``sequence,label``. DNABERT-2 publishes GUE as one Google Drive archive (linked from
  github.com/MAGICS-LAB/DNABERT_2) with no per-file checksum; the canonical URL of each file is
  a public GitHub copy of that release pinned to a commit (wds-seu/DeepGene ``data/GUE``): those
  are the bytes whose sha256 is recorded. GUE's splice set is mirrored without its
  ``train.csv``, and the other ``prom_300_*`` sets not at all, so they are not registered.
* ``uci-promoters`` (E. coli promoters, 106 x 57 nt, Harley & Reynolds) and ``uci-splice``
  (StatLog primate splice junctions, 3,186 x 60 nt, classes ei / ie / n), as exported from the
  R packages kernlab and mlbench; UCI publishes neither as these CSVs, so the files come from
  the data mirror (``PRECISIONMED_DATA_MIRROR``) and the URL is the UCI page of the set.
* ``gb-human-nontata-promoters`` and ``gb-human-enhancers-cohn``: the test-split sequences of
  two Genomic Benchmarks sets (Grešová et al. 2023), the only sequences mirrored; they are
  re-split here (seeded, stratified), so scores on them are not comparable to the published
  ones.

Every loader returns a :class:`SequenceData`. A user's own data (a folder in the GUE layout or
one CSV) is read by :func:`read_sequence_dir` and :func:`read_sequence_csv`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.errors import DataFormatError

GUE_COMMIT = "486343e5212361d6cd7ed03c624f430ed3d5f02e"
GUE_RAW = f"https://raw.githubusercontent.com/wds-seu/DeepGene/{GUE_COMMIT}/data/GUE"
GB_COMMIT = "169e8f9fb294a5fdfa7ef9de7a7a67b9707dbb21"
GB_RAW = (
    f"https://raw.githubusercontent.com/allison-eunse/ai4h-inspired-fm-benchmark-hub/{GB_COMMIT}"
    "/toy_data/genomics/dna_sequences"
)
GUE_CITATION = (
    "Zhou Z, Ji Y, Li W, Dutta P, Davuluri R, Liu H. DNABERT-2: Efficient Foundation Model and "
    "Benchmark For Multi-Species Genome. ICLR 2024."
)
#: Characters a sequence may hold: IUPAC nucleotide codes (case-insensitive).
SEQUENCE_ALPHABET = frozenset("ACGTNRYSWKMBDHV")


@dataclass
class SequenceData:
    """A DNA sequence classification set, split into train, validation and test.

    Attributes
    ----------
    name : str
    sequences : dict of str to list of str
        ``"train"``, ``"val"``, ``"test"`` -> upper-case sequences.
    labels : dict of str to ndarray
        Same keys: int class indices of shape (n,) (binary, multi-class) or 0/1 float of shape
        (n, n_labels) (multi-label).
    task : {"binary", "multi-class", "multi-label"}
    class_names : list of str
        Class (or label) names, indexed by the class index (or label column).
    source : str
        ``catalog:<name>`` or the path read.
    """

    name: str
    sequences: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    task: str
    class_names: list[str]
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def subset(self, n: int, seed: int = 0) -> SequenceData:
        """At most ``n`` random sequences of each split (same seed, same rows)."""
        rng = np.random.default_rng(seed)
        seqs, labels = {}, {}
        for part, s in self.sequences.items():
            keep = np.sort(rng.permutation(len(s))[:n]) if len(s) > n else np.arange(len(s))
            seqs[part] = [s[i] for i in keep]
            labels[part] = self.labels[part][keep]
        return SequenceData(self.name, seqs, labels, self.task, self.class_names, self.source)


def _read_table(path: Path, sep: str = ",") -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read as a table ({exc}).") from exc


def _sequences(frame: Any, path: Path, column: str) -> list[str]:
    if column not in frame.columns:
        raise DataFormatError(
            f"{path}: no sequence column {column!r}; the columns are {list(frame.columns)}."
        )
    out = []
    for i, raw in enumerate(frame[column].tolist()):
        seq = raw.strip().upper()
        bad = sorted(set(seq) - SEQUENCE_ALPHABET)
        if not seq or bad:
            raise DataFormatError(
                f"{path}: row {i + 2}, column {column!r}: expected a DNA sequence of IUPAC "
                f"letters (ACGTN...); got {'an empty cell' if not seq else repr(bad[0])}."
            )
        out.append(seq)
    return out


def _label_cells(frame: Any, path: Path, columns: list[str]) -> Any:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{path}: no label column {missing[0]!r}; the columns are {list(frame.columns)}."
        )
    for column in columns:
        empty = np.flatnonzero((frame[column].str.strip() == "").to_numpy())
        if len(empty):
            raise DataFormatError(
                f"{path}: row {int(empty[0]) + 2}, column {column!r}: expected a label; got an "
                "empty cell."
            )
    return frame[columns].apply(lambda s: s.str.strip())


def _encode_labels(
    cells: Any, path: Path, class_names: list[str] | None
) -> tuple[np.ndarray, list[str], str]:
    """Class indices (one column) or a 0/1 matrix (several columns: multi-label)."""
    columns = list(cells.columns)
    if len(columns) > 1:
        for column in columns:
            bad = ~cells[column].isin(["0", "1"])
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataFormatError(
                    f"{path}: row {row + 2}, column {column!r}: a multi-label column holds 0 "
                    f"or 1; got {cells[column].iloc[row]!r}."
                )
        return cells.to_numpy(dtype=float), columns, "multi-label"
    values = cells[columns[0]].tolist()
    if class_names is None:
        found = sorted(set(values))
        numeric = all(v.lstrip("-").isdigit() for v in found)
        class_names = sorted(found, key=int) if numeric else found
    index = {c: i for i, c in enumerate(class_names)}
    unknown = [i for i, v in enumerate(values) if v not in index]
    if unknown:
        raise DataFormatError(
            f"{path}: row {unknown[0] + 2}, column {columns[0]!r}: expected one of the classes "
            f"{class_names} (those of train.csv); got {values[unknown[0]]!r}."
        )
    if len(class_names) < 2:
        raise DataFormatError(
            f"{path}: column {columns[0]!r} holds one class only ({class_names}); a classifier "
            "needs at least two."
        )
    task = "binary" if len(class_names) == 2 else "multi-class"
    return np.array([index[v] for v in values], dtype=np.int64), class_names, task


def read_sequence_dir(
    folder: str | Path,
    *,
    sequence_column: str = "sequence",
    label_columns: list[str] | None = None,
    name: str | None = None,
) -> SequenceData:
    """Read a folder in GUE's layout: ``train.csv``, ``dev.csv`` (validation) and ``test.csv``.

    Parameters
    ----------
    folder : path
    sequence_column : str
    label_columns : list of str, optional
        Default ``["label"]``; several columns of 0/1 make a multi-label set.
    name : str, optional
        Default: the folder's name.

    Raises
    ------
    DataFormatError
        A missing file or column, a cell that is not a DNA sequence or a known label (file,
        row and column named).
    """
    folder = Path(folder)
    label_columns = label_columns or ["label"]
    seqs: dict[str, list[str]] = {}
    labels: dict[str, np.ndarray] = {}
    class_names: list[str] | None = None
    task = ""
    files = (("train", "train.csv"), ("val", "dev.csv"), ("test", "test.csv"))
    for _, file in files:
        if not (folder / file).is_file():
            raise DataFormatError(
                f"{folder / file}: not found; a sequence folder holds train.csv, dev.csv and "
                f"test.csv (columns {sequence_column},{','.join(label_columns)})."
            )
    for part, file in files:
        path = folder / file
        frame = _read_table(path)
        seqs[part] = _sequences(frame, path, sequence_column)
        cells = _label_cells(frame, path, label_columns)
        labels[part], class_names, task = _encode_labels(cells, path, class_names)
    return SequenceData(
        name or folder.name, seqs, labels, task, list(class_names or []), source=str(folder)
    )


def read_sequence_csv(
    path: str | Path,
    *,
    sequence_column: str = "sequence",
    label_columns: list[str] | None = None,
    sep: str = ",",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    name: str | None = None,
) -> SequenceData:
    """Read one table of sequences and labels and split it (seeded; stratified by class).

    Parameters
    ----------
    path : path
        CSV (or ``sep="\\t"``: TSV) with a header row.
    sequence_column : str
    label_columns : list of str, optional
        Default ``["label"]``; several 0/1 columns make a multi-label set (split unstratified).
    val_fraction, test_fraction : float
    seed : int
        The same seed gives the same split.
    name : str, optional
        Default: the file's stem.
    """
    from precisionmed.data.splits import train_val_test_indices

    path = Path(path)
    label_columns = label_columns or ["label"]
    frame = _read_table(path, sep)
    seqs = _sequences(frame, path, sequence_column)
    y, class_names, task = _encode_labels(_label_cells(frame, path, label_columns), path, None)
    parts = train_val_test_indices(
        len(seqs),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        stratify=None if task == "multi-label" else y,
        seed=seed,
    )
    names = ("train", "val", "test")
    return SequenceData(
        name or path.stem,
        {k: [seqs[i] for i in idx] for k, idx in zip(names, parts, strict=True)},
        {k: y[idx] for k, idx in zip(names, parts, strict=True)},
        task,
        class_names,
        source=str(path),
    )


def _gue_loader(name: str, folder: str) -> Any:
    def load(paths: dict[str, Path]) -> SequenceData:
        data = read_sequence_dir(paths[f"genomics/gue/{folder}/train.csv"].parent, name=name)
        data.source = f"catalog:{name}"
        return data

    return load


# name, folder, length (bp), description, sha256 and size of train / dev / test
_GUE = [
    *[
        (f"gue-tf{i}", f"tf/{i}", 101, f"Human transcription-factor binding, ChIP-seq set {i}")
        for i in range(5)
    ],
    ("gue-prom-core-all", "prom/prom_core_all", 70, "Human core promoters, TATA and non-TATA"),
    ("gue-prom-core-notata", "prom/prom_core_notata", 70, "Human core promoters without TATA"),
    ("gue-prom-core-tata", "prom/prom_core_tata", 70, "Human core promoters with a TATA box"),
    ("gue-prom-300-tata", "prom/prom_300_tata", 300, "Human promoters with a TATA box, -249..+50"),
]
_GUE_FILES = {
    "tf/0": [("930080e019fb92961cbd71998839466c2fc4c34da8fc174999a2ed04ef46822f", 3367327),
             ("17ff638046d146102a86b727adc9ddead9f1f1793577a38961e1f3319da7f738", 104015),
             ("d29934d0df424a91ef70f6a62671d9d1c4661b485d7010983b49c8bcfba6aeab", 104015)],
    "tf/1": [("29dc3c962cc4e4d7161238bb4d0b84583f7794b246a622f81bf30e83e3ae8685", 3189903),
             ("fbffd591300e9ef192d131c139322cbe8e3fb87fae4f52236f64588d3975b8d1", 104015),
             ("8995d9d9176d56aa6e3a7014dfcf61ad45bc25a59fba1faca9864250ce42008a", 104015)],
    "tf/2": [("7f7483c2179242b6f42dd3578640e1496478e56e627e8fabd2ac79e088b1cbaa", 1976015),
             ("002168deb50cebb8dc94a9268e220d0ffa49068e4d9ae28b5873b74ba287c4a1", 104015),
             ("78de7c31aea4393b98387f6768cc9144fc912c9391c6b20d27028e355a95c4f1", 104015)],
    "tf/3": [("c4191038363919af593d4f68428e00e6320e3a35902575f1c5c0828954e25a88", 2838591),
             ("b878776f73bd503a371d1d8c0a77058da409ff3f3799901e017f764b07a0d0ef", 104015),
             ("56d8d76fdcf98c8a444b26794099ef26185872371f62a7565f602181dd533903", 104015)],
    "tf/4": [("7b43fcec55a8ae0f44e826566be776984c37200a175c684ec2e68650aebd483c", 1976015),
             ("4a18b9d9a6a4f77f6978d251b784ab554c127aca89c9fdb4546d81c20a47c436", 104015),
             ("55f4ad82c52c7ced861c5df835e5b11e3b2b15d53f4d7743f47bda6b2844b980", 104015)],
    "prom/prom_core_all": [
        ("a36e0bbf2b59e01479bb904534d310041b493fec9221ccd74b518893d74054ed", 3457003),
        ("98dd5d2b5df3c93cad9fa0a4a36078d28fa95b7bf9ab73fb2e5ba1fa74877f2b", 432175),
        ("b1babbb52abd0fb5328eccc4ce8ab60d0a58d28bdc88c30f8e2140cf1684ce0c", 432175)],
    "prom/prom_core_notata": [
        ("78bfa494d14fa12f3a661fbd37b8d252f3cf9edf4a8f98d60832fb56e6f9aab9", 3099011),
        ("ced43fdbc8c76187fe0589dfeef07f4554c3374837236b80b02eea392795d548", 387426),
        ("1ef44c266ca1368e8b438f6b0565b865aa203de8e1c89fc513357311b58bf97c", 387426)],
    "prom/prom_core_tata": [
        ("6ff19d1296628f1ff30f663f154596aeda27e2c48b8d8c35926029a33c64d3fb", 358007),
        ("dcacb3b86726376899ad4023339ccaae04a9150f41c34268b4ab38e447316a70", 44764),
        ("35ba337b4f1f3ca53c5045d51ab6eaedbd382619527a38d4a41f5402015dbad4", 44764)],
    "prom/prom_300_tata": [
        ("d0dd45bad89aee2564b8831d38a393989942d79b673203e7eb50e19ec8e6242e", 1485927),
        ("4de0f8163d964e4004f0a11036d9a9c5ec6fe2ad5953f962acf66150a2f44592", 185754),
        ("30432e9845277559043c2bb3bfed37b9bc7efc15748880f3adeeaddc16b76deb", 185754)],
}  # fmt: skip

for _name, _folder, _length, _what in _GUE:
    register_dataset(
        DatasetSpec(
            name=_name,
            modality="dna",
            task="binary-class",
            files=tuple(
                DataFile(
                    f"genomics/gue/{_folder}/{f}", f"{GUE_RAW}/{_folder}/{f}", f"sha256:{sha}", size
                )
                for f, (sha, size) in zip(
                    ("train.csv", "dev.csv", "test.csv"), _GUE_FILES[_folder], strict=True
                )
            ),  # fmt: skip
            license="Apache-2.0",
            citation=GUE_CITATION,
            loader=_gue_loader(_name, _folder),
            description=f"GUE: {_what} ({_length} bp); train/dev/test as published.",
            metadata={"length": _length, "benchmark": "GUE"},
        )
    )


def _uci_promoters(paths: dict[str, Path]) -> SequenceData:
    path = paths["genomics/uci_promoters/uci_promoters_kernlab.csv"]
    data = read_sequence_csv(path, label_columns=["class"], val_fraction=0.15,
                             test_fraction=0.2, name="uci-promoters")  # fmt: skip
    data.source = "catalog:uci-promoters"
    return data


def _uci_splice(paths: dict[str, Path]) -> SequenceData:
    """StatLog's own split: its 2,000 training rows (10% kept for validation) and 1,186 test."""
    from precisionmed.data.splits import train_val_test_indices

    path = paths["genomics/uci_splice/uci_splice_statlog_mlbench_decoded.csv"]
    frame = _read_table(path)
    seqs = _sequences(frame, path, "sequence")
    y, names, task = _encode_labels(_label_cells(frame, path, ["class"]), path, None)
    test = np.flatnonzero((frame["statlog_split"] == "test").to_numpy())
    rest = np.flatnonzero((frame["statlog_split"] != "test").to_numpy())
    train_i, val_i, _ = train_val_test_indices(
        len(rest), val_fraction=0.1, test_fraction=0.0, stratify=y[rest], seed=0
    )
    parts = {"train": rest[train_i], "val": rest[val_i], "test": test}
    return SequenceData(
        "uci-splice",
        {k: [seqs[i] for i in v] for k, v in parts.items()},
        {k: y[v] for k, v in parts.items()},
        task,
        names,
        source="catalog:uci-splice",
    )


register_dataset(
    DatasetSpec(
        name="uci-promoters",
        modality="dna",
        task="binary-class",
        files=(
            DataFile(
                "genomics/uci_promoters/uci_promoters_kernlab.csv",
                "https://archive.ics.uci.edu/dataset/67",
                "sha256:4d8494ef119dc6c9bf8eab8f4b01391c093ba9a9e8515aaec2a928d60ab091f1",
                7027,
            ),
        ),  # fmt: skip
        license="CC BY 4.0 (UCI)",
        citation="Harley C, Reynolds R. Analysis of E. coli promoter sequences. Nucleic Acids "
        "Research 15, 2343-2361 (1987); UCI Molecular Biology (Promoter Gene Sequences).",
        loader=_uci_promoters,
        description="E. coli promoters: 106 x 57 nt, 1 = promoter, 0 = not (53 each); seeded "
        "stratified split "
        "(65/15/20%). The CSV is kernlab's export, served from the data mirror.",
        metadata={"length": 57},
    )
)
register_dataset(
    DatasetSpec(
        name="uci-splice",
        modality="dna",
        task="multi-class",
        files=(
            DataFile(
                "genomics/uci_splice/uci_splice_statlog_mlbench_decoded.csv",
                "https://archive.ics.uci.edu/dataset/69",
                "sha256:b40ca230b44793dbdf4ed89fb9128aa2d8589fa4eccacf1903274a7bae64deaf",
                239331,
            ),
        ),  # fmt: skip
        license="CC BY 4.0 (UCI)",
        citation="Towell G, Shavlik J, Noordewier M. Refinement of approximate domain theories "
        "by knowledge-based artificial neural networks. AAAI 1990; StatLog DNA (Michie et al. "
        "1994).",
        loader=_uci_splice,
        description="Primate splice junctions: 3,186 x 60 nt, exon/intron (ei), intron/exon "
        "(ie) or neither (n); StatLog's train (2,000) / test (1,186) split. mlbench's export, "
        "served from the data mirror.",
        metadata={"length": 60},
    )
)


def _gb_loader(name: str, folder: str) -> Any:
    def load(paths: dict[str, Path]) -> SequenceData:
        path = paths[f"genomics/genomic_benchmarks/{folder}/test.tsv"]
        data = read_sequence_csv(path, sequence_column="seq", sep="\t", name=name)
        data.source = f"catalog:{name}"
        return data

    return load


for _name, _folder, _sha, _size, _what in (
    ("gb-human-nontata-promoters", "seqs_mirror_promoters_nontata",
     "e223768c9a846506581e702b412211d71290107b798bb1b220b10a158f591e35", 2294646,
     "human non-TATA promoters vs. non-promoters (251 bp), 9,034 sequences"),
    ("gb-human-enhancers-cohn", "seqs_mirror_enhancers_cohn",
     "285b359415300d55b929cb67c861169f5227a40a76a1e98cd14c8a2753d12e1a", 3494854,
     "human enhancers (Cohn et al.) vs. non-enhancers (500 bp), 6,948 sequences"),
):  # fmt: skip
    _sub = _folder.removeprefix("seqs_mirror_")
    register_dataset(
        DatasetSpec(
            name=_name,
            modality="dna",
            task="binary-class",
            files=(
                DataFile(
                    f"genomics/genomic_benchmarks/{_folder}/test.tsv",
                    f"{GB_RAW}/{_sub}/test.tsv",
                    f"sha256:{_sha}",
                    _size,
                ),
            ),  # fmt: skip
            license="Apache-2.0",
            citation="Grešová K, Martinek V, Čechák D, Šimeček P, Alexiou P. Genomic benchmarks: "
            "a collection of datasets for genomic sequence classification. BMC Genomic Data 24, "
            "25 (2023).",
            loader=_gb_loader(_name, _folder),
            description=f"Genomic Benchmarks, test split only: {_what}; re-split here (seeded, "
            "stratified 80/10/10), not comparable to published scores.",
        )
    )

__all__ = ["SEQUENCE_ALPHABET", "SequenceData", "read_sequence_csv", "read_sequence_dir"]
