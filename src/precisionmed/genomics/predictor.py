"""The sequence predictor: a saved sequence model applied to new DNA sequences.

``precisionmed.load(model_dir)`` returns a :class:`SequencePredictor`. :meth:`~SequencePredictor.
predict` takes sequences (a list of strings, a FASTA file, or a text file of one sequence per
line) and returns one :class:`~precisionmed.predict.PredictionRecord` each;
:meth:`~SequencePredictor.predict_sequences` gives the bare probability array (both strands
averaged) that variant scoring compares between a reference and an alternate window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.errors import DataFormatError
from precisionmed.genomics.encoding import encode_sequences
from precisionmed.genomics.models import predict_probabilities
from precisionmed.genomics.nets import build_sequence_net
from precisionmed.genomics.training import KIND
from precisionmed.predict import PredictionRecord, Predictor, SequenceInputSpec


def read_sequence_file(path: str | Path) -> tuple[list[str], list[str]]:
    """Names and sequences of a FASTA file (``>`` headers) or of one sequence per line.

    Returns
    -------
    (names, sequences)
        FASTA: each record's name; text: ``"line <n>"``. Blank lines are skipped.

    Raises
    ------
    DataFormatError
        The file cannot be read, or holds no sequence.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read sequences ({exc}).") from exc
    names: list[str] = []
    seqs: list[str] = []
    if text.lstrip().startswith(">"):
        import pysam

        with pysam.FastxFile(str(path)) as fh:
            for record in fh:
                names.append(record.name or f"record {len(names) + 1}")
                seqs.append(record.sequence or "")
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                names.append(f"line {i}")
                seqs.append(line.strip())
    if not seqs:
        raise DataFormatError(f"{path}: no sequence found (expected FASTA or one per line).")
    return names, seqs


@register_predictor(KIND)
class SequencePredictor(Predictor):
    """A trained sequence network with its encoding and classes."""

    def __init__(self, net: Any, config: dict[str, Any], artifact: Artifact | None = None):
        self.net = net
        self.config = config
        self.artifact = artifact

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> SequencePredictor:
        """Rebuild the network from ``model.safetensors`` and ``config.json``."""
        config = dict(artifact.config)
        net = build_sequence_net(config["model"], int(config["n_outputs"]), config["params"])
        net.load_state_dict(artifact.state_dict())
        net.eval()
        return cls(net, config, artifact)

    @property
    def input_spec(self) -> SequenceInputSpec:
        """One-hot DNA of the training length (see ``config.json``)."""
        return SequenceInputSpec.from_dict(self.config["input_spec"])

    @property
    def task(self) -> str:
        return str(self.config["task"])

    @property
    def class_names(self) -> list[str]:
        return list(self.config["class_names"])

    def predict_sequences(
        self, sequences: Sequence[str], *, names: Sequence[str] | None = None
    ) -> np.ndarray:
        """Probabilities of each sequence, averaged over both strands.

        Parameters
        ----------
        sequences : sequence of str
            IUPAC DNA; shorter than the training length: zero-padded, longer: cut to the centre.
        names : sequence of str, optional
            For error messages.

        Returns
        -------
        ndarray of shape (N, K), float32
            ``binary``: K = 1, the probability of the second class (``class_names[1]``);
            ``multi-class``: one column per class (rows sum to 1); ``multi-label``: one per label.
        """
        x = encode_sequences(list(sequences), length=int(self.config["length"]), names=names)
        return predict_probabilities(self.net, x, self.task)

    def score_variants(self, vcf: str | Path, fasta: str | Path, **kwargs: Any) -> Any:
        """Each variant of a VCF scored on its reference and alternate windows: a
        :class:`~precisionmed.genomics.variant_effect.VariantEffects` (keywords passed on to
        :func:`~precisionmed.genomics.variant_effect.score_variants`)."""
        from precisionmed.genomics.variant_effect import score_variants

        return score_variants(self, vcf, fasta, **kwargs)

    def predict(self, inputs: str | Path | Sequence[str]) -> list[PredictionRecord]:
        """One record per sequence (a list of strings, or a FASTA / text file)."""
        if isinstance(inputs, str | Path):
            names, seqs = read_sequence_file(inputs)
        else:
            seqs = [str(s) for s in inputs]
            names = [f"sequence {i + 1}" for i in range(len(seqs))]
        prob = self.predict_sequences(seqs, names=names)
        length = int(self.config["length"])
        classes = self.class_names
        out = []
        for name, seq, p in zip(names, seqs, prob, strict=True):
            if self.task == "binary":
                values = {classes[0]: float(1 - p[0]), classes[1]: float(p[0])}
                prediction: Any = classes[int(p[0] >= 0.5)]
            elif self.task == "multi-class":
                values = {c: float(v) for c, v in zip(classes, p, strict=True)}
                prediction = classes[int(np.argmax(p))]
            else:
                values = {c: float(v) for c, v in zip(classes, p, strict=True)}
                prediction = [c for c in classes if values[c] >= 0.5]
            warnings = []
            if len(seq) != length:
                how = "zero-padded" if len(seq) < length else "cut to its centre"
                warnings.append(
                    f"{name}: {len(seq)} bp where the model was trained on {length} bp; {how}."
                )
            n_fraction = sum(ch.upper() not in "ACGT" for ch in seq) / max(len(seq), 1)
            details = {"name": name, "length": len(seq), "ambiguous_fraction": n_fraction}
            out.append(self.record(name, prediction, values, warnings=tuple(warnings),
                                   details=details))  # fmt: skip
        return out


__all__ = ["SequencePredictor", "read_sequence_file"]
