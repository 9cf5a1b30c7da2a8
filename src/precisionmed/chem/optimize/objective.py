"""A composable scoring function for goal-directed generation, read from a small YAML file.

::

    aggregation: geometric          # or weighted_sum
    components:
      - type: qed
      - type: sa                    # 1 (easy) .. 10 (hard); default desirability (10 - SA) / 9
        max: 4                      # a threshold: 1 at SA <= 4, half-Gaussian (width 1) above
      - {type: logp, window: [1, 4]}
      - {type: mw, window: [200, 500], width: 50}
      - {type: similarity, smiles: "CC(=O)Oc1ccccc1C(=O)O", fingerprint: ECFP4}
      - {type: substructure, smarts: "c1ccccc1", mode: required}
      - {type: substructure, smarts: "[N+](=O)[O-]", mode: forbidden}
      - {type: property, model: models/esol, target: logS, scale: [-6, 0]}
      - {type: affinity, model: models/davis, protein: abl1.fasta, scale: [5, 9], weight: 2,
         domain_penalty: 0}         # 0 outside the model's applicability domain
      - {type: guacamol, task: Osimertinib MPO}

Each scoring component turns a molecule into a desirability in [0, 1]: QED, similarity and
GuacaMol tasks are already there (QED also takes a threshold, ``min: 0.5``); a raw value (SA,
logP, MW, TPSA, a model's prediction) is mapped by ``scale: [a, b]`` (linear, a -> 0, b -> 1,
clipped), ``window: [low, high]``, ``min:`` or ``max:`` (1 inside; outside a half-Gaussian of
standard deviation ``width``, default 1, or 0 with ``width: 0``). The aggregate is the weighted
geometric mean ``prod(s_i ** (w_i / sum w))`` (REINVENT's default; a zero in any component
gives 0) or, with ``aggregation: weighted_sum``, ``sum(w_i s_i) / sum(w_i)``. Substructure
components are gates, not terms: a molecule missing a ``required`` pattern or holding a
``forbidden`` one has its aggregate multiplied by ``penalty`` (default 0). Invalid SMILES score 0.
A ``property`` or ``affinity`` component with ``domain_penalty: p`` (in [0, 1)) multiplies its
desirability by ``p`` for a molecule outside the model's applicability domain (nearest training
molecule's Tanimoto similarity below the model's threshold), where the prediction is an
extrapolation that an optimiser would otherwise exploit.

Every problem in the file is one :class:`~precisionmed.errors.ConfigError` naming the file, the
component (its position and type) and what was expected: an unknown type (with close names), a
missing or unknown key, a model directory that does not exist or is not the right kind.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError

#: type -> (required keys, optional keys) beyond type, weight and the transform keys.
COMPONENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "qed": ((), ()),
    "sa": ((), ()),
    "logp": ((), ()),
    "mw": ((), ()),
    "tpsa": ((), ()),
    "similarity": (("smiles",), ("fingerprint",)),
    "substructure": (("smarts",), ("mode", "penalty")),
    "property": (("model",), ("target", "domain_penalty")),
    "affinity": (("model", "protein"), ("domain_penalty",)),
    "guacamol": (("task",), ()),
}
_TRANSFORM_KEYS = ("scale", "window", "min", "max", "width")
_RAW = ("sa", "logp", "mw", "tpsa", "property", "affinity")  # need a transform (sa has one)
AGGREGATIONS = ("geometric", "weighted_sum")


@dataclass
class Component:
    """One scoring term: ``raw(mols) -> values`` then ``transform(values) -> [0, 1]``.

    ``raw`` may also return ``(values, factor)``: the desirabilities are then multiplied by
    ``factor`` (in [0, 1], per molecule), e.g. a model's ``domain_penalty`` outside its domain.
    """

    name: str
    kind: str
    weight: float
    raw: Callable[[list[Any]], np.ndarray | tuple[np.ndarray, np.ndarray]]
    transform: Callable[[np.ndarray], np.ndarray]
    gate: bool = False
    penalty: float = 0.0

    def desirability(self, mols: list[Any]) -> np.ndarray:
        """Scores of shape (n,) in [0, 1] for sanitised molecules."""
        out = self.raw(mols)
        values, factor = out if isinstance(out, tuple) else (out, 1.0)
        return np.clip(self.transform(np.asarray(values, dtype=float)), 0.0, 1.0) * factor


@dataclass
class Objective:
    """A weighted aggregate of components; call :meth:`score` on SMILES.

    Attributes
    ----------
    components : list of Component
    aggregation : {"geometric", "weighted_sum"}
    source : str
        Where it came from (the YAML file), for messages.
    """

    components: list[Component]
    aggregation: str = "geometric"
    source: str = "<objective>"
    calls: int = field(default=0, init=False)

    def score_components(self, smiles: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The aggregate (n,) and each component's desirability (n,), NaN for invalid SMILES.

        The aggregate is 0 for an invalid SMILES. Each call adds ``len(smiles)`` to
        :attr:`calls` (the number of scoring-function calls a benchmark budgets).
        """
        from precisionmed.chem.moses_scoring import moses_mol

        self.calls += len(smiles)
        mols = [moses_mol(s) for s in smiles]
        ok = np.array([m is not None for m in mols], dtype=bool)
        valid = [m for m in mols if m is not None]
        total = np.zeros(len(smiles))
        parts: dict[str, np.ndarray] = {}
        if not valid:
            for c in self.components:
                parts[c.name] = np.full(len(smiles), np.nan)
            return total, parts
        terms = [c for c in self.components if not c.gate]
        weights = np.array([c.weight for c in terms], dtype=float)
        values = []
        for c in self.components:
            d = c.desirability(valid)
            full = np.full(len(smiles), np.nan)
            full[ok] = d
            parts[c.name] = full
            if not c.gate:
                values.append(d)
        agg = np.ones(len(valid))
        if values:
            stack = np.vstack(values)
            if self.aggregation == "geometric":
                agg = np.prod(stack ** (weights[:, None] / weights.sum()), axis=0)
            else:
                agg = (weights[:, None] * stack).sum(0) / weights.sum()
        for c in self.components:
            if c.gate:
                agg = np.where(parts[c.name][ok] > 0.5, agg, agg * c.penalty)
        total[ok] = agg
        return total, parts

    def score(self, smiles: Sequence[str]) -> np.ndarray:
        """The aggregate score of each SMILES, shape (n,), in [0, 1] (0: invalid)."""
        return self.score_components(smiles)[0]


