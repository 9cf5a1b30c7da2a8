"""Property models on fingerprints: a multi-task MLP deep ensemble, random forest, boosting.

Every model maps fingerprints ``(n, n_bits)`` to one output per task and is fitted on labelled
entries only: a molecule with some tasks unlabelled (Tox21) contributes to the loss of its known
tasks only (:func:`masked_bce`, :func:`masked_mse`), and the tree models fit each task on the
molecules labelled for it. :class:`PropertyModel` holds the fitted model in the form it is saved
in (torch weights of each ensemble member, or the scikit-learn estimators of each task) and
gives the ensemble mean and spread that training evaluates and the predictor serves.

Registered names (``--model``): ``mlp`` (a feed-forward network on ECFP trained in the engine,
``n_members`` seeds: a deep ensemble, Lakshminarayanan et al. 2017), ``rf``
(``RandomForestClassifier`` / ``Regressor``; the spread is the trees' standard deviation) and
``gbm`` (scikit-learn's ``GradientBoostingClassifier`` / ``Regressor``; no spread) and ``mpnn``
(the directed message-passing network of :mod:`.mpnn` on molecular graphs, trained and
ensembled as the ``mlp``; its inputs are :func:`~.mpnn.mol_graphs`, not fingerprints).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from precisionmed.chem.mpnn import DEFAULTS as MPNN_DEFAULTS
from precisionmed.errors import ConfigError
from precisionmed.registry import Registry, params_with_defaults

#: Default hyper-parameters of each model (overridden by ``--param KEY=VALUE``).
DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {
        "hidden": 512,
        "layers": 2,
        "dropout": 0.2,
        "lr": 1e-3,
        "weight_decay": 1e-5,
        "batch_size": 64,
        "max_epochs": 100,
        "patience": 10,
    },
    "rf": {"n_estimators": 500, "min_samples_leaf": 1, "max_features": "sqrt"},
    "gbm": {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 5, "subsample": 0.8},
    "mpnn": MPNN_DEFAULTS,
}
#: Models trained as networks in the engine (the others are scikit-learn estimators per task).
NETWORKS = ("mlp", "mpnn")
MODELS: Registry[dict[str, Any]] = Registry("chem property model", error=ConfigError)
for _name, _params in DEFAULTS.items():
    MODELS.add(_name, _params)


def model_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults of model ``name`` updated with ``params`` (a one-line ConfigError for an
    unknown model or parameter)."""
    return params_with_defaults(MODELS, name, params)


