"""Predicted convergence exponents and log-log slope fits with bootstrap intervals.

numpy and pandas only (no jax, no matplotlib), so results can be analysed without a JAX install.
"""

from zoprl.theory.rates import PREDICTED_RATES, PredictedRate, predicted_rate
from zoprl.theory.slopes import (
    BootstrapSlope,
    LogLogFit,
    bootstrap_slope,
    fit_loglog_slope,
    slope_table,
)
from zoprl.theory.tidy import (
    PARAM_PREFIXES,
    REQUIRED_COLUMNS,
    check_table,
    mean_ci,
    param_columns,
    run_points,
)

__all__ = [
    "BootstrapSlope",
    "LogLogFit",
    "PARAM_PREFIXES",
    "PREDICTED_RATES",
    "PredictedRate",
    "REQUIRED_COLUMNS",
    "bootstrap_slope",
    "check_table",
    "fit_loglog_slope",
    "mean_ci",
    "param_columns",
    "predicted_rate",
    "run_points",
    "slope_table",
]
