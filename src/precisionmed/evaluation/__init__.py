"""Evaluation shared by every pillar: the metric registry (names and directions), bootstrap
intervals, calibration, and the ROC / reliability figures.

Light to import (NumPy only): scikit-learn and matplotlib load inside the functions that use
them, so a command that never plots or scores stays fast.
"""

from precisionmed.evaluation.bootstrap import bootstrap_ci
from precisionmed.evaluation.calibration import calibration_bins, expected_calibration_error
from precisionmed.evaluation.metrics import (
    METRICS,
    MetricSpec,
    find_metric,
    metric_direction,
    register_metric,
)
from precisionmed.evaluation.plots import (
    new_figure,
    plot_calibration_curves,
    plot_roc_curves,
    save_figure,
)

__all__ = [
    "METRICS",
    "MetricSpec",
    "bootstrap_ci",
    "calibration_bins",
    "expected_calibration_error",
    "find_metric",
    "metric_direction",
    "new_figure",
    "plot_calibration_curves",
    "plot_roc_curves",
    "register_metric",
    "save_figure",
]
