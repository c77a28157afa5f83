"""Fitting tyre models (and sensor terms) from driving logs: the pipeline behind ``drift fit``.

Public API: :class:`FitConfig`, :func:`fit_one`, :func:`run_fit`, :func:`prepare`,
:func:`persistence_metrics`, :func:`model_metrics`, :class:`SensorTerms`, :class:`LongitudinalMap`.
"""

from tire_models.fit.evaluate import model_metrics, persistence_metrics
from tire_models.fit.forces import LongitudinalMap, estimate_axle_forces, fit_longitudinal_map
from tire_models.fit.pipeline import FitConfig, FitInterrupted, FitResult, fit_one, prepare
from tire_models.fit.run import run_fit
from tire_models.fit.sensor import SensorTerms

__all__ = [
    "FitConfig",
    "FitInterrupted",
    "FitResult",
    "LongitudinalMap",
    "SensorTerms",
    "estimate_axle_forces",
    "fit_longitudinal_map",
    "fit_one",
    "model_metrics",
    "persistence_metrics",
    "prepare",
    "run_fit",
]
