"""The treatment-effect estimators by registered name (``precisionmed treatment fit --model``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from precisionmed.registry import Registry


@dataclass(frozen=True)
class EffectModelSpec:
    """A registered estimator: its name, how to build it and what it is.

    Attributes
    ----------
    name : str
    build : callable
        ``build(**params)`` -> an unfitted estimator.
    description : str
    interval : str
        How its intervals are made.
    survival : bool
        Takes ``(event, time)`` outcomes; its expected outcome is the restricted mean
        survival time (higher is better).
    """

    name: str
    build: Callable[..., Any]
    description: str
    interval: str
    survival: bool = False


EFFECT_MODELS: Registry[EffectModelSpec] = Registry("treatment-effect model")

_BOOT = "bootstrap percentiles (n_bootstrap refits resampled within each arm)"
_ENS = "seed ensemble (n_members networks): mean +/- t quantile x their standard deviation"


def _meta(cls_name: str) -> Callable[..., Any]:
    def build(**params: Any) -> Any:
        from precisionmed.treatment import meta

        return getattr(meta, cls_name)(**params)

    return build


def _net(cls_name: str, **defaults: Any) -> Callable[..., Any]:
    def build(**params: Any) -> Any:
        from precisionmed.treatment import nets

        return getattr(nets, cls_name)(**{**defaults, **params})

    return build


def _survival(**params: Any) -> Any:
    from precisionmed.treatment.survival import SurvivalTLearner

    return SurvivalTLearner(**params)


for _spec in (
    EffectModelSpec("slearner", _meta("SLearner"), "S-learner, gradient boosting", _BOOT),
    EffectModelSpec("tlearner", _meta("TLearner"), "T-learner, gradient boosting", _BOOT),
    EffectModelSpec("xlearner", _meta("XLearner"), "X-learner, gradient boosting", _BOOT),
    EffectModelSpec("tarnet", _net("TARNet"), "TARNet (Shalit et al. 2017)", _ENS),
    EffectModelSpec("cfr", _net("CFR", ipm="wass"), "CFR-WASS (Shalit et al. 2017)", _ENS),
    EffectModelSpec("cfr-mmd", _net("CFR", ipm="mmd"), "CFR-MMD (Shalit et al. 2017)", _ENS),
    EffectModelSpec("dragonnet", _net("DragonNet"), "DragonNet (Shi et al. 2019)", _ENS),
    EffectModelSpec(
        "cox-tlearner",
        _survival,
        "T-learner of Cox models: restricted mean survival time per arm (survival outcomes)",
        _BOOT,
        survival=True,
    ),
):
    EFFECT_MODELS.add(_spec.name, _spec)


def make_effect_model(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """An unfitted estimator registered as ``name`` with ``params`` set.

    Raises
    ------
    ConfigError
        Unknown name (with close names) or a parameter the estimator does not have.
    """
    from precisionmed.errors import ConfigError

    spec = EFFECT_MODELS.get(name)
    est = spec.build()
    unknown = sorted(set(params or {}) - set(est.get_params()))
    if unknown:
        raise ConfigError(
            f"--param {unknown[0]}: not a parameter of {name}; expected one of "
            f"{sorted(est.get_params())}."
        )
    return est.set_params(**dict(params or {}))


__all__ = ["EFFECT_MODELS", "EffectModelSpec", "make_effect_model"]