def _transform(spec: dict[str, Any], where: str, default: Callable | None) -> Callable:
    keys = [k for k in ("scale", "window", "min", "max") if k in spec]
    if len(keys) > 1:
        raise ConfigError(f"{where}: give one of scale, window, min, max; got {keys}.")
    width = float(spec.get("width", 1.0))

    def soft(low: float, high: float) -> Callable[[np.ndarray], np.ndarray]:
        def f(x: np.ndarray) -> np.ndarray:
            dist = np.maximum(low - x, 0) + np.maximum(x - high, 0)
            if width <= 0:
                return (dist == 0).astype(float)
            return np.exp(-0.5 * (dist / width) ** 2)

        return f

    try:
        if not keys:
            if default is None:
                raise ConfigError(
                    f"{where}: a raw value needs a mapping to [0, 1]: scale: [a, b], "
                    "window: [low, high], min: or max:."
                )
            return default
        if "scale" in spec:
            a, b = (float(v) for v in spec["scale"])
            if a == b:
                raise ConfigError(f"{where}: scale [a, b] needs a != b; got {spec['scale']}.")
            return lambda x: (x - a) / (b - a)
        if "window" in spec:
            low, high = (float(v) for v in spec["window"])
            return soft(low, high)
        if "min" in spec:
            return soft(float(spec["min"]), np.inf)
        return soft(-np.inf, float(spec["max"]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: scale/window need two numbers, min/max one; {exc}.") from exc


def _descriptor(kind: str) -> Callable[[list[Any]], np.ndarray]:
    from rdkit.Chem import rdMolDescriptors
    from rdkit.Chem.QED import qed

    from precisionmed.chem.moses_scoring import log_p, mol_weight, sa_score

    func = {
        "qed": qed,
        "sa": sa_score,
        "logp": log_p,
        "mw": mol_weight,
        "tpsa": rdMolDescriptors.CalcTPSA,
    }[kind]
    return lambda mols: np.array([func(m) for m in mols], dtype=float)


def _model_component(
    kind: str, spec: dict[str, Any], where: str
) -> Callable[[list[Any]], np.ndarray | tuple[np.ndarray, np.ndarray]]:
    """``raw(mols)``: the model's predictions, with ``domain_penalty`` also the factor of each
    molecule (1 inside the model's applicability domain, the penalty outside)."""
    import precisionmed
    from precisionmed.chem.molecules import standardize_smiles

    path = Path(str(spec["model"])).expanduser()
    expected = (
        "a property model directory (precisionmed chem train)"
        if kind == "property"
        else "an affinity model directory (precisionmed chem train-dta)"
    )
    if not (path / "config.json").is_file():
        raise ConfigError(f"{where}: model {str(path)!r} not found; expected {expected}.")
    predictor = precisionmed.load(path)
    is_affinity = getattr(predictor, "units", None) is not None and hasattr(predictor, "nets")
    if (kind == "affinity") != is_affinity:
        raise ConfigError(f"{where}: {str(path)!r} is not {expected}.")

    from rdkit import Chem

    threshold = predictor.input_spec.applicability_threshold
    penalty = spec.get("domain_penalty")
    if penalty is not None:
        if not isinstance(penalty, (int, float)) or not 0 <= penalty < 1:
            raise ConfigError(
                f"{where}: domain_penalty must be a number in [0, 1); got {penalty!r}."
            )
        if threshold is None:
            raise ConfigError(
                f"{where}: {str(path)!r} has no applicability domain (a model saved before it "
                "was recorded): retrain it, or leave domain_penalty out."
            )
    args: tuple[str, ...] = ()
    column: int | None = None  # a property model's target; an affinity model predicts one value
    if kind == "affinity":
        from precisionmed.chem.affinity_data import read_protein

        args = (read_protein(str(spec["protein"]))[1],)
    else:
        names = predictor.target_names
        target = spec.get("target", names[0])
        if target not in names:
            raise ConfigError(
                f"{where}: target {target!r} is not predicted by {path}; expected one of {names}."
            )
        column = names.index(target)

    def raw(mols: list[Any]) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        batch = standardize_smiles([Chem.MolToSmiles(m) for m in mols])
        arrays = predictor.predict_batch(batch, *args)
        mean = arrays["mean"] if column is None else arrays["mean"][:, column]
        out = np.full(len(mols), np.nan)
        out[batch.valid_indices] = mean
        if penalty is None:
            return out
        factor = np.full(len(mols), float(penalty))
        factor[batch.valid_indices] = np.where(arrays["similarity"] >= threshold, 1.0, penalty)
        return out, factor

    return raw


def build_component(spec: Any, index: int, source: str = "<objective>") -> Component:
    """One :class:`Component` from its mapping (``index``: its 1-based position, for messages)."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(
            f"{source}: component {index}: expected a mapping with a 'type' "
            f"(one of {sorted(COMPONENTS)}); got {spec!r}."
        )
    kind = str(spec["type"]).lower()
    if kind not in COMPONENTS:
        close = difflib.get_close_matches(kind, COMPONENTS, n=2)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"{source}: component {index}: unknown type {spec['type']!r}.{hint} "
            f"Expected one of {sorted(COMPONENTS)}."
        )
    where = f"{source}: component {index} ({kind})"
    required, optional = COMPONENTS[kind]
    missing = [k for k in required if k not in spec]
    if missing:
        raise ConfigError(f"{where}: missing {missing}; expected keys {list(required)}.")
    allowed = {"type", "weight", "name", *required, *optional}
    if kind not in ("substructure", "similarity", "guacamol"):
        allowed |= set(_TRANSFORM_KEYS)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; expected some of {sorted(allowed)}.")
    weight = float(spec.get("weight", 1.0))
    if weight <= 0:
        raise ConfigError(f"{where}: weight must be > 0; got {weight}.")
    name = str(spec.get("name", kind if kind != "guacamol" else spec["task"]))
    identity: Callable[[np.ndarray], np.ndarray] = lambda x: x  # noqa: E731
    if kind in ("qed", "sa", "logp", "mw", "tpsa"):
        default = {"sa": lambda x: (10.0 - x) / 9.0, "qed": identity}.get(kind)
        transform = _transform(spec, where, default)
        return Component(name, kind, weight, _descriptor(kind), transform)
    if kind in ("property", "affinity"):
        transform = _transform(spec, where, None)
        return Component(name, kind, weight, _model_component(kind, spec, where), transform)
    if kind == "similarity":
        return Component(name, kind, weight, _similarity(spec, where), identity)
    if kind == "guacamol":
        from precisionmed.chem.optimize.guacamol import goal_directed_task

        try:
            task = goal_directed_task(str(spec["task"]))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        return Component(
            name, kind, weight, lambda mols: np.array([task.score_mol(m) for m in mols]), identity
        )
    return _substructure(spec, where, name, weight)


def _similarity(spec: dict[str, Any], where: str) -> Callable[[list[Any]], np.ndarray]:
    from precisionmed.chem.moses_scoring import moses_mol
    from precisionmed.chem.optimize.guacamol import fingerprinter, tanimoto

    fp_type = str(spec.get("fingerprint", "ECFP4")).upper()
    if fp_type not in ("ECFP4", "ECFP6", "FCFP4", "FCFP6", "AP"):
        raise ConfigError(
            f"{where}: fingerprint must be ECFP4, ECFP6, FCFP4, FCFP6 or AP; "
            f"got {spec['fingerprint']!r}."
        )
    ref_mol = moses_mol(str(spec["smiles"]))
    if ref_mol is None:
        raise ConfigError(f"{where}: the reference {spec['smiles']!r} is not a valid SMILES.")
    ref = fingerprinter(fp_type)(ref_mol)
    return lambda mols: np.array([tanimoto(m, ref, fp_type) for m in mols])


def _substructure(spec: dict[str, Any], where: str, name: str, weight: float) -> Component:
    from rdkit import Chem

    pattern = Chem.MolFromSmarts(str(spec["smarts"]))
    if pattern is None:
        raise ConfigError(f"{where}: {spec['smarts']!r} is not a valid SMARTS pattern.")
    mode = str(spec.get("mode", "required"))
    if mode not in ("required", "forbidden"):
        raise ConfigError(f"{where}: mode must be 'required' or 'forbidden'; got {mode!r}.")
    want = mode == "required"
    penalty = float(spec.get("penalty", 0.0))
    if not 0 <= penalty < 1:
        raise ConfigError(f"{where}: penalty must be in [0, 1); got {penalty}.")

    def ok(mols: list[Any]) -> np.ndarray:
        return np.array([m.HasSubstructMatch(pattern) == want for m in mols], dtype=float)

    return Component(name, "substructure", weight, ok, lambda x: x, gate=True, penalty=penalty)


def build_objective(config: dict[str, Any], source: str = "<objective>") -> Objective:
    """An :class:`Objective` from a mapping with ``components`` (and ``aggregation``)."""
    if not isinstance(config, dict) or not isinstance(config.get("components"), list):
        raise ConfigError(
            f"{source}: expected a mapping with a list 'components' (and optionally 'aggregation')."
        )
    unknown = sorted(set(config) - {"components", "aggregation"})
    if unknown:
        raise ConfigError(f"{source}: unknown keys {unknown}; expected components, aggregation.")
    aggregation = str(config.get("aggregation", "geometric"))
    if aggregation not in AGGREGATIONS:
        raise ConfigError(
            f"{source}: aggregation must be one of {list(AGGREGATIONS)}; got {aggregation!r}."
        )
    components = [build_component(c, i, source) for i, c in enumerate(config["components"], 1)]
    if not any(not c.gate for c in components):
        raise ConfigError(f"{source}: needs at least one scoring component besides substructures.")
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: component names must differ (set 'name:'); got {names}.")
    return Objective(components, aggregation, source)


def load_objective(path: str | Path) -> Objective:
    """Read an objective YAML file (see the module docstring).

    Raises
    ------
    ConfigError
        Unreadable or invalid YAML, an unknown component or key, a missing model directory;
        the message names the file, the component and what was expected.
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the objective file ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at} ({getattr(exc, 'problem', exc)}).") from exc
    return build_objective(raw, str(path))


__all__ = [
    "AGGREGATIONS",
    "COMPONENTS",
    "Component",
    "Objective",
    "build_component",
    "build_objective",
    "load_objective",
]
