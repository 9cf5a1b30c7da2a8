"""The skops types written by every clinical and treatment model of the registries, on small
data.

``python -m tests.artifacts.skops_types_of_registry`` prints them as the Python set literal of
:data:`precisionmed.artifacts.skops_types.SKOPS_TRUSTED_TYPES`; ``test_skops_types.py`` checks
that every type written is in that list.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

# Small enough to run in a test: a few trees, two epochs, two ensemble members.
TINY: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 3},
    "gbm": {"n_estimators": 3},
    "rsf": {"n_estimators": 3},
    "dnn": {"max_epochs": 2},
    "deepsurv": {"max_epochs": 2},
    "deephit": {"max_epochs": 2},
    "deepsurv-ensemble": {"max_epochs": 2, "n_members": 2},
    "deephit-ensemble": {"max_epochs": 2, "n_members": 2},
    "deepsurv-select": {"max_epochs": 2, "n_members": 3},
}
# Each model once plain, once behind the autoencoder with quantile scaling (the types of a
# pipeline are the union of its parts', so this covers every combination).
VARIANTS = (("none", "standard"), ("autoencoder", "quantile"))
DATASETS = {"classification": "breast-cancer-wisconsin", "survival": "gbsg2"}


def written_types(models: list[str] | None = None) -> dict[str, set[str]]:
    """``{"<model> <representation> <scaling>": types skops reports as untrusted}``."""
    import skops.io as sio

    from precisionmed.clinical.models import list_models
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    found: dict[str, set[str]] = {}
    data = {task: load_dataset(name) for task, name in DATASETS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in list_models():
            if models is not None and spec.name not in models:
                continue
            for representation, scaling in VARIANTS:
                out = Path(tmp) / f"{spec.name}-{representation}-{scaling}"
                train_clinical_model(
                    data[spec.task], spec.name, out, representation=representation,
                    scaling=scaling, params=TINY.get(spec.name, {}), interval_models=2,
                    representation_params={"max_epochs": 2}, n_boot=10, explain=False,
                )  # fmt: skip
                types = sio.get_untrusted_types(file=out / "model.skops")
                found[f"{spec.name} {representation} {scaling}"] = set(types)
        if models is None:
            found.update(treatment_types(Path(tmp)))
    return found


def treatment_types(tmp: Path) -> dict[str, set[str]]:
    """The types of each treatment model (IHDP realisation 1, 2 epochs, 2 members / refits)."""
    import skops.io as sio

    from precisionmed.data import load_dataset
    from precisionmed.treatment.models import EFFECT_MODELS
    from precisionmed.treatment.own_data import StudyTable, fit_treatment_model
    from precisionmed.treatment.survival import survival_outcome

    d = load_dataset("ihdp", realisation=1)
    table = StudyTable(d.X.to_numpy(), d.t, d.y, list(d.X.columns), d.treatment_names)
    s = load_dataset("deepsurv-sim-treatment")
    rows = s.splits["train"][:500]
    surv = StudyTable(s.X.to_numpy()[rows], s.t[rows], survival_outcome(s.event, s.time)[rows],
                      list(s.X.columns), s.treatment_names)  # fmt: skip
    found = {}
    for spec in EFFECT_MODELS:
        tiny = {"n_bootstrap": 2} if spec.name.endswith("learner") else {
            "max_epochs": 2, "n_members": 2, "rep_layers": (8,), "head_layers": (8,)
        }  # fmt: skip
        out = fit_treatment_model(
            surv if spec.survival else table, model=spec.name, params=tiny, better="higher",
            out=tmp / f"treatment-{spec.name}",
        )  # fmt: skip
        found[f"treatment {spec.name}"] = set(sio.get_untrusted_types(file=out / "model.skops"))
    return found


if __name__ == "__main__":
    every = sorted(set().union(*written_types(sys.argv[1:] or None).values()))
    sys.stdout.write(
        "frozenset(\n    {\n" + "".join(f'        "{t}",\n' for t in every) + "    }\n)\n"
    )
