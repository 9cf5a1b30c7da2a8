"""Causal-inference datasets: a treatment, an outcome and the covariates that confound them.

Registered here:

* ``ihdp``: the 25 semi-synthetic IHDP realisations (Hill 2011, as distributed with CEVAE and
  DragonNet: headerless CSV ``treatment, y_factual, y_cfactual, mu0, mu1, x1..x25``); the
  noiseless potential outcomes ``mu0``, ``mu1`` give the true effect of every child, so PEHE
  can be computed. ``load_dataset("ihdp", realisation=k)``.
* ``nhefs``: the NHEFS cohort of Hernán and Robins' *Causal Inference: What If* (smoking
  cessation ``qsmk`` and weight change 1971-82 ``wt82_71``, kg), observational, with its
  codebook; the 1,566 smokers with a 1982 weight and the book's nine confounders.
* ``deepsurv-sim-treatment``: DeepSurv's simulated treatment cohort (Katzman et al. 2018; 10
  covariates, a randomised binary treatment whose effect on the hazard depends on the
  covariates; train/valid/test), as survival data with the true log-hazard ``hr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    import pandas as pd

CEVAE = "https://raw.githubusercontent.com/AMLab-Amsterdam/CEVAE/9081f863e24ce21bd34c8d6a41bf0edc7d1b65dd"
DRAGONNET = "https://raw.githubusercontent.com/claudiashi57/dragonnet/2e51b2478854df389893bac85430bca5b70f5a26"
# causallib's repository at a commit of its 0.10.0 era; the mirror's files are the wheel's
# (causallib==0.10.0, causallib/datasets/data/nhefs/), checked by the sha256 below.
CAUSALLIB = (
    "https://raw.githubusercontent.com/BiomedSciAI/causallib/"
    "de64cf65d0e2fa1cc5a12d2cc847c970fc43a717/causallib/datasets/data/nhefs"
)
DEEPSURV = "https://raw.githubusercontent.com/jaredleekatzman/DeepSurv/41eed003e5b892c81e7855e400861fa7a2d9da4f"

# sha256 of each realisation (1-25); 1-10 from CEVAE's repository, 11-25 from DragonNet's.
IHDP_SHA256 = {
    1: "2bdc8b94fdf2f669b1d3d49325fd9359d88418566545003867841312a1653411",
    2: "36db2f3d002250bc95e5214477718c939fbe7dfe8df573c4050d8b246d314042",
    3: "bd792ce0642468195b2c3f0cd4c521378d7d52d044f153e844d151a87e067518",
    4: "ac04602a2f052af1211347bcaff87f7bab356a4a7f42f8c6a81edede51549006",
    5: "8f9b3ef4b66e8f9dd240c9851233f4fb483c73c25b6d23c6459c666edb9cd691",
    6: "e05192794201c8a8fe1e4a88f12d3367d3d6b568eadb46365557661bff00712e",
    7: "246684bfc9e1258e5bdc59c3d1c13c0694a331d1f13026ff79f6c4605e6d3678",
    8: "6e88b890ee4ed6274b8ea4285500dd0865ab71e17010ee505f7e2a2d507c4511",
    9: "fe959d86a37be9278ef195fbf139b2b8af1b8246b3518208cd00b295d906a98f",
    10: "b9bce7e081f245b7689a3c2b5e4ed37162dca8cd596e0998b73ddc0ac92a4919",
    11: "877aab901d0f8cb772397b8571cc108d6be207e6623db91626487bff44cf2fbd",
    12: "7cfd1e04faf61ccefdb29e7dbd72bbbc40699d5ee45f6c3883acb9df8696c902",
    13: "47f03317fcdceab5dd6f744c40b9fd6f2b2630174dfefd9136c02bb6104aaeb3",
    14: "18fb8493c629192a1c745b54f1d804e4b1bc683926083f589c53919718078b5c",
    15: "8bba3f12aa5d886e4b0f8905305e55f653a9b86f49a1b230e8b3807d8ef4f509",
    16: "39a9103c2d46722c2b1dfe3c04ff20665dcab1ebbfe1368d2b45824c6ec99fdd",
    17: "9c76335fcd75a7abfcd1fa0a7be138ea9035f9b9f88ff85c451a0b758887aeac",
    18: "7dd08e1ffd86f24f77f33ba4c2ab4dd274662834abb7b43552bb68913532c7a6",
    19: "4e59786bef4620ae9d7ba8b98aed10c59b78d2539b59dd3da5fb129d78e07ef5",
    20: "09d6aa2a2e8814b6e42b150dc75ce6b3ff7214aa78e3102497acd7328dac5741",
    21: "75121901bdbc296898ca44965f66b73d27d90c81bef1140803b01222d4ff4c86",
    22: "85c04904bfdac213176208277076f505ee7709f66b233d00e871507d1232dff9",
    23: "377345ae83cedb4d9579f7cc1cc7a59f69674124068a67e207066179ad408b2f",
    24: "de5c59a039419711209a9c6eda5c78c9f01b2ae2dc90a921595e6553f58252d9",
    25: "9053caa10d044d3f1a88eddc36a4b3a7d05c70faf72f8733bf737154c074dc62",
}
IHDP_COVARIATES = [f"x{i}" for i in range(1, 26)]
#: Hernán and Robins' confounders of quitting smoking and weight change (What If, ch. 12).
NHEFS_COVARIATES = [
    "sex", "race", "age", "education", "smokeintensity", "smokeyrs", "exercise", "active", "wt71"
]  # fmt: skip


@dataclass
class CausalData:
    """A loaded causal dataset.

    Attributes
    ----------
    name : str
    X : pandas.DataFrame of shape (n, p)
        Covariates.
    t : ndarray of shape (n,)
        1 treated, 0 control.
    y : ndarray of shape (n,) or None
        The observed (factual) outcome; None for survival data (see ``time``, ``event``).
    treatment_names : list of str
        ``[control, treated]``.
    outcome_name : str
    better : {"lower", "higher"}
        Which outcome values are better.
    mu0, mu1 : ndarray of shape (n,) or None
        Noiseless potential outcomes, where simulated (IHDP).
    time, event : ndarray of shape (n,) or None
        Survival data: follow-up time and event indicator.
    log_hazard : ndarray of shape (n,) or None
        The simulation's true log-hazard of each patient (DeepSurv's ``hr``).
    splits : dict
        Published splits as row indices.
    description : str
    """

    name: str
    X: pd.DataFrame
    t: np.ndarray
    y: np.ndarray | None
    treatment_names: list[str]
    outcome_name: str
    better: str
    mu0: np.ndarray | None = None
    mu1: np.ndarray | None = None
    time: np.ndarray | None = None
    event: np.ndarray | None = None
    log_hazard: np.ndarray | None = None
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    description: str = ""

    @property
    def true_effect(self) -> np.ndarray | None:
        """``mu1 - mu0`` where the potential outcomes are known."""
        return None if self.mu0 is None or self.mu1 is None else self.mu1 - self.mu0


def ihdp_path(realisation: int) -> str:
    """Data-root path of IHDP realisation ``realisation`` (1-25)."""
    return f"causal/ihdp/ihdp_npci_{realisation}.csv"


def read_ihdp(path: Path, realisation: int) -> CausalData:
    """Read one IHDP realisation CSV (headerless, 30 columns)."""
    import pandas as pd

    data = np.loadtxt(path, delimiter=",", ndmin=2)
    if data.shape[1] != 30:
        raise DataFormatError(
            f"{path}: expected 30 columns (treatment, y_factual, y_cfactual, mu0, mu1, x1..x25); "
            f"got {data.shape[1]}."
        )
    return CausalData(
        name=f"ihdp-{realisation}",
        X=pd.DataFrame(data[:, 5:], columns=IHDP_COVARIATES),
        t=data[:, 0],
        y=data[:, 1],
        treatment_names=["control", "home visits"],
        outcome_name="cognitive score (simulated)",
        better="higher",
        mu0=data[:, 3],
        mu1=data[:, 4],
        description=f"IHDP realisation {realisation} (Hill 2011, setting A).",
    )


def load_ihdp(paths: dict[str, Path], realisation: int = 1) -> CausalData:
    """IHDP realisation ``realisation`` (1-25)."""
    if realisation not in IHDP_SHA256:
        raise ConfigError(f"IHDP realisation must be an int in 1-25. Got {realisation!r} instead.")
    return read_ihdp(paths[ihdp_path(realisation)], realisation)


def load_nhefs(paths: dict[str, Path]) -> CausalData:
    """NHEFS smokers with a 1982 weight (1,566), quitting (``qsmk``) vs weight change (kg)."""
    import pandas as pd

    frame = pd.read_csv(paths["causal/nhefs/NHEFS.csv"])
    frame = frame[frame["wt82"].notna()].reset_index(drop=True)
    return CausalData(
        name="nhefs",
        X=frame[NHEFS_COVARIATES].astype(float),
        t=frame["qsmk"].to_numpy(dtype=float),
        y=frame["wt82_71"].to_numpy(dtype=float),
        treatment_names=["kept smoking", "quit smoking"],
        outcome_name="wt82_71",
        better="lower",
        description="NHEFS: weight change 1971-82 (kg) after quitting smoking; observational.",
    )


def load_deepsurv_sim_treatment(paths: dict[str, Path]) -> CausalData:
    """DeepSurv's simulated treatment cohort: train, valid and test stacked (``splits``)."""
    import h5py
    import pandas as pd

    parts = {}
    with h5py.File(paths["clinical/deepsurv/sim_treatment_dataset.h5"], "r") as f:
        for split in ("train", "valid", "test"):
            parts[split] = {k: np.asarray(f[split][k]) for k in ("x", "t", "e", "hr")}
    x = np.concatenate([p["x"] for p in parts.values()]).astype(float)
    sizes = np.cumsum([0, *(len(p["x"]) for p in parts.values())])
    return CausalData(
        name="deepsurv-sim-treatment",
        X=pd.DataFrame(x[:, :-1], columns=[f"x{i}" for i in range(x.shape[1] - 1)]),
        t=x[:, -1],
        y=None,
        treatment_names=["control", "treatment"],
        outcome_name="time to event",
        better="higher",
        time=np.concatenate([p["t"] for p in parts.values()]).astype(float),
        event=np.concatenate([p["e"] for p in parts.values()]).astype(bool),
        log_hazard=np.concatenate([p["hr"] for p in parts.values()]).astype(float),
        splits={s: np.arange(sizes[i], sizes[i + 1]) for i, s in enumerate(parts)},
        description="DeepSurv simulated treatment cohort (Katzman et al. 2018).",
    )