class FingerprintMLP(nn.Module):
    """Feed-forward network: fingerprint bits -> one logit (or value) per task.

    Parameters
    ----------
    n_inputs, n_tasks : int
    hidden : int
        Width of every hidden layer.
    layers : int
        Number of hidden layers (>= 1).
    dropout : float
        Dropout before every linear layer after the first.
    """

    def __init__(
        self,
        n_inputs: int,
        n_tasks: int,
        *,
        hidden: int = 512,
        layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if layers < 1 or hidden < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(
                "FingerprintMLP needs layers >= 1, hidden >= 1 and dropout in [0, 1). "
                f"Got layers={layers}, hidden={hidden}, dropout={dropout}."
            )
        parts: list[nn.Module] = []
        width = n_inputs
        for i in range(layers):
            if i > 0:
                parts.append(nn.Dropout(dropout))
            parts += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        parts += [nn.Dropout(dropout), nn.Linear(width, n_tasks)]
        self.body = nn.Sequential(*parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, n_inputs) float -> (B, n_tasks)."""
        return self.body(x)


def masked_bce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits over the known labels only (NaN targets are skipped).

    Parameters
    ----------
    outputs : Tensor of shape (B, T)
        Logits.
    targets : Tensor of shape (B, T)
        0/1, NaN where the label is missing.
    """
    known = ~torch.isnan(targets)
    if not known.any():
        return outputs.sum() * 0.0
    return F.binary_cross_entropy_with_logits(outputs[known], targets[known])


def masked_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the known targets only (NaN targets are skipped)."""
    known = ~torch.isnan(targets)
    if not known.any():
        return outputs.sum() * 0.0
    return F.mse_loss(outputs[known], targets[known])


def loss_for(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """:func:`masked_bce` for classification, :func:`masked_mse` for regression."""
    return masked_bce if task == "classification" else masked_mse


@dataclass
class PropertyModel:
    """A fitted property model, as saved and as served.

    Attributes
    ----------
    name : {"mlp", "mpnn", "rf", "gbm"}
    task : {"classification", "regression"}
    n_tasks : int
    params : dict
        The model's hyper-parameters (to rebuild the networks).
    nets : list of FingerprintMLP
        ``mlp`` / ``mpnn``: the ensemble members (eval mode).
    estimators : list
        ``rf`` / ``gbm``: one fitted scikit-learn estimator per task, or a float for a task
        whose training labels were all equal (that value is predicted).
    y_mean, y_std : ndarray of shape (n_tasks,)
        Regression: the training targets' mean and std (networks learn standardised values).
    """

    name: str
    task: str
    n_tasks: int
    params: dict[str, Any]
    nets: list[nn.Module] = field(default_factory=list)
    estimators: list[Any] = field(default_factory=list)
    y_mean: np.ndarray | None = None
    y_std: np.ndarray | None = None

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean prediction and ensemble spread.

        Parameters
        ----------
        X : ndarray of shape (n, n_inputs), or of shape (n,) for ``mpnn``
            Fingerprints (with descriptors), or :class:`~.mpnn.MolGraph` objects.

        Returns
        -------
        (mean, spread)
            Arrays of shape (n, n_tasks): probabilities of class 1 (classification) or values
            in the targets' units (regression); ``spread`` the members' (or trees') standard
            deviation, None for a single model without one (``gbm``, ``mlp`` with 1 member).
        """
        if self.name == "mpnn":
            return self._predict_nets(X)
        X = np.asarray(X, dtype=np.float32)
        if self.name == "mlp":
            return self._predict_nets(X)
        return self._predict_trees(X)

    def _predict_nets(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        from precisionmed.train.estimator import torch_threads

        with torch.no_grad(), torch_threads(1):
            if self.name == "mpnn":
                from precisionmed.chem.mpnn import member_outputs

                outs = member_outputs(self.nets, X, self.n_tasks)  # (M, n, T)
            else:
                x = torch.from_numpy(X)
                outs = np.stack([net(x).float().numpy() for net in self.nets])
        if self.task == "classification":
            outs = 1.0 / (1.0 + np.exp(-outs))
        else:
            outs = outs * self.y_std + self.y_mean
        spread = outs.std(axis=0) if len(outs) > 1 else None
        return outs.mean(axis=0), spread

    def _predict_trees(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        mean = np.empty((len(X), self.n_tasks))
        # the spread of a forest's trees is the regression intervals' scale; not for classes
        with_spread = self.name == "rf" and self.task == "regression"
        spread = np.zeros((len(X), self.n_tasks)) if with_spread else None
        for t, est in enumerate(self.estimators):
            if not hasattr(est, "predict"):  # a constant task
                mean[:, t] = float(est)
                continue
            if self.task == "classification":
                mean[:, t] = est.predict_proba(X)[:, list(est.classes_).index(1)]
            else:
                mean[:, t] = est.predict(X)
            if spread is not None:
                spread[:, t] = np.stack([tree.predict(X) for tree in est.estimators_]).std(axis=0)
        return mean, spread

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The members' weights, ``member<i>.<name>`` (empty for tree models)."""
        return {
            f"member{i}.{k}": v
            for i, net in enumerate(self.nets)
            for k, v in net.state_dict().items()
        }


def build_net(
    n_inputs: int, n_tasks: int, params: Mapping[str, Any], name: str = "mlp"
) -> nn.Module:
    """The untrained network of model ``name``: a :class:`FingerprintMLP` (``hidden``,
    ``layers``, ``dropout``) on ``n_inputs`` features, or for ``mpnn`` a
    :class:`~.mpnn.DMPNN` with ``n_inputs`` descriptors after pooling."""
    if name == "mpnn":
        from precisionmed.chem.mpnn import build_mpnn

        return build_mpnn(n_inputs, n_tasks, params)
    return FingerprintMLP(
        n_inputs,
        n_tasks,
        hidden=int(params["hidden"]),
        layers=int(params["layers"]),
        dropout=float(params["dropout"]),
    )


def nets_from_state(
    state: Mapping[str, torch.Tensor],
    n_inputs: int,
    n_tasks: int,
    params: Mapping[str, Any],
    name: str = "mlp",
) -> list[nn.Module]:
    """Rebuild the ensemble members saved by :meth:`PropertyModel.state_dict`."""
    members: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.startswith("member"):
            head, _, rest = key.partition(".")
            members.setdefault(int(head.removeprefix("member")), {})[rest] = value
    nets: list[nn.Module] = []
    for i in sorted(members):
        net = build_net(n_inputs, n_tasks, params, name)
        net.load_state_dict(members[i])
        net.eval()
        nets.append(net)
    return nets


def fit_trees(
    name: str,
    task: str,
    X: np.ndarray,
    Y: np.ndarray,
    params: Mapping[str, Any],
    seed: int,
    *,
    progress: bool = False,
) -> list[Any]:
    """Fit one scikit-learn estimator per task on the molecules labelled for it.

    Parameters
    ----------
    name : {"rf", "gbm"}
    task : {"classification", "regression"}
    X : ndarray of shape (n, n_bits)
    Y : ndarray of shape (n, n_tasks)
        NaN where unlabelled.
    params : mapping
        Passed to the estimator.
    seed : int
    progress : bool
        Show a progress bar over the tasks on stderr.

    Returns
    -------
    list
        Per task, the fitted estimator, or the float label of a task whose known labels are
        all equal (a classifier cannot be fitted on one class).
    """
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    classes = {
        ("rf", "classification"): RandomForestClassifier,
        ("rf", "regression"): RandomForestRegressor,
        ("gbm", "classification"): GradientBoostingClassifier,
        ("gbm", "regression"): GradientBoostingRegressor,
    }
    from rich.console import Console
    from rich.progress import track

    extra = {"n_jobs": 1} if name == "rf" else {}
    out: list[Any] = []
    tasks = track(
        range(Y.shape[1]),
        description=f"fit {name} per task",
        disable=not progress,
        transient=True,
        console=Console(stderr=True),
    )
    for t in tasks:
        known = ~np.isnan(Y[:, t])
        y = Y[known, t]
        if len(y) == 0 or (task == "classification" and len(np.unique(y)) < 2):
            out.append(float(y[0]) if len(y) else 0.0)
            continue
        est = classes[(name, task)](random_state=seed, **extra, **dict(params))
        est.fit(X[known], y.astype(int) if task == "classification" else y)
        out.append(est)
    return out


__all__ = [
    "DEFAULTS",
    "MODELS",
    "NETWORKS",
    "FingerprintMLP",
    "PropertyModel",
    "build_net",
    "fit_trees",
    "loss_for",
    "masked_bce",
    "masked_mse",
    "model_params",
    "nets_from_state",
]