def _register_all() -> None:
    ihdp_files = tuple(
        DataFile(
            ihdp_path(k),
            f"{CEVAE}/datasets/IHDP/csv/ihdp_npci_{k}.csv"
            if k <= 10
            else f"{DRAGONNET}/dat/ihdp/csv/ihdp_npci_{k}.csv",
            f"sha256:{sha}",
        )
        for k, sha in IHDP_SHA256.items()
    )
    register_dataset(
        DatasetSpec(
            name="ihdp",
            modality="causal",
            task="treatment-effect",
            files=ihdp_files,
            license="research use (cite Hill 2011)",
            citation=(
                "Hill JL. Bayesian nonparametric modeling for causal inference. Journal of "
                "Computational and Graphical Statistics 20(1):217-240, 2011."
            ),
            loader=load_ihdp,
            description="IHDP semi-synthetic realisations 1-25 (747 children, 25 covariates).",
            metadata={"realisations": 25},
        )
    )
    register_dataset(
        DatasetSpec(
            name="nhefs",
            modality="causal",
            task="treatment-effect",
            files=(
                DataFile(
                    "causal/nhefs/NHEFS.csv",
                    f"{CAUSALLIB}/NHEFS.csv",
                    "sha256:1b8b59aa8588d6cc61de73ab49a3096c4efa18b2b28127c1cd63c9262e3b475a",
                ),
                DataFile(
                    "causal/nhefs/NHEFS_codebook.csv",
                    f"{CAUSALLIB}/NHEFS_codebook.csv",
                    "sha256:a81bd088658e18c9d4a85be34b521d781f99267eee7278f57f94ec01d9d99ff0",
                ),
            ),
            license="Apache-2.0 (causallib)",
            citation="Hernán MA, Robins JM. Causal Inference: What If. Chapman & Hall/CRC, 2020.",
            loader=load_nhefs,
            description="NHEFS: quitting smoking and weight change 1971-82 (observational).",
            metadata={"codebook": "causal/nhefs/NHEFS_codebook.csv"},
        )
    )
    register_dataset(
        DatasetSpec(
            name="deepsurv-sim-treatment",
            modality="causal",
            task="survival",
            files=(
                DataFile(
                    "clinical/deepsurv/sim_treatment_dataset.h5",
                    f"{DEEPSURV}/experiments/data/treatment/sim_treatment_dataset.h5",
                    "sha256:d39e041b13c56969a5eccc9b8371084fde977a8ac7648a41b8fe14ca06393343",
                ),
            ),
            license="MIT (DeepSurv)",
            citation=(
                "Katzman JL et al. DeepSurv: personalized treatment recommender system using a "
                "Cox proportional hazards deep neural network. BMC Med Res Methodol 18, 24 (2018)."
            ),
            loader=load_deepsurv_sim_treatment,
            description="DeepSurv simulated treatment cohort, 6,000 patients (survival outcome).",
            extra="clinical",
            metadata={"requires": ["h5py"], "splits": ["train", "valid", "test"]},
        )
    )


_register_all()
